"""Training progress: a bar on a terminal, periodic log lines otherwise, plus a callback."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any, TextIO

__all__ = ["ProgressCallback", "ProgressReporter"]

log = logging.getLogger(__name__)

# (fraction done in [0, 1], latest metrics) -> None; the worker writes these to the job row.
ProgressCallback = Callable[[float, dict[str, float]], None]


class ProgressReporter:
    """Shows progress over ``total_steps``; a tqdm bar only when ``stream`` is a terminal."""

    def __init__(self, total_steps: int, *, log_every: int, callback: ProgressCallback | None,
                 stream: TextIO | None = None, enabled: bool = True) -> None:
        self._total, self._every, self._callback = max(total_steps, 1), log_every, callback
        self._bar: Any = None
        stream = stream if stream is not None else sys.stderr
        if enabled and stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total_steps, file=stream, desc="training", unit="step")

    def step(self, step: int, metrics: dict[str, float]) -> None:
        """Called after optimiser step ``step`` (1-based)."""
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in metrics.items()}, refresh=False)
        elif step % self._every == 0 or step == self._total:
            shown = " ".join(f"{k}={v:.4g}" for k, v in metrics.items())
            log.info("training step %d/%d %s", step, self._total, shown)
        if self._callback is not None and (step % self._every == 0 or step == self._total):
            self._callback(step / self._total, dict(metrics))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
