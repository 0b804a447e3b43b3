"""Domain objects -> ``loopwise.v1`` learner messages (no logic, no I/O)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from learner.abtest import ABTest, ABTestResult, ArmStats
from learner.drift import DriftReport
from learner.events import EventKind, LoopEvent
from learner.registry.ledger import LedgerEntry
from learner.registry.records import ModelRecord
from loopwise_proto.v1 import learner_pb2 as pb

__all__ = ["model", "ledger_entry", "drift", "ab_test", "ab_result", "arm", "loop_event"]


def _json(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), sort_keys=True, default=str)


def model(record: ModelRecord) -> pb.RegisteredModel:
    d = record.to_dict()
    return pb.RegisteredModel(
        id=record.id, name=record.name, model_type=record.model_type, version=d["version"],
        status=d["status"], metrics_json=_json(d["metrics"]), metadata_json=_json(d["metadata"]),
        lineage_json=_json(d["lineage"]), artifact_uri=record.artifact_uri,
        artifact_sha256=record.artifact_sha256, created_at=record.created_at,
        updated_at=record.updated_at)


def ledger_entry(e: LedgerEntry) -> pb.LedgerEntry:
    return pb.LedgerEntry(seq=e.seq, at=e.at, model_id=e.model_id, action=e.action.value,
                          actor=e.actor, reason=e.reason, statistics_json=_json(e.statistics))


def drift(model_type: str, report: DriftReport | None) -> pb.DriftResult:
    if report is None:
        return pb.DriftResult(model_type=model_type, evaluated=False,
                              message="no drift report yet (no baseline or no new data)")
    return pb.DriftResult(model_type=model_type, evaluated=True,
                          drift_detected=report.drift_detected, psi_score=report.psi_score,
                          severity=report.severity.value, message=report.message,
                          report_json=_json(report.to_dict()))


def arm(stats: ArmStats) -> pb.ArmStats:
    out = pb.ArmStats(model_id=stats.model_id, records=stats.records, labelled=stats.labelled,
                      correct=stats.correct, errors=stats.errors)
    if stats.accuracy is not None:
        out.accuracy = stats.accuracy
    return out


def ab_result(r: ABTestResult) -> pb.ABTestResult:
    out = pb.ABTestResult(test_id=r.test_id, model_type=r.model_type, method=r.method.value,
                          winner=r.winner.value, recommendation=r.recommendation.value,
                          message=r.message, champion=arm(r.champion), challenger=arm(r.challenger))
    for name in ("p_value", "estimate", "ci_low", "ci_high", "srm_pvalue"):
        value = getattr(r, name)
        if value is not None:
            setattr(out, name, value)
    return out


def ab_test(t: ABTest) -> pb.ABTest:
    out = pb.ABTest(test_id=t.test_id, model_type=t.model_type, champion_id=t.champion_id,
                    challenger_id=t.challenger_id, traffic_split=t.traffic_split,
                    status=t.status.value, started_ms=t.started_ms, generation=t.generation)
    if t.last_result is not None:
        out.last_result.CopyFrom(ab_result(t.last_result))
    return out


_EVENT_KIND = {
    EventKind.DRIFT: pb.LOOP_EVENT_KIND_DRIFT, EventKind.RETRAINING: pb.LOOP_EVENT_KIND_RETRAINING,
    EventKind.AB_TEST: pb.LOOP_EVENT_KIND_AB_TEST, EventKind.PROMOTION: pb.LOOP_EVENT_KIND_PROMOTION,
    EventKind.ROLLBACK: pb.LOOP_EVENT_KIND_ROLLBACK, EventKind.HEALTH: pb.LOOP_EVENT_KIND_HEALTH,
    EventKind.REPORT: pb.LOOP_EVENT_KIND_REPORT, EventKind.ROUTING: pb.LOOP_EVENT_KIND_ROUTING,
}
_KIND_OF = {v: k for k, v in _EVENT_KIND.items()}


def event_kind(kind: int) -> EventKind:
    """The ``EventKind`` of a ``LoopEvent.kind`` (a value this build does not know reads as a
    report: newer servers may add kinds)."""
    return _KIND_OF.get(kind, EventKind.REPORT)


def loop_event(event: LoopEvent) -> pb.LoopEvent:
    # A report's details are the whole report (GetReport serves it): not repeated here.
    details = "{}" if event.kind is EventKind.REPORT else _json(event.details)
    return pb.LoopEvent(seq=event.seq, at=event.at, kind=_EVENT_KIND[event.kind],
                        model_type=event.model_type, message=event.message, details_json=details,
                        subject=event.subject)
