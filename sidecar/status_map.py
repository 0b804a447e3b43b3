"""The one table from errors to gRPC status codes, and the helper servicers use to apply it.

statcore's exceptions are first classified into a ``Rejected`` (reason + field) by
``classify``; ``STATUS`` then gives the code for each reason.
"""

from __future__ import annotations

import re
from typing import NoReturn

import grpc

from sidecar.errors import Rejected, RejectReason
from statcore import errors as sc

#: gRPC status code per rejection reason.
STATUS: dict[RejectReason, grpc.StatusCode] = {
    RejectReason.INVALID_NUMBER: grpc.StatusCode.INVALID_ARGUMENT,
    RejectReason.EMPTY_ID: grpc.StatusCode.INVALID_ARGUMENT,
    RejectReason.UNKNOWN_MODEL_TYPE: grpc.StatusCode.INVALID_ARGUMENT,
    RejectReason.OVERSIZED: grpc.StatusCode.INVALID_ARGUMENT,
    RejectReason.MALFORMED: grpc.StatusCode.INVALID_ARGUMENT,
    RejectReason.DUPLICATE_ID: grpc.StatusCode.INVALID_ARGUMENT,
    RejectReason.OUT_OF_RANGE: grpc.StatusCode.INVALID_ARGUMENT,
    RejectReason.INCOMPATIBLE: grpc.StatusCode.INVALID_ARGUMENT,
    RejectReason.UNKNOWN_REQUEST: grpc.StatusCode.NOT_FOUND,
    RejectReason.STALE_GENERATION: grpc.StatusCode.FAILED_PRECONDITION,
    RejectReason.STORE_FULL: grpc.StatusCode.RESOURCE_EXHAUSTED,
    RejectReason.STORE_FAILURE: grpc.StatusCode.UNAVAILABLE,
    RejectReason.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
}

#: statcore exception type -> reason; the first matching entry wins (subclasses first).
_STATCORE_REASONS: tuple[tuple[type[BaseException], RejectReason], ...] = (
    (sc.UnknownModelTypeError, RejectReason.UNKNOWN_MODEL_TYPE),
    (sc.IncompatibleError, RejectReason.INCOMPATIBLE),
    (sc.InvalidInputError, RejectReason.MALFORMED),
    (sc.StaleGenerationError, RejectReason.STALE_GENERATION),
    (sc.CodecError, RejectReason.MALFORMED),
    (sc.NotFoundError, RejectReason.UNKNOWN_REQUEST),
    (sc.StoreFullError, RejectReason.STORE_FULL),
    (sc.StoreError, RejectReason.STORE_FAILURE),
)

_FIELD = re.compile(r'^(?:invalid )?([A-Za-z_][\w\[\]".]*): ')


def classify(exc: BaseException) -> Rejected | None:
    """The ``Rejected`` for a domain or statcore error; ``None`` for anything else (a bug)."""
    if isinstance(exc, Rejected):
        return exc
    for kind, reason in _STATCORE_REASONS:
        if isinstance(exc, kind):
            text = str(exc)
            m = _FIELD.match(text)
            field = m.group(1) if m else ""
            if reason is RejectReason.UNKNOWN_MODEL_TYPE:
                field = "model_type"
            return Rejected(reason, field, text)
    return None


def abort(context: grpc.ServicerContext, rejected: Rejected) -> NoReturn:
    """Ends the RPC with the code for ``rejected`` and its message (field named)."""
    context.abort(STATUS[rejected.reason], str(rejected))
    raise AssertionError("context.abort returned")  # pragma: no cover
