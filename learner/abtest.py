"""Champion/challenger A/B tests: routing through the sidecars, counts from their aggregates.

Decision statistics (:func:`decision_statistic`):

* ``TestMethod.SEQUENTIAL`` (default): statcore's mSPRT (Johari et al.), one per test, fed the
  cumulative labelled counts at every evaluation. Its always-valid p-value is a running
  minimum, and the probability that it *ever* falls below alpha under no difference is at most
  alpha, so evaluating every 6 hours (or every minute) keeps the false-promotion rate <= alpha.
* ``TestMethod.Z_TEST``: the seed's fixed-horizon two-proportion z-test. Valid only if
  evaluated once, at a sample size fixed in advance. Re-evaluated every 6 hours for 14 days
  it declares a no-better challenger significant in well over 10 % of A/A experiments
  (``tests/learner/test_abtest_simulation.py``) - the peeking problem. Kept for comparison.

A sample-ratio mismatch (chi-square ``srm`` p < 0.001 on the requests each arm served) means
the split is broken: no winner is declared. Fewer than ``min_samples`` labelled outcomes per
arm gives ``"Insufficient samples for evaluation"``.
"""

from __future__ import annotations

import enum
import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from statistics import NormalDist
from typing import Any, Protocol

import statcore
from learner.config import TestMethod
from learner.errors import InvalidInputError, UnknownTestError
from learner.fleet import Fleet, LocalFleet, Outcome, WindowCollector
from learner.routing import RoutingPlan

__all__ = [
    "ABPolicy",
    "ABTest",
    "ABTestResult",
    "ABTestStatus",
    "ABTestingManager",
    "ArmStats",
    "MemoryTestBook",
    "SequentialState",
    "TestBook",
    "Recommendation",
    "DecisionStatistic",
    "Winner",
    "decide_winner",
    "decision_statistic",
    "INSUFFICIENT_SAMPLES",
    "model_type_of",
]

INSUFFICIENT_SAMPLES = "Insufficient samples for evaluation"


class Winner(enum.Enum):
    CHAMPION = "champion"
    CHALLENGER = "challenger"
    INCONCLUSIVE = "inconclusive"


class Recommendation(enum.Enum):
    PROMOTE_CHALLENGER = "promote_challenger"
    KEEP_CHAMPION = "keep_champion"
    CONTINUE_TEST = "continue_test"
    INSUFFICIENT_SAMPLES = "insufficient_samples"
    INVESTIGATE_SAMPLE_RATIO = "investigate_sample_ratio_mismatch"


class ABTestStatus(enum.Enum):
    RUNNING = "running"
    CONCLUDED = "concluded"
    STOPPED = "stopped"


@dataclass(frozen=True)
class SequentialState:
    """The mSPRT's memory across looks: the running minimum p-value, the running intersection
    of the always-valid intervals, and the counts the last look consumed. Stored with the test,
    so a restarted learner continues the same sequential test (no look is lost or repeated).

    >>> s = SequentialState().look(800, 1000, 900, 1000, alpha=0.05, tau=0.05)
    >>> s.looks, s.pvalue < 1e-6, s.consumed
    (1, True, (800, 1000, 900, 1000))
    >>> s.look(810, 1010, 800, 1000, alpha=0.05, tau=0.05).pvalue == s.pvalue  # running minimum
    True
    """

    looks: int = 0
    pvalue: float = 1.0
    ci_low: float = -1.0
    ci_high: float = 1.0
    estimate: float = 0.0
    consumed: tuple[int, int, int, int] = (0, 0, 0, 0)

    def look(self, ca: int, na: int, cb: int, nb: int, *, alpha: float, tau: float) -> SequentialState:
        one = statcore.Msprt(alpha, tau).update(ca, na, cb, nb)  # this look alone
        return SequentialState(self.looks + 1, min(self.pvalue, one.pvalue),
                               max(self.ci_low, one.ci_low), min(self.ci_high, one.ci_high),
                               one.estimate, (ca, na, cb, nb))

    def to_json(self) -> str:
        return json.dumps({"looks": self.looks, "pvalue": self.pvalue, "ci_low": self.ci_low,
                           "ci_high": self.ci_high, "estimate": self.estimate,
                           "consumed": list(self.consumed)})

    @staticmethod
    def from_json(text: str) -> SequentialState:
        d = json.loads(text)
        consumed = tuple(int(x) for x in d.get("consumed", (0, 0, 0, 0)))
        return SequentialState(int(d.get("looks", 0)), float(d.get("pvalue", 1.0)),
                               float(d.get("ci_low", -1.0)), float(d.get("ci_high", 1.0)),
                               float(d.get("estimate", 0.0)),
                               (consumed[0], consumed[1], consumed[2], consumed[3]))


