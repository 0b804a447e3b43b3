"""The runnable examples in the sidecar's docstrings."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["sidecar.clock", "sidecar.feedback", "sidecar.client",
                                    "sidecar.aggregates"])
def test_doctests(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0
