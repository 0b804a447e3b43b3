"""statcore: Loopwise's streaming statistics core (compiled Rust, see ``statcore/core``)."""

from statcore import _statcore
from statcore.errors import (
    CodecError,
    IncompatibleError,
    InvalidInputError,
    NotFoundError,
    StaleGenerationError,
    StatcoreError,
    StoreError,
    StoreFullError,
    UnknownModelTypeError,
)
from statcore._statcore import Sample, Store

__version__: str = _statcore.__version__

__all__ = [
    "CodecError",
    "IncompatibleError",
    "InvalidInputError",
    "NotFoundError",
    "Sample",
    "StaleGenerationError",
    "StatcoreError",
    "Store",
    "StoreError",
    "StoreFullError",
    "UnknownModelTypeError",
]
