"""Type stubs for the compiled ``statcore._statcore`` module (checked with mypy.stubtest)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__version__: str

# ---- routing (routing.rs) ----

# ---- aggregates (aggregate.rs) ----

# ---- statistics (stats.rs) ----

# ---- store (store.rs) ----
