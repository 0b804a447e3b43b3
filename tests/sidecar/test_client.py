"""SidecarClient: routing, background records, feedback, fail-open, in-process routing."""

from __future__ import annotations

import logging
import time

import pytest
from prometheus_client import CollectorRegistry

from sidecar.client import NoRouteError, SidecarClient, build_batch
from sidecar.clock import FakeClock
from sidecar.server import SidecarServer
from statcore._statcore import Arm
from tests.sidecar.conftest import Planes

Inproc = tuple[Planes, SidecarServer, CollectorRegistry]


def test_route_record_feedback(inproc: Inproc, clock: FakeClock) -> None:
    p, server, _ = inproc
    p.set_table(1, share=0.5)
    with SidecarClient(p.addrs["data_addr"], flush_interval_s=0.05) as client:
        decisions = [client.route("invoice", key=f"k{i}") for i in range(50)]
        assert {d.arm for d in decisions} == {Arm.CHAMPION, Arm.CHALLENGER}
        for i, d in enumerate(decisions):
            assert client.record(f"req{i}", "invoice", d.model_id, confidence=0.8,
                                 latency_ms=12.0, arm=d.arm, numeric={"x": float(i)},
                                 ts_ms=clock.now_ms(),
                                 prediction={"doc_type": "invoice"}, document_id=f"doc{i}")
        client.flush()
        assert client.stats().sent == 50 and client.stats().dropped == 0
        r = client.feedback({"doc_type": "invoice"}, document_id="doc7", human_correction=True)
        assert r.request_id == "req7" and r.correct
    assert sum(a.records for a in server.domain.windows.current(clock.now_ms())) == 50


def test_build_batch_unions_feature_names() -> None:
    from sidecar.client import _Rec

    recs = [_Rec("a", "t", "m", 0.5, 1.0, "", 0, 1, False, {"x": 1.0}, {"c": "u"}, "{}", b""),
            _Rec("b", "t", "m", 0.5, 1.0, "", 0, 1, False, {"y": 2.0}, None, "{}", b"")]
    b = build_batch(recs)
    assert list(b.numeric_names) == ["x", "y"]
    assert [str(v) for v in b.numeric] == ["1.0", "nan", "nan", "2.0"]
    assert list(b.categorical) == ["u", ""]


def test_unreachable_sidecar_fails_open_and_drops_records(caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    registry = CollectorRegistry()
    client = SidecarClient("127.0.0.1:1", default_champions={"invoice": "inv-v1"},
                           timeout_s=0.2, flush_interval_s=0.05, queue_size=10,
                           registry=registry)
    try:
        with caplog.at_level(logging.WARNING, logger="sidecar.client"):
            d = client.route("invoice", key="k")
        assert d.model_id == "inv-v1" and d.arm == Arm.CHAMPION and d.fail_open
        assert any("last known champion" in r.message for r in caplog.records)
        with pytest.raises(NoRouteError):
            client.route("unknown-type", key="k")
        t0 = time.perf_counter()
        accepted = [client.record(f"r{i}", "invoice", "inv-v1", confidence=0.5, latency_ms=1.0)
                    for i in range(100)]
        assert time.perf_counter() - t0 < 0.5  # never blocks the inference thread
        assert not all(accepted)
        client.flush(timeout_s=3)
        time.sleep(0.5)
        stats = client.stats()
        assert stats.dropped == 100 and stats.sent == 0 and stats.route_fallbacks == 1
        assert registry.get_sample_value("loopwise_sidecar_client_records_dropped_total") == 100
    finally:
        client.close()


def test_in_process_routing_gives_the_sidecars_arm(inproc: Inproc) -> None:
    p, _, _ = inproc
    p.set_table(3, share=0.4, salt="exp-9")
    with SidecarClient(p.addrs["data_addr"], in_process=True) as client:
        assert client.wait_for_table(5)
        from loopwise_proto.v1 import sidecar_pb2

        for i in range(300):
            local = client.route("invoice", key=f"user-{i}")
            remote = p.data.Route(sidecar_pb2.RouteRequest(model_type="invoice", key=f"user-{i}"))
            assert local.model_id == remote.model_id
        p.set_table(4, share=1.0, salt="exp-9")
        deadline = time.monotonic() + 5
        while client.route("invoice", key="user-1").model_id != "inv-v2":
            assert time.monotonic() < deadline
            time.sleep(0.02)
