"""Retraining jobs: a state enum, allowed transitions, and their table. No torch.

States: ``queued -> running -> succeeded | failed | cancelled`` (a queued job may also be
cancelled or failed). The database allows one queued-or-running job per model type (a
partial UNIQUE index), so two learners cannot start the same retrain twice. The table lives
wherever the store's :class:`~learner.db.Location` says: an SQLite file (``jobs.db``) or the
shared PostgreSQL database.
"""

from __future__ import annotations

import enum
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learner.db import (
    Backend, Constraint, ConstraintViolation, Database, Location, Migration, Schema, WriteScope,
    location_from, migrate, open_database,
)

from learner.training.errors import InvalidJobTransitionError, JobNotFoundError, TrainingError

__all__ = ["JobState", "JobOutcome", "Job", "JobStore", "JobConflictError", "ALLOWED"]


class JobState(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class JobOutcome(enum.Enum):
    """What a succeeded job produced."""

    CHALLENGER = "challenger"  # registered and set as challenger
    FUTILE = "futile"  # did not beat the champion: recorded, not registered, back-off applies


ALLOWED: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED, JobState.FAILED}),
    JobState.RUNNING: frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}


class JobConflictError(TrainingError):
    """A queued or running job already exists for this model type."""


_JOBS_TABLE = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    model_type TEXT NOT NULL,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    retry_of TEXT,
    spec TEXT NOT NULL,
    created_at {real} NOT NULL,
    started_at {real},
    finished_at {real},
    heartbeat_at {real},
    pid INTEGER,
    progress {real} NOT NULL DEFAULT 0,
    metrics TEXT NOT NULL DEFAULT '{{}}',
    outcome TEXT,
    error TEXT{insertion_order}
)
"""
_ONE_ACTIVE = ("CREATE UNIQUE INDEX IF NOT EXISTS one_active_job_per_type ON jobs (model_type) "
               "WHERE state IN ('queued', 'running')")

#: Version 1 is the table SQLite ``jobs.db`` files had before versioning (``IF NOT EXISTS``
#: adopts them). ``rowid`` orders jobs created at the same instant: SQLite's implicit one, an
#: identity column of that name on PostgreSQL.
JOBS_SCHEMA = Schema(
    name="jobs",
    version_table="jobs_schema_version",
    migrations=(
        Migration(1, "retraining jobs, one active per model type", {
            Backend.SQLITE: (_JOBS_TABLE.format(real="REAL", insertion_order=""), _ONE_ACTIVE),
            Backend.POSTGRESQL: (
                _JOBS_TABLE.format(real="DOUBLE PRECISION", insertion_order=",\n    rowid BIGINT "
                                   "GENERATED ALWAYS AS IDENTITY UNIQUE"),
                _ONE_ACTIVE),
        }),
    ),
)
_COLUMNS = ("id, model_type, state, attempt, retry_of, spec, created_at, started_at, "
            "finished_at, heartbeat_at, pid, progress, metrics, outcome, error")


@dataclass(frozen=True)
class Job:
    """One row of the jobs table."""

    id: str
    model_type: str
    state: JobState
    attempt: int
    retry_of: str | None
    spec: dict[str, Any]
    created_at: float
    started_at: float | None
    finished_at: float | None
    heartbeat_at: float | None
    pid: int | None
    progress: float
    metrics: dict[str, Any]
    outcome: JobOutcome | None
    error: str | None

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Job:
        return cls(
            id=row[0], model_type=row[1], state=JobState(row[2]), attempt=row[3],
            retry_of=row[4], spec=json.loads(row[5]), created_at=row[6], started_at=row[7],
            finished_at=row[8], heartbeat_at=row[9], pid=row[10], progress=row[11],
            metrics=json.loads(row[12]), outcome=None if row[13] is None else JobOutcome(row[13]),
            error=row[14],
        )

    def status(self) -> dict[str, Any]:
        """The public view returned by ``get_job_status``."""
        return {
            "job_id": self.id, "model_type": self.model_type, "state": self.state,
            "progress": self.progress, "metrics": dict(self.metrics), "error": self.error,
            "outcome": self.outcome, "attempt": self.attempt, "retry_of": self.retry_of,
            "created_at": self.created_at, "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


class JobStore:
    """Jobs in a database (an SQLite file path, or any :class:`~learner.db.Location`); safe
    across processes: every write holds the jobs' write lock from its first statement."""

    def __init__(self, location: Location | str | Path, *, busy_timeout_s: float = 30.0,
                 new_id: Callable[[], str] = lambda: f"job-{uuid.uuid4().hex[:12]}",
                 clock: Callable[[], float] = time.time) -> None:
        self.location = location if not isinstance(location, (str, Path)) else location_from(location)
        self._conn: Database = open_database(self.location, busy_timeout_s=busy_timeout_s,
                                             sync_every_commit=True)
        try:
            migrate(self._conn, JOBS_SCHEMA, clock)
        except BaseException:
            self._conn.close()
            raise
        self._new_id = new_id

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _write(self) -> Iterator[Database]:
        with self._conn.transaction(WriteScope.JOBS) as tx:
            yield tx

    def create(self, model_type: str, spec: dict[str, Any], now: float, *, attempt: int = 1,
               retry_of: str | None = None) -> Job:
        """A new queued job; raises :class:`JobConflictError` if one is active for the type."""
        job_id = self._new_id()
        try:
            with self._write() as conn:
                conn.execute(
                    "INSERT INTO jobs (id, model_type, state, attempt, retry_of, spec, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (job_id, model_type, JobState.QUEUED.value, attempt, retry_of,
                     json.dumps(spec, sort_keys=True), now),
                )
        except ConstraintViolation as exc:
            if exc.constraint is not Constraint.UNIQUE:
                raise
            raise JobConflictError(f"a retraining job for {model_type!r} is already active") from None
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        row = self._conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFoundError(job_id)
        return Job.from_row(row)

    def list(self, model_type: str | None = None, state: JobState | None = None) -> list[Job]:
        sql, args = f"SELECT {_COLUMNS} FROM jobs WHERE 1=1", []
        if model_type is not None:
            sql, args = sql + " AND model_type = ?", [*args, model_type]
        if state is not None:
            sql, args = sql + " AND state = ?", [*args, state.value]
        # Insertion order (rowid), not created_at: a clock may step back between two jobs.
        rows = self._conn.execute(sql + " ORDER BY rowid", args).fetchall()
        return [Job.from_row(row) for row in rows]

    def active(self, model_type: str) -> Job | None:
        jobs = [j for j in self.list(model_type) if not j.state.terminal]
        return jobs[0] if jobs else None

    def transition(self, job_id: str, to: JobState, now: float, *, pid: int | None = None,
                   error: str | None = None, outcome: JobOutcome | None = None,
                   metrics: dict[str, Any] | None = None) -> Job:
        """Move a job to ``to``; raises :class:`InvalidJobTransitionError` if not allowed."""
        with self._write() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise JobNotFoundError(job_id)
            job = Job.from_row(row)
            if to not in ALLOWED[job.state]:
                raise InvalidJobTransitionError(
                    f"job {job_id}: {job.state.value} -> {to.value} is not allowed")
            merged = {**job.metrics, **(metrics or {})}
            conn.execute(
                "UPDATE jobs SET state = ?, pid = COALESCE(?, pid), error = COALESCE(?, error), "
                "outcome = COALESCE(?, outcome), metrics = ?, heartbeat_at = ?, "
                "started_at = CASE WHEN ? = 'running' THEN ? ELSE started_at END, "
                "finished_at = CASE WHEN ? IN ('succeeded', 'failed', 'cancelled') THEN ? "
                "ELSE finished_at END, progress = CASE WHEN ? = 'succeeded' THEN 1.0 "
                "ELSE progress END WHERE id = ?",
                (to.value, pid, error, None if outcome is None else outcome.value,
                 json.dumps(merged, sort_keys=True), now, to.value, now, to.value, now,
                 to.value, job_id),
            )
        return self.get(job_id)

    def heartbeat(self, job_id: str, now: float, progress: float | None = None,
                  metrics: dict[str, Any] | None = None) -> None:
        """Record that the worker is alive, with its progress so far (running jobs only)."""
        with self._write() as conn:
            row = conn.execute("SELECT metrics FROM jobs WHERE id = ? AND state = 'running'",
                               (job_id,)).fetchone()
            if row is None:
                return
            merged = {**json.loads(row[0]), **(metrics or {})}
            conn.execute(
                "UPDATE jobs SET heartbeat_at = ?, progress = COALESCE(?, progress), metrics = ? "
                "WHERE id = ?", (now, progress, json.dumps(merged, sort_keys=True), job_id))

    def futile_streak(self, model_type: str) -> tuple[int, float | None]:
        """Consecutive futile retrains at the end of the type's succeeded jobs, and the last one's
        finish time."""
        done = [j for j in self.list(model_type, JobState.SUCCEEDED)]
        done.sort(key=lambda j: j.finished_at or 0.0)
        streak, last = 0, None
        for job in reversed(done):
            if job.outcome is not JobOutcome.FUTILE:
                break
            streak += 1
            last = job.finished_at if last is None else last
        return streak, last
