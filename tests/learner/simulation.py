"""Test helpers: simulated sidecar traffic, a fake retrainer and the seed's ``DriftSimulator``.

Traffic is added to the in-process sidecars as complete hourly windows (what a sidecar would
report), routed by each sidecar's real statcore router; time is a :class:`ManualClock`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import optimize, stats

import statcore
from learner import ContinuousLearner, LocalFleet, ManualClock
from learner.registry import ModelRegistry
from learner.retrainer import RetrainState, RetrainStatus

HOUR = 3600.0
FEATURES = ("amount", "pages", "line_items")


def tiny_model(seed: int) -> dict[str, np.ndarray]:
    return {"w": np.random.default_rng(seed).standard_normal((2, 3)).astype(np.float32)}


class FakeRetrainer:
    """Registers a new version of the model type at once; ``fail`` makes jobs fail."""

    def __init__(self, registry: ModelRegistry, *, fail: bool = False) -> None:
        self.registry, self.fail = registry, fail
        self.jobs: dict[str, RetrainStatus] = {}
        self.types: dict[str, str] = {}

    def trigger(self, model_type: str, reason: str, statistics: Mapping[str, Any]) -> str | None:
        job = f"job-{len(self.jobs) + 1}"
        self.types[job] = model_type
        if self.fail:
            self.jobs[job] = RetrainStatus(job, RetrainState.FAILED, None, "out of GPU memory")
        else:
            model_id = self.registry.register_model(
                tiny_model(len(self.jobs) + 100), model_type, model_type, {"accuracy": 0.85},
                {"trigger": reason})
            self.jobs[job] = RetrainStatus(job, RetrainState.SUCCEEDED, model_id)
        return job

    def poll(self, job_id: str) -> RetrainStatus:
        return self.jobs[job_id]

    def jobs_of(self, model_type: str) -> list[RetrainStatus]:
        return [s for job, s in self.jobs.items() if self.types[job] == model_type]


def shift_for_psi(psi: float, bins: int = 10) -> float:
    """Mean shift (in standard deviations) of a normal feature whose 10-bin PSI is ``psi``."""
    edges = stats.norm.ppf(np.linspace(0, 1, bins + 1))
    expected = np.full(bins, 1 / bins)

    def gap(delta: float) -> float:
        actual = np.diff(stats.norm.cdf(edges - delta))
        return float(np.sum((actual - expected) * np.log(actual / expected))) - psi

    return float(optimize.brentq(gap, 0.0, 5.0))


def reference_rows(rng: np.random.Generator, n: int = 20_000) -> dict[str, np.ndarray]:
    return {name: rng.standard_normal(n) for name in FEATURES}


def feed_hour(fleet: LocalFleet, model_type: str, start_s: float, n: int, rng: np.random.Generator,
              accuracy: Mapping[str, float], *, shift: float = 0.0, error_rate: float = 0.0,
              latency_ms: float = 50.0) -> dict[str, int]:
    """One hour of ``n`` labelled requests, routed by the sidecars, added as closed windows."""
    up = [fleet.sidecar(name) for name in fleet.sidecars() if fleet.sidecar(name).up]
    start_ms = int(start_s * 1000)
    served: dict[str, int] = {}
    for s_index, side in enumerate(up):
        keys = [f"doc-{start_ms}-{i}" for i in range(s_index, n, len(up))]
        route = side.router.table.routes.get(model_type)
        if route is not None and route.challenger is None:  # no split: skip per-request routing
            models = np.full(len(keys), route.champion)
        else:
            models = np.array([side.router.route(model_type, k) for k in keys])
        layout = side.layout(model_type)
        for model_id in np.unique(models):
            m = int((models == model_id).sum())
            served[str(model_id)] = served.get(str(model_id), 0) + m
            agg = statcore.Aggregate(layout, model_type, str(model_id), start_ms, start_ms + 3_600_000)
            rows = rng.standard_normal((m, len(layout.numeric_names)))
            if layout.numeric_names:
                rows[:, 0] += shift
            agg.update(
                numeric=np.ascontiguousarray(rows) if layout.numeric_names else None,
                confidence=np.full(m, 0.9), latency_ms=rng.gamma(4.0, latency_ms / 4.0, m),
                error=(rng.random(m) < error_rate).astype(np.uint8),
                labelled=np.ones(m, np.uint8),
                correct=(rng.random(m) < accuracy.get(str(model_id), 0.85)).astype(np.uint8),
                field_flags=np.zeros((m, len(layout.fields)), np.uint8),
            )
            side.add_window(agg)
    return served


def ensure_champion(learner: ContinuousLearner, model_type: str, rng: np.random.Generator,
                    accuracy: float = 0.85) -> str:
    champion = learner.registry.get_champion(model_type)
    if champion is None:
        model_id = learner.registry.register_model(tiny_model(1), model_type, model_type,
                                                   {"accuracy": accuracy})
        learner.registry.promote_to_champion(model_id, reason="initial deployment",
                                             metrics={"accuracy": accuracy})
    champion_id = learner.registry.get_champion(model_type)["id"]  # type: ignore[index]
    learner.adopt_champion(model_type)
    if model_type not in learner.baselines:
        learner.set_baseline(model_type, reference_rows(rng))
    return champion_id


class DriftSimulator:
    """The seed's simulation helper: ``inject_drift(psi=...)``, ``run_cycle()``, then
    ``drift_detected`` and ``retraining_triggered``."""

    def __init__(self, learner: ContinuousLearner, model_type: str = "vision_encoder", *,
                 requests_per_hour: int = 1000, seed: int = 0) -> None:
        clock = learner._clock
        if not isinstance(clock, ManualClock):
            raise TypeError("DriftSimulator needs a learner built with a ManualClock")
        if not isinstance(learner.fleet, LocalFleet):
            raise TypeError("DriftSimulator needs a learner over a LocalFleet")
        self.learner, self.model_type, self.clock = learner, model_type, clock
        self.fleet: LocalFleet = learner.fleet
        self.rate = requests_per_hour
        self.rng = np.random.default_rng(seed)
        self.accuracy: dict[str, float] = {}
        self.shift = 0.0
        self.results: list[dict[str, Any]] = []
        champion = ensure_champion(learner, model_type, self.rng)
        self.accuracy[champion] = 0.85

    def inject_drift(self, psi: float = 0.35) -> float:
        """From now on, feature 0 of the traffic is shifted so that its 10-bin PSI is ``psi``."""
        self.shift = shift_for_psi(psi)
        return self.shift

    def run_cycle(self) -> dict[str, Any]:
        """One hour of traffic, then one learning cycle."""
        feed_hour(self.fleet, self.model_type, self.clock(), self.rate, self.rng, self.accuracy,
                  shift=self.shift)
        self.clock.advance(HOUR)
        result = self.learner.run_learning_cycle(self.model_type)
        self.results.append(result)
        return result

    @property
    def drift_detected(self) -> bool:
        return any(r.get("drift_detected") for r in self.results)

    @property
    def retraining_triggered(self) -> bool:
        return any(r.get("retraining_triggered") for r in self.results)
