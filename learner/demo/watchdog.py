"""The demo's deadline that follows progress: it fails only when nothing has moved for a while.

A fixed deadline failed a slow but healthy run on a busy 2-core machine (retraining at step 130
of 144 when 480 s ran out). Progress is anything that shows the loop is moving: a new loop
event, a retraining job's progress, the demo's own phase.

>>> now = [0.0]
>>> w = Watchdog(stall_s=60.0, clock=lambda: now[0])
>>> w.saw((1, "retraining 10%")); now[0] = 50.0; w.saw((1, "retraining 20%")); now[0] = 100.0
>>> w.stalled(), w.idle_s()
(False, 50.0)
>>> now[0] = 111.0
>>> w.stalled()
True
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

__all__ = ["Watchdog", "DEFAULT_STALL_S"]

#: No new event and no training step for this long: the run is stuck.
DEFAULT_STALL_S = 300.0


class Watchdog:
    """``saw(marker)`` whenever the progress marker is read; ``stalled()`` once it has not
    changed for ``stall_s``. Time is injected (``clock``)."""

    def __init__(self, stall_s: float = DEFAULT_STALL_S, clock: Callable[[], float] = time.monotonic) -> None:
        if not stall_s > 0:
            raise ValueError(f"stall_s must be > 0 (got {stall_s})")
        self.stall_s, self._clock = stall_s, clock
        self._marker: Hashable = object()
        self._since = clock()

    def saw(self, marker: Hashable) -> None:
        if marker != self._marker:
            self._marker, self._since = marker, self._clock()

    def idle_s(self) -> float:
        return self._clock() - self._since

    def stalled(self) -> bool:
        return self.idle_s() > self.stall_s
