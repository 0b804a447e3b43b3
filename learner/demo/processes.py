"""The demo's child processes: started in their own sessions, stopped in order, never leaked.

Each child's stderr goes to ``<logs>/<name>.log``. A child started with ``lines=True`` has its
stdout read by a thread into a queue (the learner prints its bound addresses there; the
inference server prints one JSON status line every few seconds). ``stop_all`` sends SIGTERM
in reverse start order, waits, then SIGKILLs what is left — so Ctrl-C in the terminal (which
only the director receives: the children have their own sessions) ends every process.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["Child", "ProcessGroup", "ChildFailedError"]


class ChildFailedError(RuntimeError):
    """A child exited early or did not become ready in time (its log is named)."""


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    lines: queue.Queue[str] = field(default_factory=queue.Queue)

    def check_alive(self) -> None:
        code = self.proc.poll()
        if code is not None:
            tail = self.log.read_text(errors="replace").splitlines()[-15:] if self.log.exists() else []
            raise ChildFailedError(f"{self.name} exited with status {code}; last lines of {self.log}:\n  "
                                   + "\n  ".join(tail))

    def send(self, command: str) -> None:
        """One line to the child's stdin."""
        assert self.proc.stdin is not None, f"{self.name} has no stdin pipe"
        self.proc.stdin.write((command + "\n").encode())
        self.proc.stdin.flush()

    def next_line(self, timeout_s: float) -> str:
        """The next stdout line; raises if the child dies or is silent for ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return self.lines.get(timeout=0.2)
            except queue.Empty:
                self.check_alive()
                if time.monotonic() > deadline:
                    raise ChildFailedError(f"{self.name} printed nothing for {timeout_s:.0f} s "
                                           f"(see {self.log})") from None


def _pump(stream: IO[bytes], into: queue.Queue[str]) -> None:
    with stream:  # closed at EOF, when the child has exited
        for raw in stream:
            into.put(raw.decode(errors="replace").rstrip("\n"))


class ProcessGroup:
    """Children of the demo, each in its own session."""

    def __init__(self, logs: Path, env: dict[str, str] | None = None) -> None:
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self._env = {**os.environ, **(env or {})}
        self.children: list[Child] = []

    def start(self, name: str, argv: Sequence[str], *, lines: bool = False, stdin: bool = False,
              env: dict[str, str] | None = None) -> Child:
        log = self.logs / f"{name}.log"
        with open(log, "ab") as err:
            proc = subprocess.Popen(
                list(argv), stdout=subprocess.PIPE if lines else err, stderr=err,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                env={**self._env, **(env or {})}, start_new_session=True)
        child = Child(name, proc, log)
        if lines:
            assert proc.stdout is not None
            threading.Thread(target=_pump, args=(proc.stdout, child.lines), daemon=True,
                             name=f"{name}-stdout").start()
        self.children.append(child)
        return child

    def kill(self, child: Child) -> None:
        """SIGKILL ``child`` (a crash, as the kernel's OOM killer does it) and forget it."""
        child.proc.kill()
        child.proc.wait(timeout=10)
        self.children.remove(child)

    @staticmethod
    def wait_for_file(child: Child, path: Path, timeout_s: float) -> dict[str, Any]:
        """The JSON object ``child`` writes to ``path`` when it is ready."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            child.check_alive()
            if path.exists():
                try:
                    data: dict[str, Any] = json.loads(path.read_text())
                    return data
                except json.JSONDecodeError:
                    pass  # being written
            time.sleep(0.1)
        raise ChildFailedError(f"{child.name} not ready after {timeout_s:.0f} s (see {child.log})")

    def stop_all(self, timeout_s: float = 15.0) -> list[tuple[str, int | None]]:
        """SIGTERM in reverse start order, wait, then SIGKILL; each child's exit status."""
        for child in reversed(self.children):
            if child.proc.stdin is not None:
                try:
                    child.proc.stdin.close()
                except OSError:  # the child is gone: nothing was left to flush
                    pass
            if child.proc.poll() is None:
                try:
                    child.proc.send_signal(signal.SIGTERM)
                except (OSError, ValueError):
                    pass
                try:
                    child.proc.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    child.proc.kill()
                    child.proc.wait(timeout=5)
        return [(c.name, c.proc.returncode) for c in self.children]
