"""The report's data model: validation and the JSON form (``learner report --format json``)."""

from __future__ import annotations

import dataclasses
import doctest
import importlib
import json

import pytest

from learner.report import (
    ABDecision, ABMethod, ABResult, EventKind, FeatureDrift, ModelQuality, TimelineEvent,
    WeeklyReportData, sample_report,
)


def test_json_round_trip() -> None:
    data = sample_report(seed=3)
    text = data.to_json()
    assert WeeklyReportData.from_json(text) == data
    raw = json.loads(text)
    assert raw["schema"] == "loopwise.report.v3"
    assert {e["kind"] for e in raw["events"]} <= {k.value for k in EventKind}
    assert raw["ab_results"][0]["method"] == "msprt"


def test_json_is_strict_and_compact_form_round_trips() -> None:
    data = sample_report()
    compact = data.to_json(indent=None)
    assert "\n" not in compact and "NaN" not in compact
    assert WeeklyReportData.from_json(compact) == data


def test_sample_is_seeded() -> None:
    assert sample_report(seed=7) == sample_report(seed=7)
    assert sample_report(seed=7) != sample_report(seed=8)


def test_sample_tells_the_story() -> None:
    data = sample_report()
    kinds = [e.kind for e in sorted(data.events, key=lambda e: e.time)]
    assert kinds == [EventKind.DRIFT, EventKind.RETRAINING, EventKind.PROMOTION,
                     EventKind.ROLLBACK, EventKind.RETRAINING]
    amount = next(d for d in data.drift if d.feature == "amount")
    assert max(amount.psi) > data.drift_threshold > amount.psi[0]
    assert all(data.period_start <= t <= data.period_end for q in data.quality for t in q.timestamps)


@pytest.mark.parametrize("change, message", [
    ({"events": [{"time": 1.0, "kind": "explosion", "model_id": "m", "reason": ""}]},
     "unknown EventKind 'explosion'"),
    ({"surprise": 1}, "unknown keys"),
    ({"period_start": "yesterday"}, "expected float"),
    ({"schema": "other.v9"}, "not a loopwise.report.v3 document"),
])
def test_from_json_rejects_bad_documents(change: dict[str, object], message: str) -> None:
    raw = json.loads(sample_report().to_json())
    raw.update(change)
    with pytest.raises(ValueError, match=message):
        WeeklyReportData.from_json(json.dumps(raw))


def test_validation() -> None:
    with pytest.raises(ValueError, match="3 values for 2 timestamps"):
        FeatureDrift("x", (1.0, 2.0), (0.1, 0.2, 0.3), (0.1, 0.2))
    with pytest.raises(ValueError, match="timestamps must increase"):
        ModelQuality("m", (2.0, 1.0), (0.9, 0.9))
    with pytest.raises(ValueError, match="ratios must lie"):
        ModelQuality("m", (1.0,), (1.5,))
    with pytest.raises(ValueError, match="ci_low <= estimate <= ci_high"):
        ABResult("a", "b", 0.5, 0.0, 0.1, 0.2, 10, 10, ABMethod.MSPRT, ABDecision.CONTINUE)
    with pytest.raises(ValueError, match="finite"):
        FeatureDrift("x", (1.0,), (float("nan"),), (0.1,))
    with pytest.raises(ValueError, match="period_end"):
        WeeklyReportData("t", 10.0, 10.0, 0.25)
    with pytest.raises(dataclasses.FrozenInstanceError):
        TimelineEvent(1.0, EventKind.ROLLBACK, "m", "r").time = 2.0  # type: ignore[misc]


@pytest.mark.parametrize("module", ["learner.report", "learner.report.model",
                                    "learner.report.svg", "learner.report.html",
                                    "learner.report.features"])
def test_doctests(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0
