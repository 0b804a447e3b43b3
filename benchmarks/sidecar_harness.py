"""Shared harness for the sidecar benchmarks: start the real sidecar and a bare grpcio server
as subprocesses (optionally pinned to CPUs), machine details, RESULTS.md section writer.

The bare server (``python benchmarks/sidecar_harness.py bare``) is the baseline: the same
grpcio, sync server, thread pool and options as the sidecar, with generic handlers on raw
bytes (no protobuf parsing, no work): ``/bare.Echo/Unary`` returns the request bytes,
``/bare.Echo/Bidi`` echoes each message, ``/bare.Echo/Sink`` consumes a stream and returns
its message count.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent import futures
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"

#: The sidecars' admin token in the benchmarks (>= 16 bytes, as sidecars require).
BENCH_TOKEN = "bench-admin-token-0123456789"


def _taskset(cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus] if cpus and shutil.which("taskset") else []


class Proc:
    def __init__(self, args: list[str], ready: pathlib.Path,
                 env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(args, cwd=ROOT,
                                     env=dict(os.environ, PYTHONPATH=str(ROOT), **(env or {})),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        end = time.monotonic() + 30
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(self.proc.stderr.read().decode() if self.proc.stderr else "")
            time.sleep(0.05)
        time.sleep(0.05)
        self.info: dict[str, Any] = json.loads(ready.read_text())

    def rss_mb(self) -> dict[str, float]:
        out = {}
        for line in pathlib.Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
        return out

    def cpu_s(self) -> float:
        """CPU seconds (user + system, all threads) the process has used so far."""
        fields = pathlib.Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def start_sidecar(tmp: pathlib.Path, cpus: str | None = None, *extra: str,
                  env: dict[str, str] | None = None) -> Proc:
    """``python -m sidecar serve`` with its database under ``tmp`` (``env``: extra variables,
    e.g. ``SIDECAR_INGEST_LOG_SAMPLES``)."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "token").write_text(BENCH_TOKEN + "\n")
    (tmp / "token").chmod(0o600)  # sidecars refuse token files others can read
    ready = tmp / "ready.json"
    args = [*_taskset(cpus), sys.executable, "-m", "sidecar", "serve",
            "--data-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
            "--metrics-addr", "127.0.0.1:0", "--db", str(tmp / "db"),
            "--admin-token-file", str(tmp / "token"), "--ready-file", str(ready),
            "--log-level", "WARNING", *extra]
    return Proc(args, ready, env)


def start_bare(tmp: pathlib.Path, cpus: str | None = None) -> Proc:
    ready = tmp / "bare.json"
    args = [*_taskset(cpus), sys.executable, str(pathlib.Path(__file__)), "bare", str(ready)]
    return Proc(args, ready)


def set_table(admin_addr: str, share: float = 0.5) -> None:
    import grpc

    from loopwise_proto.v1 import admin_pb2, admin_pb2_grpc, common_pb2

    with grpc.insecure_channel(admin_addr) as ch:
        table = common_pb2.RoutingTable(generation=1)
        table.routes["invoice"].CopyFrom(common_pb2.ModelRoute(
            champion="inv-v1", challenger="inv-v2", challenger_share=share, salt="bench"))
        admin_pb2_grpc.AdminStub(ch).SetRoutingTable(
            admin_pb2.SetRoutingTableRequest(table=table),
            metadata=[("authorization", f"Bearer {BENCH_TOKEN}")])


def machine() -> str:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    keep = [ln for ln in lscpu.splitlines()
            if ln.split(":")[0].strip() in ("Architecture", "CPU(s)", "Model name",
                                             "Thread(s) per core", "Core(s) per socket")]
    import grpc
    import numpy

    return "\n".join([*keep,
                      f"Python {platform.python_version()}, grpcio {grpc.__version__}, "
                      f"numpy {numpy.__version__}, {platform.platform()}",
                      f"load average at the end of the run: {os.getloadavg()}"])


def write_section(title: str, body: str) -> None:
    """Replaces (or appends) the ``### title`` subsection under ``## Sidecar``."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if "\n## Sidecar\n" not in text:
        text = text.rstrip() + "\n\n## Sidecar\n\nNumbers from `benchmarks/bench_sidecar_*.py` " \
            "and `benchmarks/bench_client_inprocess.py` (`--write`).\n"
    head, _, sidecar = text.partition("\n## Sidecar\n")
    rest = ""
    nxt = sidecar.find("\n## ")
    if nxt >= 0:
        sidecar, rest = sidecar[:nxt], sidecar[nxt:]
    marker = f"\n### {title}\n"
    section = f"{marker}\n{body.strip()}\n"
    if marker in sidecar:
        before, _, after = sidecar.partition(marker)
        k = after.find("\n### ")
        after = after[k:] if k >= 0 else ""
        sidecar = before + section + after
    else:
        sidecar = sidecar.rstrip() + "\n" + section
    RESULTS.write_text(head + "\n## Sidecar\n" + sidecar + rest)


def _serve_bare(ready: pathlib.Path) -> None:
    import grpc

    def unary(req: bytes, ctx: Any) -> bytes:
        return req

    def bidi(it: Any, ctx: Any) -> Any:
        for msg in it:
            yield msg

    def sink(it: Any, ctx: Any) -> bytes:
        n = 0
        for _ in it:
            n += 1
        return n.to_bytes(8, "little")

    handler = grpc.method_handlers_generic_handler("bare.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "Sink": grpc.stream_unary_rpc_method_handler(sink),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32),
                         options=[("grpc.max_receive_message_length", 16 << 20)])
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    tmp = ready.with_suffix(".tmp")
    tmp.write_text(json.dumps({"addr": f"127.0.0.1:{port}"}))
    os.replace(tmp, ready)
    server.wait_for_termination()


if __name__ == "__main__":
    if sys.argv[1:2] == ["bare"]:
        _serve_bare(pathlib.Path(sys.argv[2]))
