"""One thread owns the learner: the loop and every admin call run on it, one at a time.

The registry, job store and collector hold database connections and plain dicts that must be
used from one thread; the learner is also the single writer of the registry and of the
routing plan. So the admin API does not touch the learner directly: it submits a function
with :meth:`LearnerThread.call`, which runs it on the learner's thread between two loop steps
(the loop's sleeper is :meth:`LearnerThread.sleep`, which serves submitted calls while it
waits) and returns its result or raises its exception.

>>> import threading
>>> seen = []
>>> def build(sleeper):
...     class Loop:
...         def start_continuous_learning(self):
...             while not stop.is_set():
...                 sleeper(60.0)
...         def stop(self):
...             stop.set()
...     return Loop()
>>> stop = threading.Event()
>>> runner = LearnerThread(build)
>>> runner.start()
>>> runner.call(lambda loop: threading.current_thread().name)
'loopwise-learner'
>>> runner.stop(timeout_s=5)
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["LearnerThread", "LearnerUnavailableError", "Loop"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class Loop(Protocol):
    """What the thread runs (``ContinuousLearner`` is one)."""

    def start_continuous_learning(self) -> None: ...

    def stop(self) -> None: ...


L = TypeVar("L", bound=Loop)


class LearnerUnavailableError(RuntimeError):
    """The learner thread is not running (not started, failed to start, or stopped)."""


_WAKE = object()


class LearnerThread(Generic[L]):
    """Builds the learner with ``build(sleeper)`` on its own thread, then runs its loop."""

    def __init__(self, build: Callable[[Callable[[float], None]], L], *,
                 on_exit: Callable[[L], object] = lambda learner: None,
                 name: str = "loopwise-learner") -> None:
        self._build, self._on_exit = build, on_exit
        self._inbox: queue.Queue[Any] = queue.Queue()
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._learner: L | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the thread and wait until the learner is built (its errors are raised here)."""
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise LearnerUnavailableError("the learner did not start in time")
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        try:
            self._learner = self._build(self.sleep)
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while not self._stopping.is_set():
                self._learner.start_continuous_learning()  # returns on stop() or if no jobs
                if not self._stopping.is_set():
                    self.sleep(1.0)
        except Exception:
            log.exception("the learning loop failed")
        finally:
            self._stopping.set()
            self._drain()
            self._on_exit(self._learner)

    def _run(self, item: Any) -> None:
        if item is _WAKE:
            return
        fn, future = item
        if not future.set_running_or_notify_cancel():
            return
        assert self._learner is not None
        try:
            future.set_result(fn(self._learner))
        except BaseException as exc:  # handed to the caller
            future.set_exception(exc)

    def sleep(self, seconds: float) -> None:
        """The loop's sleeper: serve submitted calls until ``seconds`` pass (or stop)."""
        deadline = time.monotonic() + max(0.0, seconds)
        if self._stopping.is_set() and self._learner is not None:
            self._learner.stop()  # the loop may have cleared an earlier stop when it started
        while not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                item = self._inbox.get(timeout=left)
            except queue.Empty:
                return
            self._run(item)
            if item is not _WAKE:
                return  # let the scheduler look at the clock again

    def _drain(self) -> None:
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return
            if item is not _WAKE:
                item[1].set_exception(LearnerUnavailableError("the learner stopped"))

    def call(self, fn: Callable[[L], T], timeout_s: float | None = 60.0) -> T:
        """Run ``fn(learner)`` on the learner's thread; its result, or its exception."""
        if not self._thread.is_alive() or self._stopping.is_set() or self._learner is None:
            raise LearnerUnavailableError("the learner is not running")
        future: Future[T] = Future()
        self._inbox.put((fn, future))
        return future.result(timeout=timeout_s)

    def stop(self, timeout_s: float = 60.0) -> None:
        """Stop the loop after the step in progress; wait for the thread to end."""
        self._stopping.set()
        if self._learner is not None:
            self._learner.stop()
        self._inbox.put(_WAKE)
        if self._thread.is_alive():
            self._thread.join(timeout_s)
