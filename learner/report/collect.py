"""Assemble :class:`WeeklyReportData` from what the learner holds: its loop history (drift checks,
drift alarms, retrains), the merged sidecar windows (accuracy and F1 per model over time), its
A/B tests (estimate with confidence interval) and the registry ledger (promotions, rollbacks).

The learner only exposes read-only views; the assembly lives here.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from typing import Protocol

import statcore
from learner.abtest import ABTest, Recommendation
from learner.config import TestMethod
from learner.fleet import WindowCollector
from learner.fleet.interface import Baseline
from learner.history import LoopHistory
from learner.registry import ModelRegistry
from learner.registry.status import LedgerAction
from learner.report.features import feature_distribution
from learner.report.model import (
    ABDecision, ABMethod, ABResult, EventKind, FeatureDistribution, FeatureDrift, FieldF1,
    ModelQuality, TimelineEvent, WeeklyReportData,
)

__all__ = ["collect_report", "ReportSources"]

_DECISION = {
    Recommendation.PROMOTE_CHALLENGER: ABDecision.PROMOTE,
    Recommendation.KEEP_CHAMPION: ABDecision.KEEP_CHAMPION,
    Recommendation.CONTINUE_TEST: ABDecision.CONTINUE,
    Recommendation.INSUFFICIENT_SAMPLES: ABDecision.CONTINUE,
    Recommendation.INVESTIGATE_SAMPLE_RATIO: ABDecision.BLOCKED_SRM,
}
_METHOD = {TestMethod.SEQUENTIAL: ABMethod.MSPRT, TestMethod.Z_TEST: ABMethod.ZTEST}
_LEDGER = {LedgerAction.PROMOTE: EventKind.PROMOTION, LedgerAction.RESTORE: EventKind.ROLLBACK}
_LOOP = (EventKind.DRIFT, EventKind.RETRAINING)
#: A window's accuracy is plotted from this many labels on, and from a tenth of the model's
#: median: labels arrive late, so the last closed windows hold few and would read ~0 or ~1.
MIN_LABELLED = 20


class ReportSources(Protocol):
    """The read-only views a report needs (``ContinuousLearner`` provides them)."""

    @property
    def registry(self) -> ModelRegistry: ...

    @property
    def collector(self) -> WindowCollector: ...

    @property
    def history(self) -> LoopHistory: ...

    @property
    def baselines(self) -> Mapping[str, Baseline]: ...


def _drift(history: LoopHistory, model_type: str, start: float, end: float) -> tuple[FeatureDrift, ...]:
    checks = [c for c in history.drift_checks(model_type, since=start) if c.at <= end]
    series: dict[str, tuple[list[float], list[float], list[float]]] = {}
    for check in checks:
        for name, f in check.features.items():
            ts, psi, ks = series.setdefault(name, ([], [], []))
            if ts and check.at <= ts[-1]:
                continue
            ts.append(check.at)
            psi.append(max(0.0, f.psi))
            ks.append(max(0.0, f.ks_statistic))
    return tuple(FeatureDrift(n, tuple(t), tuple(p), tuple(k)) for n, (t, p, k) in sorted(series.items()))


def _window_quality(agg: statcore.Aggregate) -> tuple[int, float, dict[str, float]] | None:
    if not agg.labelled:
        return None
    f1 = {k: float(v) for k, v in agg.f1().items() if v is not None}
    return agg.labelled, agg.correct / agg.labelled, f1


def _quality(collector: WindowCollector, model_type: str, start: float, end: float
             ) -> tuple[ModelQuality, ...]:
    out = []
    for model_id in collector.models(model_type):
        points: list[tuple[float, int, float, dict[str, float]]] = []
        for s in collector.window_starts(model_type, model_id):
            if not start * 1000 <= s <= end * 1000:
                continue
            agg = collector.merged(model_type, model_id, since_ms=s, until_ms=s + 1, include_open=False)
            q = None if agg is None else _window_quality(agg)
            if q is not None:
                points.append((s / 1000.0, *q))
        if points:
            enough = max(MIN_LABELLED, statistics.median(p[1] for p in points) / 10)
            points = [p for p in points if p[1] >= enough]
        if not points:
            continue
        fields = sorted(set().union(*(p[3] for p in points)))
        f1 = []
        for name in fields:
            having = [p for p in points if name in p[3]]
            f1.append(FieldF1(name, tuple(p[3][name] for p in having), tuple(p[0] for p in having)))
        out.append(ModelQuality(model_id, tuple(p[0] for p in points), tuple(p[2] for p in points),
                                tuple(f1)))
    return tuple(out)


def _ab(tests: Iterable[ABTest], model_type: str, start: float) -> tuple[ABResult, ...]:
    out = []
    for t in tests:
        r = t.last_result
        if t.model_type != model_type or r is None or t.started_ms < start * 1000:
            continue
        if r.estimate is None or r.ci_low is None or r.ci_high is None or r.p_value is None:
            continue
        out.append(ABResult(t.champion_id, t.challenger_id, r.estimate, min(r.ci_low, r.estimate),
                            max(r.ci_high, r.estimate), min(1.0, max(0.0, r.p_value)),
                            r.champion.labelled, r.challenger.labelled, _METHOD[r.method],
                            _DECISION[r.recommendation]))
    return tuple(out)


def _events(registry: ModelRegistry, history: LoopHistory, model_type: str, start: float,
            end: float) -> tuple[TimelineEvent, ...]:
    events = [TimelineEvent(e.at, _LEDGER[e.action], e.model_id, e.reason, e.previous_champion_id or "")
              for e in registry.get_promotion_history(model_type)
              if e.action in _LEDGER and start <= e.at <= end]
    # A retraining's subject is its job id, not a model: the Model column stays empty.
    events += [TimelineEvent(e.at, e.kind, "" if e.kind is EventKind.RETRAINING else e.subject, e.message)
               for e in history.events(model_type, since=start, kinds=_LOOP)
               if e.at <= end and (e.kind is EventKind.DRIFT or e.details.get("stage") == "started")]
    return tuple(sorted(events, key=lambda e: e.time))


def _features(sources: ReportSources, model_type: str, start: float, end: float,
              threshold: float) -> tuple[FeatureDistribution, ...]:
    """The champion's baseline vs the period's inputs (every model of the type, in the
    baseline's bins: windows binned otherwise are left out), per numeric feature."""
    baseline = sources.baselines.get(model_type)
    if baseline is None:
        return ()
    windows = []
    for model_id in sources.collector.models(model_type):
        agg = sources.collector.merged(model_type, model_id, since_ms=int(start * 1000),
                                       until_ms=int(end * 1000), include_open=False)
        if agg is not None and agg.layout.fingerprint == baseline.layout.fingerprint:
            windows.append(agg)
    checks = sources.history.drift_checks(model_type, since=start)
    last = checks[-1].features if checks else {}
    out = []
    for name in baseline.layout.numeric_names:
        ref = baseline.reference.numeric_counts(name)
        cur = sum((w.numeric_counts(name) for w in windows), ref * 0)
        drift = last.get(name)
        out.append(feature_distribution(
            name, baseline.layout.edges(name), ref, cur,
            reference_missing=baseline.reference.numeric_nan(name),
            current_missing=sum(w.numeric_nan(name) for w in windows),
            psi=None if drift is None else max(0.0, drift.psi),
            ks=None if drift is None else max(0.0, drift.ks_statistic), threshold=threshold))
    return tuple(out)


def collect_report(sources: ReportSources, model_type: str, start: float, end: float, *,
                   drift_threshold: float, ab_tests: Iterable[ABTest] = ()) -> WeeklyReportData:
    """The report of ``model_type`` over ``[start, end]`` (epoch seconds)."""
    return WeeklyReportData(
        model_type, start, end, drift_threshold,
        drift=_drift(sources.history, model_type, start, end),
        quality=_quality(sources.collector, model_type, start, end),
        ab_results=_ab(ab_tests, model_type, start),
        events=_events(sources.registry, sources.history, model_type, start, end),
        features=_features(sources, model_type, start, end, drift_threshold))
