"""The orchestrator with real worker processes (tiny data and one epoch: mechanics only)."""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

import pytest

import statcore
from learner.db import Backend
from learner.synthetic import DocumentGenerator
from learner.training import (
    DataConfig,
    JobOutcome,
    JobState,
    JobStore,
    OrchestratorConfig,
    RetrainingOrchestrator,
    SampleCollector,
    SampleStore,
    StatcoreStoreSource,
    TrainingConfig,
)
from tests.learner.conftest import TestDatabase
from tests.learner.training.conftest import FakeClock, sidecar_samples

TINY = TrainingConfig(epochs=1, batch_size=16, max_seq_len=32)


class Learner:
    """What a learner process holds; ``restart()`` drops it all as a crash would."""

    def __init__(self, root: Path, clock: FakeClock, database: TestDatabase | None = None,
                 **kw: object) -> None:
        self.root, self.clock, self.kw = root, clock, kw
        self.database = database or TestDatabase(Backend.SQLITE)
        self.start()

    def start(self) -> None:
        self.registry = self.database.registry(self.root / "registry", clock=self.clock)
        self.samples = SampleStore(self.database.location(self.root / "samples.db"))
        self.jobs = JobStore(self.database.location(self.root / "jobs.db"))
        self.orchestrator = RetrainingOrchestrator(
            self.registry, self.samples, self.jobs, work_dir=self.root / "work", training=TINY,
            data=DataConfig(min_feedback_samples=40), clock=self.clock,
            env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, **self.kw)  # type: ignore[arg-type]

    def close(self) -> None:
        self.registry.close()
        self.samples.close()
        self.jobs.close()

    def restart(self) -> None:
        self.close()
        self.start()


def _fill(root: Path, clock: FakeClock, n: int, database: TestDatabase | None = None) -> None:
    sidecar = statcore.Store(root / "sidecar", map_size=1 << 22)
    ts_ms = int((clock() - 7200) * 1000)
    docs = DocumentGenerator(seed=4).generate(n)
    sidecar.append_and_flush([statcore.Sample(**kw) for kw in sidecar_samples(docs, ts_ms)],
                             ts_ms + n)
    store = SampleStore((database or TestDatabase(Backend.SQLITE)).location(root / "samples.db"))
    SampleCollector(store, {"s0": StatcoreStoreSource(sidecar)}, grace_s=3600.0,
                    clock=clock).collect()
    store.close()


def test_insufficient_samples_returns_none_with_the_message(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(time.time())
    _fill(tmp_path, clock, 10)
    learner = Learner(tmp_path, clock)
    with caplog.at_level(logging.WARNING, logger="learner.training.orchestrator"):
        assert learner.orchestrator.check_and_trigger_retraining("doc_type") is None
    messages = [r.getMessage() for r in caplog.records]
    assert any("Insufficient samples for retraining: 10 usable" in m and "need at least 40" in m
               for m in messages), messages
    assert learner.jobs.list() == []


def test_job_lost_in_a_crash_is_failed_and_retried_after_restart(
        tmp_path: Path, test_database: TestDatabase) -> None:
    """On PostgreSQL the worker process gets the jobs database as a URL and the variable
    holding its password, and opens the registry there too."""
    clock = FakeClock(time.time())
    _fill(tmp_path, clock, 48, test_database)
    learner = Learner(tmp_path, clock, test_database)
    job_id = learner.orchestrator.check_and_trigger_retraining("doc_type")
    assert job_id is not None
    status = learner.orchestrator.get_job_status(job_id)
    assert status["state"] is JobState.RUNNING and status["metrics"]["launch"] == "single"
    # the learner dies and takes its worker with it
    pid = learner.jobs.get(job_id).pid
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)
    learner.orchestrator._procs.pop(job_id).wait()  # reaped, as init would after a crash
    learner.restart()
    started = learner.orchestrator.recover()
    assert len(started) == 1 and started[0] != job_id
    failed = learner.orchestrator.get_job_status(job_id)
    assert failed["state"] is JobState.FAILED and "worker lost" in failed["error"]
    retry = learner.orchestrator.wait(started[0], timeout_s=300)
    log = (tmp_path / "work" / job_id / "worker.log").read_text()
    assert retry["state"] is JobState.SUCCEEDED, (retry, log[-3000:])
    assert retry["attempt"] == 2 and retry["retry_of"] == job_id
    # no champion yet: nothing to beat, so the adapter becomes the first challenger
    assert retry["outcome"] is JobOutcome.CHALLENGER
    assert retry["metrics"]["evaluation"]["champion"] is None
    challenger = learner.registry.get_challenger("doc_type")
    assert challenger is not None and challenger["id"] == retry["metrics"]["model_id"]
    learner.close()


def test_a_worker_that_outlives_the_learner_is_followed_and_failed_once_it_dies(tmp_path: Path) -> None:
    """Workers run in their own sessions, so a learner restart leaves them training; the new
    learner leaves a live one alone, and fails and retries it when it dies later (it must not
    stay "running" for ever because no process of the new learner started it)."""
    clock = FakeClock(time.time())
    _fill(tmp_path, clock, 48)
    learner = Learner(tmp_path, clock)
    job_id = learner.orchestrator.check_and_trigger_retraining("doc_type")
    assert job_id is not None
    worker = learner.orchestrator._procs.pop(job_id)
    learner.restart()  # before the worker's first heartbeat: its start counts as its sign of life
    assert learner.orchestrator.recover() == []
    assert learner.orchestrator.get_job_status(job_id)["state"] is JobState.RUNNING
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    status = learner.orchestrator.get_job_status(job_id)
    assert status["state"] is JobState.FAILED and "worker lost" in status["error"]
    retry = learner.jobs.active("doc_type")
    assert retry is not None and retry.retry_of == job_id and retry.attempt == 2
    learner.orchestrator.cancel_job(retry.id)


def test_futile_retrain_is_recorded_and_backs_off(tmp_path: Path) -> None:
    clock = FakeClock(time.time())
    _fill(tmp_path, clock, 48)
    learner = Learner(tmp_path, clock,
                      config=OrchestratorConfig(min_improvement=1.0, futile_backoff_s=3600.0))
    first = learner.orchestrator.check_and_trigger_retraining("doc_type")
    assert first is not None
    assert learner.orchestrator.wait(first, timeout_s=300)["outcome"] is JobOutcome.CHALLENGER
    model_id = learner.registry.get_challenger("doc_type")["id"]  # type: ignore[index]
    learner.registry.promote_to_champion(model_id, reason="test")

    second = learner.orchestrator.check_and_trigger_retraining("doc_type")
    assert second is not None
    status = learner.orchestrator.wait(second, timeout_s=300)
    assert status["state"] is JobState.SUCCEEDED and status["outcome"] is JobOutcome.FUTILE
    assert status["metrics"]["evaluation"]["champion"] is not None
    assert learner.registry.get_challenger("doc_type") is None  # not made a challenger
    assert learner.orchestrator.check_and_trigger_retraining("doc_type") is None  # back-off
    clock.now += 2 * 3600
    third = learner.orchestrator.check_and_trigger_retraining("doc_type")
    assert third is not None
    learner.orchestrator.cancel_job(third)
    assert learner.orchestrator.get_job_status(third)["state"] is JobState.CANCELLED