@dataclass(frozen=True)
class ArmStats:
    """One arm's counts over the test so far (from merged aggregates)."""

    model_id: str
    records: int = 0
    labelled: int = 0
    correct: int = 0
    errors: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    f1: Mapping[str, float | None] = field(default_factory=dict)

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.labelled if self.labelled else None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.records if self.records else None

    @staticmethod
    def from_aggregate(model_id: str, agg: statcore.Aggregate | None) -> ArmStats:
        if agg is None:
            return ArmStats(model_id)
        p50, p95, p99 = agg.latency_quantiles([0.5, 0.95, 0.99])
        return ArmStats(model_id, agg.records, agg.labelled, agg.correct, agg.errors,
                        p50, p95, p99, dict(agg.f1()))

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> ArmStats:
        return ArmStats(str(d["model_id"]), int(d["records"]), int(d["labelled"]), int(d["correct"]),
                        int(d["errors"]), d.get("latency_p50_ms"), d.get("latency_p95_ms"),
                        d.get("latency_p99_ms"), dict(d.get("f1") or {}))

    def to_dict(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "records": self.records, "labelled": self.labelled,
                "correct": self.correct, "accuracy": self.accuracy, "errors": self.errors,
                "error_rate": self.error_rate, "latency_p50_ms": self.latency_p50_ms,
                "latency_p95_ms": self.latency_p95_ms, "latency_p99_ms": self.latency_p99_ms,
                "f1": dict(self.f1)}


@dataclass(frozen=True)
class ABPolicy:
    """How a test decides."""

    method: TestMethod = TestMethod.SEQUENTIAL
    alpha: float = 0.05
    min_samples: int = 1000
    srm_threshold: float = 0.001
    tau: float = 0.05

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", TestMethod.parse(self.method))
        if not 0 < self.alpha < 1 or not 0 < self.srm_threshold < 1 or self.tau <= 0:
            raise InvalidInputError("alpha and srm_threshold must be in (0, 1), tau > 0")
        if self.min_samples < 1:
            raise InvalidInputError("min_samples must be >= 1")


@dataclass(frozen=True)
class DecisionStatistic:
    """Challenger minus champion accuracy, its p-value and confidence interval."""

    estimate: float
    p_value: float
    ci_low: float
    ci_high: float
    significant: bool


def decision_statistic(champion: ArmStats, challenger: ArmStats, policy: ABPolicy,
                       msprt: statcore.Msprt | None = None) -> DecisionStatistic:
    """The decision statistic of ``policy.method`` (the mSPRT is stateful: pass the test's)."""
    ca, na, cb, nb = champion.correct, champion.labelled, challenger.correct, challenger.labelled
    if policy.method is TestMethod.SEQUENTIAL:
        test = msprt if msprt is not None else statcore.Msprt(policy.alpha, policy.tau)
        r = test.update(ca, na, cb, nb)
        return DecisionStatistic(r.estimate, r.pvalue, r.ci_low, r.ci_high, bool(r.pvalue <= policy.alpha))
    return _ztest_statistic(ca, na, cb, nb, policy)


def _sequential_statistic(state: SequentialState, policy: ABPolicy) -> DecisionStatistic:
    return DecisionStatistic(state.estimate, state.pvalue, state.ci_low, state.ci_high,
                             bool(state.pvalue <= policy.alpha))


