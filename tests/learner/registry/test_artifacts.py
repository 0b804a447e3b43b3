from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load, save_file

from learner.registry import ArtifactIntegrityError, ArtifactKind, UnsupportedModelError
from learner.registry.artifacts import deserialize, merge_safetensors, serialize_model


def test_numpy_mapping_round_trips() -> None:
    model = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 2], np.int8)}
    artifact = serialize_model(model)
    assert artifact.kind is ArtifactKind.NUMPY and artifact.base_model is None
    loaded = deserialize(artifact.data)
    assert set(loaded) == {"w", "b"}
    np.testing.assert_array_equal(loaded["w"], model["w"])
    assert loaded["b"].dtype == np.int8


def test_same_tensors_give_same_bytes() -> None:
    a = serialize_model({"x": np.ones(3), "y": np.zeros(2)})
    b = serialize_model({"y": np.zeros(2), "x": np.ones(3)})
    assert a.data == b.data


def test_safetensors_directory_shards_are_merged(tmp_path: Path) -> None:
    save_file({"layer1.w": np.ones((2, 2), np.float32)}, str(tmp_path / "model-00001.safetensors"),
              metadata={"format": "np"})
    save_file({"layer2.w": np.full((3,), 7, np.float16), "layer2.b": np.zeros(1, np.uint8)},
              str(tmp_path / "model-00002.safetensors"))
    (tmp_path / "README.md").write_text("ignored")
    artifact = serialize_model(tmp_path)
    assert artifact.kind is ArtifactKind.SAFETENSORS
    loaded = load(artifact.data)
    assert sorted(loaded) == ["layer1.w", "layer2.b", "layer2.w"]
    np.testing.assert_array_equal(loaded["layer2.w"], np.full((3,), 7, np.float16))
    assert serialize_model(str(tmp_path)).data == artifact.data


def test_single_safetensors_file(tmp_path: Path) -> None:
    save_file({"w": np.eye(3, dtype=np.float64)}, str(tmp_path / "adapter.safetensors"))
    loaded = load(serialize_model(tmp_path / "adapter.safetensors").data)
    np.testing.assert_array_equal(loaded["w"], np.eye(3))


def test_bfloat16_bytes_are_kept_without_numpy_support() -> None:
    # numpy has no bfloat16; the byte-level merge keeps such tensors intact.
    header = b'{"h":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}'
    blob = len(header).to_bytes(8, "little") + header + b"\x80\x3f\x00\x40"
    merged = merge_safetensors([blob])
    assert merged.endswith(b"\x80\x3f\x00\x40") and b'"BF16"' in merged


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({}, "at least one tensor"),
        ({"w": [1, 2]}, "expected numpy.ndarray"),
        ({1: np.ones(1)}, "non-empty strings"),
        ({"w": np.array([object()])}, "dtype object"),
        (object(), "cannot store a object"),
        (3.5, "cannot store a float"),
    ],
)
def test_unsupported_models(model: object, message: str) -> None:
    with pytest.raises(UnsupportedModelError, match=message) as info:
        serialize_model(model)
    assert isinstance(info.value, TypeError)


def test_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedModelError, match="no such file"):
        serialize_model(tmp_path / "missing")
    with pytest.raises(UnsupportedModelError, match="no .safetensors files"):
        serialize_model(tmp_path)
    (tmp_path / "fake.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00nope!")
    with pytest.raises(UnsupportedModelError, match="not a safetensors file"):
        serialize_model(tmp_path)


def test_shape_and_offsets_must_agree() -> None:
    header = b'{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,4]}}'
    blob = len(header).to_bytes(8, "little") + header + b"\x00" * 4
    with pytest.raises(UnsupportedModelError, match="do not match its shape"):
        merge_safetensors([blob])


def test_duplicate_tensor_names_across_shards(tmp_path: Path) -> None:
    save_file({"w": np.ones(1)}, str(tmp_path / "a.safetensors"))
    save_file({"w": np.zeros(1)}, str(tmp_path / "b.safetensors"))
    with pytest.raises(UnsupportedModelError, match="more than one file"):
        serialize_model(tmp_path)


def test_deserialize_refuses_garbage() -> None:
    with pytest.raises(ArtifactIntegrityError, match="not loadable"):
        deserialize(b"\x00" * 3)


def test_importing_learner_does_not_import_torch() -> None:
    code = (
        "import sys, numpy as np, learner; from learner.registry.artifacts import serialize_model;"
        "serialize_model({'w': np.ones(1)});"
        "assert 'torch' not in sys.modules and 'peft' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
