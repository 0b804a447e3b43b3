"""LoRA fine-tuning behind a small interface (a base model and a task in, an adapter out).

:class:`LoraSequenceClassifierTrainer` loads the base from a local directory (never from a
hub), adds a classification head, wraps it with peft LoRA (the head is trained and saved with
the adapter) and trains with a plain torch loop (AdamW): CUDA with bf16 autocast when present,
CPU otherwise. Under ``torchrun`` (``WORLD_SIZE`` > 1) each process trains on its shard of the
data through DistributedDataParallel; rank 0 owns checkpoints.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

import numpy as np
import torch
from peft import (
    LoraConfig,
    PeftModel,
    TaskType,
    get_peft_model,
    get_peft_model_state_dict,
    set_peft_model_state_dict,
)
from safetensors.torch import load_file, save, save_file
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from transformers.utils import logging as hf_logging

from learner.training.config import Device, TrainingConfig
from learner.training.dataset import Example
from learner.training.errors import InvalidTrainingConfigError, TrainingError
from learner.training.progress import ProgressCallback, ProgressReporter
from learner.training.spec import ModelSpec, TaskKind, resolve_model_dir

__all__ = ["TrainMetrics", "TrainedAdapter", "Trainer", "LoraSequenceClassifierTrainer"]

_PREDICT_BATCH = 64


@dataclass(frozen=True)
class TrainMetrics:
    """What a training run did and produced."""

    steps: int
    epochs: int
    examples: int
    tokens: int
    seconds: float
    tokens_per_s: float
    final_loss: float
    trainable_params: int
    total_params: int
    trainable_share: float
    adapter_bytes: int
    device: str
    world_size: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainedAdapter:
    """A trained peft model and its metrics."""

    model: PeftModel
    metrics: TrainMetrics


class Trainer(Protocol):
    """What the orchestrator's worker needs from a trainer."""

    spec: ModelSpec

    def train(self, examples: Sequence[Example], *, progress: ProgressCallback | None = None,
              checkpoint_dir: Path | None = None) -> TrainedAdapter: ...

    def load(self, tensors: Mapping[str, np.ndarray]) -> PeftModel: ...

    def predict(self, model: PeftModel, texts: Sequence[str]) -> list[str]: ...

    def adapter_metadata(self) -> dict[str, Any]: ...


def select_device(choice: Device) -> torch.device:
    """``auto``: CUDA when present, else CPU; ``cuda`` without a GPU raises."""
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if choice is Device.CPU:
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    if choice is Device.CUDA:
        raise InvalidTrainingConfigError("device 'cuda' requested but no CUDA device is visible")
    return torch.device("cpu")


