"""The :class:`~learner.retrainer.Retrainer` seam over the LoRA :class:`RetrainingOrchestrator`.

A job that registered a challenger is ``SUCCEEDED`` with its ``model_id`` (the loop then starts
the A/B test); a futile retrain (did not beat the champion) and failed or cancelled jobs are
``FAILED`` with the reason; queued and running jobs are ``RUNNING``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from learner.retrainer import RetrainState, RetrainStatus
from learner.training.jobs import JobOutcome, JobState

__all__ = ["OrchestratorRetrainer", "retrain_status"]


class Orchestrator(Protocol):
    """The part of ``RetrainingOrchestrator`` the adapter uses."""

    def check_and_trigger_retraining(self, model_type: str, *,
                                     drift_report: str | None = None) -> str | None: ...

    def get_job_status(self, job_id: str) -> dict[str, Any]: ...

    def job_statuses(self, model_type: str) -> list[dict[str, Any]]: ...


def retrain_status(status: Mapping[str, Any]) -> RetrainStatus:
    """Map ``get_job_status`` output to the loop's view.

    >>> retrain_status({"job_id": "j", "state": JobState.RUNNING, "outcome": None,
    ...                 "metrics": {}, "error": None}).state
    <RetrainState.RUNNING: 'running'>
    """
    job_id, state, outcome = status["job_id"], status["state"], status["outcome"]
    if not state.terminal:
        return RetrainStatus(job_id, RetrainState.RUNNING)
    if state is JobState.SUCCEEDED and outcome is JobOutcome.CHALLENGER:
        model_id = status["metrics"].get("model_id")
        if model_id:
            return RetrainStatus(job_id, RetrainState.SUCCEEDED, model_id)
        return RetrainStatus(job_id, RetrainState.FAILED, None, "succeeded without a model id")
    if state is JobState.SUCCEEDED:
        return RetrainStatus(job_id, RetrainState.FAILED, None,
                             "futile: the retrained model did not beat the champion")
    return RetrainStatus(job_id, RetrainState.FAILED, None,
                         f"{state.value}: {status.get('error') or 'no reason recorded'}")


class OrchestratorRetrainer:
    """What ``ContinuousLearner`` calls; triggers real LoRA jobs through the orchestrator."""

    def __init__(self, orchestrator: Orchestrator) -> None:
        self._orchestrator = orchestrator

    def trigger(self, model_type: str, reason: str, statistics: Mapping[str, Any]) -> str | None:
        summary = {"reason": reason, "psi_score": statistics.get("psi_score"),
                   "severity": statistics.get("severity"),
                   "drift_types": statistics.get("drift_types")}
        return self._orchestrator.check_and_trigger_retraining(
            model_type, drift_report=json.dumps(summary, sort_keys=True, default=str))

    def poll(self, job_id: str) -> RetrainStatus:
        return retrain_status(self._orchestrator.get_job_status(job_id))

    def jobs_of(self, model_type: str) -> list[RetrainStatus]:
        return [retrain_status(s) for s in self._orchestrator.job_statuses(model_type)]
