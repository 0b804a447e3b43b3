"""The admin API end to end through the CLI (in-process server, real gRPC, token)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from learner.cli import ExitCode
from learner.registry import ModelRegistry
from learner.report import WeeklyReportData
from tests.learner.serve.conftest import TOKEN, Served


def test_no_token_or_a_wrong_one_is_unauthenticated(served: Served, tmp_path: Path) -> None:
    code, out, _ = served.cli("status", "--json", token=False)
    assert code == ExitCode.UNAUTHENTICATED and json.loads(out)["exit_code"] == 6
    wrong = tmp_path / "wrong"
    wrong.write_text("nope")
    code, _, err = served.cli("models", "list", "--token-file", str(wrong), token=False)
    assert code == ExitCode.UNAUTHENTICATED and "token" in err


def test_health_is_open_without_a_token(served: Served) -> None:
    with grpc.insecure_channel(served.addr) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = stub.Check(health_pb2.HealthCheckRequest(service="loopwise.v1.LearnerAdmin"), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_status_and_models(served: Served) -> None:
    code, out, _ = served.cli("status")
    assert code == ExitCode.OK and "clf_1.0.1" in out and "loopwise_learner_cycles_total" in out
    code, out, _ = served.cli("status", "--json")
    status = json.loads(out)
    assert status["champions"] == {"clf": "clf_1.0.1"} and len(status["sidecars"]) == 3
    assert status["routing_generation"] >= 1  # the learner adopted the champion at start-up
    code, out, _ = served.cli("models", "list", "--json")
    assert code == 0 and {m["id"] for m in json.loads(out)} == {"clf_1.0.0", "clf_1.0.1", "clf_1.0.2"}
    code, out, _ = served.cli("models", "list", "--status", "archived")
    assert code == 0 and "clf_1.0.0" in out and "clf_1.0.1" not in out
    code, out, _ = served.cli("models", "show", "clf_1.0.0", "--json")
    assert json.loads(out)["status"] == "archived" and json.loads(out)["metrics"]["accuracy"] == 0.9
    code, out, _ = served.cli("models", "history", "--model-type", "clf", "--json")
    assert [e["action"] for e in json.loads(out)][-2:] == ["demote", "promote"]
    assert served.cli("models", "show", "nope_1.0.0")[0] == ExitCode.NOT_FOUND
    assert served.cli("models", "list", "--status", "bogus")[0] == ExitCode.INVALID


def test_drift_check_and_report(served: Served) -> None:
    code, out, _ = served.cli("drift", "check", "--model-type", "clf", "--json")
    assert code == ExitCode.OK and json.loads(out)["evaluated"] is False  # no baseline data yet
    code, out, _ = served.cli("drift", "report", "--model-type", "clf")
    assert code == ExitCode.OK and "no drift report yet" in out
    assert served.cli("drift", "report", "--model-type", "unknown")[0] == ExitCode.NOT_FOUND
    assert served.cli("drift", "check")[0] == ExitCode.USAGE


def test_ab_create_list_evaluate(served: Served) -> None:
    code, out, _ = served.cli("ab", "create", "--champion", "clf_1.0.1", "--challenger", "clf_1.0.2",
                              "--traffic-split", "0.2", "--json")
    assert code == ExitCode.OK
    test = json.loads(out)
    assert test["status"] == "running" and test["traffic_split"] == pytest.approx(0.2)
    routed = {served.fleet.route("clf", f"doc-{i}") for i in range(200)}
    assert routed == {"clf_1.0.1", "clf_1.0.2"}  # every sidecar got the split
    code, out, _ = served.cli("ab", "list")
    assert code == 0 and test["test_id"] in out
    code, out, _ = served.cli("ab", "evaluate", test["test_id"], "--json")
    assert code == 0 and json.loads(out)["recommendation"] == "insufficient_samples"
    assert served.cli("ab", "evaluate", "ab_nope")[0] == ExitCode.NOT_FOUND
    code, _, err = served.cli("ab", "create", "--champion", "clf_1.0.2", "--challenger", "clf_1.0.1")
    assert code == ExitCode.INVALID and "not the champion" in err


def test_promote_and_rollback_change_registry_and_routing(served: Served) -> None:
    code, out, _ = served.cli("promote", "clf_1.0.2", "--reason", "hotfix", "--json")
    assert code == 0 and json.loads(out)["previous_champion"] == "clf_1.0.1"
    assert served.fleet.route("clf", "doc-1") == "clf_1.0.2"
    code, out, _ = served.cli("rollback", "--model-type", "clf", "--reason", "latency", "--json")
    body = json.loads(out)
    assert code == 0 and body["restored_champion"] == "clf_1.0.1" and len(body["applied"]) == 3
    for name in served.fleet.sidecars():
        assert served.fleet.sidecar(name).router.route("clf", "doc-9") == "clf_1.0.1"
    code, out, _ = served.cli("status", "--json")
    assert json.loads(out)["champions"]["clf"] == "clf_1.0.1"
    assert json.loads(out)["counters"]["loopwise_learner_rollbacks_total"] == 1
    code, out, _ = served.cli("models", "history", "--model-type", "clf", "--json")
    assert [e["action"] for e in json.loads(out)][-2:] == ["rollback", "restore"]
    assert served.cli("promote", "clf_1.0.2", "--reason", " ")[0] == ExitCode.INVALID
    assert served.cli("rollback", "--model-type", "clf")[0] == ExitCode.USAGE


def test_report_json_and_html(served: Served, tmp_path: Path) -> None:
    served.cli("rollback", "--model-type", "clf", "--reason", "drill")
    code, out, _ = served.cli("report", "--format", "json")
    assert code == ExitCode.OK
    data = WeeklyReportData.from_json(out)
    assert data.model_type == "clf"
    assert [(e.kind.value, e.model_id) for e in data.events] == [
        ("promotion", "clf_1.0.0"), ("promotion", "clf_1.0.1"), ("rollback", "clf_1.0.0")]
    page = tmp_path / "report.html"
    code, out, _ = served.cli("report", "--format", "html", "--out", str(page))
    assert code == 0 and page.read_text().startswith("<!DOCTYPE html>") and "wrote" in out


def test_metrics_endpoint_counts_admin_actions(served: Served) -> None:
    served.cli("rollback", "--model-type", "clf", "--reason", "drill")
    text = urllib.request.urlopen(served.metrics_url, timeout=5).read().decode()
    assert 'loopwise_learner_rollbacks_total{model_type="clf"} 1.0' in text
    assert "loopwise_learner_push_latency_seconds_bucket" in text


def test_the_learner_is_the_registry_writer(served: Served) -> None:
    served.cli("promote", "clf_1.0.2", "--reason", "by hand")
    with ModelRegistry(served.root) as reg:
        (last,) = reg.get_history(model_type="clf", limit=1)
    assert last.actor == "learner" and last.reason == "by hand"


def test_unreachable_learner_is_unavailable(tmp_path: Path) -> None:
    from learner.cli import main
    import io
    out = io.StringIO()
    code = main(["status", "--addr", "127.0.0.1:1", "--timeout", "2", "--json"], out, io.StringIO())
    assert code == ExitCode.UNAVAILABLE


def test_events_list_the_loop_decisions_with_their_statistics(served: Served) -> None:
    served.cli("promote", "clf_1.0.2", "--reason", "hotfix")
    code, out, _ = served.cli("rollback", "--model-type", "clf", "--reason", "latency", "--json")
    assert code == 0 and len(json.loads(out)["applied"]) == 3
    code, out, _ = served.cli("events", "--json")
    events = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [e["kind"] for e in events] == ["promotion", "rollback"]
    assert [e["seq"] for e in events] == [1, 2]
    rollback = events[1]["details"]
    assert rollback["restored_champion"] == "clf_1.0.1" and rollback["previous_champion"] == "clf_1.0.2"
    code, out, _ = served.cli("events", "--after", "1")
    assert code == 0 and out.count("\n") == 1 and "ROLLBACK to clf_1.0.1 (generation" in out
    assert served.cli("events", "--after", "2")[1] == ""
    assert served.cli("events", token=False)[0] == ExitCode.UNAUTHENTICATED


def test_cli_promote_and_rollback_exit_non_zero_naming_the_missed_sidecar(served: Served) -> None:
    served.fleet.sidecar("sidecar-1").up = False
    code, out, err = served.cli("promote", "clf_1.0.2", "--reason", "hotfix")
    assert code == ExitCode.PUSH_INCOMPLETE and "sidecar-1" in err and "missed" in err
    assert "promoted clf_1.0.2" in out
    code, _, err = served.cli("rollback", "--model-type", "clf", "--reason", "bad", "--json")
    assert code == ExitCode.PUSH_INCOMPLETE and "sidecar-1" in err
    served.fleet.sidecar("sidecar-1").up = True
    code, _, err = served.cli("rollback", "--model-type", "clf", "--reason", "again")
    assert code == ExitCode.OK and err == ""


def test_undecodable_bytes_are_invalid_argument_not_internal(served: Served) -> None:
    with grpc.insecure_channel(served.addr) as channel:
        for method in ("GetStatus", "Promote", "Rollback", "ListEvents", "CreateABTest"):
            call = channel.unary_unary(f"/loopwise.v1.LearnerAdmin/{method}")
            with pytest.raises(grpc.RpcError) as info:
                call(b"\xff\xff\xff\x7f", metadata=[("authorization", f"Bearer {TOKEN}")], timeout=5)
            assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT, method  # type: ignore[attr-defined]
