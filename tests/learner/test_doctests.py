"""The docstring examples of the learner's modules run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["learner.config", "learner.named_enum", "learner.reference", "learner.drift", "learner.abtest", "learner.promotion", "learner.health",
           "learner.routing", "learner.scheduler", "learner.notify", "learner.fleet.local",
           "learner.metrics", "learner.events", "learner.loop.state", "learner.loop.decide", "learner.serve.config", "learner.serve.runner",
           "learner.serve.retraining", "learner.tables"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_import_learner_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, learner; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
