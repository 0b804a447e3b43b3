"""The one place a transaction the database aborted as transient is run again.

>>> calls = []
>>> def body() -> int:
...     calls.append(1)
...     if len(calls) < 3:
...         raise TransientError("could not serialize access")
...     return len(calls)
>>> retry_transient(body, attempts=5, sleep=lambda s: None)
3
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from learner.db.errors import TransientError

__all__ = ["retry_transient"]

T = TypeVar("T")


def retry_transient(body: Callable[[], T], *, attempts: int = 5, base_delay_s: float = 0.01,
                    sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``body`` (a whole transaction) until it does not raise :class:`TransientError`,
    at most ``attempts`` times, with jittered exponential back-off between tries."""
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    for attempt in range(attempts - 1):
        try:
            return body()
        except TransientError:
            sleep(base_delay_s * (2 ** attempt) * (0.5 + random.random()))
    return body()
