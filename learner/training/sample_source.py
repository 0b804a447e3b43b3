"""Where samples come from: a small interface over a sidecar's durable sample log.

``SampleSource`` is what the learner needs from a sidecar (``PullSamples`` / ``AckSamples``);
the gRPC client implements it too. :class:`StatcoreStoreSource` reads a ``statcore.Store``
directly (the sidecar's LMDB log), which is what tests and single-host setups use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import statcore

__all__ = ["RawSample", "SampleSource", "StatcoreStoreSource"]


@dataclass(frozen=True)
class RawSample:
    """One logged prediction as a sidecar stores it (bytes undecoded)."""

    seq: int
    ts_ms: int
    model_type: str
    model_id: str
    request_id: str
    document_id: str
    payload: bytes
    prediction: bytes
    confidence: float
    label: bytes | None
    human_correction: bool


class SampleSource(Protocol):
    """A sidecar's sample log, read in seq order and acknowledged once stored elsewhere."""

    def pull(self, after_seq: int, limit: int) -> list[RawSample]:
        """Up to ``limit`` samples with seq > ``after_seq``, in seq order."""
        ...

    def ack(self, seq: int) -> None:
        """Everything up to ``seq`` is durably stored by the caller; the log may drop it."""
        ...


class StatcoreStoreSource:
    """:class:`SampleSource` over a ``statcore.Store``."""

    def __init__(self, store: statcore.Store) -> None:
        self._store = store

    def pull(self, after_seq: int, limit: int) -> list[RawSample]:
        return [
            RawSample(
                seq=s.seq, ts_ms=s.ts_ms, model_type=s.model_type, model_id=s.model_id,
                request_id=s.request_id, document_id=s.document_id, payload=s.payload,
                prediction=s.prediction, confidence=s.confidence, label=s.label,
                human_correction=s.human_correction,
            )
            for s in self._store.pull(after_seq, limit)
        ]

    def ack(self, seq: int) -> None:
        self._store.ack(seq)
