"""Drift detection: data drift (PSI), feature drift (KS with Benjamini-Hochberg), concept drift.

The alarm rule (a pure function of per-feature statistics, :func:`decide`), and why:

* **Minimum sample guard.** No data or feature alarm unless the current window holds at least
  ``min_samples`` records (500 by default), and no concept alarm under ``min_labelled``
  labelled records (1,000). Small windows never alarm; the report says why
  (``"Insufficient samples for drift detection"``).
* **Data drift: PSI on coarse bins.** PSI over many bins is biased upwards on small samples:
  under no drift its expectation is about ``(bins - 1) * (1/n + 1/m)`` (with 1,024 bins and a
  few hundred records it exceeds 1 on stationary data). The PSI compared with the seed's 0.25
  threshold is therefore computed on ``psi_bins`` (10) baseline-quantile bins, obtained by
  summing consecutive fine slots of the histogram so that each coarse bin holds about a tenth
  of the reference; at ``n >= 500`` its null expectation is under 0.02.
  ``psi_score`` is the largest coarse PSI over the features.
* **Feature drift: KS on the fine bins.** A feature drifts when its KS statistic exceeds
  ``ks_threshold`` (the seed's 0.1, an effect size) *and* its Benjamini-Hochberg adjusted
  p-value across the features is at most ``fdr_q`` (0.001). With hourly checks, 720 a month,
  the per-check false-alarm probability must stay near 1/720: BH at q bounds it by q under no
  drift. The KS statistic comes from binned CDFs (a lower bound of the raw statistic), so its
  p-value is conservative.
* **Concept drift**: accuracy more than ``accuracy_drop`` (0.05, absolute) below the baseline
  accuracy and significantly so (one-sided binomial z-test, p <= ``fdr_q``).

Measured by ``tests/learner/test_drift_simulation.py``: stationary data checked hourly for 30
days at 100 and 10,000 requests an hour raises far less than one false alarm per 30 days, and a
0.5-standard-deviation shift in one feature is caught at the first check with enough samples.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> detector = DriftDetector(psi_threshold=0.25)
>>> same = detector.detect_data_drift(rng.normal(size=5000), rng.normal(size=2000))
>>> same.drift_detected, same.severity
(False, <DriftSeverity.NONE: 'none'>)
>>> shifted = detector.detect_data_drift(rng.normal(size=5000), rng.normal(0.7, 1, size=2000))
>>> shifted.drift_detected, sorted(t.value for t in shifted.drift_types)
(True, ['data', 'feature'])
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Union

import numpy as np
from numpy.typing import NDArray

import statcore
from learner.errors import InvalidInputError

__all__ = [
    "DriftSeverity",
    "DriftType",
    "DriftPolicy",
    "FeatureResult",
    "FeatureStats",
    "ConceptResult",
    "DriftReport",
    "DriftDetector",
    "benjamini_hochberg",
    "decide",
    "concept_drift",
    "INSUFFICIENT_DRIFT_SAMPLES",
]

INSUFFICIENT_DRIFT_SAMPLES = "Insufficient samples for drift detection"

RawData = Union[NDArray[np.float64], Mapping[str, Sequence[float]], Sequence[float]]


class DriftType(enum.Enum):
    """What drifted: the input distribution (PSI), a single feature (KS), or the concept."""

    DATA = "data"
    FEATURE = "feature"
    CONCEPT = "concept"


class DriftSeverity(enum.Enum):
    """How bad a drift is, ordered: ``NONE < LOW < MEDIUM < HIGH < CRITICAL``."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(DriftSeverity).index(self)


