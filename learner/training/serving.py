"""Loading a registered LoRA model for inference: what an inference server (and the training
worker, for the champion it must beat) does with a model id.

The registry verifies the artifact's sha256 before the adapter is applied; the model's base,
labels and LoRA shape come from the metadata it was registered with (falling back to
``defaults``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from peft import PeftModel

from learner.registry import ModelRegistry
from learner.training.config import TrainingConfig
from learner.training.spec import ModelSpec
from learner.training.trainer import LoraSequenceClassifierTrainer

__all__ = ["ServedModel", "load_registered"]

_LORA_KEYS = ("lora_rank", "lora_alpha", "lora_dropout", "max_seq_len")


@dataclass
class ServedModel:
    """A registered model ready to classify."""

    model_id: str
    trainer: LoraSequenceClassifierTrainer
    model: PeftModel

    @property
    def labels(self) -> tuple[str, ...]:
        return self.trainer.spec.labels

    def classify(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        return self.trainer.classify(self.model, texts)


def shaped_like(metadata: dict[str, Any], spec: ModelSpec, training: TrainingConfig
                ) -> tuple[ModelSpec, TrainingConfig]:
    """The spec and training config a model was registered with (its metadata wins)."""
    lora: dict[str, Any] = {k: metadata[k] for k in _LORA_KEYS if k in metadata}
    if "target_modules" in metadata:
        lora["target_modules"] = tuple(metadata["target_modules"])
    return (ModelSpec(metadata.get("base_model", spec.model), tuple(metadata.get("labels", spec.labels)),
                      spec.task), replace(training, **lora))


def load_registered(registry: ModelRegistry, model_id: str, *, spec: ModelSpec | None = None,
                    training: TrainingConfig | None = None) -> ServedModel:
    """The model ``model_id`` from ``registry`` (sha256-verified), ready to classify."""
    record = registry.get_model(model_id)
    model_spec, config = shaped_like(dict(record.metadata or {}), spec or ModelSpec(),
                                     training or TrainingConfig())
    trainer = LoraSequenceClassifierTrainer(model_spec, config)
    return ServedModel(model_id, trainer, trainer.load(registry.load_artifact(model_id)))
