"""Learner fixtures: a manual clock, three in-process sidecars, a registry, a wired learner;
and the databases the storage seam runs on (SQLite files, a real PostgreSQL server)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from learner import ContinuousLearner, LearningConfig, LocalFleet, ManualClock
from learner.notify import RecordingNotifier
from learner.db import Backend, Location, PostgresLocation, SqliteLocation
from learner.registry import ModelRegistry, RegistryConfig
from tests.learner.simulation import FakeRetrainer
from tests.postgres_server import PASSWORD_ENV, PostgresServer, PostgresUnavailable


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fleet(clock: ManualClock) -> LocalFleet:
    return LocalFleet.with_sidecars(3, clock=clock)


@pytest.fixture
def registry(tmp_path: Path, clock: ManualClock) -> Iterator[ModelRegistry]:
    with ModelRegistry(tmp_path / "registry", clock=clock, actor="tests") as reg:
        yield reg


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def learner(registry: ModelRegistry, fleet: LocalFleet, clock: ManualClock,
            notifier: RecordingNotifier) -> ContinuousLearner:
    config = LearningConfig(model_types=("vision_encoder",))
    return ContinuousLearner(config, registry=registry, fleet=fleet,
                             retrainer=FakeRetrainer(registry), notifier=notifier,
                             clock=clock, sleeper=clock.sleep)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the whole session (skipped where none is installed,
    unless ``LOOPWISE_REQUIRE_POSTGRES`` is set, as ``.ci/run`` does)."""
    try:
        server = PostgresServer().start()
    except PostgresUnavailable as exc:
        if os.environ.get("LOOPWISE_REQUIRE_POSTGRES"):
            raise
        pytest.skip(str(exc))
    os.environ[PASSWORD_ENV] = server.password  # read by the locations, as in production
    try:
        yield server
    finally:
        os.environ.pop(PASSWORD_ENV, None)
        server.stop()


@dataclass(frozen=True)
class TestDatabase:
    """The database one test runs on: SQLite files under the test's paths, or one fresh
    PostgreSQL database shared by every store the test opens."""

    __test__ = False  # not a pytest test class despite the name

    backend: Backend
    url: str | None = None

    def location(self, sqlite_file: Path) -> Location:
        """Where a store keeps its tables: ``sqlite_file``, or the test's PostgreSQL database."""
        if self.url is None:
            return SqliteLocation(sqlite_file)
        return PostgresLocation(self.url, password_env=PASSWORD_ENV)

    def registry_config(self, root: Path | str, **settings: Any) -> RegistryConfig:
        """A registry under ``root`` (artifacts there either way) on this database."""
        if self.url is None:
            return RegistryConfig(root=Path(root), **settings)
        return RegistryConfig(root=Path(root), url=self.url, password_env=PASSWORD_ENV, **settings)

    def registry(self, root: Path | str, **kwargs: Any) -> ModelRegistry:
        """``ModelRegistry(root, **kwargs)`` on this database."""
        settings = {k: kwargs.pop(k) for k in ("actor", "artifact_url", "busy_timeout_s")
                    if k in kwargs}
        return ModelRegistry(config=self.registry_config(root, **settings), **kwargs)


@pytest.fixture(params=[Backend.SQLITE, Backend.POSTGRESQL], ids=lambda b: b.value)
def test_database(request: pytest.FixtureRequest) -> Iterator[TestDatabase]:
    """Runs the test once per backend; the PostgreSQL run gets a database of its own."""
    if request.param is Backend.SQLITE:
        yield TestDatabase(Backend.SQLITE)
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database()
    try:
        yield TestDatabase(Backend.POSTGRESQL, server.url(name))
    finally:
        server.drop_database(name)
