"""Realistic demo data for the weekly report (seeded: the same seed gives the same report).

The story of the sample week: the ``amount`` feature drifts from day 2, a drift alarm triggers a
LoRA retrain, the retrained challenger wins its A/B test and is promoted, then degrades and is
rolled back; a second retrain starts a new A/B test that is still running when the week ends.
"""

from __future__ import annotations

import math
import random

import numpy as np

from learner.report.features import feature_distribution
from learner.report.model import (
    ABDecision, ABMethod, ABResult, EventKind, FeatureDistribution, FeatureDrift, FieldF1,
    ModelQuality, TimelineEvent, WeeklyReportData,
)

__all__ = ["sample_report"]

HOUR = 3600.0
DAY = 24 * HOUR
_START = 1_794_787_200.0  # Monday 2026-11-16 00:00 UTC
_FIELDS = ("doc_type", "total", "date")


def _ramp(t: float, start: float, end: float) -> float:
    """0 before ``start``, 1 after ``end``, smooth in between."""
    x = min(1.0, max(0.0, (t - start) / (end - start)))
    return 0.5 - 0.5 * math.cos(math.pi * x)


def _drift(rng: random.Random, start: float, threshold: float) -> tuple[FeatureDrift, ...]:
    ts = tuple(start + h * HOUR for h in range(7 * 24))
    out = []
    for feature, level, onset in (("amount", 1.7, 2.2), ("page_count", 0.0, 0.0),
                                  ("ocr_confidence", 0.35, 4.0), ("text_length", 0.0, 0.0)):
        psi, ks = [], []
        for t in ts:
            shift = level * threshold * _ramp(t, start + onset * DAY, start + (onset + 1.2) * DAY)
            noise = abs(rng.gauss(0.02, 0.008))
            psi.append(round(shift + noise, 4))
            ks.append(round(min(1.0, 0.02 + 0.55 * math.sqrt(shift) + abs(rng.gauss(0, 0.01))), 4))
        out.append(FeatureDrift(feature, ts, tuple(psi), tuple(ks)))
    return tuple(out)


def _features(seed: int, drift: tuple[FeatureDrift, ...], threshold: float
              ) -> tuple[FeatureDistribution, ...]:
    """Reference vs week histograms over 256 baseline-quantile bins; ``amount`` shifted."""
    rng = np.random.default_rng(seed)
    shapes = {"amount": (6.0, 0.8, 0.7), "page_count": (1.2, 0.5, 0.0),
              "ocr_confidence": (0.9, 0.05, 0.01), "text_length": (7.5, 0.4, 0.0)}
    out = []
    for d in drift:
        mu, sigma, shift = shapes[d.feature]
        ref = rng.normal(mu, sigma, 20_000)
        cur = rng.normal(mu + shift, sigma, 8_000)
        cur[rng.random(cur.size) < (0.03 if d.feature == "ocr_confidence" else 0.002)] = np.nan
        edges = np.quantile(ref, np.linspace(0, 1, 257)[1:-1])
        counts = [np.bincount(np.searchsorted(edges, x[~np.isnan(x)], side="right"),
                              minlength=len(edges) + 1).astype(np.uint64) for x in (ref, cur)]
        out.append(feature_distribution(d.feature, edges, counts[0], counts[1], reference_missing=0,
                                        current_missing=int(np.isnan(cur).sum()), psi=d.psi[-1],
                                        ks=d.ks[-1], threshold=threshold))
    return tuple(out)


class _Curve:
    """Accuracy over time: a base level with timed steps (smoothed over three hours)."""

    def __init__(self, base: float, *steps: tuple[float, float]) -> None:
        self.base, self.steps = base, steps

    def __call__(self, t: float) -> float:
        return self.base + sum(d * _ramp(t, at, at + 3 * HOUR) for at, d in self.steps)


def _quality(rng: random.Random, model_id: str, t0: float, t1: float,
             accuracy_at: _Curve, skip: tuple[float, float] | None = None) -> ModelQuality:
    step = 3 * HOUR
    ts = [t0 + i * step for i in range(int((t1 - t0) // step) + 1)]
    if skip is not None:
        ts = [t for t in ts if not skip[0] <= t < skip[1]]
    acc: list[float] = []
    f1: dict[str, list[float]] = {f: [] for f in _FIELDS}
    for t in ts:
        a = min(0.995, max(0.0, accuracy_at(t) + rng.gauss(0, 0.006)))
        acc.append(round(a, 4))
        for i, field in enumerate(_FIELDS):
            offset = (0.02, -0.05, -0.02)[i]
            f1[field].append(round(min(0.995, max(0.0, a + offset + rng.gauss(0, 0.008))), 4))
    return ModelQuality(model_id, tuple(ts), tuple(acc),
                        tuple(FieldF1(f, tuple(v)) for f, v in f1.items()))


def sample_report(seed: int = 0, *, model_type: str = "doc_classifier",
                  start: float = _START) -> WeeklyReportData:
    """A week of plausible data for ``model_type`` starting at ``start`` (epoch seconds)."""
    rng = random.Random(seed)
    end = start + 7 * DAY
    threshold = 0.25
    drift = _drift(rng, start, threshold)
    alarm = next(t for t, v in zip(drift[0].timestamps, drift[0].psi) if v > threshold)
    retrain = alarm + 2 * HOUR
    promote = start + 5 * DAY + 6 * HOUR
    rollback = start + 6 * DAY + 3 * HOUR
    retrain2 = rollback + 2 * HOUR
    v0, v1, v2 = (f"{model_type}_1.0.{i}" for i in range(3))
    quality = (
        _quality(rng, v0, start, end, _Curve(0.925, (start + 2.6 * DAY, -0.06)),
                 skip=(promote, rollback)),
        _quality(rng, v1, retrain + 3 * HOUR, rollback, _Curve(0.90, (rollback - 9 * HOUR, -0.08))),
        _quality(rng, v2, retrain2 + 3 * HOUR, end, _Curve(0.88)),
    )
    n0, n1 = 41_000 + rng.randrange(2000), 4_500 + rng.randrange(300)
    est = round(0.031 + rng.gauss(0, 0.002), 4)
    m0, m1 = 6_100 + rng.randrange(500), 680 + rng.randrange(60)
    est2 = round(0.006 + rng.gauss(0, 0.002), 4)
    ab = (
        ABResult(v0, v1, est, round(est - 0.022, 4), round(est + 0.023, 4), 0.012, n0, n1,
                 ABMethod.MSPRT, ABDecision.PROMOTE),
        ABResult(v0, v2, est2, round(est2 - 0.041, 4), round(est2 + 0.043, 4), 0.61, m0, m1,
                 ABMethod.MSPRT, ABDecision.CONTINUE),
    )
    events = (
        TimelineEvent(alarm, EventKind.DRIFT, v0,
                      f"PSI of amount above {threshold} for 1 h"),
        TimelineEvent(retrain, EventKind.RETRAINING, "", "job-0001: LoRA retrain on the last 7 days (drift)"),
        TimelineEvent(promote, EventKind.PROMOTION, v1,
                      f"mSPRT p = 0.012, accuracy +{est * 100:.1f} pts", v0),
        TimelineEvent(rollback, EventKind.ROLLBACK, v0,
                      f"{v1}: accuracy below 0.86 for 3 windows", v1),
        TimelineEvent(retrain2, EventKind.RETRAINING, "", "job-0002: LoRA retrain after rollback"),
    )
    return WeeklyReportData(model_type, start, end, threshold, drift, quality, ab, events,
                            _features(seed, drift, threshold))
