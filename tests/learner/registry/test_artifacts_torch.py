"""Artifacts of real torch and peft objects (the train extra is installed by ``make build``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from learner.registry import ArtifactKind, ModelRegistry
from learner.registry.artifacts import deserialize, serialize_model

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

_PEFT_FUTURE = "ignore:.*is_gradient_checkpointing.*:FutureWarning"


def test_bf16_state_dict_loads_as_float32() -> None:
    torch.manual_seed(0)
    module = torch.nn.Linear(4, 3).to(torch.bfloat16)
    artifact = serialize_model(module)
    assert artifact.kind is ArtifactKind.TORCH_STATE_DICT
    loaded = deserialize(artifact.data)
    assert loaded["weight"].dtype == np.float32 and loaded["weight"].shape == (3, 4)
    np.testing.assert_array_equal(loaded["weight"], module.weight.detach().float().numpy())
    np.testing.assert_array_equal(loaded["bias"], module.bias.detach().float().numpy())


def _tiny_peft_classifier(seed: int) -> object:
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, num_labels=3,
    )
    base = transformers.BertForSequenceClassification(config)
    lora = peft.LoraConfig(task_type=peft.TaskType.SEQ_CLS, r=4, lora_alpha=8,
                           target_modules=["query", "value"], init_lora_weights=False)
    model = peft.get_peft_model(base, lora)
    model.peft_config["default"].base_model_name_or_path = "tiny-bert"
    return model


@pytest.mark.filterwarnings(_PEFT_FUTURE)
def test_peft_adapter_round_trips_through_the_registry(tmp_path: Path) -> None:
    model = _tiny_peft_classifier(seed=1)
    with ModelRegistry(tmp_path / "reg") as registry:
        model_id = registry.register_model(model, "clf", "doc_type")
        record = registry.get_model(model_id)
        tensors = registry.load_artifact(model_id)
    assert record.lineage.base_model == "tiny-bert"
    assert record.artifact_kind == ArtifactKind.PEFT_ADAPTER.value
    # only the adapter (LoRA matrices and the trained head), never the frozen base
    assert all("lora_" in name or "classifier" in name for name in tensors)
    ids = torch.tensor([[1, 2, 3, 4]])
    model.eval()
    # a fresh copy of the same base plus the stored adapter reproduces the model
    again = _tiny_peft_classifier(seed=1)
    peft.set_peft_model_state_dict(again, {k: torch.from_numpy(v) for k, v in tensors.items()})
    again.eval()
    with torch.no_grad():
        torch.testing.assert_close(again(input_ids=ids).logits, model(input_ids=ids).logits)
