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


#: Characters of client-sent text quoted in an error message (the rest is summarised by length).
EXCERPT_CHARS = 64
#: Longest status message sent back: gRPC carries it in a header, which clients cap (8 KiB by
#: default, and percent-encoding can triple non-ASCII bytes), so a longer message would reach
#: the client as RESOURCE_EXHAUSTED instead of the reason.
MAX_MESSAGE_CHARS = 512


def excerpt(value: str | bytes, limit: int = EXCERPT_CHARS) -> str:
    """A bounded quotation of client-sent text for an error message: its first ``limit``
    characters, and its length when it is longer.

    >>> excerpt("r-17")
    "'r-17'"
    >>> excerpt("x" * 100, limit=4)
    "'xxxx'... (100 chars)"
    >>> excerpt(b"\\x00ab")
    "b'\\\\x00ab'"
    """
    if len(value) <= limit:
        return repr(value)
    unit = "bytes" if isinstance(value, bytes) else "chars"
    return f"{value[:limit]!r}... ({len(value)} {unit})"


def bounded(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``message`` cut to ``limit`` characters (a note gives the full length).

    >>> bounded("abcdef", limit=3)
    'abc... (6 chars in all)'
    """
    if len(message) <= limit:
        return message
    return f"{message[:limit]}... ({len(message)} chars in all)"
