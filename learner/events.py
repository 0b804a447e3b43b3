"""The loop's one typed event stream: every decision, numbered, durable, and fanned out.

Each :class:`LoopEvent` is appended to an :class:`EventStore` — in the learner, the registry's
database, inside the same transaction as the change it records — and then handed to the
subscribers: the Prometheus metrics, the notifier (logs, webhooks), and anyone following
``learner events``. History, counters, the weekly report's timeline and ``ListEvents`` are all
read back from the store, so they survive a restart; ``--after SEQ`` works across restarts
because sequence numbers come from the database.

>>> log = EventLog(MemoryEventStore(), clock=lambda: 5.0)
>>> seen = []
>>> log.subscribe(seen.append)
>>> for kind in (EventKind.DRIFT, EventKind.RETRAINING, EventKind.AB_TEST):
...     _ = log.emit(kind, "clf", kind.value)
>>> [(e.seq, e.kind.value) for e in log.after(1)]
[(2, 'retraining'), (3, 'ab_test')]
>>> log.last_seq, len(seen)
(3, 3)
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

from learner.named_enum import NamedEnum

__all__ = ["EventKind", "LoopEvent", "EventStore", "MemoryEventStore", "EventLog", "Subscriber",
           "details_json"]

log = logging.getLogger(__name__)


class EventKind(NamedEnum):
    """What a loop event is about (the one enum: metrics, history, report and API use it)."""

    DRIFT = "drift"
    RETRAINING = "retraining"
    AB_TEST = "ab_test"
    PROMOTION = "promotion"
    ROLLBACK = "rollback"
    HEALTH = "health"
    REPORT = "report"
    ROUTING = "routing"  # a routing push that some live sidecar missed or refused


@dataclass(frozen=True)
class LoopEvent:
    """One event: sequence number (from 1), time (Unix seconds), kind, model type, the model or
    job it concerns (``subject``), one line for people and the evidence."""

    seq: int
    at: float
    kind: EventKind
    model_type: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)
    subject: str = ""


def details_json(details: Mapping[str, Any] | None) -> str:
    """The evidence as JSON (numbers that JSON cannot hold become strings)."""
    return json.dumps(dict(details or {}), sort_keys=True, default=str)


class EventStore(Protocol):
    """Where events are appended and read back (the loop store, or memory)."""

    def append_event(self, tx: Any, at: float, kind: EventKind, model_type: str, subject: str,
                     message: str, details: Mapping[str, Any]) -> LoopEvent: ...

    def events_after(self, seq: int, limit: int | None = None) -> list[LoopEvent]: ...

    def last_event_seq(self) -> int: ...

    def write(self) -> Any:
        """A context manager: one write transaction (its value is passed as ``tx``)."""
        ...


class MemoryEventStore:
    """Events in memory (for the seed's stand-alone objects and tests); thread-safe."""

    def __init__(self) -> None:
        self._events: list[LoopEvent] = []
        self._lock = threading.Lock()

    def append_event(self, tx: Any, at: float, kind: EventKind, model_type: str, subject: str,
                     message: str, details: Mapping[str, Any]) -> LoopEvent:
        with self._lock:
            event = LoopEvent(len(self._events) + 1, at, kind, model_type, message,
                              dict(details), subject)
            self._events.append(event)
        return event

    def events_after(self, seq: int, limit: int | None = None) -> list[LoopEvent]:
        with self._lock:
            out = self._events[max(0, seq):]
        return out if limit is None else out[:limit]

    def last_event_seq(self) -> int:
        with self._lock:
            return len(self._events)

    def write(self) -> Any:
        return nullcontext(None)


Subscriber = Callable[[LoopEvent], None]


class EventLog:
    """Appends events to a store and delivers them to subscribers once committed."""

    def __init__(self, store: EventStore, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def append(self, tx: Any, kind: EventKind, model_type: str, message: str,
               details: Mapping[str, Any] | None = None, *, subject: str = "") -> LoopEvent:
        """Append inside the caller's transaction ``tx``; call :meth:`publish` after commit."""
        return self._store.append_event(tx, self._clock(), kind, model_type, subject, message,
                                        dict(details or {}))

    def publish(self, *events: LoopEvent) -> None:
        """Hand committed events to every subscriber (a failing subscriber is logged)."""
        for event in events:
            for subscriber in self._subscribers:
                try:
                    subscriber(event)
                except Exception:
                    log.exception("event subscriber failed on %s #%d", event.kind.value, event.seq)

    def emit(self, kind: EventKind, model_type: str, message: str,
             details: Mapping[str, Any] | None = None, *, subject: str = "") -> LoopEvent:
        """Append in a transaction of its own and publish."""
        with self._store.write() as tx:
            event = self.append(tx, kind, model_type, message, details, subject=subject)
        self.publish(event)
        return event

    @property
    def last_seq(self) -> int:
        return self._store.last_event_seq()

    def after(self, seq: int, limit: int | None = None) -> list[LoopEvent]:
        """Events with a sequence number above ``seq``, oldest first (at most ``limit``)."""
        return self._store.events_after(seq, limit)
