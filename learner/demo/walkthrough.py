"""`make demo`: the control loop on embedded defaults, in one process, in seconds.

Three weeks of simulated traffic (a manual clock, not sleeps) for a document classifier served
by three in-process sidecars (statcore routers and hourly aggregate windows). The real
``ContinuousLearner`` runs its schedule: hourly drift checks, 6-hourly A/B evaluation with the
always-valid sequential test, daily health checks. Drift (a new vendor's larger invoices)
triggers retraining (a stand-in retrainer registers new weights), the challenger wins its A/B
test and is promoted, an injected degradation is rolled back by the health check, and every
sidecar routes to the restored champion. Only the models' accuracy is simulated.

Run: ``python -m learner.demo.walkthrough [--workdir DIR] [--seed N]``.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import statcore
from learner.config import LearningConfig
from learner.continuous_learner import ContinuousLearner
from learner.fleet import LocalFleet
from learner.notify import EventKind, Notification
from learner.registry import ModelRegistry
from learner.retrainer import RetrainState, RetrainStatus
from learner.scheduler import ManualClock

HOUR = 3600.0
MODEL = "doc_classifier"
FEATURES = ["amount", "pages", "line_items"]
REQUESTS_PER_HOUR = 420  # ~10,000 a day


def documents(rng: np.random.Generator, n: int, drifted: bool) -> np.ndarray:
    """Feature rows of synthetic business documents; drift = a new vendor's larger invoices."""
    shift = 0.6 if drifted else 0.0
    return np.column_stack([
        rng.lognormal(6.0 + shift, 0.9, n),
        rng.integers(1, 6 + (4 if drifted else 0), n).astype(float),
        rng.poisson(8 + (6 if drifted else 0), n).astype(float),
    ])


