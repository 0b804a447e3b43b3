"""Importing the sidecar (server and client included) never imports torch."""

from __future__ import annotations

import subprocess
import sys


def test_sidecar_does_not_import_torch() -> None:
    code = ("import sys, sidecar, sidecar.server, sidecar.client, sidecar.cli\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
