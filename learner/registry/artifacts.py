"""Turning a model object into safetensors bytes (never pickle).

Accepted models:

* a mapping of tensor name -> ``numpy.ndarray``;
* a path to a ``.safetensors`` file or to a directory of them (shards are merged into one
  file at the byte level, so any dtype, bfloat16 included, is kept as is);
* a peft model: only the adapter weights are stored, and its base model becomes lineage;
* a torch ``nn.Module``: its ``state_dict``.

torch and peft are never imported here: they are looked up in ``sys.modules``, so an object can
only be a torch module if the caller has already imported torch.
"""

from __future__ import annotations

import enum
import json
import os
import struct
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load as load_numpy
from safetensors.numpy import save as save_numpy

from learner.registry.errors import ArtifactIntegrityError, UnsupportedModelError

__all__ = ["ArtifactKind", "Artifact", "serialize_model", "deserialize", "merge_safetensors"]

_HEADER_LEN = struct.Struct("<Q")
_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1,
    "U16": 2, "I16": 2, "F16": 2, "BF16": 2,
    "U32": 4, "I32": 4, "F32": 4,
    "U64": 8, "I64": 8, "F64": 8,
}
_MAX_HEADER = 100 * 1024 * 1024


class ArtifactKind(enum.Enum):
    """What the stored tensors are."""

    NUMPY = "numpy"
    SAFETENSORS = "safetensors"
    TORCH_STATE_DICT = "torch_state_dict"
    PEFT_ADAPTER = "peft_adapter"


@dataclass(frozen=True)
class Artifact:
    """Serialised tensors plus what the registry learns from the object."""

    data: bytes
    kind: ArtifactKind
    base_model: str | None = None


def serialize_model(model: object) -> Artifact:
    """Safetensors bytes for ``model``; raises :class:`UnsupportedModelError` otherwise."""
    if isinstance(model, (str, os.PathLike)):
        return Artifact(_from_path(Path(model)), ArtifactKind.SAFETENSORS)
    if isinstance(model, Mapping):
        return Artifact(_from_numpy(model), ArtifactKind.NUMPY)
    peft = sys.modules.get("peft")
    if peft is not None and isinstance(model, peft.PeftModel):  # pragma: no cover - needs peft
        return _from_peft(model)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):  # pragma: no cover - needs torch
        return Artifact(_torch_bytes(model.state_dict()), ArtifactKind.TORCH_STATE_DICT)
    raise UnsupportedModelError(
        f"cannot store a {type(model).__name__}: pass a torch module, a peft model, a path to "
        "safetensors files, or a mapping of name -> numpy array"
    )


def deserialize(data: bytes) -> dict[str, np.ndarray]:
    """Tensors from safetensors bytes (callers verify the digest first).

    numpy has no bfloat16: BF16 tensors (a bf16 torch model's state dict) come back as
    float32, which holds every bfloat16 value exactly.
    """
    try:
        header, _ = _parse(data)
    except UnsupportedModelError as exc:
        raise ArtifactIntegrityError(f"artifact is not loadable safetensors: {exc}") from exc
    if any(isinstance(info, dict) and info.get("dtype") == "BF16" for info in header.values()):
        return _load_with_bf16(data)
    try:
        return dict(load_numpy(data))
    except Exception as exc:  # safetensors raises its own SafetensorError / ValueError
        raise ArtifactIntegrityError(f"artifact is not loadable safetensors: {exc}") from exc


_NUMPY_DTYPES = {
    "BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "U16": np.uint16, "I16": np.int16,
    "F16": np.float16, "U32": np.uint32, "I32": np.int32, "F32": np.float32,
    "U64": np.uint64, "I64": np.int64, "F64": np.float64,
}


def _load_with_bf16(blob: bytes) -> dict[str, np.ndarray]:
    try:
        header, data = _parse(blob)
        header.pop("__metadata__", None)
        out: dict[str, np.ndarray] = {}
        for name, info in header.items():
            start, end = _check_entry(name, info, len(data))
            shape = [int(dim) for dim in info["shape"]]
            raw = data[start:end]
            if info["dtype"] == "BF16":  # the upper half of a float32
                bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
                out[name] = bits.view(np.float32).reshape(shape)
            elif info["dtype"] in _NUMPY_DTYPES:
                dtype = np.dtype(_NUMPY_DTYPES[info["dtype"]]).newbyteorder("<")
                out[name] = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
            else:
                raise UnsupportedModelError(f"tensor {name!r} has dtype {info['dtype']}")
        return out
    except UnsupportedModelError as exc:
        raise ArtifactIntegrityError(f"artifact is not loadable safetensors: {exc}") from exc


