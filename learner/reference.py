"""Reference data for baselines, read from a directory of safetensors files.

When a model becomes champion the learner computes bin edges and reference histograms from
its reference data (:meth:`learner.ContinuousLearner.set_baseline`). ``ReferenceDirectory``
supplies that data in a service: ``<model_id>.safetensors`` if present, else
``<model_type>.safetensors``, each holding one 1-D tensor per feature (safetensors only:
never pickle).

>>> import tempfile, numpy as np
>>> from safetensors.numpy import save_file
>>> root = tempfile.mkdtemp()
>>> save_file({"amount": np.arange(5.0)}, f"{root}/invoices.safetensors")
>>> ReferenceDirectory(root)("invoices", "invoices_1.0.0")["amount"].tolist()
[0.0, 1.0, 2.0, 3.0, 4.0]
>>> ReferenceDirectory(root)("receipts", "receipts_1.0.0") is None
True
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from safetensors.numpy import load_file

__all__ = ["ReferenceDirectory"]


class ReferenceDirectory:
    """``reference(model_type, model_id)`` → feature columns, or ``None`` when there are none."""

    def __init__(self, root: str | Path) -> None:
        self._root = Path(root)

    def __call__(self, model_type: str, model_id: str) -> dict[str, NDArray[np.float64]] | None:
        for name in (model_id, model_type):
            if not name or "/" in name or "\\" in name or name.startswith("."):
                raise ValueError(f"invalid reference name {name!r}")
            path = self._root / f"{name}.safetensors"
            if path.is_file():
                tensors = load_file(str(path))
                bad = [k for k, v in tensors.items() if v.ndim != 1]
                if bad:
                    raise ValueError(f"{path}: reference features must be 1-D arrays ({bad} are not)")
                return {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in tensors.items()}
        return None