@dataclass
class World:
    """What production looks like: the documents and how well each model does on them."""

    rng: np.random.Generator
    start: float
    drifted: bool = False
    accuracy: dict[str, float] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)

    def stamp(self, now: float) -> str:
        hours = int((now - self.start) // HOUR)
        return f"day {hours // 24 + 1:>2} {hours % 24:02d}:00"

    def reference(self, model_type: str, model_id: str) -> dict[str, np.ndarray]:
        rows = documents(self.rng, 20_000, self.drifted)
        return {name: np.ascontiguousarray(rows[:, j]) for j, name in enumerate(FEATURES)}


class TimelineNotifier:
    """Prints the loop's notifications as a timeline."""

    def __init__(self, world: World, clock: ManualClock) -> None:
        self.world, self.clock = world, clock

    def notify(self, n: Notification) -> None:
        d: Mapping[str, Any] = n.details
        if n.kind is EventKind.DRIFT:
            worst = max(d["features"].items(), key=lambda kv: kv[1]["psi"])
            text = (f"hourly drift check: DRIFT DETECTED on {worst[0]} (PSI={worst[1]['psi']:.3f}, "
                    f"KS={worst[1]['ks_statistic']:.3f}, {d['current_n']} records)")
        elif n.kind is EventKind.RETRAINING:
            text = f"retraining: {n.message}"
        elif n.kind is EventKind.PROMOTION:
            r = d["result"]
            text = (f"A/B look: {r['challenger']['accuracy']:.3f} vs {r['champion']['accuracy']:.3f} "
                    f"({r['estimate']:+.3f}), always-valid p={r['p_value']:.1e}, SRM p={r['srm_pvalue']:.2f}"
                    f" -> PROMOTED {d['new_champion']} (generation {d['generation']})")
        elif n.kind is EventKind.ROLLBACK:
            text = f"ROLLED BACK to {d['restored_champion']} (generation {d['generation']}): {d['reason']}"
        elif n.kind is EventKind.HEALTH:
            text = f"daily health check: {n.message}"
        else:
            return
        line = f"{self.world.stamp(self.clock())}  {text}"
        self.world.events.append(line)
        print(line, flush=True)


class StandInRetrainer:
    """Registers slightly different weights at once (LoRA retraining lives elsewhere)."""

    def __init__(self, registry: ModelRegistry, world: World) -> None:
        self.registry, self.world = registry, world
        self.jobs: dict[str, RetrainStatus] = {}
        self.types: dict[str, str] = {}

    def trigger(self, model_type: str, reason: str, statistics: Mapping[str, Any]) -> str:
        job = f"retrain-{len(self.jobs) + 1}"
        weights = {"classifier.weight": self.world.rng.normal(size=(4, 8)).astype(np.float32)}
        model_id = self.registry.register_model(weights, model_type, model_type, {"accuracy": 0.85},
                                                {"trigger": reason})
        self.world.accuracy[model_id] = 0.85
        self.jobs[job] = RetrainStatus(job, RetrainState.SUCCEEDED, model_id)
        self.types[job] = model_type
        return job

    def poll(self, job_id: str) -> RetrainStatus:
        return self.jobs[job_id]

    def jobs_of(self, model_type: str) -> list[RetrainStatus]:
        return [s for job, s in self.jobs.items() if self.types[job] == model_type]


def hour_of_traffic(fleet: LocalFleet, world: World, end_s: float) -> None:
    """The hour that just ended, routed by each sidecar and reported as closed windows."""
    start_ms = int((end_s - HOUR) * 1000)
    rows = documents(world.rng, REQUESTS_PER_HOUR, world.drifted)
    for s, name in enumerate(fleet.sidecars()):
        side = fleet.sidecar(name)
        index = np.arange(s, REQUESTS_PER_HOUR, 3)
        served = np.array([side.router.route(MODEL, f"doc-{start_ms}-{i}") for i in index])
        for model_id in np.unique(served):
            part = rows[index[served == model_id]]
            n = len(part)
            agg = statcore.Aggregate(side.layout(MODEL), MODEL, str(model_id), start_ms, start_ms + 3_600_000)
            agg.update(numeric=np.ascontiguousarray(part), confidence=world.rng.beta(8, 2, n),
                       latency_ms=world.rng.gamma(3.0, 15.0, n), labelled=np.ones(n, np.uint8),
                       correct=(world.rng.random(n) < world.accuracy[str(model_id)]).astype(np.uint8))
            side.add_window(agg)


def run(workdir: Path, seed: int) -> int:
    clock = ManualClock(1_800_000_000.0)
    world = World(np.random.default_rng(seed), clock())
    registry = ModelRegistry(root=str(workdir / "model_registry"), clock=clock)
    weights = {"classifier.weight": world.rng.normal(size=(4, 8)).astype(np.float32)}
    champion = registry.register_model(weights, MODEL, MODEL, {"accuracy": 0.85}, {})
    registry.promote_to_champion(champion, reason="initial deployment", metrics={"accuracy": 0.85})
    world.accuracy[champion] = 0.85
    fleet = LocalFleet.with_sidecars(3, clock=clock)
    learner = ContinuousLearner(
        LearningConfig(model_types=(MODEL,)), registry=registry, fleet=fleet,
        retrainer=StandInRetrainer(registry, world), notifier=TimelineNotifier(world, clock),
        reference_data=world.reference, clock=clock, sleeper=clock.sleep)
    learner.scheduler.every("traffic", HOUR, lambda: hour_of_traffic(fleet, world, clock()))
    print(f"{world.stamp(clock())}  champion {champion} serves 100% on 3 sidecars")

    learner.start_continuous_learning(until=clock() + 12 * HOUR)
    world.drifted = True
    world.accuracy[champion] = 0.79  # the champion suffers on the new documents
    promoted_at = None
    for _ in range(21 * 24):
        learner.start_continuous_learning(until=clock() + HOUR)
        if promoted_at is None and learner.counters["promotions"]:
            promoted_at = clock()
        if promoted_at is not None and clock() >= promoted_at + 48 * HOUR:
            current = registry.get_champion(MODEL)
            world.accuracy[current["id"]] = 0.72  # type: ignore[index]  # an injected degradation
        if learner.counters["rollbacks"]:
            break
    restored = registry.get_champion(MODEL)
    routes = {fleet.sidecar(s).router.route(MODEL, "doc-1") for s in fleet.sidecars()}
    stats = learner.get_statistics()
    print("\nSummary")
    print(f"  drift alarms {stats['drift_detected_count']}, retrains {stats['retraining_triggered']}, "
          f"A/B tests {stats['ab_tests_created']}, promotions {stats['promotions']}, "
          f"rollbacks {stats['rollbacks']}")
    print(f"  champion now {restored['id'] if restored else None}; sidecars route to {sorted(routes)}")
    print(f"  registry: {stats['model_registry']['total_models']} models, files in {workdir / 'model_registry'}")
    registry.close()
    ok = stats["promotions"] >= 1 and stats["rollbacks"] >= 1 and routes == {champion}
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        return run(args.workdir, args.seed)
    with tempfile.TemporaryDirectory(prefix="loopwise_demo_") as tmp:
        return run(Path(tmp), args.seed)


if __name__ == "__main__":
    raise SystemExit(main())
