"""Fixtures: an in-process sidecar (create_server, port 0) and a real ``python -m sidecar``
subprocess, plus small gRPC helpers."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from prometheus_client import CollectorRegistry

from loopwise_proto.v1 import admin_pb2, admin_pb2_grpc, common_pb2, sidecar_pb2, sidecar_pb2_grpc
from sidecar.clock import FakeClock
from sidecar.config import load_config
from sidecar.server import SidecarServer, create_server

TOKEN = "test-admin-token"
ROOT = pathlib.Path(__file__).resolve().parents[2]


@dataclass
class Planes:
    data: sidecar_pb2_grpc.SidecarStub
    admin: admin_pb2_grpc.AdminStub
    data_channel: grpc.Channel
    admin_channel: grpc.Channel
    addrs: dict[str, str]

    def admin_call(self, method: str, request: Any, token: str | None = TOKEN) -> Any:
        md = [("authorization", f"Bearer {token}")] if token else []
        return getattr(self.admin, method)(request, metadata=md, timeout=10)

    def set_table(self, generation: int, share: float = 0.5, salt: str = "s1",
                  model_type: str = "invoice") -> admin_pb2.SetRoutingTableResponse:
        table = common_pb2.RoutingTable(generation=generation)
        table.routes[model_type].CopyFrom(common_pb2.ModelRoute(
            champion="inv-v1", challenger="inv-v2", challenger_share=share, salt=salt))
        return self.admin_call("SetRoutingTable", admin_pb2.SetRoutingTableRequest(table=table))

    def close(self) -> None:
        self.data_channel.close()
        self.admin_channel.close()


def planes(addrs: dict[str, str]) -> Planes:
    dc = grpc.insecure_channel(addrs["data_addr"])
    ac = grpc.insecure_channel(addrs["admin_addr"])
    return Planes(sidecar_pb2_grpc.SidecarStub(dc), admin_pb2_grpc.AdminStub(ac), dc, ac, addrs)


def batch(n: int, *, prefix: str = "r", model_type: str | list[str] = "invoice",
          model_id: str | list[str] = "inv-v1",
          ts_ms: int | None = None, **overrides: Any) -> sidecar_pb2.RecordBatch:
    cols: dict[str, Any] = dict(
        request_id=[f"{prefix}{i}" for i in range(n)],
        model_type=model_type if isinstance(model_type, list) else [model_type] * n,
        model_id=model_id if isinstance(model_id, list) else [model_id] * n,
        confidence=[0.5 + 0.4 * (i % 2) for i in range(n)],
        latency_ms=[10.0 + i for i in range(n)],
        prediction=[json.dumps({"doc_type": "invoice", "total": i}) for i in range(n)],
    )
    if ts_ms is not None:
        cols["ts_ms"] = [ts_ms] * n
    cols.update(overrides)
    return sidecar_pb2.RecordBatch(**cols)


def write_token(tmp: pathlib.Path) -> pathlib.Path:
    path = tmp / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_800_000_000_000)


@pytest.fixture
def inproc(tmp_path: pathlib.Path, clock: FakeClock) -> Iterator[tuple[Planes, SidecarServer, CollectorRegistry]]:
    config = load_config(overrides={
        "data_addr": "127.0.0.1:0", "admin_addr": "127.0.0.1:0", "metrics_addr": "127.0.0.1:0",
        "db": str(tmp_path / "db"), "admin_token_file": str(write_token(tmp_path)),
        "ingest.max_batch_records": 100, "ingest.max_payload_bytes": 1000,
        "server.workers": 4,
    })
    registry = CollectorRegistry()
    server, ports = create_server(config, clock=clock, registry=registry)
    server.start()
    p = planes({"data_addr": ports.data_addr, "admin_addr": ports.admin_addr,
                "metrics_addr": ports.metrics_addr})
    yield p, server, registry
    p.close()
    server.stop()


class SidecarProcess:
    """``python -m sidecar serve`` on port 0, found through its ready file."""

    def __init__(self, tmp: pathlib.Path, *extra: str) -> None:
        self.tmp = tmp
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.addrs: dict[str, str] = {}

    def start(self, timeout_s: float = 20.0) -> dict[str, str]:
        ready = self.tmp / "ready.json"
        ready.unlink(missing_ok=True)
        args = [sys.executable, "-m", "sidecar", "serve",
                "--data-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
                "--metrics-addr", "127.0.0.1:0", "--db", str(self.tmp / "db"),
                "--admin-token-file", str(write_token(self.tmp)), "--ready-file", str(ready),
                "--log-level", "WARNING", *self.extra]
        self.log = open(self.tmp / "sidecar.log", "ab")
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log, cwd=ROOT, env=env)
        end = time.monotonic() + timeout_s
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError((self.tmp / "sidecar.log").read_text())
            time.sleep(0.05)
        self.addrs = json.loads(ready.read_text())
        return self.addrs

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=20)
        self.log.close()
        return rc


@pytest.fixture
def sidecar_proc(tmp_path: pathlib.Path) -> Iterator[SidecarProcess]:
    sp = SidecarProcess(tmp_path)
    yield sp
    if sp.proc is not None and sp.proc.poll() is None:
        sp.proc.kill()
        sp.proc.wait()
    if not sp.log.closed:
        sp.log.close()
