"""`make demo` runs the loop end to end: drift -> challenger -> A/B promotion -> rollback."""

from __future__ import annotations

from pathlib import Path

import pytest

from learner.demo import walkthrough as demo
from learner.registry import ModelRegistry


def test_demo_promotes_then_rolls_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.run(tmp_path, seed=7) == 0
    out = capsys.readouterr().out
    assert "DRIFT DETECTED" in out and "PROMOTED" in out and "ROLLED BACK" in out
    registry = ModelRegistry(root=str(tmp_path / "model_registry"))
    champion = registry.get_champion("doc_classifier")
    assert champion is not None and champion["id"] == "doc_classifier_1.0.0"
    history = registry.get_promotion_history("doc_classifier")
    promotion = next(e for e in history if e.model_id == "doc_classifier_1.0.1" and e.reason.startswith("A/B"))
    assert promotion.statistics["p_value"] < 0.05 and promotion.statistics["estimate"] >= 0.02
    assert any(e.reason.startswith("health") for e in history)
