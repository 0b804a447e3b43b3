"""The demo's deadline follows progress and can be extended from ``make demo`` (issue 16: a
fixed 480-s deadline cut off a healthy run on a busy machine at retraining step 130 of 144)."""

from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path

import pytest

from learner.demo import watchdog
from learner.demo.watchdog import Watchdog

ROOT = Path(__file__).resolve().parents[3]


def test_doctest() -> None:
    assert doctest.testmod(watchdog).failed == 0


def test_a_slow_run_that_keeps_moving_never_stalls() -> None:
    now = [0.0]
    w = Watchdog(stall_s=120.0, clock=lambda: now[0])
    for step in range(144):  # a retraining step every 10 s: 24 minutes, far past 480 s
        now[0] += 10.0
        w.saw((7, f"retraining job-1: {step / 144:.0%}"))
        assert not w.stalled()
    now[0] += 121.0  # then nothing at all
    assert w.stalled()
    with pytest.raises(ValueError):
        Watchdog(stall_s=0)


def test_the_stall_limit_is_an_option_and_make_demo_passes_it_through() -> None:
    out = subprocess.run([sys.executable, "-m", "learner.demo", "--help"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert out.returncode == 0 and "--stall-s" in out.stdout
    dry = subprocess.run(["make", "-n", "demo", "DEMO_ARGS=--stall-s 900"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert dry.returncode == 0 and "-m learner.demo --stall-s 900" in dry.stdout