def _ztest_statistic(ca: int, na: int, cb: int, nb: int, policy: ABPolicy) -> DecisionStatistic:
    z = statcore.ztest_two_proportions(ca, na, cb, nb)
    pa, pb = ca / na, cb / nb
    se = math.sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb)
    half = NormalDist().inv_cdf(1 - policy.alpha / 2) * se
    est = pb - pa
    return DecisionStatistic(est, z.pvalue, est - half, est + half, bool(z.pvalue < policy.alpha))


def decide_winner(champion: ArmStats, challenger: ArmStats, statistic: DecisionStatistic | None,
                  srm_pvalue: float | None, policy: ABPolicy) -> tuple[Winner, Recommendation, str]:
    """Winner, recommendation and message (pure)."""
    if min(champion.labelled, challenger.labelled) < policy.min_samples:
        return (Winner.INCONCLUSIVE, Recommendation.INSUFFICIENT_SAMPLES,
                f"{INSUFFICIENT_SAMPLES}: champion {champion.labelled}, challenger "
                f"{challenger.labelled} labelled (need {policy.min_samples} per model)")
    if srm_pvalue is not None and srm_pvalue < policy.srm_threshold:
        return (Winner.INCONCLUSIVE, Recommendation.INVESTIGATE_SAMPLE_RATIO,
                f"Sample ratio mismatch (p={srm_pvalue:.2e}): the traffic split is broken")
    assert statistic is not None
    if not statistic.significant:
        return (Winner.INCONCLUSIVE, Recommendation.CONTINUE_TEST,
                f"Not statistically significant yet (p={statistic.p_value:.4f})")
    if statistic.estimate > 0:
        return (Winner.CHALLENGER, Recommendation.PROMOTE_CHALLENGER,
                f"Challenger better by {statistic.estimate:+.4f} (p={statistic.p_value:.4f})")
    return (Winner.CHAMPION, Recommendation.KEEP_CHAMPION,
            f"Champion better by {-statistic.estimate:.4f} (p={statistic.p_value:.4f})")


@dataclass(frozen=True)
class ABTestResult:
    """The seed's result (``winner``, ``p_value``, ``recommendation``) with the full evidence."""

    test_id: str
    model_type: str
    method: TestMethod
    winner: Winner
    p_value: float | None
    recommendation: Recommendation
    message: str
    champion: ArmStats
    challenger: ArmStats
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    srm_pvalue: float | None = None
    traffic_split: float = 0.1

    @property
    def sufficient_samples(self) -> bool:
        return self.recommendation is not Recommendation.INSUFFICIENT_SAMPLES

    def to_dict(self) -> dict[str, Any]:
        return {"test_id": self.test_id, "model_type": self.model_type,
                "method": self.method.value, "winner": self.winner.value,
                "p_value": self.p_value, "recommendation": self.recommendation.value,
                "message": self.message, "estimate": self.estimate, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "srm_pvalue": self.srm_pvalue,
                "traffic_split": self.traffic_split, "champion": self.champion.to_dict(),
                "challenger": self.challenger.to_dict()}

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> ABTestResult:
        """The inverse of :meth:`to_dict` (results are stored with their test)."""
        return ABTestResult(
            str(d["test_id"]), str(d["model_type"]), TestMethod.parse(d["method"]), Winner(d["winner"]),
            d.get("p_value"), Recommendation(d["recommendation"]), str(d["message"]),
            ArmStats.from_dict(d["champion"]), ArmStats.from_dict(d["challenger"]), d.get("estimate"),
            d.get("ci_low"), d.get("ci_high"), d.get("srm_pvalue"), float(d.get("traffic_split", 0.1)))


@dataclass(frozen=True)
class ABTest:
    """A test and its sequential state (which accumulates across evaluations)."""

    test_id: str
    model_type: str
    champion_id: str
    challenger_id: str
    traffic_split: float
    started_ms: int
    generation: int = 0
    status: ABTestStatus = ABTestStatus.RUNNING
    sequential: SequentialState = SequentialState()
    last_result: ABTestResult | None = None
    ended_at: float | None = None


class TestBook(Protocol):
    """Where tests live: in memory (stand-alone use) or in the loop store (durable)."""

    def get_test(self, test_id: str) -> ABTest | None: ...

    def all_tests(self) -> list[ABTest]: ...

    def put_test(self, test: ABTest) -> None: ...

    def next_test_id(self, model_type: str) -> str: ...


