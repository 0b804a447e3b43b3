"""Typed exceptions raised by statcore.

Every error raised by the compiled core is one of these. Bad input also subclasses
``ValueError`` and storage failures subclass ``OSError``, so existing handlers keep working.
"""

from __future__ import annotations

__all__ = [
    "StatcoreError",
    "InvalidInputError",
    "UnknownModelTypeError",
    "StaleGenerationError",
    "IncompatibleError",
    "CodecError",
    "NotFoundError",
    "StoreError",
    "StoreFullError",
]


class StatcoreError(Exception):
    """Base class of every statcore error."""


class InvalidInputError(StatcoreError, ValueError):
    """NaN/inf where a number is required, negative latency, mismatched lengths, empty ids."""


class UnknownModelTypeError(InvalidInputError):
    """A model type the routing table or aggregate does not know."""


class StaleGenerationError(StatcoreError):
    """A routing table whose generation is lower than the one in force."""


class IncompatibleError(InvalidInputError):
    """Aggregates or histograms with different layouts (bin edges, caps) cannot be combined."""


class CodecError(StatcoreError, ValueError):
    """Bytes that do not decode: wrong magic, unsupported version, truncated or corrupt."""


class NotFoundError(StatcoreError, LookupError):
    """A record looked up by key is not stored (e.g. no sample for a request id)."""


class StoreError(StatcoreError, OSError):
    """A storage (LMDB) failure."""


class StoreFullError(StoreError):
    """The LMDB map reached its configured maximum size and could not grow."""