@dataclass(frozen=True)
class DriftPolicy:
    """Thresholds of the drift alarm (see the module docstring for the reasoning)."""

    psi_threshold: float = 0.25
    ks_threshold: float = 0.1
    fdr_q: float = 0.001
    min_samples: int = 500
    psi_bins: int = 10
    accuracy_drop: float = 0.05
    min_labelled: int = 1000
    fine_bins: int = 1024

    def __post_init__(self) -> None:
        problems = []
        if not self.psi_threshold > 0:
            problems.append(f"psi_threshold must be > 0 (got {self.psi_threshold})")
        if not 0 <= self.ks_threshold <= 1:
            problems.append(f"ks_threshold must be in [0, 1] (got {self.ks_threshold})")
        if not 0 < self.fdr_q < 1:
            problems.append(f"fdr_q must be in (0, 1) (got {self.fdr_q})")
        if self.min_samples < 1 or self.min_labelled < 1:
            problems.append("min_samples and min_labelled must be >= 1")
        if not 2 <= self.psi_bins <= 100:
            problems.append(f"psi_bins must be in [2, 100] (got {self.psi_bins})")
        if not 0 <= self.accuracy_drop <= 1:
            problems.append(f"accuracy_drop must be in [0, 1] (got {self.accuracy_drop})")
        if problems:
            raise InvalidInputError("invalid DriftPolicy: " + "; ".join(problems))


@dataclass(frozen=True)
class FeatureStats:
    """Raw per-feature statistics, before the policy decides (input of :func:`decide`)."""

    name: str
    psi: float
    ks_statistic: float
    ks_pvalue: float
    wasserstein: float
    reference_n: int
    current_n: int


@dataclass(frozen=True)
class FeatureResult:
    """One feature's drift: coarse ``psi``, KS (fine bins), W1, BH-adjusted p, verdict."""

    name: str
    psi: float
    ks_statistic: float
    ks_pvalue: float
    ks_adjusted_pvalue: float
    wasserstein: float
    drifted: bool
    reference_n: int
    current_n: int


@dataclass(frozen=True)
class ConceptResult:
    """Accuracy against the baseline, with the guard and the test that decide concept drift."""

    baseline_accuracy: float
    accuracy: float | None
    labelled: int
    drop: float | None
    pvalue: float | None
    drifted: bool
    sufficient: bool


