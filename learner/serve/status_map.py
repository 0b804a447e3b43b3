"""The one table from domain errors to gRPC status codes (first match wins: subclasses first)."""

from __future__ import annotations

import concurrent.futures

import grpc

from learner.errors import FleetError, InvalidInputError, LearnerError
from learner.registry import errors as reg
from learner.serve.runner import LearnerUnavailableError

__all__ = ["STATUS", "status_of"]

STATUS: tuple[tuple[type[BaseException], grpc.StatusCode], ...] = (
    (LearnerUnavailableError, grpc.StatusCode.UNAVAILABLE),
    (FleetError, grpc.StatusCode.UNAVAILABLE),
    (concurrent.futures.TimeoutError, grpc.StatusCode.DEADLINE_EXCEEDED),
    (reg.InvalidTransitionError, grpc.StatusCode.FAILED_PRECONDITION),
    (reg.LedgerError, grpc.StatusCode.FAILED_PRECONDITION),
    (InvalidInputError, grpc.StatusCode.INVALID_ARGUMENT),
    (LookupError, grpc.StatusCode.NOT_FOUND),  # unknown model, test, type; no champion
    (ValueError, grpc.StatusCode.INVALID_ARGUMENT),  # bad names, versions, statuses, methods
    (reg.RegistryError, grpc.StatusCode.INTERNAL),
    (LearnerError, grpc.StatusCode.INTERNAL),
)


def status_of(exc: BaseException) -> grpc.StatusCode | None:
    """The status for a domain error; ``None`` for anything else (a bug: logged, INTERNAL)."""
    for kind, code in STATUS:
        if isinstance(exc, kind):
            return code
    return None
