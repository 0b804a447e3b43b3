"""Registry latencies with 10,000 registered versions, against bare-SQLite baselines.

Claim: ``get_champion`` p50 and p99 are at most 1 ms with 10,000 versions in the registry.
Also reports register / promote / rollback latencies. Baselines, measured in the same run on
the same database: a bare SQLite primary-key lookup (``SELECT * FROM models WHERE id = ?``) for
``get_champion``, and a bare single-row INSERT + COMMIT for register.

Usage: ``python benchmarks/bench_registry.py [--versions 10000] [--write]``; ``--write``
replaces the ``## Registry`` section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from learner.registry import ModelRegistry
from results import write_section

_TYPES = 10


def _percentiles(samples_ns: list[int]) -> tuple[float, float]:
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def _timed(call: Callable[[], object]) -> int:
    start = time.perf_counter_ns()
    call()
    return time.perf_counter_ns() - start


def _model(i: int) -> dict[str, np.ndarray]:
    return {"w": np.full((8, 8), i, dtype=np.float32), "b": np.arange(8, dtype=np.int32) + i}


def run(versions: int, root: Path) -> dict[str, tuple[float, float, int]]:
    rng = random.Random(0)
    types = [f"type{t}" for t in range(_TYPES)]
    results: dict[str, tuple[float, float, int]] = {}
    with ModelRegistry(root, actor="bench") as registry:
        ids: dict[str, list[str]] = {t: [] for t in types}
        register_ns = []
        for i in range(versions):
            model_type = types[i % _TYPES]
            register_ns.append(_timed(lambda: ids[model_type].append(
                registry.register_model(_model(i), f"model_{model_type}", model_type,
                                        {"accuracy": 0.9}))))
        results["register_model"] = (*_percentiles(register_ns), len(register_ns))

        promote_ns = []
        promotions = min(100, versions // _TYPES)
        for model_type in types:
            for model_id in rng.sample(ids[model_type], promotions):
                promote_ns.append(_timed(lambda: registry.promote_to_champion(
                    model_id, "bench", {"p_value": 0.01}, actor="bench")))
        results["promote_to_champion"] = (*_percentiles(promote_ns), len(promote_ns))

        rollback_ns = []
        for model_type in types:
            for _ in range(promotions // 2):
                rollback_ns.append(_timed(lambda: registry.rollback_to_previous_champion(
                    model_type, "bench")))
        results["rollback_to_previous_champion"] = (*_percentiles(rollback_ns), len(rollback_ns))

        assert registry.get_statistics()["total_models"] == versions
        # get_champion and the baseline alternate, so both see the same machine load.
        conn = sqlite3.connect(root / "registry.sqlite3", isolation_level=None)
        champion_ns, pk_ns = [], []
        for _ in range(20_000):
            model_type = rng.choice(types)
            champion_ns.append(_timed(lambda: registry.get_champion(model_type)))
            champion_id = registry.get_champion(model_type)["id"]  # type: ignore[index]
            pk_ns.append(_timed(lambda: conn.execute(
                "SELECT * FROM models WHERE id = ?", (champion_id,)).fetchone()))
        results["get_champion"] = (*_percentiles(champion_ns), len(champion_ns))
        results["baseline: bare SQLite PK lookup"] = (*_percentiles(pk_ns), len(pk_ns))
    results.update(_write_baselines(conn, root))
    conn.close()
    return results


def _write_baselines(conn: sqlite3.Connection, root: Path) -> dict[str, tuple[float, float, int]]:
    """What register pays at minimum: a durable file write, and a one-row commit."""
    conn.execute("PRAGMA synchronous = NORMAL")  # as the registry's connection
    conn.execute("CREATE TABLE bare (id TEXT PRIMARY KEY, payload TEXT)")
    insert_ns = []
    for i in range(1000):
        insert_ns.append(_timed(lambda: (
            conn.execute("BEGIN IMMEDIATE"),
            conn.execute("INSERT INTO bare VALUES (?, ?)", (f"k{i}", "{}")),
            conn.execute("COMMIT"),
        )))
    fsync_ns = []
    payload = bytes(400)
    for i in range(1000):
        def write(path: Path = root / f"bare{i}.bin") -> None:
            with open(path, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
        fsync_ns.append(_timed(write))
    return {
        "baseline: bare SQLite INSERT+COMMIT (WAL, synchronous=NORMAL)":
            (*_percentiles(insert_ns), len(insert_ns)),
        "baseline: write + fsync a 400-byte file": (*_percentiles(fsync_ns), len(fsync_ns)),
    }


def _machine() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        head = "\n".join(lscpu.splitlines()[:10])
    except (OSError, subprocess.CalledProcessError):
        head = platform.processor() or "lscpu unavailable"
    return (f"{head}\nPython {platform.python_version()} ({platform.python_implementation()}), "
            f"SQLite {sqlite3.sqlite_version}, numpy {np.__version__}, {platform.platform()}\n"
            f"load average during the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
            "(a shared 2-core box; other jobs were compiling)")


def render(results: dict[str, tuple[float, float, int]], versions: int, seconds: float) -> str:
    rows = "\n".join(f"| {name} | {p50:.4f} | {p99:.4f} | {n} |"
                     for name, (p50, p99, n) in results.items())
    p50, p99, _ = results["get_champion"]
    verdict = "PASS" if max(p50, p99) <= 1.0 else "FAIL"
    return f"""## Registry

`python benchmarks/bench_registry.py --write` — {versions:,} versions registered through the
public API ({_TYPES} model types, local artifact directory, SQLite WAL), then
{results['promote_to_champion'][2]} promotions, {results['rollback_to_previous_champion'][2]}
rollbacks and {results['get_champion'][2]:,} `get_champion` calls. Baselines run in the same
process on the same database file. Whole run: {seconds:.1f} s.

| operation | p50 (ms) | p99 (ms) | samples |
|---|---|---|---|
{rows}

Claim `get_champion` p50/p99 ≤ 1 ms with {versions:,} versions: **{verdict}**
(p50 {p50:.4f} ms, p99 {p99:.4f} ms).

Reading the numbers: `get_champion` keeps the champion's record per model type and only
re-reads it when this connection wrote or `PRAGMA data_version` says another connection
committed, so a hit costs one PRAGMA plus building the dict (below the bare PK lookup); a miss
is one indexed SELECT plus JSON decoding (tens of µs). `register_model` is dominated by the
fsync of the content-addressed artifact (compare the fsync baseline; the artifact is made
durable before the row that points at it is committed). The p99 of promote and rollback are WAL
auto-checkpoints (each transaction itself is a few indexed statements plus ledger and backup
inserts).

Machine:
```
{_machine()}
```
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_registry_") as tmp:
        results = run(args.versions, Path(tmp))
    section = render(results, args.versions, time.perf_counter() - started)
    print(section)
    if args.write:
        write_section("Registry", section)
    p50, p99, _ = results["get_champion"]
    return 0 if max(p50, p99) <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
