"""Deciding to retrain, starting the training worker process, and tracking its job. No torch.

>>> # orchestrator = RetrainingOrchestrator(registry, samples, jobs, work_dir=Path("jobs"))
>>> # orchestrator.recover()                      # once at start-up: crashed jobs are retried
>>> # job_id = orchestrator.check_and_trigger_retraining("doc_type")
>>> # orchestrator.get_job_status(job_id)["state"]

Training runs in its own process (``python -m learner.training.worker``, or ``torchrun`` when
more than one GPU is visible), so the learner keeps serving and monitoring meanwhile. Jobs live
in the job store (SQLite or PostgreSQL); a job that was running when the learner died is marked
failed and retried (it resumes from the last epoch checkpoint) by
:meth:`RetrainingOrchestrator.recover`.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from learner.registry import ModelRegistry
from learner.training.config import DataConfig, OrchestratorConfig, TrainingConfig, to_dict
from learner.training.dataset import TrainingSet, build_training_set
from learner.training.errors import InsufficientSamplesError
from learner.db import location_fields
from learner.training.jobs import Job, JobConflictError, JobState, JobStore
from learner.training.launch import nvidia_smi_count, plan_launch, visible_gpu_count
from learner.training.sample_store import SampleCollector, SampleStore
from learner.training.spec import ModelSpec

__all__ = ["RetrainingOrchestrator", "futile_backoff_until", "DATASET_FILE"]

log = logging.getLogger(__name__)

DATASET_FILE = "dataset.jsonl"


def futile_backoff_until(streak: int, last_finished: float | None,
                         config: OrchestratorConfig) -> float | None:
    """When retraining may start again after ``streak`` futile retrains (None: no back-off).

    >>> futile_backoff_until(3, 100.0, OrchestratorConfig(futile_backoff_s=10.0))
    140.0
    """
    if streak == 0 or last_finished is None:
        return None
    wait = min(config.futile_backoff_s * 2 ** (streak - 1), config.futile_backoff_max_s)
    return last_finished + wait


def _pid_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RetrainingOrchestrator:
    """Triggers LoRA retraining of a model type from collected samples; one job per type."""

    def __init__(
        self,
        registry: ModelRegistry,
        samples: SampleStore,
        jobs: JobStore,
        *,
        work_dir: Path,
        spec: ModelSpec | None = None,
        training: TrainingConfig | None = None,
        data: DataConfig | None = None,
        config: OrchestratorConfig | None = None,
        clock: Callable[[], float] = time.time,
        collector: SampleCollector | None = None,
        env: Mapping[str, str] | None = None,
        gpu_probe: Callable[[], int] = nvidia_smi_count,
        python: str = sys.executable,
    ) -> None:
        self._registry, self._samples, self._jobs = registry, samples, jobs
        self._work_dir = Path(work_dir)
        self._spec = spec or ModelSpec()
        self._training = training or TrainingConfig()
        self._data = data or DataConfig()
        self._config = config or OrchestratorConfig()
        self._clock, self._collector = clock, collector
        self._env = dict(os.environ if env is None else env)
        self._gpu_probe, self._python = gpu_probe, python
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    # -- triggering ----------------------------------------------------------------------

    def check_and_trigger_retraining(self, model_type: str, *,
                                     drift_report: str | None = None) -> str | None:
        """Collect samples, and start a retrain if allowed; returns the job id or None.

        None when a job for ``model_type`` is already queued or running, while a futile-retrain
        back-off lasts, or when there is too little data (the "Insufficient samples" message is
        logged).
        """
        self.poll()
        if self._collector is not None:
            self._collector.collect()
        active = self._jobs.active(model_type)
        if active is not None:
            log.info("retraining %s: job %s is already %s", model_type, active.id,
                     active.state.value)
            return None
        now = self._clock()
        until = futile_backoff_until(*self._jobs.futile_streak(model_type), self._config)
        if until is not None and now < until:
            log.info("retraining %s: futile-retrain back-off until %.0f", model_type, until)
            return None
        try:
            training_set = self._build(model_type, now)
        except InsufficientSamplesError as exc:
            log.warning("retraining %s: %s", model_type, exc)
            return None
        try:
            job = self._jobs.create(model_type, self._job_spec(drift_report), now)
        except JobConflictError as exc:  # another learner won the race
            log.info("retraining %s: %s", model_type, exc)
            return None
        job_dir = self._work_dir / job.id
        _write_dataset(job_dir, training_set)
        self._launch(job, job_dir, training_set.data_window,
                     metrics={"dataset": training_set.report()})
        return job.id

    def _build(self, model_type: str, now: float) -> TrainingSet:
        now_ms = int(now * 1000)
        since_ms = now_ms - int(self._data.lookback_s * 1000)
        window = self._samples.window(model_type, since_ms, now_ms)
        return build_training_set((s.sample for s in window), self._spec.labels, self._data,
                                  now_ms)

    def _job_spec(self, drift_report: str | None) -> dict[str, Any]:
        return {
            "model_spec": self._spec.to_dict(), "training": to_dict(self._training),
            "registry_root": str(self._registry.config.root),
            "artifact_url": self._registry.config.artifact_url,
            "registry_database": location_fields(self._registry.config.location),
            "drift_report": drift_report, "min_improvement": self._config.min_improvement,
        }

    def _launch(self, job: Job, job_dir: Path, data_window: str | None = None,
                metrics: dict[str, Any] | None = None) -> None:
        spec_file = job_dir / "spec.json"
        earlier = json.loads(spec_file.read_text()) if spec_file.is_file() else {}
        spec = {**earlier, **job.spec, "job_dir": str(job_dir)}
        if data_window is not None:
            spec["data_window"] = data_window
        spec_file.write_text(json.dumps(spec, sort_keys=True))
        gpus = visible_gpu_count(self._env, self._gpu_probe)
        jobs_at = location_fields(self._jobs.location)
        where = ["--jobs", str(jobs_at["target"])]
        for flag in ("password_file", "password_env"):
            if jobs_at[flag] is not None:
                where += [f"--jobs-{flag.replace('_', '-')}", str(jobs_at[flag])]
        plan = plan_launch([*where, "--job", job.id,
                            "--spec", str(job_dir / "spec.json")], gpus=gpus, python=self._python)
        env = {**self._env, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        with open(job_dir / "worker.log", "ab") as out:
            proc = subprocess.Popen(plan.argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                    cwd=os.getcwd(), start_new_session=True)
        self._procs[job.id] = proc
        self._jobs.transition(job.id, JobState.RUNNING, self._clock(), pid=proc.pid,
                              metrics={**(metrics or {}), "launch": plan.kind.value,
                                       "nproc": plan.nproc})
        log.info("retraining %s: job %s started (%s, pid %d)", job.model_type, job.id,
                 plan.kind.value, proc.pid)

    # -- status ---------------------------------------------------------------------------

    def get_job_status(self, job_id: str) -> dict[str, Any]:
        """State (:class:`JobState`), progress in [0, 1], metrics, error, outcome, attempt."""
        self.poll()
        return self._jobs.get(job_id).status()

    def job_statuses(self, model_type: str) -> list[dict[str, Any]]:
        """Every job of the type, oldest first, as :meth:`get_job_status` reports them."""
        self.poll()
        return [job.status() for job in self._jobs.list(model_type)]

    def wait(self, job_id: str, timeout_s: float, poll_s: float = 0.5) -> dict[str, Any]:
        """Block until the job is terminal or ``timeout_s`` passes (real time); its status."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.get_job_status(job_id)
            if status["state"].terminal:
                self._reap(job_id, max(deadline - time.monotonic(), 1.0))
                return status
            if time.monotonic() >= deadline:
                return status
            time.sleep(poll_s)

    def _reap(self, job_id: str, timeout_s: float) -> None:
        proc = self._procs.pop(job_id, None)
        if proc is not None:
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._procs[job_id] = proc

    def close(self, timeout_s: float = 60.0) -> None:
        """Wait for finished workers to exit (running ones are left to run)."""
        for job_id in list(self._procs):
            if self._jobs.get(job_id).state.terminal:
                self._reap(job_id, timeout_s)

    def poll(self) -> None:
        """Reap finished workers; a worker that exited without finishing its job failed it.

        A running job whose worker this orchestrator did not start (it outlived the previous
        learner) is checked as at start-up: once its worker is gone or silent, it is failed
        and retried, so it cannot stay "running" for ever.
        """
        for job_id, proc in list(self._procs.items()):
            code = proc.poll()
            if code is None:
                continue
            del self._procs[job_id]
            job = self._jobs.get(job_id)
            if not job.state.terminal:
                self._jobs.transition(job_id, JobState.FAILED, self._clock(),
                                      error=f"worker exited with code {code} before finishing")
        now = self._clock()
        for job in self._jobs.list(state=JobState.RUNNING):
            if job.id not in self._procs:
                self._recover_running(job, now)

    def cancel_job(self, job_id: str) -> None:
        """Stop the worker (if any) and mark the job cancelled."""
        proc = self._procs.pop(job_id, None)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        job = self._jobs.get(job_id)
        if not job.state.terminal:
            self._jobs.transition(job_id, JobState.CANCELLED, self._clock(), error="cancelled")

    # -- crash recovery --------------------------------------------------------------------

    def recover(self) -> list[str]:
        """Call once at start-up: jobs orphaned by a learner crash are failed and retried.

        A running job whose worker is gone (or silent for ``heartbeat_timeout_s``) is marked
        failed and, below ``max_attempts``, re-queued as a new job that resumes from the old
        job's checkpoint; a queued job that never started is launched. A running job whose
        worker is still alive and beating is left alone. Returns the ids started.
        """
        now, started = self._clock(), []
        for job in self._jobs.list(state=JobState.RUNNING):
            if job.id not in self._procs:
                retry = self._recover_running(job, now)
                if retry is not None:
                    started.append(retry)
        for job in self._jobs.list(state=JobState.QUEUED):
            if job.id not in self._procs:
                self._launch(job, Path(job.spec.get("job_dir", self._work_dir / job.id)))
                started.append(job.id)
        return started


    def _recover_running(self, job: Job, now: float) -> str | None:
        """Fail a running job whose worker is gone or silent, and retry it (below
        ``max_attempts``); returns the retry's id. A live worker that beats is left alone (its
        last sign of life is the start until its first heartbeat)."""
        last_sign = job.heartbeat_at if job.heartbeat_at is not None else job.started_at
        fresh = last_sign is not None and now - last_sign < self._config.heartbeat_timeout_s
        if _pid_alive(job.pid) and fresh:
            return None
        self._jobs.transition(job.id, JobState.FAILED, now,
                              error="worker lost: the learner restarted or the worker died")
        if job.attempt >= self._config.max_attempts:
            log.warning("job %s failed after %d attempts; not retried", job.id, job.attempt)
            return None
        job_dir = Path(job.spec.get("job_dir", self._work_dir / job.id))
        retry = self._jobs.create(job.model_type, {**job.spec, "job_dir": str(job_dir)}, now,
                                  attempt=job.attempt + 1, retry_of=job.id)
        self._launch(retry, job_dir)
        return retry.id


def _write_dataset(job_dir: Path, training_set: TrainingSet) -> None:
    job_dir.mkdir(parents=True, exist_ok=True)
    tmp = job_dir / (DATASET_FILE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        for split, examples in (("train", training_set.train), ("heldout", training_set.heldout)):
            for e in examples:
                out.write(json.dumps({"split": split, "text": e.text, "label": e.label,
                                      "source": e.source.value}) + "\n")
    os.replace(tmp, job_dir / DATASET_FILE)
