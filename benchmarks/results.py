"""Shared by the benchmark scripts: machine details and rewriting one section of RESULTS.md."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine_details() -> str:
    """CPU (first lines of lscpu), Python, numpy, platform and the load average right now."""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        head = "\n".join(line for line in lscpu.splitlines()[:16] if "Model name" in line or "CPU(s)" in line)
    except (OSError, subprocess.CalledProcessError):
        head = platform.processor() or "lscpu unavailable"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{head}\nPython {platform.python_version()}, numpy {np.__version__}, {platform.platform()}\n"
        f"load average at the end of the run: {load} (2-core box shared with other jobs)"
    )


def write_section(title: str, section: str) -> None:
    """Replaces (or appends) the ``## {title}`` section of RESULTS.md with ``section``."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    start = text.find(f"\n## {title}\n")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + text[end:] if end >= 0 else text[:start]
    RESULTS.write_text(text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n")


def publish(title: str, body: list[str], *, write: bool) -> str:
    """``## title``, the body lines and the machine details as one section: printed, and
    written into RESULTS.md when ``write``."""
    section = "\n".join([f"## {title}", "", *body, "", "```", machine_details(), "```"])
    print(section)
    if write:
        write_section(title, section)
    return section
