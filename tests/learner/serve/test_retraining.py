"""The retrainer adapter over the real orchestrator and job store (no worker process: jobs are
moved through their states as the worker would)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from learner.retrainer import RetrainState
from learner.registry import ModelRegistry
from learner.serve.retraining import OrchestratorRetrainer
from learner.training import (
    DataConfig, JobOutcome, JobState, JobStore, RetrainingOrchestrator, SampleStore,
)


@pytest.fixture
def parts(tmp_path: Path):  # type: ignore[no-untyped-def]
    registry = ModelRegistry(tmp_path / "registry", clock=lambda: 1_800_000_000.0)
    samples, jobs = SampleStore(tmp_path / "samples.db"), JobStore(tmp_path / "jobs.db")
    orchestrator = RetrainingOrchestrator(registry, samples, jobs, work_dir=tmp_path / "work",
                                          data=DataConfig(min_feedback_samples=10),
                                          clock=lambda: 1_800_000_000.0)
    yield OrchestratorRetrainer(orchestrator), jobs
    registry.close()
    samples.close()
    jobs.close()


def test_too_few_samples_starts_no_job(parts) -> None:  # type: ignore[no-untyped-def]
    retrainer, jobs = parts
    assert retrainer.trigger("clf", "drift", {"psi_score": 0.4, "severity": "high"}) is None
    assert jobs.list() == []


@pytest.mark.parametrize(("to", "outcome", "metrics", "expected", "model_id", "message"), [
    (JobState.SUCCEEDED, JobOutcome.CHALLENGER, {"model_id": "clf_1.0.3"}, RetrainState.SUCCEEDED,
     "clf_1.0.3", ""),
    (JobState.SUCCEEDED, JobOutcome.FUTILE, {}, RetrainState.FAILED, None, "futile"),
    (JobState.FAILED, None, {}, RetrainState.FAILED, None, "failed: out of memory"),
    (JobState.CANCELLED, None, {}, RetrainState.FAILED, None, "cancelled"),
])
def test_job_states_map_to_the_loop_view(parts, to, outcome, metrics, expected, model_id,  # type: ignore[no-untyped-def]
                                         message) -> None:
    retrainer, jobs = parts
    job = jobs.create("clf", {}, 1.0)
    assert retrainer.poll(job.id).state is RetrainState.RUNNING
    # A live worker that just started (this process stands in for it): left alone.
    jobs.transition(job.id, JobState.RUNNING, 1_800_000_000.0, pid=os.getpid())
    assert retrainer.poll(job.id).state is RetrainState.RUNNING
    error = "out of memory" if to is JobState.FAILED else None
    jobs.transition(job.id, to, 1_800_000_001.0, outcome=outcome, metrics=metrics, error=error)
    status = retrainer.poll(job.id)
    assert (status.state, status.model_id) == (expected, model_id)
    assert message in status.message