class LoraSequenceClassifierTrainer:
    """LoRA on a sequence-classification head over any local Hugging Face encoder."""

    def __init__(self, spec: ModelSpec, config: TrainingConfig, *,
                 stream: TextIO | None = None) -> None:
        if spec.task is not TaskKind.SEQUENCE_CLASSIFICATION:
            raise InvalidTrainingConfigError(f"{type(self).__name__} cannot train {spec.task}")
        self.spec, self.config = spec, config
        self._stream = stream
        self._model_dir = resolve_model_dir(spec.model)
        self._device = select_device(config.device)
        self._world = int(os.environ.get("WORLD_SIZE", "1"))
        self._rank = int(os.environ.get("RANK", "0"))
        self.tokenizer = AutoTokenizer.from_pretrained(self._model_dir, local_files_only=True)
        self._label_ids = {label: i for i, label in enumerate(spec.labels)}

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def _bf16(self) -> bool:
        return self.config.bf16_autocast and self._device.type == "cuda"

    def lora_config(self) -> LoraConfig:
        return LoraConfig(
            task_type=TaskType.SEQ_CLS, r=self.config.lora_rank,
            lora_alpha=self.config.lora_alpha, lora_dropout=self.config.lora_dropout,
            target_modules=list(self.config.target_modules),
        )

    def adapter_metadata(self) -> dict[str, Any]:
        """What is needed besides the tensors to rebuild the model (registry metadata)."""
        return {
            "base_model": self.spec.model, "task": self.spec.task.value,
            "labels": list(self.spec.labels), "lora_rank": self.config.lora_rank,
            "lora_alpha": self.config.lora_alpha, "lora_dropout": self.config.lora_dropout,
            "target_modules": list(self.config.target_modules),
            "max_seq_len": self.config.max_seq_len,
        }

    def new_model(self) -> PeftModel:
        """The base model, a fresh head (seeded) and fresh LoRA matrices, on the device."""
        torch.manual_seed(self.config.seed)
        # The base checkpoint has no classification head, so transformers reports the new
        # head as "newly initialized" (and draws a progress bar): expected here, not a warning.
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            base = AutoModelForSequenceClassification.from_pretrained(
                self._model_dir, local_files_only=True, num_labels=len(self.spec.labels),
                id2label=dict(enumerate(self.spec.labels)), label2id=self._label_ids,
            )
        finally:
            hf_logging.set_verbosity(verbosity)
            hf_logging.enable_progress_bar()
        with warnings.catch_warnings():
            # transformers 5 deprecates an attribute that peft still reads; harmless.
            warnings.filterwarnings("ignore", ".*is_gradient_checkpointing.*", FutureWarning)
            model = get_peft_model(base, self.lora_config())
        model.peft_config["default"].base_model_name_or_path = self.spec.model
        return model.to(self._device)

    def load(self, tensors: Mapping[str, np.ndarray]) -> PeftModel:
        """A model with a stored adapter (as from ``ModelRegistry.load_artifact``)."""
        model = self.new_model()
        state = {name: torch.from_numpy(np.asarray(t)) for name, t in tensors.items()}
        result = set_peft_model_state_dict(model, state)
        if result.unexpected_keys:
            raise TrainingError(f"adapter does not fit this model: {result.unexpected_keys[:5]}")
        return model

    def _encode(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        return self._collate(self._tokenize(texts))

    def _tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of every text, truncated to ``max_seq_len`` (one call for all texts)."""
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.config.max_seq_len)
        return [list(ids) for ids in encoded["input_ids"]]

    def _collate(self, rows: Sequence[list[int]]) -> dict[str, torch.Tensor]:
        """Pad a batch to its longest row (right padding) and move it to the device.

        Built in numpy (one row copy each, no per-row tensors); on CUDA the copy goes from
        pinned memory without blocking, so the host prepares the step while the GPU works.
        """
        width = max(len(row) for row in rows)
        ids = np.full((len(rows), width), self.tokenizer.pad_token_id or 0, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = row
            mask[i, :len(row)] = 1
        return {"input_ids": self._to_device(ids), "attention_mask": self._to_device(mask)}

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(array)
        if self._device.type == "cuda":
            return tensor.pin_memory().to(self._device, non_blocking=True)
        return tensor

    def predict(self, model: PeftModel, texts: Sequence[str]) -> list[str]:
        return [label for label, _ in self.classify(model, texts)]

    def classify(self, model: PeftModel, texts: Sequence[str]) -> list[tuple[str, float]]:
        """Each text's most probable label and its softmax probability (the confidence)."""
        model.eval()
        out: list[tuple[str, float]] = []
        with torch.no_grad(), torch.autocast(self._device.type, dtype=torch.bfloat16,
                                             enabled=self._bf16):
            for start in range(0, len(texts), _PREDICT_BATCH):
                logits = model(**self._encode(texts[start:start + _PREDICT_BATCH])).logits
                best = torch.softmax(logits.float(), dim=-1).max(dim=-1)
                out.extend((self.spec.labels[int(i)], float(p))
                           for p, i in zip(best.values.tolist(), best.indices.tolist()))
        return out

    def train(self, examples: Sequence[Example], *, progress: ProgressCallback | None = None,
              checkpoint_dir: Path | None = None) -> TrainedAdapter:
        """Fine-tune a fresh adapter on ``examples``; resumes from ``checkpoint_dir`` if any."""
        if not examples:
            raise TrainingError("no training examples")
        cfg = self.config
        model = self.new_model()
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        first_epoch = _restore(checkpoint_dir, model, optimizer)
        ddp = _wrap_distributed(model, self._device) if self._world > 1 else model
        shard = list(range(self._rank, len(examples), self._world))
        token_ids = self._tokenize([examples[i].text for i in shard])
        label_ids = [self._label_ids[examples[i].label] for i in shard]
        per_epoch = -(-len(shard) // cfg.batch_size)
        total = per_epoch * cfg.epochs
        reporter = ProgressReporter(total, log_every=cfg.log_every_steps, callback=progress,
                                    stream=self._stream, enabled=self._rank == 0)
        step, tokens, loss_value = first_epoch * per_epoch, 0, float("nan")
        started = time.perf_counter()
        try:
            for epoch in range(first_epoch, cfg.epochs):
                order = torch.randperm(len(shard), generator=torch.Generator().manual_seed(
                    cfg.seed * 1000 + epoch)).tolist()
                ddp.train()
                for start in range(0, len(order), cfg.batch_size):
                    picked = order[start:start + cfg.batch_size]
                    loss_value, n_tokens = self._step(
                        ddp, optimizer, [token_ids[i] for i in picked],
                        [label_ids[i] for i in picked])
                    step, tokens = step + 1, tokens + n_tokens
                    reporter.step(step, {"loss": loss_value, "epoch": epoch + 1})
                if checkpoint_dir is not None and self._rank == 0:
                    _save_checkpoint(checkpoint_dir, model, optimizer, epoch + 1)
        finally:
            reporter.close()
        seconds = time.perf_counter() - started
        return TrainedAdapter(model, self._metrics(model, step, len(examples), tokens, seconds,
                                                   loss_value))

    def _step(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
              rows: list[list[int]], label_ids: list[int]) -> tuple[float, int]:
        inputs = self._collate(rows)
        labels = torch.tensor(label_ids, device=self._device)
        with torch.autocast(self._device.type, dtype=torch.bfloat16, enabled=self._bf16):
            loss = model(**inputs, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach()), sum(len(row) for row in rows)  # counted on the host

    def _metrics(self, model: PeftModel, steps: int, examples: int, tokens: int,
                 seconds: float, loss: float) -> TrainMetrics:
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())
        return TrainMetrics(
            steps=steps, epochs=self.config.epochs, examples=examples, tokens=tokens,
            seconds=seconds, tokens_per_s=tokens / seconds if seconds > 0 else 0.0,
            final_loss=loss, trainable_params=trainable, total_params=total,
            trainable_share=trainable / total, adapter_bytes=len(adapter_bytes(model)),
            device=str(self._device), world_size=self._world,
        )


def adapter_state(model: PeftModel) -> dict[str, torch.Tensor]:
    """The adapter's tensors only (LoRA matrices and the head), detached on the CPU."""
    state = get_peft_model_state_dict(model, save_embedding_layers=False)
    return {name: t.detach().cpu().contiguous().clone() for name, t in state.items()}


def adapter_bytes(model: PeftModel) -> bytes:
    """The adapter as safetensors bytes (what the registry stores)."""
    return bytes(save(adapter_state(model)))


def _wrap_distributed(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


_CKPT_ADAPTER, _CKPT_OPTIM, _CKPT_STATE = "adapter.safetensors", "optimizer.pt", "state.json"


def _save_checkpoint(directory: Path, model: PeftModel, optimizer: torch.optim.Optimizer,
                     epochs_done: int) -> None:
    """Atomically replace the checkpoint with the state after ``epochs_done`` epochs."""
    tmp = directory.with_name(directory.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    save_file(adapter_state(model), str(tmp / _CKPT_ADAPTER))
    torch.save(optimizer.state_dict(), tmp / _CKPT_OPTIM)
    (tmp / _CKPT_STATE).write_text(json.dumps({"epochs_done": epochs_done}))
    if directory.exists():
        old = directory.with_name(directory.name + ".old")
        os.replace(directory, old)
        os.replace(tmp, directory)
        for child in old.iterdir():
            child.unlink()
        old.rmdir()
    else:
        os.replace(tmp, directory)


def _restore(directory: Path | None, model: PeftModel, optimizer: torch.optim.Optimizer) -> int:
    """Epochs already done according to the checkpoint in ``directory`` (0 if none)."""
    if directory is None or not (directory / _CKPT_STATE).is_file():
        return 0
    set_peft_model_state_dict(model, load_file(str(directory / _CKPT_ADAPTER),
                                               device=str(next(model.parameters()).device)))
    optimizer.load_state_dict(torch.load(directory / _CKPT_OPTIM, weights_only=True))
    return int(json.loads((directory / _CKPT_STATE).read_text())["epochs_done"])
