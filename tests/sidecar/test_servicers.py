"""Error mapping and domain behaviour through an in-process server (create_server, port 0):
bad input is INVALID_ARGUMENT naming the field and never reaches the aggregates."""

from __future__ import annotations

import json
import math

import grpc
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from loopwise_proto.v1 import admin_pb2, sidecar_pb2
from sidecar.clock import FakeClock
from sidecar.errors import Rejected, RejectReason
from sidecar.server import SidecarServer
from sidecar.status_map import STATUS, classify
from statcore import errors as sc
from statcore._statcore import Aggregate, Layout
from tests.sidecar.conftest import Planes, batch

Inproc = tuple[Planes, SidecarServer, CollectorRegistry]


def _code(fn, *args) -> tuple[grpc.StatusCode, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as e:
        fn(*args)
    return e.value.code(), e.value.details()


def _records(server: SidecarServer, now: int) -> int:
    return sum(a.records for a in server.domain.windows.current(now))


def test_every_reason_has_a_status_and_statcore_errors_classify() -> None:
    assert set(STATUS) == set(RejectReason)
    cases = {sc.UnknownModelTypeError("unknown model type"): RejectReason.UNKNOWN_MODEL_TYPE,
             sc.StaleGenerationError("x"): RejectReason.STALE_GENERATION,
             sc.NotFoundError("x"): RejectReason.UNKNOWN_REQUEST,
             sc.InvalidInputError("invalid confidence[0]: NaN"): RejectReason.MALFORMED,
             sc.StoreFullError("x"): RejectReason.STORE_FULL}
    for exc, reason in cases.items():
        r = classify(exc)
        assert r is not None and r.reason is reason
    # The field is an attribute of the exception; the message is never parsed for it.
    assert classify(sc.InvalidInputError("invalid confidence[0]: NaN")).field == ""  # type: ignore[union-attr]
    batch_error = sc.BatchRejectedError("invalid_number", "confidence[0]", "must be finite")
    assert classify(batch_error).field == "confidence[0]"  # type: ignore[union-attr]
    assert str(classify(batch_error)) == "confidence[0]: must be finite"
    assert classify(KeyError("bug")) is None
    assert isinstance(classify(Rejected(RejectReason.OVERSIZED, "f", "d")), Rejected)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"confidence": [math.nan, 0.5, 0.5]}, "confidence[0]"),
        ({"latency_ms": [1.0, math.inf, 1.0]}, "latency_ms[1]"),
        ({"request_id": ["a", "", "c"]}, "request_id[1]"),
        ({"model_type": ["invoice", "invoice", "nope"]}, "model_type[2]"),
        ({"model_id": ["", "m", "m"]}, "model_id[0]"),
        ({"numeric_names": ["x"], "numeric": [1.0, math.inf, 2.0]}, "numeric[1]['x']"),
        ({"payload": [b"x" * 2000, b"", b""]}, "payload[0]"),
        ({"confidence": [0.5]}, "confidence"),
    ],
)
def test_bad_records_are_invalid_argument_naming_the_field(
    inproc: Inproc, clock: FakeClock, overrides: dict, field: str  # type: ignore[type-arg]
) -> None:
    p, server, _ = inproc
    p.set_table(1)
    code, details = _code(p.data.Record, batch(3, **overrides))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith(field), details
    assert _records(server, clock.now_ms()) == 0
    assert p.data.Record(batch(3)).accepted == 3  # the server lives on


