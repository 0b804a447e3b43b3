"""Several real processes hammer one registry root; the invariants must survive."""

from __future__ import annotations

import multiprocessing
import random
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

from learner.db import open_database
from learner.registry import (
    InvalidTransitionError,
    ModelRegistry,
    NoChampionError,
    NoPreviousChampionError,
    RegistryConfig,
)
from tests.learner.conftest import TestDatabase
from tests.learner.registry.conftest import tiny_model

_WORKERS = 4
_OPS = 120
_TYPES = ("docs", "images")
# Races another process may legitimately win (e.g. promoting what was just archived).
_EXPECTED = (InvalidTransitionError, NoChampionError, NoPreviousChampionError)


def _worker(config: RegistryConfig, worker: int, start: Any, results: Any) -> None:
    try:
        results.put(("ok", _hammer(config, worker, start)))
    except BaseException:  # report it to the parent instead of hanging it
        results.put(("error", traceback.format_exc()))


def _hammer(config: RegistryConfig, worker: int, start: Any) -> list[str]:
    rng = random.Random(worker)
    registered: list[str] = []
    with ModelRegistry(config=replace(config, actor=f"worker-{worker}")) as registry:
        start.wait()  # all processes opened the registry: go at once
        for step in range(_OPS):
            model_type = rng.choice(_TYPES)
            op = rng.random()
            try:
                if op < 0.35 or not registered:
                    registered.append(registry.register_model(
                        tiny_model(worker * 1000 + step), f"m_{model_type}", model_type,
                        {"step": step},
                    ))
                elif op < 0.6:
                    registry.promote_to_champion(rng.choice(registered), reason=f"w{worker}")
                elif op < 0.75:
                    registry.set_challenger(rng.choice(registered), reason=f"w{worker}")
                elif op < 0.9:
                    registry.rollback_to_previous_champion(model_type, reason=f"w{worker}")
                else:
                    registry.archive_model(rng.choice(registered), reason=f"w{worker}")
            except _EXPECTED:
                pass
    return registered


def test_concurrent_processes_keep_invariants(tmp_path: Path, test_database: TestDatabase) -> None:
    config = test_database.registry_config(tmp_path / "shared")
    ctx = multiprocessing.get_context("spawn")
    start, queue = ctx.Barrier(_WORKERS), ctx.Queue()
    workers = [ctx.Process(target=_worker, args=(config, w, start, queue))
               for w in range(_WORKERS)]
    for process in workers:
        process.start()
    outcomes = [queue.get(timeout=120) for _ in workers]
    errors = [detail for kind, detail in outcomes if kind == "error"]
    assert not errors, errors[0]
    results = [ids for _, ids in outcomes]
    for process in workers:
        process.join(timeout=30)
        assert process.exitcode == 0
    registered = [model_id for ids in results for model_id in ids]
    assert len(registered) == len(set(registered)), "two processes got the same id"

    with ModelRegistry(config=config) as registry:
        assert registry.verify_ledger() == []
        assert registry.get_statistics()["total_models"] == len(registered)
        conn = open_database(registry.config.location)
        for status in ("champion", "challenger"):
            worst = conn.execute(
                "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM models "
                "WHERE status = ? GROUP BY model_type) AS per_type", (status,)
            ).fetchone()[0]
            assert worst <= 1, f"more than one {status} for a model type"
        versions = conn.execute(
            "SELECT count(*), count(DISTINCT name || ':' || major || '.' || minor || '.' || patch)"
            " FROM models"
        ).fetchone()
        assert versions[0] == versions[1] == len(registered)
        registrations = conn.execute(
            "SELECT count(*) FROM ledger WHERE action = 'register'"
        ).fetchone()[0]
        assert registrations == len(registered)
        actors = [row[0] for row in conn.execute("SELECT actor FROM ledger ORDER BY seq")]
        assert set(actors) == {f"worker-{w}" for w in range(_WORKERS)}
        switches = sum(1 for x, y in zip(actors, actors[1:]) if x != y)
        assert switches > 4 * _WORKERS, "the workers did not actually interleave"
        conn.close()
        # every promotion left a backup of the champion it replaced
        history = registry.get_history()
        replaced = [e for e in history if e.action.value in ("demote", "rollback")]
        assert len(registry.get_champion_backups()) == len(replaced)
