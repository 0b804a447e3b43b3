"""The loop's event log: every notification, numbered, kept for readers that poll.

``EventLog`` is a :class:`~learner.notify.Notifier` that keeps the last ``capacity``
notifications with a sequence number and forwards each to another notifier (logging by
default). Readers ask for the events after the last sequence number they saw — the admin API's
``ListEvents``, ``learner events --follow`` and the demo's live timeline do.

>>> from learner.notify import EventKind, Notification, RecordingNotifier
>>> log = EventLog(forward=RecordingNotifier(), capacity=2, clock=lambda: 5.0)
>>> for kind in (EventKind.DRIFT, EventKind.RETRAINING, EventKind.AB_TEST):
...     log.notify(Notification(kind, "clf", kind.value))
>>> [(e.seq, e.notification.kind.value) for e in log.after(0)]
[(2, 'retraining'), (3, 'ab_test')]
>>> [e.seq for e in log.after(2)], log.last_seq
([3], 3)
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from learner.notify import LoggingNotifier, Notification, Notifier

__all__ = ["EventLog", "LoggedEvent"]


@dataclass(frozen=True)
class LoggedEvent:
    """One notification with its sequence number (from 1) and time (Unix seconds)."""

    seq: int
    at: float
    notification: Notification


class EventLog:
    """A bounded, numbered log of notifications that also forwards them; thread-safe."""

    def __init__(self, forward: Notifier | None = None, *, capacity: int = 10_000,
                 clock: Callable[[], float] = time.time) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self._forward = forward if forward is not None else LoggingNotifier()
        self._clock = clock
        self._events: deque[LoggedEvent] = deque(maxlen=capacity)
        self._seq = 0
        self._lock = threading.Lock()

    def notify(self, notification: Notification) -> None:
        with self._lock:
            self._seq += 1
            self._events.append(LoggedEvent(self._seq, self._clock(), notification))
        self._forward.notify(notification)

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._seq

    def after(self, seq: int, limit: int | None = None) -> list[LoggedEvent]:
        """Events with a sequence number above ``seq``, oldest first (at most ``limit``)."""
        with self._lock:
            out = [e for e in self._events if e.seq > seq]
        return out if limit is None else out[:limit]