@dataclass(frozen=True)
class DriftReport:
    """The seed's report: ``drift_detected``, ``psi_score``, ``severity``, ``drift_types``."""

    drift_detected: bool
    psi_score: float
    severity: DriftSeverity
    drift_types: tuple[DriftType, ...]
    features: dict[str, FeatureResult]
    current_n: int
    reference_n: int
    sufficient_samples: bool
    message: str
    concept: ConceptResult | None = None
    thresholds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready summary (for the ledger, the CLI and the weekly report)."""
        return {
            "drift_detected": self.drift_detected,
            "psi_score": self.psi_score,
            "severity": self.severity.value,
            "drift_types": [t.value for t in self.drift_types],
            "current_n": self.current_n,
            "reference_n": self.reference_n,
            "sufficient_samples": self.sufficient_samples,
            "message": self.message,
            "features": {
                name: {"psi": f.psi, "ks_statistic": f.ks_statistic, "ks_pvalue": f.ks_pvalue,
                       "ks_adjusted_pvalue": f.ks_adjusted_pvalue, "wasserstein": f.wasserstein,
                       "drifted": f.drifted}
                for name, f in self.features.items()
            },
            "concept": None if self.concept is None else {
                "baseline_accuracy": self.concept.baseline_accuracy,
                "accuracy": self.concept.accuracy, "labelled": self.concept.labelled,
                "drop": self.concept.drop, "pvalue": self.concept.pvalue,
                "drifted": self.concept.drifted,
            },
            "thresholds": dict(self.thresholds),
        }


# ---- pure functions ----------------------------------------------------------------------


def benjamini_hochberg(pvalues: Sequence[float] | NDArray[np.float64]) -> NDArray[np.float64]:
    """Benjamini-Hochberg adjusted p-values (step-up, monotone, capped at 1).

    >>> benjamini_hochberg([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted_sorted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    out = np.empty(m)
    out[order] = adjusted_sorted
    return out


def concept_drift(
    baseline_accuracy: float, correct: int, labelled: int, policy: DriftPolicy
) -> ConceptResult:
    """Concept drift: accuracy ``> accuracy_drop`` below the baseline, significant at ``fdr_q``.

    >>> concept_drift(0.85, 780, 1000, DriftPolicy()).drifted
    True
    >>> concept_drift(0.85, 78, 100, DriftPolicy()).drifted  # too few labels
    False
    """
    if labelled <= 0:
        return ConceptResult(baseline_accuracy, None, 0, None, None, False, False)
    accuracy = correct / labelled
    drop = baseline_accuracy - accuracy
    var = baseline_accuracy * (1 - baseline_accuracy) / labelled
    pvalue = 0.5 * math.erfc(drop / math.sqrt(2 * var)) if var > 0 else (0.0 if drop > 0 else 1.0)
    sufficient = labelled >= policy.min_labelled
    drifted = sufficient and drop > policy.accuracy_drop and pvalue <= policy.fdr_q
    return ConceptResult(baseline_accuracy, accuracy, labelled, drop, pvalue, drifted, sufficient)


def _severity(psi_score: float, types: set[DriftType], concept: ConceptResult | None,
              policy: DriftPolicy) -> DriftSeverity:
    if not types:
        return DriftSeverity.NONE
    if concept is not None and concept.drifted and (concept.drop or 0) >= 2 * policy.accuracy_drop:
        return DriftSeverity.CRITICAL
    if DriftType.CONCEPT in types or psi_score >= 2 * policy.psi_threshold:
        return DriftSeverity.HIGH
    if DriftType.DATA in types:
        return DriftSeverity.MEDIUM
    return DriftSeverity.LOW


def decide(
    features: Sequence[FeatureStats], policy: DriftPolicy, concept: ConceptResult | None = None
) -> DriftReport:
    """The drift verdict from per-feature statistics (pure; see the module docstring)."""
    current_n = max((f.current_n for f in features), default=0)
    reference_n = max((f.reference_n for f in features), default=0)
    sufficient = current_n >= policy.min_samples
    adjusted = benjamini_hochberg([f.ks_pvalue for f in features])
    results: dict[str, FeatureResult] = {}
    for f, adj in zip(features, adjusted):
        drifted = sufficient and f.ks_statistic > policy.ks_threshold and adj <= policy.fdr_q
        results[f.name] = FeatureResult(f.name, f.psi, f.ks_statistic, f.ks_pvalue, float(adj),
                                        f.wasserstein, bool(drifted), f.reference_n, f.current_n)
    psi_score = max((f.psi for f in features), default=0.0)
    types: set[DriftType] = set()
    if sufficient and psi_score > policy.psi_threshold:
        types.add(DriftType.DATA)
    if any(r.drifted for r in results.values()):
        types.add(DriftType.FEATURE)
    if concept is not None and concept.drifted:
        types.add(DriftType.CONCEPT)
    ordered = tuple(t for t in DriftType if t in types)
    if types:
        message = "Drift detected: " + ", ".join(t.value for t in ordered)
    elif not sufficient:
        message = f"{INSUFFICIENT_DRIFT_SAMPLES} ({current_n} < {policy.min_samples})"
    else:
        message = "No drift detected"
    return DriftReport(
        drift_detected=bool(types), psi_score=float(psi_score),
        severity=_severity(psi_score, types, concept, policy), drift_types=ordered,
        features=results, current_n=current_n, reference_n=reference_n,
        sufficient_samples=sufficient, message=message, concept=concept,
        thresholds={"psi": policy.psi_threshold, "ks": policy.ks_threshold, "fdr_q": policy.fdr_q,
                    "min_samples": policy.min_samples, "psi_bins": policy.psi_bins},
    )


# ---- statistics from statcore --------------------------------------------------------------


def aggregate_feature_stats(
    reference: statcore.Aggregate, current: statcore.Aggregate, policy: DriftPolicy
) -> list[FeatureStats]:
    """Per-feature statistics from two aggregates: KS and W1 from ``statcore.feature_drift``
    on the fine bins; numeric PSI over ``policy.psi_bins`` groups of equal reference mass
    (statcore's coarsening: the baseline's deciles by default)."""
    out = []
    for d in statcore.feature_drift(reference, current, psi_groups=policy.psi_bins):
        psi = d.psi if math.isfinite(d.psi) else 0.0
        out.append(FeatureStats(d.name, psi, d.ks_statistic, d.ks_pvalue,
                                d.wasserstein, d.reference_n, d.current_n))
    return out


def _columns(data: RawData, names: Sequence[str] | None) -> dict[str, NDArray[np.float64]]:
    if isinstance(data, Mapping):
        return {str(k): np.ascontiguousarray(v, dtype=np.float64) for k, v in data.items()}
    arr = np.asarray(data, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise InvalidInputError(f"expected 1-D or 2-D data, got shape {arr.shape}")
    labels = list(names) if names is not None else [f"feature_{j}" for j in range(arr.shape[1])]
    if len(labels) != arr.shape[1]:
        raise InvalidInputError(f"{len(labels)} feature names for {arr.shape[1]} columns")
    return {label: np.ascontiguousarray(arr[:, j]) for j, label in enumerate(labels)}


class DriftDetector:
    """The seed's ``DriftDetector``: works on raw arrays and on merged statcore aggregates."""

    def __init__(self, psi_threshold: float | None = None, *, policy: DriftPolicy | None = None,
                 **overrides: float) -> None:
        """``psi_threshold`` (the seed's argument) and ``overrides`` replace the fields of
        ``policy`` (default ``DriftPolicy()``); an argument left out keeps the policy's value."""
        base = policy or DriftPolicy()
        values = {**base.__dict__, **overrides}
        if psi_threshold is not None:
            values["psi_threshold"] = psi_threshold
        self.policy = DriftPolicy(**values)

    @property
    def psi_threshold(self) -> float:
        return self.policy.psi_threshold

    def detect_data_drift(
        self,
        baseline_data: RawData | statcore.Aggregate,
        current_data: RawData | statcore.Aggregate,
        *,
        feature_names: Sequence[str] | None = None,
    ) -> DriftReport:
        """Compare current data with the baseline: raw arrays (rows x features, a 1-D array or
        a name -> column mapping) or two :class:`statcore.Aggregate` over the same layout."""
        if isinstance(baseline_data, statcore.Aggregate) and isinstance(current_data, statcore.Aggregate):
            return decide(aggregate_feature_stats(baseline_data, current_data, self.policy), self.policy)
        if isinstance(baseline_data, statcore.Aggregate) or isinstance(current_data, statcore.Aggregate):
            raise InvalidInputError("pass two aggregates or two raw data sets, not a mix")
        reference, current = self.aggregates_from_raw(baseline_data, current_data, feature_names)
        return decide(aggregate_feature_stats(reference, current, self.policy), self.policy)

    def detect_concept_drift(self, baseline_accuracy: float, correct: int, labelled: int) -> ConceptResult:
        """Concept drift from labelled outcomes (see :func:`concept_drift`)."""
        return concept_drift(baseline_accuracy, correct, labelled, self.policy)

    def detect_drift(
        self, reference: statcore.Aggregate, current: statcore.Aggregate,
        baseline_accuracy: float | None = None,
    ) -> DriftReport:
        """Data, feature and (when a baseline accuracy is known) concept drift of a window."""
        concept = None
        if baseline_accuracy is not None:
            concept = self.detect_concept_drift(baseline_accuracy, current.correct, current.labelled)
        return decide(aggregate_feature_stats(reference, current, self.policy), self.policy, concept)

    def aggregates_from_raw(
        self, baseline_data: RawData, current_data: RawData, feature_names: Sequence[str] | None = None
    ) -> tuple[statcore.Aggregate, statcore.Aggregate]:
        """A layout with baseline-quantile edges, and one aggregate per side."""
        base = _columns(baseline_data, feature_names)
        cur = _columns(current_data, feature_names)
        if set(base) != set(cur):
            raise InvalidInputError(f"feature names differ: {sorted(base)} vs {sorted(cur)}")
        names = list(base)
        layout = statcore.Layout.from_baseline([(n, base[n]) for n in names], bins=self.policy.fine_bins)
        return _aggregate(layout, base, names), _aggregate(layout, cur, names)


def _aggregate(layout: statcore.Layout, columns: Mapping[str, NDArray[np.float64]],
               names: Sequence[str]) -> statcore.Aggregate:
    rows = np.ascontiguousarray(np.column_stack([columns[n] for n in names]))
    agg = statcore.Aggregate(layout, "raw", "raw", 0, 0)
    n = rows.shape[0]
    agg.update(numeric=rows, confidence=np.ones(n), latency_ms=np.zeros(n))
    return agg
