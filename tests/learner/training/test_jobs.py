from __future__ import annotations

from pathlib import Path

import pytest

from learner.training import (
    InvalidJobTransitionError,
    JobConflictError,
    JobNotFoundError,
    JobOutcome,
    JobState,
    JobStore,
    OrchestratorConfig,
)
from learner.training.jobs import ALLOWED
from learner.training.orchestrator import futile_backoff_until
from tests.learner.conftest import TestDatabase


def test_state_machine_and_persistence(tmp_path: Path, test_database: TestDatabase) -> None:
    store = JobStore(test_database.location(tmp_path / "jobs.db"))
    job = store.create("doc_type", {"k": 1}, now=10.0)
    assert job.state is JobState.QUEUED and job.attempt == 1 and job.progress == 0.0
    running = store.transition(job.id, JobState.RUNNING, 11.0, pid=1234)
    assert running.started_at == 11.0 and running.pid == 1234
    store.heartbeat(job.id, 12.0, progress=0.5, metrics={"loss": 1.0})
    done = store.transition(job.id, JobState.SUCCEEDED, 13.0, outcome=JobOutcome.CHALLENGER,
                            metrics={"model_id": "m"})
    assert done.progress == 1.0 and done.finished_at == 13.0
    assert done.metrics == {"loss": 1.0, "model_id": "m"}
    with pytest.raises(InvalidJobTransitionError):
        store.transition(job.id, JobState.RUNNING, 14.0)
    store.close()
    reopened = JobStore(test_database.location(tmp_path / "jobs.db"))  # after a restart
    again = reopened.get(job.id)
    reopened.close()
    assert again.state is JobState.SUCCEEDED and again.outcome is JobOutcome.CHALLENGER
    assert again.status()["state"] is JobState.SUCCEEDED


def test_terminal_states_allow_nothing() -> None:
    for state in JobState:
        assert (ALLOWED[state] == frozenset()) == state.terminal


def test_one_active_job_per_model_type(tmp_path: Path, test_database: TestDatabase) -> None:
    store = JobStore(test_database.location(tmp_path / "jobs.db"))
    first = store.create("doc_type", {}, now=1.0)
    with pytest.raises(JobConflictError):
        store.create("doc_type", {}, now=2.0)
    store.create("other_type", {}, now=2.0)  # other types are independent
    store.transition(first.id, JobState.CANCELLED, 3.0)
    assert store.create("doc_type", {}, now=4.0).state is JobState.QUEUED
    with pytest.raises(JobNotFoundError):
        store.get("job-missing")
    store.close()


def test_futile_streak_and_backoff(tmp_path: Path, test_database: TestDatabase) -> None:
    store = JobStore(test_database.location(tmp_path / "jobs.db"))
    config = OrchestratorConfig(futile_backoff_s=100.0, futile_backoff_max_s=250.0)

    def finish(now: float, outcome: JobOutcome) -> None:
        job = store.create("doc_type", {}, now)
        store.transition(job.id, JobState.RUNNING, now)
        store.transition(job.id, JobState.SUCCEEDED, now + 1, outcome=outcome)

    assert futile_backoff_until(*store.futile_streak("doc_type"), config) is None
    finish(10.0, JobOutcome.CHALLENGER)
    finish(20.0, JobOutcome.FUTILE)
    assert store.futile_streak("doc_type") == (1, 21.0)
    assert futile_backoff_until(1, 21.0, config) == 121.0
    finish(200.0, JobOutcome.FUTILE)
    finish(500.0, JobOutcome.FUTILE)
    assert store.futile_streak("doc_type") == (3, 501.0)
    assert futile_backoff_until(3, 501.0, config) == 751.0  # 400 capped at 250
    finish(900.0, JobOutcome.CHALLENGER)
    assert store.futile_streak("doc_type") == (0, None)
    store.close()


def test_a_jobs_file_from_before_schema_versions_is_adopted(tmp_path: Path) -> None:
    """The released jobs.db had the table and index (created IF NOT EXISTS) and no version
    table: opening it records version 1 and keeps every job."""
    import sqlite3

    conn = sqlite3.connect(tmp_path / "jobs.db")
    conn.executescript(
        "CREATE TABLE jobs (id TEXT PRIMARY KEY, model_type TEXT NOT NULL, state TEXT NOT NULL, "
        "attempt INTEGER NOT NULL, retry_of TEXT, spec TEXT NOT NULL, created_at REAL NOT NULL, "
        "started_at REAL, finished_at REAL, heartbeat_at REAL, pid INTEGER, "
        "progress REAL NOT NULL DEFAULT 0, metrics TEXT NOT NULL DEFAULT '{}', outcome TEXT, "
        "error TEXT);"
        "CREATE UNIQUE INDEX one_active_job_per_type ON jobs (model_type) "
        "WHERE state IN ('queued', 'running');"
        "INSERT INTO jobs (id, model_type, state, attempt, spec, created_at) "
        "VALUES ('job-old', 'doc_type', 'queued', 1, '{}', 5.0);")
    conn.close()
    store = JobStore(tmp_path / "jobs.db")
    assert store.get("job-old").state is JobState.QUEUED
    with pytest.raises(JobConflictError):  # the old index still holds
        store.create("doc_type", {}, now=6.0)
    store.close()
    conn = sqlite3.connect(tmp_path / "jobs.db")
    assert conn.execute("SELECT version FROM jobs_schema_version").fetchall() == [(1,)]
    conn.close()
