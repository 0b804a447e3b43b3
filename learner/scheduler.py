"""An interval scheduler over an injected clock and sleeper, so tests run days in milliseconds.

>>> clock = ManualClock(0.0)
>>> ran = []
>>> s = IntervalScheduler(clock, clock.sleep)
>>> s.every("drift", 3600, lambda: ran.append(clock()))
>>> s.run(until=3 * 3600)
>>> ran
[3600.0, 7200.0, 10800.0]
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["IntervalScheduler", "Job", "ManualClock"]

log = logging.getLogger(__name__)


class ManualClock:
    """A clock that only moves when told to; ``sleep`` advances it (a fake for tests/simulations)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)

    advance = sleep


@dataclass
class Job:
    name: str
    interval_s: float
    action: Callable[[], object]
    next_due: float
    runs: int = 0
    failures: int = 0


class IntervalScheduler:
    """Runs each job every ``interval_s`` seconds of the injected clock, in due order.

    A job that raises is logged and counted; the loop goes on. Jobs due at the same instant run
    in the order they were added.
    """

    def __init__(self, clock: Callable[[], float], sleeper: Callable[[float], None]) -> None:
        self._clock, self._sleep = clock, sleeper
        self.jobs: list[Job] = []
        self._stop = threading.Event()

    def every(self, name: str, interval_s: float, action: Callable[[], object], *,
              first_in_s: float | None = None) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval of {name} must be > 0")
        first = interval_s if first_in_s is None else first_in_s
        self.jobs.append(Job(name, interval_s, action, self._clock() + first))

    def run_pending(self) -> list[str]:
        """Run every job that is due now; returns their names."""
        now = self._clock()
        ran = []
        for job in sorted(self.jobs, key=lambda j: j.next_due):
            if job.next_due <= now:
                try:
                    job.action()
                except Exception:  # a failing job must not stop the loop
                    job.failures += 1
                    log.exception("scheduled job %s failed", job.name)
                job.runs += 1
                job.next_due += job.interval_s * max(1, int((now - job.next_due) // job.interval_s) + 1)
                ran.append(job.name)
        return ran

    def next_due(self) -> float:
        return min(j.next_due for j in self.jobs)

    def run(self, *, until: float | None = None) -> None:
        """Loop until ``stop()`` or the clock reaches ``until``."""
        self._stop.clear()
        while not self._stop.is_set():
            if not self.jobs:
                return
            due = self.next_due()
            if until is not None and due > until:
                return
            wait = due - self._clock()
            if wait > 0:
                self._sleep(wait)
                continue
            self.run_pending()

    def stop(self) -> None:
        self._stop.set()
