"""Frozen, validated configuration of data collection, training and the orchestrator.

No torch here: the orchestrator (which stays torch-free) builds and passes these around, and
the worker process rebuilds them from JSON with :func:`from_dict`.

>>> TrainingConfig().lora_rank, TrainingConfig().lora_alpha, TrainingConfig().lora_dropout
(16, 32, 0.1)
>>> TrainingConfig(lora_rank=0)
Traceback (most recent call last):
...
learner.training.errors.InvalidTrainingConfigError: invalid TrainingConfig: lora_rank must be >= 1, got 0
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any, TypeVar

from learner.training.errors import InvalidTrainingConfigError

__all__ = ["Device", "TrainingConfig", "DataConfig", "OrchestratorConfig", "to_dict", "from_dict"]

_DAY_S = 86_400.0


class Device(enum.Enum):
    """Where to train: ``auto`` picks CUDA when present, else CPU."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


def _raise(name: str, errors: list[str]) -> None:
    if errors:
        raise InvalidTrainingConfigError(f"invalid {name}: " + "; ".join(errors))


def _at_least(errors: list[str], name: str, value: float, low: float) -> None:
    if not value >= low:
        errors.append(f"{name} must be >= {low}, got {value!r}")


@dataclass(frozen=True)
class TrainingConfig:
    """LoRA fine-tuning hyper-parameters (defaults from the seed's ``LearningConfig``)."""

    lora_rank: int = field(default=16, metadata={"help": "LoRA rank r"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling alpha"})
    lora_dropout: float = field(default=0.1, metadata={"help": "dropout on the LoRA path"})
    target_modules: tuple[str, ...] = field(
        default=("query", "value"),
        metadata={"help": "names of the modules that get LoRA adapters (BERT: query, value)"},
    )
    learning_rate: float = field(default=2e-3, metadata={"help": "AdamW learning rate"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    epochs: int = field(default=3, metadata={"help": "passes over the training set"})
    batch_size: int = field(default=16, metadata={"help": "examples per step (per process)"})
    max_seq_len: int = field(default=64, metadata={"help": "tokens per example (truncated)"})
    seed: int = field(default=0, metadata={"help": "seed for head init, shuffling, dropout"})
    device: Device = field(default=Device.AUTO, metadata={"help": "auto, cpu or cuda"})
    bf16_autocast: bool = field(default=True, metadata={"help": "bf16 autocast on CUDA"})
    log_every_steps: int = field(
        default=10, metadata={"help": "progress log line period when stderr is not a terminal"}
    )

    def __post_init__(self) -> None:
        if isinstance(self.device, str):
            object.__setattr__(self, "device", _enum(Device, self.device, "device"))
        if isinstance(self.target_modules, list):
            object.__setattr__(self, "target_modules", tuple(self.target_modules))
        errors: list[str] = []
        for name in ("lora_rank", "lora_alpha", "epochs", "batch_size", "log_every_steps"):
            _at_least(errors, name, getattr(self, name), 1)
        _at_least(errors, "max_seq_len", self.max_seq_len, 8)
        if not 0.0 <= self.lora_dropout < 1.0:
            errors.append(f"lora_dropout must be in [0, 1), got {self.lora_dropout!r}")
        if not self.learning_rate > 0:
            errors.append(f"learning_rate must be > 0, got {self.learning_rate!r}")
        _at_least(errors, "weight_decay", self.weight_decay, 0.0)
        if not self.target_modules or not all(
                isinstance(m, str) and m for m in self.target_modules):
            errors.append("target_modules must be a non-empty tuple of module names")
        _raise("TrainingConfig", errors)


@dataclass(frozen=True)
class DataConfig:
    """How the training set is built from collected samples (seed defaults)."""

    min_feedback_samples: int = field(default=1000, metadata={"help": "minimum usable samples"})
    lookback_s: float = field(default=30 * _DAY_S, metadata={"help": "training data lookback"})
    min_pseudo_label_confidence: float = field(
        default=0.9, metadata={"help": "a prediction at least this confident may be a pseudo-label"}
    )
    pseudo_label_grace_s: float = field(
        default=3600.0,
        metadata={"help": "a prediction becomes a pseudo-label only if no correction came this long"},
    )
    label_field: str = field(
        default="label",
        metadata={"help": "JSON field of a label/prediction holding the class ('label' also read)"},
    )
    heldout_fraction: float = field(default=0.2, metadata={"help": "stratified held-out share"})
    split_seed: int = field(default=0, metadata={"help": "seed of the held-out split"})

    def __post_init__(self) -> None:
        errors: list[str] = []
        _at_least(errors, "min_feedback_samples", self.min_feedback_samples, 1)
        if not self.lookback_s > 0:
            errors.append(f"lookback_s must be > 0, got {self.lookback_s!r}")
        if not 0.0 <= self.min_pseudo_label_confidence <= 1.0:
            errors.append("min_pseudo_label_confidence must be in [0, 1], "
                          f"got {self.min_pseudo_label_confidence!r}")
        _at_least(errors, "pseudo_label_grace_s", self.pseudo_label_grace_s, 0.0)
        if not self.label_field:
            errors.append("label_field must be a non-empty field name")
        if not 0.0 < self.heldout_fraction < 1.0:
            errors.append(f"heldout_fraction must be in (0, 1), got {self.heldout_fraction!r}")
        _raise("DataConfig", errors)


@dataclass(frozen=True)
class OrchestratorConfig:
    """Job handling: retries after a crash, back-off after futile retrains."""

    max_attempts: int = field(default=3, metadata={"help": "tries of one retrain (crash retries)"})
    futile_backoff_s: float = field(
        default=3600.0, metadata={"help": "wait after the first futile retrain; doubles each time"}
    )
    futile_backoff_max_s: float = field(
        default=7 * _DAY_S, metadata={"help": "cap of the futile-retrain back-off"}
    )
    min_improvement: float = field(
        default=0.0, metadata={"help": "held-out accuracy gain over the champion required (> this)"}
    )
    heartbeat_timeout_s: float = field(
        default=300.0, metadata={"help": "a running job silent this long is presumed dead"}
    )

    def __post_init__(self) -> None:
        errors: list[str] = []
        _at_least(errors, "max_attempts", self.max_attempts, 1)
        _at_least(errors, "futile_backoff_s", self.futile_backoff_s, 0.0)
        _at_least(errors, "futile_backoff_max_s", self.futile_backoff_max_s, self.futile_backoff_s)
        _at_least(errors, "min_improvement", self.min_improvement, 0.0)
        if not self.heartbeat_timeout_s > 0:
            errors.append(f"heartbeat_timeout_s must be > 0, got {self.heartbeat_timeout_s!r}")
        _raise("OrchestratorConfig", errors)


E = TypeVar("E", bound=enum.Enum)
C = TypeVar("C")


def _enum(kind: type[E], value: str, what: str) -> E:
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(m.value for m in kind)
        raise InvalidTrainingConfigError(f"unknown {what} {value!r}; known: {known}") from None


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (enums by value, tuples as lists)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        out[f.name] = value.value if isinstance(value, enum.Enum) else (
            list(value) if isinstance(value, tuple) else value)
    return out


def from_dict(kind: type[C], data: dict[str, Any]) -> C:
    """Rebuild a config from :func:`to_dict`'s output; unknown keys raise."""
    names = {f.name for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise InvalidTrainingConfigError(f"unknown {kind.__name__} fields: {unknown}")
    return kind(**data)
