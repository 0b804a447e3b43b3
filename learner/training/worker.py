"""The training process: ``python -m learner.training.worker --jobs DB --job ID --spec FILE``.

Trains a fresh LoRA adapter on the job's training set (resuming from the job directory's
checkpoint), evaluates it and the champion on the held-out split, and either registers it as
challenger (adapter as safetensors, base model reference, metrics, lineage) or records a
futile retrain. Under torchrun every rank trains; rank 0 does the rest.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from learner.db import PostgresLocation, location_from
from learner.registry import ModelRegistry, RegistryConfig
from learner.training.config import TrainingConfig, from_dict
from learner.training.dataset import Example, LabelSource
from learner.training.evaluate import Comparison, beats, classification_metrics
from learner.training.errors import InvalidJobTransitionError
from learner.training.jobs import JobOutcome, JobState, JobStore
from learner.training.orchestrator import DATASET_FILE
from learner.training.serving import load_registered
from learner.training.spec import ModelSpec
from learner.training.trainer import LoraSequenceClassifierTrainer, TrainedAdapter

__all__ = ["run_job", "main"]

log = logging.getLogger("learner.training.worker")


def _load_dataset(job_dir: Path) -> tuple[list[Example], list[Example]]:
    train: list[Example] = []
    heldout: list[Example] = []
    with open(job_dir / DATASET_FILE, encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            example = Example(row["text"], row["label"], LabelSource(row["source"]))
            (train if row["split"] == "train" else heldout).append(example)
    return train, heldout


def _champion(registry: ModelRegistry, model_type: str, spec: ModelSpec,
              training: TrainingConfig) -> tuple[dict[str, Any] | None, Any, Any]:
    """The champion's record, a trainer shaped like it, and its model (Nones if no champion)."""
    record = registry.get_champion(model_type)
    if record is None:
        return None, None, None
    served = load_registered(registry, record["id"], spec=spec, training=training)
    return record, served.trainer, served.model


def run_job(jobs: JobStore, job_id: str, spec: dict[str, Any],
            clock: Callable[[], float] = time.time) -> JobOutcome | None:
    """Train, evaluate, register; returns the outcome (None on ranks other than 0)."""
    rank = int(os.environ.get("RANK", "0"))
    job_dir = Path(spec["job_dir"])
    model_spec = ModelSpec.from_dict(spec["model_spec"])
    training = from_dict(TrainingConfig, spec["training"])
    trainer = LoraSequenceClassifierTrainer(model_spec, training)
    train, heldout = _load_dataset(job_dir)

    def progress(fraction: float, metrics: dict[str, float]) -> None:
        jobs.heartbeat(job_id, clock(), progress=0.9 * fraction, metrics={"last_step": metrics})

    trained = trainer.train(train, progress=progress if rank == 0 else None,
                            checkpoint_dir=job_dir / "checkpoint")
    if rank != 0:
        return None
    jobs.heartbeat(job_id, clock(), progress=0.9, metrics={"train": trained.metrics.to_dict()})
    return _evaluate_and_register(jobs, job_id, spec, trainer, trained, heldout, clock)


def _evaluate_and_register(jobs: JobStore, job_id: str, spec: dict[str, Any],
                           trainer: LoraSequenceClassifierTrainer, trained: TrainedAdapter,
                           heldout: list[Example], clock: Callable[[], float]) -> JobOutcome:
    job = jobs.get(job_id)
    model_type, labels = job.model_type, trainer.spec.labels
    truth, texts = [e.label for e in heldout], [e.text for e in heldout]
    database = spec.get("registry_database")
    shared = None if database is None else location_from(**database)
    registry = ModelRegistry(clock=clock, config=RegistryConfig(
        root=Path(spec["registry_root"]), artifact_url=spec.get("artifact_url"),
        **(shared.settings() if isinstance(shared, PostgresLocation) else {})))
    try:
        record, champion_trainer, champion_model = _champion(
            registry, model_type, trainer.spec, trainer.config)
        champion = None if record is None else classification_metrics(
            truth, champion_trainer.predict(champion_model, texts), labels)
        candidate = classification_metrics(truth, trainer.predict(trained.model, texts), labels)
        comparison = Comparison(champion, candidate, len(heldout))
        metrics: dict[str, Any] = {"evaluation": comparison.to_dict(),
                                   "champion_id": None if record is None else record["id"]}
        trained.model.save_pretrained(str(Path(spec["job_dir"]) / "adapter"),
                                      safe_serialization=True, save_embedding_layers=False)
        if not beats(comparison, float(spec.get("min_improvement", 0.0))):
            log.warning("job %s: futile retrain (accuracy %.4f vs champion %.4f)", job_id,
                        candidate.accuracy, champion.accuracy if champion else float("nan"))
            jobs.transition(job_id, JobState.SUCCEEDED, clock(), outcome=JobOutcome.FUTILE,
                            metrics=metrics)
            return JobOutcome.FUTILE
        model_id = registry.register_model(
            trained.model, record["name"] if record else model_type, model_type,
            metrics={"heldout_accuracy": candidate.accuracy, "heldout_macro_f1": candidate.macro_f1,
                     "accuracy_gain": comparison.accuracy_gain,
                     "trainable_share": trained.metrics.trainable_share,
                     "adapter_bytes": trained.metrics.adapter_bytes},
            metadata={**trainer.adapter_metadata(), "train": trained.metrics.to_dict()},
            base_model=trainer.spec.model, training_job=job_id,
            data_window=spec.get("data_window"), drift_report=spec.get("drift_report"),
            reason=f"retrained by job {job_id}",
        )
        registry.set_challenger(model_id, reason=f"retrain {job_id} beat the champion on held-out",
                                statistics=comparison.to_dict())
        jobs.transition(job_id, JobState.SUCCEEDED, clock(), outcome=JobOutcome.CHALLENGER,
                        metrics={**metrics, "model_id": model_id})
        return JobOutcome.CHALLENGER
    finally:
        registry.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", required=True, help="jobs database: a file path or postgresql URL")
    parser.add_argument("--jobs-password-file", help="file holding the jobs database password")
    parser.add_argument("--jobs-password-env", help="variable holding the jobs database password")
    parser.add_argument("--job", required=True, help="job id")
    parser.add_argument("--spec", required=True, help="job spec JSON file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    jobs = JobStore(location_from(args.jobs, password_file=args.jobs_password_file,
                                  password_env=args.jobs_password_env))
    try:
        if jobs.get(args.job).state is not JobState.RUNNING:
            log.info("job %s is not running; nothing to do", args.job)
            return 0
        run_job(jobs, args.job, json.loads(Path(args.spec).read_text()))
        return 0
    except InvalidJobTransitionError as exc:  # cancelled meanwhile
        log.info("job %s: %s", args.job, exc)
        return 0
    except Exception as exc:  # the job records every failure; the process exits non-zero
        log.exception("job %s failed", args.job)
        try:
            jobs.transition(args.job, JobState.FAILED, time.time(),
                            error=f"{type(exc).__name__}: {exc}")
        except InvalidJobTransitionError:
            pass
        return 1
    finally:
        jobs.close()


if __name__ == "__main__":
    sys.exit(main())
