"""statcore speed claims, each against a baseline measured in the same run.

1. ``Router.route`` from Python: p50 ≤ 1 µs; ratio to a pure-Python implementation of the same
   documented rule (FNV-1a + SplitMix64 + bucket).
2. Batch ingest (10 numeric features with 1,024 quantile bins, confidence, latency, label):
   ≤ 100 ns per record on one core, ≥ 3× a numpy-vectorised baseline doing the same aggregation.
3. Merging 1,000 encoded aggregates of 50 features ≤ 100 ms.
4. PSI + KS with p-values for 50 features from aggregates ≤ 1 ms; ratio to numpy/scipy on the
   same counts; scipy ``ks_2samp`` on the raw data (100,000 rows × 50 features) as a second
   reference.

Usage: ``python benchmarks/bench_statcore.py [--write]`` (``--write`` updates RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np
from scipy import special, stats

import statcore
from results import publish

RNG = np.random.default_rng(1)
MASK = (1 << 64) - 1


def per_call_ns(fn: Callable[[], object], calls: int = 1000, repeats: int = 300) -> np.ndarray:
    """Per-call time of `fn`, averaged over `calls` back-to-back calls, `repeats` times."""
    out = np.empty(repeats)
    for r in range(repeats):
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        out[r] = (time.perf_counter_ns() - t0) / calls
    return out


def best_seconds(fn: Callable[[], object], repeats: int = 7) -> float:
    """Median wall time of `fn` over `repeats` runs."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def interleaved(fns: list[Callable[[], object]], rounds: int) -> list[tuple[float, float, float]]:
    """(min, median) wall seconds and the median CPU seconds of the calling thread (statcore
    runs its work on it, GIL released) of each function over `rounds` rounds that run the
    functions one after another, so a statcore path and its baseline see the same load."""
    wall: list[list[float]] = [[] for _ in fns]
    cpu: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for fn, w, c in zip(fns, wall, cpu):
            t0, c0 = time.perf_counter(), time.thread_time()
            fn()
            w.append(time.perf_counter() - t0)
            c.append(time.thread_time() - c0)
    return [(float(np.min(w)), float(np.median(w)), float(np.median(c))) for w, c in zip(wall, cpu)]


def python_route(routes: dict[str, tuple[str, str | None, int, bytes]], model_type: str, key: str) -> str:
    champion, challenger, threshold, salt = routes[model_type]
    h = 0xCBF29CE484222325
    for b in salt + key.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & MASK
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & MASK
    h ^= h >> 31
    bucket = ((h >> 32) * 10_000) >> 32
    return challenger if challenger is not None and bucket < threshold else champion


def bench_route() -> list[str]:
    router = statcore.Router(
        statcore.RoutingTable(1, {"doc": statcore.Route("doc_1.0.0", "doc_1.0.1", 0.1, "exp-1")})
    )
    routes = {"doc": ("doc_1.0.0", "doc_1.0.1", 1000, b"exp-1\x00")}
    key = "user-1234567"
    assert python_route(routes, "doc", key) == router.route("doc", key)
    ours = per_call_ns(lambda: router.route("doc", key))
    base = per_call_ns(lambda: python_route(routes, "doc", key), calls=200, repeats=100)
    p50, p99, b50 = np.percentile(ours, 50), np.percentile(ours, 99), np.percentile(base, 50)
    return [
        "| `Router.route` (keyed) from Python | p50 {:.0f} ns, p99 {:.0f} ns | pure Python, same rule: p50 {:.0f} ns | {:.1f}× faster | p50 ≤ 1 µs: {} |".format(
            p50, p99, b50, b50 / p50, "PASS" if p50 <= 1000 else "MISS"
        )
    ]


def numpy_ingest(edges: list[np.ndarray], numeric: np.ndarray, confidence: np.ndarray, latency: np.ndarray,
                 labelled: np.ndarray, correct: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, int, int]:
    """The same aggregation with numpy: per-feature slot counts, confidence and latency buckets,
    labelled/correct counts."""
    counts = []
    for j, e in enumerate(edges):
        col = numeric[:, j]
        ok = ~np.isnan(col)
        counts.append(np.bincount(np.searchsorted(e, col[ok], side="right"), minlength=len(e) + 1))
    conf = np.bincount(np.minimum((confidence * 20).astype(np.int64), 20), minlength=21)
    gamma = 1.005 / 0.995
    lat = np.bincount(np.ceil(np.log(np.maximum(latency, 1e-3)) / np.log(gamma)).astype(np.int64) + 700)
    lab = labelled.astype(bool)
    return counts, conf, lat, int(lab.sum()), int(correct[lab].sum())


def bench_ingest() -> list[str]:
    base = RNG.normal(size=(100_000, 10))
    names = [f"f{j}" for j in range(10)]
    layout = statcore.Layout.from_baseline([(n, base[:, j].copy()) for j, n in enumerate(names)], fields=["total"])
    edges = [layout.edges(n) for n in names]
    n = 1_000_000
    numeric = RNG.normal(0.1, 1.1, size=(n, 10))
    confidence, latency = RNG.random(n), RNG.gamma(2.0, 30.0, n)
    labelled, correct = (RNG.random(n) < 0.3).astype(np.uint8), (RNG.random(n) < 0.85).astype(np.uint8)
    flags = np.ones((n, 1), np.uint8)

    def ours() -> None:
        agg = statcore.Aggregate(layout, "doc", "doc_1", 0, 1)
        agg.update(numeric=numeric, confidence=confidence, latency_ms=latency, labelled=labelled,
                   correct=correct, field_flags=flags)

    (ours_min, t_ours, ours_cpu), (np_min, t_np, _) = (
        (lo / n * 1e9, mid / n * 1e9, cpu / n * 1e9)
        for lo, mid, cpu in interleaved(
            [ours, lambda: numpy_ingest(edges, numeric, confidence, latency, labelled, correct)], 9
        )
    )
    return [
        "| batch ingest, 10 numeric features × 1,024 bins + confidence + latency + label (1 M records, one call) "
        "| median {:.0f} ns/record (min {:.0f}; thread CPU time, median {:.0f}) "
        "| numpy-vectorised same aggregation: median {:.0f} ns/record (min {:.0f}) "
        "| {:.1f}× faster | ≤ 100 ns: {}; ≥ 3×: {} |".format(
            t_ours, ours_min, ours_cpu, t_np, np_min, t_np / t_ours,
            "PASS" if t_ours <= 100 else "MISS", "PASS" if t_np / t_ours >= 3 else "MISS"
        )
    ]


