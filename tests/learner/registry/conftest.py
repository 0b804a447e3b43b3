"""Shared fixtures: a registry on a temporary root with a fake clock (once per database
backend: SQLite and PostgreSQL), and tiny models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from learner.registry import ModelRegistry
from tests.learner.conftest import TestDatabase


class FakeClock:
    """Deterministic time: starts at a fixed instant, advances one second per reading."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def tiny_model(seed: int) -> dict[str, np.ndarray]:
    """A distinct two-tensor model per seed."""
    rng = np.random.default_rng(seed)
    return {
        "encoder.weight": rng.standard_normal((4, 3)).astype(np.float32),
        "encoder.bias": np.arange(4, dtype=np.int64) + seed,
    }


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry(tmp_path: Path, clock: FakeClock, test_database: TestDatabase
             ) -> Iterator[ModelRegistry]:
    with test_database.registry(tmp_path / "reg", clock=clock, actor="test-suite") as reg:
        yield reg
