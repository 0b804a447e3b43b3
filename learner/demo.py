"""`make demo`: the loop's core decisions on embedded defaults, in one process, in seconds.

Simulated days of traffic (a fake clock, not sleeps) for a document classifier: statcore routes
every request (90/10 champion/challenger, sticky by document id), aggregates hourly windows per
model, detects drift from the windows' histograms, runs the always-valid sequential A/B test at
every 6-hour look, and the registry (SQLite + safetensors artifacts) promotes the challenger and
later rolls back an injected degradation. Everything is real except the models themselves,
whose accuracy is simulated. The multi-process demo (sidecars, learner, LoRA) builds on this.

Run: ``python -m learner.demo [--workdir DIR] [--seed N]``.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import statcore
from learner.registry import ModelRegistry

HOUR_MS = 3_600_000
FEATURES = ["amount", "pages", "line_items"]
REQUESTS_PER_HOUR = 420  # ~10,000 a day


@dataclass
class Timeline:
    events: list[str] = field(default_factory=list)

    def log(self, hour: int, text: str) -> None:
        line = f"day {hour // 24 + 1:>2} {hour % 24:02d}:00  {text}"
        self.events.append(line)
        print(line, flush=True)


def documents(rng: np.random.Generator, n: int, drifted: bool) -> np.ndarray:
    """Feature rows of synthetic business documents; drift = a new vendor's larger invoices."""
    shift = 0.6 if drifted else 0.0
    return np.column_stack(
        [
            rng.lognormal(6.0 + shift, 0.9, n),
            rng.integers(1, 6 + (4 if drifted else 0), n).astype(float),
            rng.poisson(8 + (6 if drifted else 0), n).astype(float),
        ]
    )


def hour_of_traffic(
    rng: np.random.Generator,
    router: statcore.Router,
    layout: statcore.Layout,
    hour: int,
    accuracy: dict[str, float],
    drifted: bool,
) -> dict[str, statcore.Aggregate]:
    """Routes one hour of requests and aggregates them per serving model."""
    rows = documents(rng, REQUESTS_PER_HOUR, drifted)
    served = np.array([router.route("doc_classifier", f"doc-{hour}-{i}") for i in range(len(rows))])
    windows = {}
    for model_id in np.unique(served):
        mask = served == model_id
        n = int(mask.sum())
        agg = statcore.Aggregate(layout, "doc_classifier", str(model_id), hour * HOUR_MS, (hour + 1) * HOUR_MS)
        agg.update(
            numeric=np.ascontiguousarray(rows[mask]),
            confidence=rng.beta(8, 2, n),
            latency_ms=rng.gamma(3.0, 15.0, n),
            labelled=np.ones(n, np.uint8),
            correct=(rng.random(n) < accuracy[str(model_id)]).astype(np.uint8),
        )
        windows[str(model_id)] = agg
    return windows


def route_table(generation: int, champion: str, challenger: str | None = None) -> statcore.RoutingTable:
    share = 0.1 if challenger else 0.0
    return statcore.RoutingTable(generation, {"doc_classifier": statcore.Route(champion, challenger, share, "ab")})


