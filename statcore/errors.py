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
    "BatchRejectedError",
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


class BatchRejectedError(InvalidInputError):
    """A serialized record batch refused as a whole: ``reason`` (the sidecar's reject reason,
    e.g. ``"invalid_number"``), the ``field`` (e.g. ``"confidence[3]"``) and a ``detail``."""

    def __init__(self, reason: str, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}" if field else detail)
        self.reason, self.field, self.detail = reason, field, detail
