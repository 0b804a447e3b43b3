"""The one table from errors to gRPC status codes, and the helper servicers use to apply it.

Domain errors are ``Rejected`` (reason + field + detail, carried as attributes); statcore's
exceptions are classified by type into a ``Rejected`` by ``classify`` (the field comes from the
exception's ``field`` attribute where it has one: a message string is never parsed);
``STATUS`` then gives the code for each reason. Anything else is a bug (INTERNAL, logged).
Status messages are bounded (``sidecar.errors.bounded``), and the reason travels in the
``loopwise-reason`` trailing metadata so clients need not parse messages either.
"""

from __future__ import annotations

from typing import NoReturn

import grpc

from sidecar.errors import Rejected, RejectReason, bounded
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

#: Trailing-metadata key carrying the ``RejectReason`` value of a refused call.
REASON_KEY = "loopwise-reason"


def classify(exc: BaseException) -> Rejected | None:
    """The ``Rejected`` for a domain or statcore error; ``None`` for anything else (a bug)."""
    if isinstance(exc, Rejected):
        return exc
    for kind, reason in _STATCORE_REASONS:
        if isinstance(exc, kind):
            field = "model_type" if reason is RejectReason.UNKNOWN_MODEL_TYPE else ""
            field = str(getattr(exc, "field", "") or field)
            return Rejected(reason, "", str(exc)) if not field else _with_field(reason, field, exc)
    return None


def _with_field(reason: RejectReason, field: str, exc: BaseException) -> Rejected:
    detail = str(getattr(exc, "detail", "") or exc)
    prefix = f"{field}: "
    return Rejected(reason, field, detail[len(prefix):] if detail.startswith(prefix) else detail)


def abort(context: grpc.ServicerContext, rejected: Rejected) -> NoReturn:
    """Ends the RPC with the code for ``rejected`` and its (bounded) message, field named."""
    context.set_trailing_metadata(((REASON_KEY, rejected.reason.value),))
    context.abort(STATUS[rejected.reason], bounded(str(rejected)))
    raise AssertionError("context.abort returned")  # pragma: no cover
