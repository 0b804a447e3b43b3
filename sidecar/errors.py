"""Domain errors of the sidecar. Each carries a ``RejectReason`` (a metric label) and the
offending field; ``sidecar.status_map`` maps them, and statcore's errors, to gRPC codes."""

from __future__ import annotations

import enum


class RejectReason(enum.Enum):
    """Why a request was refused (the ``reason`` label of the rejected-requests counter)."""

    INVALID_NUMBER = "invalid_number"
    EMPTY_ID = "empty_id"
    UNKNOWN_MODEL_TYPE = "unknown_model_type"
    OVERSIZED = "oversized"
    MALFORMED = "malformed"
    DUPLICATE_ID = "duplicate_id"
    OUT_OF_RANGE = "out_of_range"
    UNKNOWN_REQUEST = "unknown_request"
    STALE_GENERATION = "stale_generation"
    INCOMPATIBLE = "incompatible"
    STORE_FULL = "store_full"
    STORE_FAILURE = "store_failure"
    UNAUTHENTICATED = "unauthenticated"


class Rejected(Exception):
    """A request refused as a whole; nothing from it reached the statistics."""

    def __init__(self, reason: RejectReason, field: str, detail: str) -> None:
        self.reason = reason
        self.field = field
        self.detail = detail
        super().__init__(f"{field}: {detail}" if field else detail)
