"""The sidecar's /metrics over real gRPC, scraped as Prometheus does and parsed with
prometheus_client's parser (issue 16): cumulative histograms, series that persist across
window edges, bounded labels, no ``_created``, status codes on RPC durations, the admin plane's
rejections apart, build info."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loopwise_proto.v1 import sidecar_pb2
from sidecar import __version__
from sidecar.clock import FakeClock
from sidecar.metrics import MIN_LABELLED
from tests.sidecar.conftest import Planes, batch

WINDOW_MS = 60_000


def scrape(p: Planes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://{p.addrs['metrics_addr']}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def text_of(p: Planes) -> str:
    with urllib.request.urlopen(f"http://{p.addrs['metrics_addr']}/metrics", timeout=5) as r:
        return r.read().decode()


def _label(p: Planes, prefix: str, n: int) -> None:
    for i in range(n):
        p.data.Feedback(sidecar_pb2.FeedbackRequest(
            request_id=f"{prefix}{i}", label=json.dumps({"doc_type": "invoice"})))


def test_counters_and_histograms_never_decrease_across_window_edges(inproc, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    """The latency summary's ``_count`` went 15 -> 30 -> 15 as windows turned over."""
    p, _, _ = inproc
    p.set_table(1)
    seen: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for step in range(8):  # four windows, two scrapes each, records in each half window
        p.data.Record(batch(15, prefix=f"s{step}-"))
        now = scrape(p)
        for key, value in now.items():
            name = key[0]
            if name.endswith(("_total", "_bucket", "_count", "_sum")) and key in seen:
                assert value >= seen[key], (key, seen[key], value)
        seen.update(now)
    clock.advance(WINDOW_MS // 2)
    lat = ("loopwise_sidecar_inference_latency_seconds_count",
           (("model_id", "inv-v1"), ("model_type", "invoice")))
    assert seen[lat] == 8 * 15
    buckets = {dict(k[1])["le"]: v for k, v in seen.items()
               if k[0] == "loopwise_sidecar_inference_latency_seconds_bucket"}
    assert buckets["0.01"] == 8 and buckets["0.025"] == 8 * 15  # latencies 10..24 ms, le is <=
    assert seen[("loopwise_sidecar_inference_latency_seconds_sum",
                 lat[1])] == pytest.approx(8 * sum(10.0 + i for i in range(15)) / 1000)


def test_window_series_persist_at_the_edge_and_need_enough_labels(inproc, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    p, _, _ = inproc
    p.set_table(1)
    acc = ("loopwise_sidecar_model_accuracy_ratio", (("model_id", "inv-v1"), ("model_type", "invoice")))
    p.data.Record(batch(MIN_LABELLED + 5, prefix="a"))
    _label(p, "a", 3)
    assert acc not in scrape(p)  # 3 labels: no 0.0 or 1.0 from a near-empty window
    _label(p, "a", MIN_LABELLED)
    assert scrape(p)[acc] == 1.0
    clock.advance(WINDOW_MS + 1)  # a new, empty window: the previous one still counts
    assert scrape(p)[acc] == 1.0
    p.data.Record(batch(2, prefix="b"))
    p.data.Feedback(sidecar_pb2.FeedbackRequest(request_id="b0", label=json.dumps({"doc_type": "receipt"})))
    assert 0.9 < scrape(p)[acc] < 1.0  # merged with the previous window, not 0.0 from one label
    clock.advance(WINDOW_MS // 2)
    held = scrape(p)[acc]
    clock.advance(WINDOW_MS // 2 + 1)  # the labelled window left the last window: the value is held
    assert scrape(p)[acc] == held
    clock.advance(2 * WINDOW_MS)  # nothing for two windows: the series goes
    assert acc not in scrape(p)


def test_no_created_series_build_info_and_bounded_labels(inproc) -> None:  # type: ignore[no-untyped-def]
    p, _, _ = inproc
    p.set_table(1)
    p.data.Record(batch(3))
    samples = scrape(p)
    assert not [k for k in samples if k[0].endswith("_created")]
    (info,) = [dict(k[1]) for k in samples if k[0] == "loopwise_sidecar_build_info"]
    assert info["version"] == __version__ and "python" in info
    allowed = {"model_type", "model_id", "arm", "reason", "plane", "method", "code", "result", "le",
               "field", "feature", "version", "python"}
    assert {label for _, labels in samples for label, _ in labels} <= allowed


def test_rpc_durations_carry_the_status_code(inproc) -> None:  # type: ignore[no-untyped-def]
    p, _, _ = inproc
    p.set_table(1)
    p.data.Record(batch(2))
    with pytest.raises(grpc.RpcError):
        p.data.Record(batch(2, prefix="x", confidence=[float("nan"), 0.5]))
    with pytest.raises(grpc.RpcError):
        p.data.Route(sidecar_pb2.RouteRequest(model_type="nope"))
    samples = scrape(p)

    def count(method: str, code: str) -> float | None:
        return samples.get(("loopwise_sidecar_rpc_duration_seconds_count",
                            (("code", code), ("method", method))))

    assert count("Record", "OK") == 1 and count("Record", "INVALID_ARGUMENT") == 1
    assert count("Route", "INVALID_ARGUMENT") == 1


def test_admin_plane_stale_generation_is_not_a_data_plane_rejection(inproc) -> None:  # type: ignore[no-untyped-def]
    p, _, registry = inproc
    p.set_table(5)
    with pytest.raises(grpc.RpcError) as info:
        p.set_table(3)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    value = registry.get_sample_value
    assert value("loopwise_sidecar_rejected_requests_total",
                 {"plane": "admin", "reason": "stale_generation"}) == 1
    assert value("loopwise_sidecar_rejected_requests_total",
                 {"plane": "data", "reason": "stale_generation"}) == 0


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_check_metrics_has_no_warnings(inproc) -> None:  # type: ignore[no-untyped-def]
    p, _, _ = inproc
    p.set_table(1)
    p.data.Record(batch(5))
    _label(p, "r", 5)
    run = subprocess.run(["promtool", "check", "metrics"], input=text_of(p), capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0 and run.stdout == "" and run.stderr == "", run.stdout + run.stderr
