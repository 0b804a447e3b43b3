"""The real sidecar process over gRPC: routing, records, feedback, restart, security, health,
reflection and /metrics."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from loopwise_proto.v1 import admin_pb2, sidecar_pb2
from statcore._statcore import Aggregate, Layout
from tests.sidecar.conftest import Planes, SidecarProcess, batch, planes


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Planes]:
    sp = SidecarProcess(tmp_path_factory.mktemp("sidecar"))
    p = planes(sp.start())
    p.set_table(1, share=0.3)
    yield p
    p.close()
    assert sp.stop() == 0


def aggregates(p: Planes, since_ms: int = 0) -> dict[str, Aggregate]:
    r = p.admin_call("GetAggregates", admin_pb2.GetAggregatesRequest(since_ms=since_ms))
    out: dict[str, Aggregate] = {}
    for w in r.windows:
        layout = Layout.decode(r.layouts[w.layout_fingerprint])
        agg = Aggregate.decode(w.aggregate, layout)
        if w.model_id in out:
            out[w.model_id].merge(agg)
        else:
            out[w.model_id] = agg
    return out


def test_assignments_stick_and_split_is_honoured(running: Planes) -> None:
    first = {k: running.data.Route(sidecar_pb2.RouteRequest(model_type="invoice", key=f"u{k}"))
             for k in range(2000)}
    again = {k: running.data.Route(sidecar_pb2.RouteRequest(model_type="invoice", key=f"u{k}"))
             for k in range(0, 2000, 7)}
    assert all(again[k].model_id == first[k].model_id for k in again)
    share = sum(r.model_id == "inv-v2" for r in first.values()) / len(first)
    assert 0.25 < share < 0.35
    assert all(r.generation == 1 for r in first.values())


def test_route_stream_matches_unary(running: Planes) -> None:
    reqs = [sidecar_pb2.RouteRequest(model_type="invoice", key=f"s{i}", tag=i) for i in range(200)]
    streamed = list(running.data.RouteStream(iter(reqs)))
    assert [r.tag for r in streamed] == list(range(200))
    for req, got in zip(reqs, streamed):
        assert running.data.Route(req).model_id == got.model_id


def test_records_change_aggregates_and_feedback_joins(running: Planes) -> None:
    before = aggregates(running).get("inv-v1")
    n_before = before.records if before else 0
    ack = running.data.Record(batch(50, prefix="agg-", document_id=[f"d{i}" for i in range(50)]))
    assert ack.accepted == 50
    after = aggregates(running)["inv-v1"]
    assert after.records == n_before + 50
    r = running.data.Feedback(sidecar_pb2.FeedbackRequest(
        request_id="agg-3", label='{"doc_type": "invoice", "total": 3}', human_correction=True))
    assert (r.model_id, r.correct) == ("inv-v1", True)
    r = running.data.Feedback(sidecar_pb2.FeedbackRequest(
        document_id="d4", label='{"doc_type": "receipt", "total": 4}'))
    assert (r.request_id, r.correct) == ("agg-4", False)
    agg = aggregates(running)["inv-v1"]
    assert agg.labelled == 2 and agg.correct == 1 and agg.accuracy == 0.5
    samples = list(running.admin_call("PullSamples", admin_pb2.PullSamplesRequest(limit=10_000)))
    labelled = {s.request_id: s for s in samples if s.HasField("label")}
    assert labelled["agg-3"].human_correction and not labelled["agg-4"].human_correction
    with pytest.raises(grpc.RpcError) as e:
        running.data.Feedback(sidecar_pb2.FeedbackRequest(request_id="nope", label="{}"))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_stale_generation_is_refused(running: Planes) -> None:
    running.set_table(5, share=0.3)
    with pytest.raises(grpc.RpcError) as e:
        running.set_table(4, share=0.3)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    status = running.admin_call("GetStatus", admin_pb2.GetStatusRequest())
    assert status.routing_generation == 5


def test_admin_plane_requires_the_token(running: Planes) -> None:
    for token in (None, "wrong"):
        with pytest.raises(grpc.RpcError) as e:
            running.admin_call("GetStatus", admin_pb2.GetStatusRequest(), token=token)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as e:
        list(running.admin_call("PullSamples", admin_pb2.PullSamplesRequest(), token=None))
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_health_reports_serving(running: Planes) -> None:
    stub = health_pb2_grpc.HealthStub(running.data_channel)
    for service in ("", "loopwise.v1.Sidecar"):
        r = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert r.status == health_pb2.HealthCheckResponse.SERVING
    admin = health_pb2_grpc.HealthStub(running.admin_channel)
    r = admin.Check(health_pb2.HealthCheckRequest(service="loopwise.v1.Admin"), timeout=5)
    assert r.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_services(running: Planes) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(running.data_channel)
    req = reflection_pb2.ServerReflectionRequest(list_services="")
    resp = next(iter(stub.ServerReflectionInfo(iter([req]), timeout=5)))
    names = {s.name for s in resp.list_services_response.service}
    assert {"loopwise.v1.Sidecar", "grpc.health.v1.Health"} <= names


def _metrics_text(p: Planes) -> str:
    with urllib.request.urlopen(f"http://{p.addrs['metrics_addr']}/metrics", timeout=5) as r:
        return r.read().decode()


def test_metrics_parse_and_pass_promtool(running: Planes) -> None:
    running.data.Route(sidecar_pb2.RouteRequest(model_type="invoice", key="m"))
    with pytest.raises(grpc.RpcError):
        running.data.Record(batch(2, confidence=[float("nan"), 0.5]))
    time.sleep(1.2)  # one flush interval
    text = _metrics_text(running)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in ("loopwise_sidecar_route_decisions", "loopwise_sidecar_records",
                 "loopwise_sidecar_rejected_requests", "loopwise_sidecar_rpc_duration_seconds",
                 "loopwise_sidecar_routing_generation", "loopwise_sidecar_sample_log_samples",
                 "loopwise_sidecar_last_flush_age_seconds"):
        assert name in families, name
    rejected = {s.labels["reason"]: s.value for s in families[
        "loopwise_sidecar_rejected_requests"].samples
        if s.name.endswith("_total") and s.labels["plane"] == "data"}
    assert rejected["invalid_number"] >= 1
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (apt-get install prometheus)")
    check = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=30)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()


def test_restart_keeps_routing_and_aggregates(sidecar_proc: SidecarProcess) -> None:
    p = planes(sidecar_proc.start())
    p.set_table(7, share=0.5)
    assert p.data.Record(batch(30, prefix="keep-")).accepted == 30
    decisions = {k: p.data.Route(sidecar_pb2.RouteRequest(model_type="invoice", key=k)).model_id
                 for k in map(str, range(100))}
    p.close()
    assert sidecar_proc.stop() == 0  # SIGTERM: graceful, flushes
    p = planes(sidecar_proc.start())
    try:
        status = p.admin_call("GetStatus", admin_pb2.GetStatusRequest())
        assert status.routing_generation == 7 and status.samples == 30
        assert aggregates(p)["inv-v1"].records == 30
        for k, model_id in decisions.items():
            assert p.data.Route(sidecar_pb2.RouteRequest(model_type="invoice", key=k)).model_id \
                == model_id
        assert p.data.Record(batch(5, prefix="more-")).accepted == 5
        assert aggregates(p)["inv-v1"].records == 35
    finally:
        p.close()


def test_feedback_by_document_joins_after_kill_9(sidecar_proc: SidecarProcess) -> None:
    p = planes(sidecar_proc.start())
    p.set_table(3, share=0.0)
    docs = [f"DOC-{i}" for i in range(20)]
    assert p.data.Record(batch(20, prefix="d-", document_id=docs)).accepted == 20
    p.close()
    time.sleep(1.5)  # records are durable within the flush interval (1 s)
    assert sidecar_proc.proc is not None
    sidecar_proc.proc.kill()  # no graceful shutdown
    sidecar_proc.proc.wait()
    sidecar_proc.log.close()
    p = planes(sidecar_proc.start())
    try:
        reply = p.data.Feedback(sidecar_pb2.FeedbackRequest(
            document_id="DOC-7", label=json.dumps({"doc_type": "invoice"}), human_correction=True))
        assert reply.request_id == "d-7" and reply.correct
        with pytest.raises(grpc.RpcError) as info:
            p.data.Feedback(sidecar_pb2.FeedbackRequest(document_id="DOC-99", label="{}"))
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        p.close()