def test_oversized_batch_and_unknown_route(inproc: Inproc) -> None:
    p, _, registry = inproc
    code, details = _code(p.data.Record, batch(101))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("request_id")
    code, details = _code(p.data.Route, sidecar_pb2.RouteRequest(model_type="ghost"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "model_type" in details
    code, _ = _code(p.data.Route, sidecar_pb2.RouteRequest(model_type=""))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert registry.get_sample_value("loopwise_sidecar_rejected_requests_total",
                                     {"plane": "data", "reason": "oversized"}) == 1


def test_record_stream_refuses_bad_batches_and_keeps_good_ones(inproc: Inproc,
                                                               clock: FakeClock) -> None:
    p, server, _ = inproc
    p.set_table(1)
    batches = [batch(10, prefix="a"), batch(10, prefix="b", latency_ms=[-1.0] * 10),
               batch(10, prefix="c")]
    ack = p.data.RecordStream(iter(batches))
    assert (ack.accepted, ack.batches, ack.rejected_batches, ack.rejected_records) == (20, 2, 1, 10)
    assert ack.first_error.startswith("latency_ms[0]")
    assert _records(server, clock.now_ms()) == 20


def test_feedback_unknown_request_is_not_found_and_counted(inproc: Inproc) -> None:
    p, _, registry = inproc
    code, _ = _code(p.data.Feedback, sidecar_pb2.FeedbackRequest(request_id="x", label="{}"))
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = _code(p.data.Feedback, sidecar_pb2.FeedbackRequest(document_id="d", label="{}"))
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = _code(p.data.Feedback, sidecar_pb2.FeedbackRequest(request_id="x", label="[1]"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert registry.get_sample_value("loopwise_sidecar_feedback_total",
                                     {"result": "not_found"}) == 2


def test_feedback_updates_accuracy_and_f1_of_the_serving_model(inproc: Inproc,
                                                               clock: FakeClock) -> None:
    p, server, registry = inproc
    p.set_table(1)
    p.data.Record(batch(4, model_id="inv-v2"))
    labels = [{"doc_type": "invoice"}, {"doc_type": "invoice"}, {"doc_type": "receipt"}]
    for i, label in enumerate(labels):
        p.data.Feedback(sidecar_pb2.FeedbackRequest(request_id=f"r{i}", label=json.dumps(label)))
    (agg,) = server.domain.windows.current(clock.now_ms())
    assert agg.model_id == "inv-v2" and agg.labelled == 3 and agg.correct == 2
    assert agg.f1()["doc_type"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    # Three labels are too few to expose (sidecar.metrics.MIN_LABELLED): no 0.67 or 0.0 series.
    assert registry.get_sample_value("loopwise_sidecar_model_accuracy_ratio",
                                     {"model_type": "invoice", "model_id": "inv-v2"}) is None


def test_baseline_sets_layout_and_psi(inproc: Inproc, clock: FakeClock) -> None:
    p, server, registry = inproc
    p.set_table(1)
    rng = np.random.default_rng(0)
    ref = rng.normal(size=5000)
    layout = Layout.from_baseline([("amount", ref)], [], ["doc_type"], bins=20)
    reference = Aggregate(layout, "invoice", "baseline", 0, 1)
    reference.update(confidence=np.full(5000, 0.9), latency_ms=np.full(5000, 5.0),
                     numeric=ref.reshape(-1, 1).copy())
    r = p.admin_call("SetBaseline", admin_pb2.SetBaselineRequest(
        model_type="invoice", layout=layout.encode(), reference=reference.encode(),
        metrics={"accuracy": 0.93}))
    assert r.layout_fingerprint == layout.fingerprint
    clock.advance(10)
    shifted = (rng.normal(size=100) + 2.0).tolist()
    p.data.Record(batch(100, numeric_names=["amount", "ignored"],
                        numeric=[v for x in shifted for v in (x, 1.0)]))
    (agg,) = server.domain.windows.current(clock.now_ms())
    assert agg.layout == layout and agg.records == 100
    psi = registry.get_sample_value("loopwise_sidecar_feature_psi", {
        "model_type": "invoice", "model_id": "inv-v1", "feature": "amount"})
    assert psi is not None and psi > 0.5
    code, details = _code(p.admin_call, "SetBaseline",
                          admin_pb2.SetBaselineRequest(model_type="invoice", layout=b"junk"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("layout")


def test_pull_and_ack_samples(inproc: Inproc, clock: FakeClock) -> None:
    p, server, _ = inproc
    p.set_table(1)
    p.data.Record(batch(5))
    server.domain.store.flush(clock.now_ms())
    samples = list(p.admin_call("PullSamples", admin_pb2.PullSamplesRequest(after_seq=0, limit=3)))
    assert [s.request_id for s in samples] == ["r0", "r1", "r2"]
    r = p.admin_call("AckSamples", admin_pb2.AckSamplesRequest(seq=samples[-1].seq))
    assert r.cursor == samples[-1].seq
    rest = list(p.admin_call("PullSamples", admin_pb2.PullSamplesRequest(after_seq=r.cursor)))
    assert [s.request_id for s in rest] == ["r3", "r4"]


def test_windows_roll_over_with_the_clock(inproc: Inproc, clock: FakeClock) -> None:
    p, server, _ = inproc
    p.set_table(1)
    p.data.Record(batch(3))
    clock.advance(60_000)
    p.data.Record(batch(2, prefix="n"))
    r = p.admin_call("GetAggregates", admin_pb2.GetAggregatesRequest(since_ms=0))
    assert sorted(w.window_start_ms for w in r.windows) == [
        w.window_start_ms for w in sorted(r.windows, key=lambda w: w.window_start_ms)]
    assert len(r.windows) == 2
    assert sum(a.records for a in server.domain.windows.current(clock.now_ms())) == 2


def test_baseline_survives_a_restart(tmp_path, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    from sidecar.config import load_config
    from sidecar.server import create_server
    from tests.sidecar.conftest import planes, write_token

    config = load_config(overrides={
        "data_addr": "127.0.0.1:0", "admin_addr": "127.0.0.1:0", "metrics_addr": "127.0.0.1:0",
        "db": str(tmp_path / "db"), "admin_token_file": str(write_token(tmp_path))})
    layout = Layout([("x", [0.0, 1.0, 2.0])], {}, ["doc_type", "total"])
    for round_ in range(2):
        server, ports = create_server(config, clock=clock, registry=CollectorRegistry())
        server.start()
        p = planes({"data_addr": ports.data_addr, "admin_addr": ports.admin_addr})
        try:
            if round_ == 0:
                p.set_table(1)
                p.admin_call("SetBaseline", admin_pb2.SetBaselineRequest(
                    model_type="invoice", layout=layout.encode()))
                clock.advance(5)
                p.data.Record(batch(4, numeric_names=["x"], numeric=[0.5, 1.5, 2.5, -1.0]))
            else:
                assert server.domain.baselines.layout_for("invoice") == layout
                p.data.Record(batch(1, prefix="z", numeric_names=["x"], numeric=[0.5]))
                (agg,) = server.domain.windows.current(clock.now_ms())
                assert agg.records == 5 and agg.layout == layout
                status = p.admin_call("GetStatus", admin_pb2.GetStatusRequest())
                assert list(status.baselines) == ["invoice"]
        finally:
            p.close()
            server.stop()


def test_routing_changes_cut_windows_and_windows_report_their_generation(
        tmp_path, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    from sidecar.config import load_config
    from sidecar.server import create_server
    from tests.sidecar.conftest import planes, write_token

    config = load_config(overrides={
        "data_addr": "127.0.0.1:0", "admin_addr": "127.0.0.1:0", "metrics_addr": "127.0.0.1:0",
        "db": str(tmp_path / "db"), "admin_token_file": str(write_token(tmp_path))})
    start = clock.now_ms()
    for round_ in range(2):
        server, ports = create_server(config, clock=clock, registry=CollectorRegistry())
        server.start()
        p = planes({"data_addr": ports.data_addr, "admin_addr": ports.admin_addr})
        try:
            if round_ == 0:
                p.set_table(1)
                clock.advance(10)
                p.data.Record(batch(3))
                clock.advance(10)
                p.set_table(2, share=0.2)  # mid-window: the open window is cut here
                cut = clock.now_ms()
                clock.advance(10)
                p.data.Record(batch(2, prefix="n"))
            else:  # after a restart, new records still go to the post-cut window
                p.data.Record(batch(1, prefix="z"))
            r = p.admin_call("GetAggregates", admin_pb2.GetAggregatesRequest(since_ms=0))
            by_start = {w.window_start_ms: w for w in r.windows}
            assert by_start[start].generation == 1
            assert by_start[cut].generation == 2
            layouts = {fp: Layout.decode(b) for fp, b in r.layouts.items()}
            records = {s: Aggregate.decode(w.aggregate, layouts[w.layout_fingerprint]).records
                       for s, w in by_start.items()}
            assert records == {start: 3, cut: 2 + round_}
        finally:
            p.close()
            server.stop()