class MemoryTestBook:
    """Tests in a dict (the seed's stand-alone ``ABTestingManager``)."""

    __test__ = False

    def __init__(self) -> None:
        self._tests: dict[str, ABTest] = {}
        self._lock = threading.Lock()

    def get_test(self, test_id: str) -> ABTest | None:
        return self._tests.get(test_id)

    def all_tests(self) -> list[ABTest]:
        return list(self._tests.values())

    def put_test(self, test: ABTest) -> None:
        self._tests[test.test_id] = test

    def next_test_id(self, model_type: str) -> str:
        with self._lock:
            n = 1 + sum(1 for t in self._tests.values() if t.model_type == model_type)
            while f"ab_{model_type}_{n:04d}" in self._tests:
                n += 1
            return f"ab_{model_type}_{n:04d}"


def model_type_of(model_id: str) -> str:
    """``"vision_encoder_1.0.1"`` -> ``"vision_encoder"``; ids without a version stay as is."""
    head, _, tail = model_id.rpartition("_")
    parts = tail.split(".")
    return head if head and len(parts) == 3 and all(p.isdigit() for p in parts) else model_id


def _correct(prediction: Any, ground_truth: Any) -> bool | None:
    return None if ground_truth is None else prediction == ground_truth


def _field_flags(prediction: Any, ground_truth: Any, fields: list[str]) -> dict[str, int]:
    if not fields or not isinstance(prediction, Mapping) or not isinstance(ground_truth, Mapping):
        return {}
    flags = {}
    for name in fields:
        pred, truth = prediction.get(name), ground_truth.get(name)
        if pred is not None and pred == truth:
            flags[name] = 1  # TP
        else:
            flags[name] = (2 if pred is not None else 0) | (4 if truth is not None else 0)
    return flags


