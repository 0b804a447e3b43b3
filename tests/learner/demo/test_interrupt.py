"""Ctrl-C stops the demo and every process it started (training workers included)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigint_stops_every_process(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    demo = subprocess.Popen([sys.executable, "-m", "learner.demo", "--workdir", str(workdir)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert demo.stdout is not None
    seen = []
    try:
        for line in demo.stdout:  # wait until the traffic flows through both sidecars
            seen.append(line)
            if "inference server:" in line:
                break
        ready = [json.loads((workdir / name / "ready.json").read_text()) for name in ("sidecar-a", "sidecar-b")]
        pids = [r["pid"] for r in ready]
        assert all(_alive(p) for p in pids), "".join(seen)
        time.sleep(3)
        demo.send_signal(signal.SIGINT)
        rest = demo.communicate(timeout=60)[0]
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 130, "".join(seen) + rest
    assert "interrupted: stopping every process" in rest
    stopped = rest.split("stopped: ")[-1]
    for name in ("sidecar-a", "sidecar-b", "learner", "inference"):
        assert f"{name} (exit " in stopped
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids)
