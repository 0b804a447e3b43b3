from __future__ import annotations

import pytest

from learner.registry import InvalidTransitionError, ModelStatus
from learner.registry.status import check_transition


def test_lifecycle_order_and_values() -> None:
    assert [s.value for s in ModelStatus] == [
        "registered", "challenger", "champion", "archived", "deprecated"
    ]


def test_parse_known_and_unknown() -> None:
    assert ModelStatus.parse("champion") is ModelStatus.CHAMPION
    assert ModelStatus.parse(ModelStatus.ARCHIVED) is ModelStatus.ARCHIVED
    with pytest.raises(InvalidTransitionError, match="unknown status 'winner'"):
        ModelStatus.parse("winner")


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (ModelStatus.REGISTERED, ModelStatus.CHALLENGER),
        (ModelStatus.REGISTERED, ModelStatus.CHAMPION),
        (ModelStatus.CHALLENGER, ModelStatus.CHAMPION),
        (ModelStatus.CHALLENGER, ModelStatus.REGISTERED),
        (ModelStatus.ARCHIVED, ModelStatus.DEPRECATED),
    ],
)
def test_allowed(current: ModelStatus, target: ModelStatus) -> None:
    check_transition("m_1.0.0", current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (ModelStatus.ARCHIVED, ModelStatus.CHAMPION),
        (ModelStatus.DEPRECATED, ModelStatus.CHAMPION),
        (ModelStatus.DEPRECATED, ModelStatus.ARCHIVED),
        (ModelStatus.CHAMPION, ModelStatus.DEPRECATED),
        (ModelStatus.ARCHIVED, ModelStatus.CHALLENGER),
    ],
)
def test_forbidden(current: ModelStatus, target: ModelStatus) -> None:
    with pytest.raises(InvalidTransitionError, match=f"m_1.0.0 from {current.value}"):
        check_transition("m_1.0.0", current, target)
