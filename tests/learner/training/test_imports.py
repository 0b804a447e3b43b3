"""The learner stays light: torch, peft and transformers load only in the training process."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["learner", "learner.training", "learner.synthetic",
                                    "learner.training.orchestrator"])
def test_import_does_not_load_torch(module: str) -> None:
    code = (f"import sys, {module}; "
            "heavy = [m for m in ('torch', 'peft', 'transformers') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