class ABTestingManager:
    """Creates tests (pushing the split to the sidecars), routes, records and evaluates.

    >>> manager = ABTestingManager(clock=lambda: 0.0)
    >>> test_id = manager.create_ab_test("model_v1", "model_v2", traffic_split=0.1)
    >>> manager.route_prediction(test_id, "doc-7") in {"model_v1", "model_v2"}
    True
    >>> manager.evaluate_ab_test(test_id).message.startswith("Insufficient samples for evaluation")
    True
    """

    def __init__(self, *, fleet: Fleet | None = None, collector: WindowCollector | None = None,
                 plan: RoutingPlan | None = None, policy: ABPolicy | None = None,
                 clock: Callable[[], float] = time.time,
                 resolve_model_type: Callable[[str], str] = model_type_of,
                 fields: Mapping[str, list[str]] | None = None, tests: TestBook | None = None) -> None:
        self._clock = clock
        self.fleet: Fleet = fleet if fleet is not None else LocalFleet.with_sidecars(1, clock=clock)
        self.collector = collector if collector is not None else WindowCollector(self.fleet)
        self.plan = plan if plan is not None else RoutingPlan()
        self.policy = policy or ABPolicy()
        self._resolve = resolve_model_type
        self._fields = dict(fields or {})
        self.tests: TestBook = tests if tests is not None else MemoryTestBook()

    def create_ab_test(self, champion_id: str, challenger_id: str, traffic_split: float = 0.1,
                       *, model_type: str | None = None) -> str:
        """Start a test and push the split (a new routing generation) to every sidecar."""
        if not 0 < traffic_split < 1:
            raise InvalidInputError(f"traffic_split must be in (0, 1) (got {traffic_split})")
        if champion_id == challenger_id:
            raise InvalidInputError("champion and challenger must differ")
        model_type = model_type or self._resolve(champion_id)
        running = self.running_test(model_type)
        if running is not None:  # one test per model type at a time
            self.tests.put_test(replace(running, status=ABTestStatus.STOPPED, ended_at=self._clock()))
        test_id = self.tests.next_test_id(model_type)
        now_ms = int(self._clock() * 1000)
        table = self.plan.set_route(model_type, champion=champion_id, challenger=challenger_id,
                                    share=traffic_split, salt=test_id)
        self.tests.put_test(ABTest(test_id, model_type, champion_id, challenger_id, traffic_split,
                                   now_ms, table.generation))
        self.fleet.push_routing(table)
        return test_id

    def get_test(self, test_id: str) -> ABTest:
        test = self.tests.get_test(test_id)
        if test is None:
            raise UnknownTestError(f"unknown A/B test {test_id!r}")
        return test

    def list_tests(self) -> list[ABTest]:
        return self.tests.all_tests()

    def running_test(self, model_type: str) -> ABTest | None:
        return next((t for t in self.tests.all_tests()
                     if t.model_type == model_type and t.status is ABTestStatus.RUNNING), None)

    def route_prediction(self, test_id: str, key: str | None = None) -> str:
        """The model that serves this request (sticky by ``key``, e.g. the document id)."""
        return self.fleet.route(self.get_test(test_id).model_type, key)

    def record_prediction(self, test_id: str, model_id: str, document_id: str, prediction: Any,
                          ground_truth: Any = None, latency_ms: float = 0.0, *,
                          error: bool = False, confidence: float = 1.0,
                          features: Mapping[str, float] | None = None) -> None:
        """Record one served prediction (and its label, when known) on a sidecar."""
        test = self.get_test(test_id)
        if model_id not in (test.champion_id, test.challenger_id):
            raise InvalidInputError(f"{model_id} is not an arm of {test_id}")
        self.fleet.record(Outcome(
            test.model_type, model_id, document_id, float(latency_ms),
            correct=_correct(prediction, ground_truth), error=error, confidence=confidence,
            features=dict(features or {}),
            field_flags=_field_flags(prediction, ground_truth, self._fields.get(test.model_type, [])),
        ))

    def arm_stats(self, test: ABTest) -> tuple[ArmStats, ArmStats]:
        self.collector.refresh()
        merged = [self.collector.merged(test.model_type, mid, since_ms=test.started_ms,
                                        min_generation=test.generation)
                  for mid in (test.champion_id, test.challenger_id)]
        return (ArmStats.from_aggregate(test.champion_id, merged[0]),
                ArmStats.from_aggregate(test.challenger_id, merged[1]))

    def evaluate_ab_test(self, test_id: str, min_samples: int | None = None,
                         *, method: TestMethod | str | None = None) -> ABTestResult:
        """Evaluate on the sidecars' counts; ``method`` overrides the default (sequential)."""
        test = self.get_test(test_id)
        policy = self.policy
        if min_samples is not None or method is not None:
            policy = ABPolicy(TestMethod.parse(method) if method else policy.method, policy.alpha,
                              min_samples if min_samples is not None else policy.min_samples,
                              policy.srm_threshold, policy.tau)
        champion, challenger = self.arm_stats(test)
        statistic = None
        srm_p = None
        sequential = test.sequential
        if min(champion.labelled, challenger.labelled) >= policy.min_samples:
            if policy.method is TestMethod.SEQUENTIAL:
                sequential = sequential.look(champion.correct, champion.labelled, challenger.correct,
                                             challenger.labelled, alpha=policy.alpha, tau=policy.tau)
                statistic = _sequential_statistic(sequential, policy)
            else:
                statistic = decision_statistic(champion, challenger, policy)
            if champion.records + challenger.records > 0:
                srm_p = statcore.srm([champion.records, challenger.records],
                                     [1 - test.traffic_split, test.traffic_split]).pvalue
        winner, recommendation, message = decide_winner(champion, challenger, statistic, srm_p, policy)
        result = ABTestResult(
            test_id, test.model_type, policy.method, winner,
            None if statistic is None else statistic.p_value, recommendation, message,
            champion, challenger,
            None if statistic is None else statistic.estimate,
            None if statistic is None else statistic.ci_low,
            None if statistic is None else statistic.ci_high, srm_p, test.traffic_split)
        self.tests.put_test(replace(test, sequential=sequential, last_result=result))
        return result

    def conclude(self, test_id: str, status: ABTestStatus = ABTestStatus.CONCLUDED) -> None:
        self.tests.put_test(replace(self.get_test(test_id), status=status, ended_at=self._clock()))
