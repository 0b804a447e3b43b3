"""The demo's process group with real child processes: lines, readiness, ordered stop, no leaks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from learner.demo.processes import ChildFailedError, ProcessGroup

PY = sys.executable


def test_lines_commands_and_a_clean_stop(tmp_path: Path) -> None:
    group = ProcessGroup(tmp_path / "logs")
    echo = group.start("echo", [PY, "-u", "-c", "import sys\nprint('ready')\nfor l in sys.stdin: print(l.upper(), end='')"],
                       lines=True, stdin=True)
    assert echo.next_line(10) == "ready"
    echo.send("drift")
    assert echo.next_line(10) == "DRIFT"
    statuses = dict(group.stop_all(timeout_s=10))
    assert statuses["echo"] is not None and echo.proc.poll() is not None


def test_a_child_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    group = ProcessGroup(tmp_path / "logs")
    stubborn = group.start("stubborn", [PY, "-u", "-c",
                                        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                                        "print('up')\ntime.sleep(60)"], lines=True)
    assert stubborn.next_line(10) == "up"
    assert dict(group.stop_all(timeout_s=0.5))["stubborn"] == -9


def test_an_early_exit_names_the_child_and_its_log(tmp_path: Path) -> None:
    group = ProcessGroup(tmp_path / "logs")
    child = group.start("broken", [PY, "-c", "import sys; sys.stderr.write('bad config key\\n'); sys.exit(3)"])
    with pytest.raises(ChildFailedError, match="broken exited with status 3(.|\n)*bad config key"):
        ProcessGroup.wait_for_file(child, tmp_path / "never.json", timeout_s=10)
    quiet = group.start("quiet", [PY, "-c", "import time; time.sleep(30)"], lines=True)
    with pytest.raises(ChildFailedError, match="quiet printed nothing"):
        quiet.next_line(0.5)
    group.stop_all(timeout_s=5)