def bench_merge_and_drift() -> list[str]:
    features = 50
    rows = 100_000
    base = RNG.normal(size=(rows, features))
    cur = base * 1.05 + 0.02 + RNG.normal(0, 0.05, size=(rows, features))
    names = [f"f{j}" for j in range(features)]
    layout = statcore.Layout.from_baseline([(n, base[:, j].copy()) for j, n in enumerate(names)])

    def agg_of(x: np.ndarray, model: str = "m") -> statcore.Aggregate:
        a = statcore.Aggregate(layout, "doc", model, 0, 1)
        a.update(numeric=np.ascontiguousarray(x), confidence=np.full(len(x), 0.5), latency_ms=np.ones(len(x)))
        return a

    ref, current = agg_of(base), agg_of(cur)
    # 1,000 windows (100 records each) as a learner would pull them from the sidecars.
    blobs = [agg_of(cur[i * 100:(i + 1) * 100]).encode() for i in range(1000)]
    t_merge = best_seconds(lambda: statcore.Aggregate.merge_encoded(layout, blobs), 5)
    merged = statcore.Aggregate.merge_encoded(layout, blobs)
    assert merged is not None and merged.records == rows
    drift = statcore.feature_drift(ref, current, wasserstein=False, psi_groups=0)
    t_alarm = best_seconds(lambda: statcore.feature_drift(ref, current, wasserstein=False), 50)
    t_all = best_seconds(lambda: statcore.feature_drift(ref, current, jensen_shannon=True), 20)
    rc = [ref.numeric_counts(n).astype(float) for n in names]
    cc = [current.numeric_counts(n).astype(float) for n in names]

    def numpy_drift() -> list[tuple[float, float, float]]:
        out = []
        for r, c in zip(rc, cc):
            p, q = np.maximum(r / r.sum(), 1e-4), np.maximum(c / c.sum(), 1e-4)
            psi = float(np.sum((q - p) * np.log(q / p)))
            d = float(np.max(np.abs(np.cumsum(r) / r.sum() - np.cumsum(c) / c.sum())))
            n_, m_ = r.sum(), c.sum()
            out.append((psi, d, float(special.kolmogorov(np.sqrt(n_ * m_ / (n_ + m_)) * d))))
        return out

    check = numpy_drift()
    assert all(abs(a.psi - b[0]) < 1e-9 and abs(a.ks_statistic - b[1]) < 1e-12 for a, b in zip(drift, check))
    (drift_min, t_drift, _), (np_min, t_np, _) = interleaved(
        [lambda: statcore.feature_drift(ref, current, wasserstein=False, psi_groups=0), numpy_drift], 50
    )
    t_raw = best_seconds(lambda: [stats.ks_2samp(base[:, j], cur[:, j]) for j in range(features)], 1)
    return [
        "| merge 1,000 encoded aggregates of 50 features (decode + merge, one call) | {:.1f} ms | — | — | ≤ 100 ms: {} |".format(
            t_merge * 1e3, "PASS" if t_merge <= 0.1 else "MISS"
        ),
        "| fine-bin PSI + KS with p-values for 50 features from aggregates | median {:.3f} ms (min {:.3f}) "
        "| numpy/scipy PSI + KS + p on the same counts: median {:.2f} ms (min {:.2f}) | {:.1f}× faster | ≤ 1 ms: {} |".format(
            t_drift * 1e3, drift_min * 1e3, t_np * 1e3, np_min * 1e3, t_np / t_drift, "PASS" if t_drift <= 1e-3 else "MISS"
        ),
        "| alarm-grade PSI (10 groups) + KS with p-values, 50 features (the drift policy's call) | {:.3f} ms | — | — | ≤ 1 ms: {} |".format(
            t_alarm * 1e3, "PASS" if t_alarm <= 1e-3 else "MISS"
        ),
        "| PSI + KS + W1 + JS for 50 features from aggregates | {:.3f} ms | — | — | — |".format(t_all * 1e3),
        "| (second reference) `scipy.stats.ks_2samp` on the raw data, 100,000 rows × 50 features | — | {:.0f} ms | {:.0f}× faster from aggregates | — |".format(
            t_raw * 1e3, t_raw / t_drift
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="statcore benchmarks")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    rows = bench_route() + bench_ingest() + bench_merge_and_drift()
    publish("statcore", [
        "`python benchmarks/bench_statcore.py --write` (release build through `make build`); "
        "criterion benches: `cargo bench -p statcore-core`. Baselines run in the same process.",
        "",
        "Batch ingest and fine-bin drift: min and median of 9 (ingest) and 50 (drift) rounds, each "
        "round running statcore and its baseline back to back so both see the same load; goals are "
        f"judged on the wall-clock median, ratios are median / median. Load average at the start: {load_before}.",
        "",
        "| claim | statcore | baseline (same run) | ratio | goal |",
        "|---|---|---|---|---|",
        *rows,
    ], write=args.write)


if __name__ == "__main__":
    main()
