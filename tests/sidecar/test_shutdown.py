"""Bounded graceful shutdown: after the grace period the final flush and the store close
happen whatever RPCs are still running, and the process exits."""

from __future__ import annotations

import pathlib
import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from prometheus_client import CollectorRegistry

import statcore
from loopwise_proto.v1 import admin_pb2, sidecar_pb2
from sidecar.clock import FakeClock
from sidecar.config import load_config
from sidecar.server import DRAIN_SLACK_S, create_server
from tests.sidecar.conftest import SidecarProcess, batch, planes, write_token

GRACE_S = 1.0


def _config(tmp: pathlib.Path):  # type: ignore[no-untyped-def]
    return load_config(overrides={
        "data_addr": "127.0.0.1:0", "admin_addr": "127.0.0.1:0", "metrics_addr": "127.0.0.1:0",
        "db": str(tmp / "db"), "admin_token_file": str(write_token(tmp)),
        "server.grace_s": GRACE_S, "ingest.flush_interval_s": 60, "server.workers": 4})


def test_a_stuck_rpc_does_not_hold_back_the_final_flush(tmp_path: pathlib.Path) -> None:
    clock = FakeClock(1_800_000_000_000)
    server, ports = create_server(_config(tmp_path), clock=clock, registry=CollectorRegistry())
    release = threading.Event()

    def stuck(request: bytes, context: grpc.ServicerContext) -> bytes:
        release.wait()  # ignores cancellation, like a handler blocked in a library call
        return b""

    server._data.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "test.Stuck", {"Call": grpc.unary_unary_rpc_method_handler(stuck)}),))
    server.start()
    p = planes({"data_addr": ports.data_addr, "admin_addr": ports.admin_addr})
    try:
        p.set_table(1)
        assert p.data.Record(batch(40)).accepted == 40
        future = p.data_channel.unary_unary("/test.Stuck/Call").future(b"", timeout=60)
        time.sleep(0.3)
        t0 = time.monotonic()
        assert server.stop() is False  # the stuck call outlived the grace period
        took = time.monotonic() - t0
        assert GRACE_S <= took < GRACE_S + DRAIN_SLACK_S + 2
        with pytest.raises(statcore.StoreError, match="closed"):
            server.domain.store.stats()
    finally:
        release.set()
        p.close()
        future.cancel()
    again, ports = create_server(_config(tmp_path), clock=clock, registry=CollectorRegistry())
    again.start()
    q = planes({"data_addr": ports.data_addr, "admin_addr": ports.admin_addr})
    try:
        assert q.admin_call("GetStatus", admin_pb2.GetStatusRequest()).samples == 40
    finally:
        q.close()
        again.stop()


def test_sigterm_after_a_malformed_route_stream_message_exits_with_the_final_flush(
        tmp_path: pathlib.Path) -> None:
    config = tmp_path / "sidecar.toml"
    config.write_text(f"[server]\ngrace_s = {GRACE_S}\n[ingest]\nflush_interval_s = 60\n")
    sp = SidecarProcess(tmp_path, "--config", str(config))
    p = planes(sp.start())
    hold = threading.Event()
    good = sidecar_pb2.RouteRequest(model_type="invoice", key="k").SerializeToString()

    def requests(malformed: str) -> Iterator[bytes]:
        if malformed == "first":  # what hung grpcio's stop on the old deserializer path
            yield b"\xff"
        yield good
        if malformed == "later":
            yield b"\xff"
        while not hold.wait(0.05):  # the client goes on sending and never half-closes
            yield good

    def stream(malformed: str) -> None:
        try:
            for _ in p.data_channel.stream_stream("/loopwise.v1.Sidecar/RouteStream")(
                    requests(malformed), timeout=60):
                pass
        except grpc.RpcError:
            pass

    try:
        p.set_table(1)
        assert p.data.Record(batch(25)).accepted == 25
        streams = [threading.Thread(target=stream, args=(m,), daemon=True)
                   for m in ("first", "first", "later", "no")]
        for t in streams:
            t.start()
        time.sleep(0.5)
        assert sp.proc is not None
        t0 = time.monotonic()
        sp.proc.send_signal(15)
        rc = sp.proc.wait(timeout=GRACE_S + 5)
        assert rc == 0 and time.monotonic() - t0 < GRACE_S + 5
    finally:
        hold.set()
        p.close()
        if sp.proc is not None and sp.proc.poll() is None:
            sp.proc.kill()
            sp.proc.wait()
        sp.log.close()
    sp = SidecarProcess(tmp_path)
    q = planes(sp.start())
    try:
        assert q.admin_call("GetStatus", admin_pb2.GetStatusRequest()).samples == 25
        r = q.admin_call("GetAggregates", admin_pb2.GetAggregatesRequest(since_ms=0))
        from statcore._statcore import Aggregate, Layout
        assert sum(Aggregate.decode(w.aggregate, Layout.decode(r.layouts[w.layout_fingerprint]))
                   .records for w in r.windows) == 25
    finally:
        q.close()
        assert sp.stop() == 0