def _from_numpy(tensors: Mapping[Any, Any]) -> bytes:
    if not tensors:
        raise UnsupportedModelError("a model needs at least one tensor")
    arrays: dict[str, np.ndarray] = {}
    for name, value in tensors.items():
        if not isinstance(name, str) or not name:
            raise UnsupportedModelError(f"tensor names must be non-empty strings, got {name!r}")
        if not isinstance(value, np.ndarray):
            raise UnsupportedModelError(
                f"tensor {name!r} is a {type(value).__name__}, expected numpy.ndarray"
            )
        if value.dtype == object:
            raise UnsupportedModelError(f"tensor {name!r} has dtype object")
        arrays[name] = np.ascontiguousarray(value)
    return bytes(save_numpy(arrays))


def _from_path(path: Path) -> bytes:
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(path.glob("*.safetensors"))
    else:
        raise UnsupportedModelError(f"no such file or directory: {path}")
    if not files:
        raise UnsupportedModelError(f"no .safetensors files in {path}")
    return merge_safetensors([file.read_bytes() for file in files])


def _parse(blob: bytes) -> tuple[dict[str, Any], memoryview]:
    if len(blob) < _HEADER_LEN.size:
        raise UnsupportedModelError("not a safetensors file: too short")
    (size,) = _HEADER_LEN.unpack_from(blob)
    if size > _MAX_HEADER or _HEADER_LEN.size + size > len(blob):
        raise UnsupportedModelError("not a safetensors file: bad header length")
    try:
        header = json.loads(blob[_HEADER_LEN.size:_HEADER_LEN.size + size])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnsupportedModelError(f"not a safetensors file: {exc}") from None
    if not isinstance(header, dict):
        raise UnsupportedModelError("not a safetensors file: header is not an object")
    return header, memoryview(blob)[_HEADER_LEN.size + size:]


def _check_entry(name: str, info: Any, available: int) -> tuple[int, int]:
    try:
        start, end = (int(x) for x in info["data_offsets"])
        width = _DTYPE_BYTES[info["dtype"]]
        count = int(np.prod([int(dim) for dim in info["shape"]], dtype=np.int64))
    except (KeyError, TypeError, ValueError):
        raise UnsupportedModelError(f"tensor {name!r} has a malformed header entry") from None
    if not 0 <= start <= end <= available or end - start != count * width:
        raise UnsupportedModelError(f"tensor {name!r} has offsets that do not match its shape")
    return start, end


def merge_safetensors(blobs: list[bytes]) -> bytes:
    """Validate safetensors blobs and merge them into one (tensor names must not collide)."""
    header: dict[str, Any] = {}
    metadata: dict[str, str] = {}
    chunks: list[memoryview] = []
    offset = 0
    for blob in blobs:
        part, data = _parse(blob)
        metadata.update(part.pop("__metadata__", None) or {})
        checked = {name: _check_entry(name, info, len(data)) for name, info in part.items()}
        entries = sorted(part.items(), key=lambda item: checked[item[0]][0])
        for name, info in entries:
            if name in header:
                raise UnsupportedModelError(f"tensor {name!r} appears in more than one file")
            start, end = _check_entry(name, info, len(data))
            chunks.append(data[start:end])
            header[name] = {
                "dtype": info["dtype"],
                "shape": info["shape"],
                "data_offsets": [offset, offset + end - start],
            }
            offset += end - start
    if metadata:
        header["__metadata__"] = metadata
    encoded = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    encoded += b" " * (-len(encoded) % 8)
    return b"".join([_HEADER_LEN.pack(len(encoded)), encoded, *chunks])


def _from_peft(model: Any) -> Artifact:  # pragma: no cover - needs torch and peft
    from peft import get_peft_model_state_dict  # type: ignore[import-not-found,unused-ignore]

    adapter = getattr(model, "active_adapter", "default")
    config = model.peft_config[adapter]
    # save_embedding_layers=False: only the adapter, and no hub look-up of the base config.
    tensors = get_peft_model_state_dict(model, adapter_name=adapter, save_embedding_layers=False)
    base = getattr(config, "base_model_name_or_path", None)
    return Artifact(_torch_bytes(tensors), ArtifactKind.PEFT_ADAPTER, base_model=base or None)


def _torch_bytes(state: Mapping[str, Any]) -> bytes:  # pragma: no cover - needs torch
    from safetensors.torch import save as save_torch

    # clone() breaks storage sharing (tied weights), which safetensors refuses.
    tensors = {name: t.detach().cpu().contiguous().clone() for name, t in state.items()}
    if not tensors:
        raise UnsupportedModelError("a model needs at least one tensor")
    return bytes(save_torch(tensors))
