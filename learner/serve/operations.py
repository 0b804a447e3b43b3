"""What each admin call does to the learner; run on the learner's thread (``LearnerThread.call``).

Plain functions of the learner's admin face (:class:`Control`, which ``Control``
provides) and the request's values, returning messages. Nothing here reaches into the loop's
collaborators: promotions, rollbacks and tests go through the learner's executor like the
loop's own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol

from learner.abtest import ABTest, ABTestResult
from learner.config import LearningConfig
from learner.drift import DriftReport
from learner.errors import InvalidInputError, UnknownModelTypeError
from learner.events import LoopEvent
from learner.fleet import Fleet, WindowCollector
from learner.fleet.interface import Baseline
from learner.history import LoopHistory
from learner.metrics import COUNTER_METRICS
from learner.registry import ModelRegistry, ModelStatus
from learner.report import render_html
from learner.report.collect import collect_report
from learner.serve import messages
from loopwise_proto.v1 import learner_pb2 as pb


class Control(Protocol):
    """The learner as the admin API sees it (``Control`` implements it)."""

    config: LearningConfig
    registry: ModelRegistry
    fleet: Fleet

    @property
    def collector(self) -> WindowCollector: ...
    @property
    def history(self) -> LoopHistory: ...
    @property
    def counters(self) -> dict[str, int]: ...
    @property
    def routing_generation(self) -> int: ...
    @property
    def drift_unavailable(self) -> dict[str, str]: ...
    @property
    def baselines(self) -> Mapping[str, Baseline]: ...
    def now(self) -> float: ...
    def model_types(self) -> list[str]: ...
    def get_statistics(self) -> dict[str, Any]: ...
    def stale_sidecars(self) -> list[str]: ...
    def running_tests(self) -> dict[str, str]: ...
    def list_tests(self) -> list[ABTest]: ...
    def get_test(self, test_id: str) -> ABTest: ...
    def evaluate_test(self, test_id: str, method: str | None = None) -> ABTestResult: ...
    def check_drift(self, model_type: str) -> DriftReport | None: ...
    def last_drift(self, model_type: str) -> DriftReport | None: ...
    def create_ab_test(self, champion_id: str, challenger_id: str,
                       traffic_split: float | None = None) -> str: ...
    def promote(self, model_id: str, reason: str) -> dict[str, Any]: ...
    def rollback(self, model_type: str, reason: str) -> dict[str, Any]: ...


__all__ = ["status", "list_models", "get_model", "history", "check_drift", "drift_report",
           "create_ab_test", "evaluate_ab_test", "list_ab_tests", "promote", "rollback", "report", "events"]

DAY = 86_400.0
#: The report's period when the request leaves ``period_days`` unset (0).
DEFAULT_REPORT_DAYS = 7.0


def status(learner: Control) -> pb.GetLearnerStatusResponse:
    stats = learner.get_statistics()
    registry = stats["model_registry"]
    counters = {COUNTER_METRICS.get(k, k): int(v) for k, v in learner.counters.items()}
    by_status = Counter(r.status.value for r in learner.registry.list_models())
    return pb.GetLearnerStatusResponse(
        uptime_s=stats["uptime_hours"] * 3600.0, counters=counters,
        champions=dict(registry["champions"]), sidecars=learner.fleet.sidecars(),
        stale_sidecars=stats["stale_sidecars"], routing_generation=learner.routing_generation,
        models_by_status=dict(by_status), running_ab_tests=learner.running_tests(),
        drift_unavailable=learner.drift_unavailable)


def list_models(learner: Control, model_type: str, status_name: str) -> pb.ListModelsResponse:
    records = learner.registry.list_models(model_type or None, status_name or None)
    return pb.ListModelsResponse(models=[messages.model(r) for r in records])


def get_model(learner: Control, model_id: str) -> pb.RegisteredModel:
    return messages.model(learner.registry.get_model(model_id))


def _require_known_type(learner: Control, model_type: str) -> None:
    """Unknown model types are NOT_FOUND everywhere (``rollback`` and ``drift check`` already
    were), not an empty answer: a type is known when the learner manages it or the registry
    holds a model of it."""
    if model_type not in learner.model_types() and not learner.registry.list_models(model_type):
        raise UnknownModelTypeError(f"unknown model type {model_type!r}")


def history(learner: Control, model_type: str) -> pb.GetHistoryResponse:
    """Every ledger row of ``model_type`` (registrations and challengers too), oldest first."""
    _require_known_type(learner, model_type)
    entries = learner.registry.get_history(model_type=model_type)
    return pb.GetHistoryResponse(entries=[messages.ledger_entry(e) for e in entries])


def _require_champion(learner: Control, model_type: str) -> None:
    if learner.registry.get_champion(model_type) is None:
        raise UnknownModelTypeError(f"no champion for model type {model_type!r}")


def check_drift(learner: Control, model_type: str) -> pb.DriftResult:
    _require_champion(learner, model_type)
    learner.collector.refresh()
    return messages.drift(model_type, learner.check_drift(model_type))


def drift_report(learner: Control, model_type: str) -> pb.DriftResult:
    _require_champion(learner, model_type)
    return messages.drift(model_type, learner.last_drift(model_type))


def create_ab_test(learner: Control, champion_id: str, challenger_id: str,
                   split: float) -> pb.ABTest:
    champion = learner.registry.get_model(champion_id)
    challenger = learner.registry.get_model(challenger_id)
    if champion.status is not ModelStatus.CHAMPION:
        raise InvalidInputError(f"{champion_id} is {champion.status.value}, not the champion")
    if challenger.model_type != champion.model_type:
        raise InvalidInputError(f"{challenger_id} is a {challenger.model_type}, not a {champion.model_type}")
    test_id = learner.create_ab_test(champion_id, challenger_id, split or None)
    return messages.ab_test(learner.get_test(test_id))


def evaluate_ab_test(learner: Control, test_id: str, method: str) -> pb.ABTestResult:
    return messages.ab_result(learner.evaluate_test(test_id, method=method or None))


def list_ab_tests(learner: Control) -> pb.ListABTestsResponse:
    return pb.ListABTestsResponse(tests=[messages.ab_test(t) for t in learner.list_tests()])


def promote(learner: Control, model_id: str, reason: str) -> pb.PromoteResponse:
    out = learner.promote(model_id, reason)
    return pb.PromoteResponse(model_type=out["model_type"], promoted=out["promoted"],
                              previous_champion=out["previous_champion"] or "",
                              generation=out["generation"], applied=out["applied"],
                              missed=out["missed"], refused=out["refused"])


def rollback(learner: Control, model_type: str, reason: str) -> pb.RollbackResponse:
    out = learner.rollback(model_type, reason)
    return pb.RollbackResponse(model_type=model_type, previous_champion=out["previous_champion"] or "",
                               restored_champion=out["restored_champion"],
                               generation=out["generation"], applied=out["applied"],
                               missed=out["missed"], refused=out["refused"])


def report(learner: Control, model_type: str, fmt: int, period_days: float
           ) -> pb.GetReportResponse:
    types = learner.model_types()
    if not model_type:
        if not types:
            raise UnknownModelTypeError("no model type is managed yet")
        model_type = types[0]
    else:
        _require_known_type(learner, model_type)
    end = learner.now()
    data = collect_report(learner, model_type, end - (period_days or DEFAULT_REPORT_DAYS) * DAY, end,
                          drift_threshold=learner.config.drift_threshold_psi,
                          ab_tests=learner.list_tests())
    if fmt == pb.REPORT_FORMAT_HTML:
        return pb.GetReportResponse(content=render_html(data).encode(),
                                    content_type="text/html; charset=utf-8")
    return pb.GetReportResponse(content=data.to_json().encode(), content_type="application/json")


class EventFeed(Protocol):
    """What ``ListEvents`` reads (``EventLog`` or the store's ``EventReader``)."""

    def after(self, seq: int, limit: int | None = None) -> list[LoopEvent]: ...
    @property
    def last_seq(self) -> int: ...


def events(log: EventFeed, after_seq: int, limit: int) -> pb.ListEventsResponse:
    """The loop events after ``after_seq`` (at most ``limit``; 0: all); reads only the log."""
    return pb.ListEventsResponse(events=[messages.loop_event(e) for e in log.after(after_seq, limit or None)],
                                 last_seq=log.last_seq)
