"""statcore: Loopwise's streaming statistics core (compiled Rust, see ``statcore/core``)."""

from statcore import _statcore
from statcore.errors import (
    CodecError,
    IncompatibleError,
    InvalidInputError,
    StaleGenerationError,
    StatcoreError,
    StoreError,
    StoreFullError,
    UnknownModelTypeError,
)

__version__: str = _statcore.__version__

__all__ = [
    "CodecError",
    "IncompatibleError",
    "InvalidInputError",
    "StaleGenerationError",
    "StatcoreError",
    "StoreError",
    "StoreFullError",
    "UnknownModelTypeError",
]
