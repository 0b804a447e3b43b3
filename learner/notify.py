"""Notifications: a small seam with a logging implementation (the default) and a recorder.

>>> notes = RecordingNotifier()
>>> notes.notify(Notification(EventKind.PROMOTION, "clf", "promoted clf_1.0.1", {}))
>>> notes.sent[0].kind
<EventKind.PROMOTION: 'promotion'>
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from learner.events import EventKind, LoopEvent, Subscriber

__all__ = ["EventKind", "Notification", "Notifier", "LoggingNotifier", "RecordingNotifier",
           "notifying"]


@dataclass(frozen=True)
class Notification:
    kind: EventKind
    model_type: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)


class Notifier(Protocol):
    def notify(self, notification: Notification) -> None: ...


class LoggingNotifier:
    """Writes every notification to a logger (``learner.notify`` by default)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger("learner.notify")

    def notify(self, notification: Notification) -> None:
        self._log.info("[%s] %s: %s", notification.kind.value, notification.model_type,
                       notification.message)


def notifying(notifier: Notifier) -> Subscriber:
    """An event-log subscriber that hands every committed event to ``notifier``."""
    def deliver(event: LoopEvent) -> None:
        notifier.notify(Notification(event.kind, event.model_type, event.message, event.details))
    return deliver


class RecordingNotifier:
    """Keeps notifications in memory (tests)."""

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def notify(self, notification: Notification) -> None:
        self.sent.append(notification)