def run(workdir: Path, seed: int) -> int:
    rng = np.random.default_rng(seed)
    timeline = Timeline()
    registry = ModelRegistry(root=str(workdir / "model_registry"))
    weights = {"classifier.weight": rng.normal(size=(4, 8)).astype(np.float32)}
    champion = registry.register_model(weights, "doc_classifier", "doc_classifier", {"accuracy": 0.85}, {})
    registry.promote_to_champion(champion, reason="initial deployment", metrics={"accuracy": 0.85})
    # The champion is 85% accurate on the documents it was trained on and 79% after the drift.
    accuracy = {champion: 0.85}

    baseline_rows = documents(rng, 20_000, drifted=False)
    layout = statcore.Layout.from_baseline(
        [(name, np.ascontiguousarray(baseline_rows[:, j])) for j, name in enumerate(FEATURES)], bins=10
    )
    reference = statcore.Aggregate(layout, "doc_classifier", champion, 0, 0)
    reference.update(numeric=baseline_rows, confidence=np.full(len(baseline_rows), 0.9),
                     latency_ms=np.ones(len(baseline_rows)))
    generation = 1
    router = statcore.Router(route_table(generation, champion))
    timeline.log(0, f"champion {champion} serves 100% (routing generation {generation})")

    test = statcore.Msprt(alpha=0.05)
    totals: dict[str, statcore.Aggregate] = {}
    serving, challenger = champion, None
    promoted_at = rolled_back = None
    for hour in range(21 * 24):
        drifted = hour >= 12
        if drifted:
            accuracy[champion] = 0.79
        if promoted_at is not None and hour >= promoted_at + 48 and challenger:
            accuracy[challenger] = 0.72  # an injected production degradation
        windows = hour_of_traffic(rng, router, layout, hour, accuracy, drifted)
        for model_id, agg in windows.items():
            if model_id in totals:
                totals[model_id].merge(agg)
            else:
                totals[model_id] = agg.copy()
        if challenger is None and windows[serving].records >= 200:
            worst = max(statcore.feature_drift(reference, windows[serving]), key=lambda d: d.psi)
            if worst.psi > 0.25 or hour == 0:
                verdict = "no drift" if worst.psi <= 0.25 else "DRIFT DETECTED"
                timeline.log(hour, f"hourly drift check: worst feature {worst.name} PSI={worst.psi:.3f} "
                                   f"KS={worst.ks_statistic:.3f} (p={worst.ks_pvalue:.1e}) -> {verdict}")
            if worst.psi > 0.25:
                challenger = registry.register_model(
                    {"classifier.weight": weights["classifier.weight"] + 0.01}, "doc_classifier",
                    "doc_classifier", {"accuracy": 0.85}, {"trigger": f"PSI {worst.psi:.3f} on {worst.name}"})
                registry.set_challenger(challenger, reason="retrained on drifted production data")
                accuracy[challenger] = 0.85
                generation += 1
                router.swap(route_table(generation, champion, challenger))
                totals = {}
                timeline.log(hour, f"retrained -> challenger {challenger}; A/B test at 10% (generation {generation})")
        if challenger and promoted_at is None and hour % 6 == 5 and len(totals) == 2:
            a, b = totals[champion], totals[challenger]
            res = test.update(a.correct, a.labelled, b.correct, b.labelled)
            srm = statcore.srm([a.records, b.records], [0.9, 0.1])
            decided = res.rejected and res.estimate >= 0.02 and srm.pvalue >= 0.001
            if decided:
                registry.promote_to_champion(challenger, reason="A/B test winner (mSPRT)", metrics={
                    "estimate": res.estimate, "p_value": res.pvalue, "ci": [res.ci_low, res.ci_high],
                    "srm_p": srm.pvalue, "champion_n": a.labelled, "challenger_n": b.labelled,
                })
                generation += 1
                serving = challenger
                router.swap(route_table(generation, serving))
                promoted_at = hour
                totals = {}
                timeline.log(hour, f"A/B look: {b.accuracy:.3f} vs {a.accuracy:.3f} (+{res.estimate:.3f}), "
                                   f"always-valid p={res.pvalue:.1e}, 95% CI [{res.ci_low:.3f}, {res.ci_high:.3f}], "
                                   f"SRM p={srm.pvalue:.2f} -> PROMOTED (generation {generation})")
        if promoted_at is not None and hour % 24 == 23 and serving in totals:
            health = totals[serving]
            if (health.accuracy or 0.0) < 0.85 - 0.05:
                restored = registry.rollback_to_previous_champion(
                    "doc_classifier", reason=f"health: accuracy {health.accuracy:.3f} < 0.80")
                generation += 1
                router.swap(route_table(generation, restored))
                rolled_back = hour
                timeline.log(hour, f"daily health check: accuracy {health.accuracy:.3f} on {health.labelled} "
                                   f"labels -> ROLLED BACK to {restored} (generation {generation})")
                break
            timeline.log(hour, f"daily health check: accuracy {health.accuracy:.3f} -> healthy")
            totals = {}
    history = registry.get_promotion_history("doc_classifier")
    final = registry.get_champion("doc_classifier")
    print("\nSummary")
    print(f"  registry: {registry.get_statistics()['total_models']} models, {len(history)} ledger entries "
          f"for promotions and rollbacks, champion now {final['id'] if final else None}")
    print(f"  registry files: {workdir / 'model_registry'}")
    return 0 if promoted_at is not None and rolled_back is not None else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
