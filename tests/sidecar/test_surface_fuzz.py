"""The gRPC surface under a property-based fuzzer (``tests/sidecar/surface_fuzz.py``), against a
real ``sidecar serve`` process on port 0: no INTERNAL, no crash, no hang (every call has a
deadline), health stays SERVING, the aggregates hold exactly the records of accepted batches,
and SIGTERM afterwards exits within the grace period + 5 s with the final flush done.

The smoke run is part of the default suite; the long run (>= 10,000 messages) is opt-in::

    .venv/bin/python -m pytest -m slow tests/sidecar/test_surface_fuzz.py -s
"""

from __future__ import annotations

import os
import pathlib
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, Phase, given, seed, settings

from loopwise_proto.v1 import admin_pb2
from statcore._statcore import Aggregate, Layout
from tests.sidecar.conftest import TOKEN, Planes, SidecarProcess, planes
from tests.sidecar.surface_fuzz import I64, FuzzRun, calls, ingest_regressions

GRACE_S = 1.0
CHUNK = 250


def _records(p: Planes) -> int:
    r = p.admin_call("GetAggregates", admin_pb2.GetAggregatesRequest(since_ms=I64[0]))
    return sum(Aggregate.decode(w.aggregate, Layout.decode(r.layouts[w.layout_fingerprint])).records
               for w in r.windows)


def _serving(p: Planes) -> bool:
    for channel in (p.data_channel, p.admin_channel):
        status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                           timeout=5).status
        if status != health_pb2.HealthCheckResponse.SERVING:
            return False
    return True


def fuzz(tmp: pathlib.Path, examples: int, seed_value: int, *, window_safe: bool) -> FuzzRun:
    config = tmp / "sidecar.toml"
    config.write_text(f"[server]\ngrace_s = {GRACE_S}\n[ingest]\n"
                      f"retention_s = {4_000_000_000_000_000}\n")
    sp = SidecarProcess(tmp, "--config", str(config))
    p = planes(sp.start())
    run = FuzzRun({"data": p.data_channel, "admin": p.admin_channel}, TOKEN)
    try:
        p.set_table(1)
        before = _records(p)

        def chunk(seed_value: int, examples: int) -> None:
            @seed(seed_value)
            @settings(max_examples=examples, deadline=None, database=None,
                      phases=[Phase.generate], suppress_health_check=list(HealthCheck))
            @given(calls(window_safe))
            def one(call: tuple) -> None:  # type: ignore[type-arg]
                run.send(*call)
                if run.calls % 500 == 0:
                    assert sp.proc is not None and sp.proc.poll() is None, "the sidecar died"
                    assert _serving(p)

            one()

        t0 = time.monotonic()
        if not window_safe:
            for call in ingest_regressions():
                run.send(*call)
        # Chunks of CHUNK examples: hypothesis keeps what one run generated until it ends, so
        # one 10,000-example run of multi-megabyte messages would hold gigabytes.
        for i in range(0, examples, CHUNK):
            chunk(seed_value * 1000 + i, min(CHUNK, examples - i))
        run_s = time.monotonic() - t0
        print(f"\nfuzz: {run.calls} calls, {run.messages} messages in {run_s:.1f} s; "
              f"codes {dict(run.codes)}; accepted records {run.accepted_records}")
        print("per method:", dict(sorted(run.per_method.items())))
        assert sp.proc is not None and sp.proc.poll() is None, "the sidecar died"
        assert _serving(p)
        assert _records(p) - before == run.accepted_records
        t0 = time.monotonic()
        sp.proc.send_signal(15)
        rc = sp.proc.wait(timeout=GRACE_S + 5)
        stop_s = time.monotonic() - t0
    finally:
        p.close()
        if sp.proc is not None and sp.proc.poll() is None:
            sp.proc.kill()
            sp.proc.wait()
        sp.log.close()
    print(f"SIGTERM -> exit {rc} in {stop_s:.2f} s")
    assert rc == 0
    assert run.failures == [], run.failures[:20]
    again = SidecarProcess(tmp)
    q = planes(again.start())
    try:
        assert _records(q) - before == run.accepted_records  # the final flush kept them all
    finally:
        q.close()
        assert again.stop() == 0
    return run


def _seed() -> int:
    return int(os.environ.get("FUZZ_SEED", "1"))


def test_fuzz_smoke(tmp_path: pathlib.Path) -> None:
    run = fuzz(tmp_path, examples=1000, seed_value=_seed(), window_safe=True)
    assert run.messages >= 1000


def test_fuzz_smoke_with_ingest_hostile_records(tmp_path: pathlib.Path) -> None:
    fuzz(tmp_path, examples=1000, seed_value=_seed(), window_safe=False)


@pytest.mark.slow
@pytest.mark.parametrize("window_safe", [True, False])
def test_fuzz_ten_thousand_messages(tmp_path: pathlib.Path, window_safe: bool) -> None:
    run = fuzz(tmp_path, examples=int(os.environ.get("FUZZ_EXAMPLES", "10000")),
               seed_value=_seed() + 13, window_safe=window_safe)
    assert run.messages >= 10_000
