"""Lifecycle invariants: champion/challenger exclusivity, ledger, backups, rollbacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from learner.db import Constraint, ConstraintViolation, open_database

from learner.registry import (
    ArtifactIntegrityError,
    InvalidTransitionError,
    LedgerAction,
    ModelRegistry,
    ModelStatus,
    NoPreviousChampionError,
)
from tests.learner.registry.conftest import tiny_model


def _register(registry: ModelRegistry, count: int, model_type: str = "docs") -> list[str]:
    return [registry.register_model(tiny_model(i), "clf", model_type) for i in range(count)]


def _statuses(registry: ModelRegistry, ids: list[str]) -> list[str]:
    return [registry.get_model(model_id).status.value for model_id in ids]


def test_promotion_archives_and_backs_up_previous_champion(registry: ModelRegistry) -> None:
    a, b = _register(registry, 2)
    assert registry.promote_to_champion(a, reason="first") is None
    assert registry.get_champion_backups() == []
    assert registry.promote_to_champion(b, "A/B test winner", {"p_value": 0.01}) == a
    assert _statuses(registry, [a, b]) == ["archived", "champion"]
    (backup,) = registry.get_champion_backups("docs")
    assert backup.model_id == a and backup.replaced_by == b
    assert backup.snapshot["status"] == "champion"
    assert backup.snapshot["artifact"]["sha256"] == registry.get_model(a).artifact_sha256
    demote, promote = registry.get_promotion_history("docs")[-2:]
    assert demote.action is LedgerAction.DEMOTE and demote.model_id == a
    assert promote.action is LedgerAction.PROMOTE and promote.previous_champion_id == a
    assert promote.statistics == {"p_value": 0.01} and promote.reason == "A/B test winner"
    assert promote.actor == "test-suite"
    assert registry.verify_ledger() == []


def test_challenger_is_exclusive_and_promotable(registry: ModelRegistry) -> None:
    a, b, c = _register(registry, 3)
    registry.promote_to_champion(a, reason="first")
    assert registry.set_challenger(b) is None
    assert registry.set_challenger(c, reason="newer candidate") == b
    assert _statuses(registry, [a, b, c]) == ["champion", "registered", "challenger"]
    registry.promote_to_champion(c, reason="won")
    assert registry.get_challenger("docs") is None
    assert _statuses(registry, [a, b, c]) == ["archived", "registered", "champion"]
    with pytest.raises(InvalidTransitionError, match="already the docs champion"):
        registry.promote_to_champion(c, reason="again")
    with pytest.raises(InvalidTransitionError, match="from champion to challenger"):
        registry.set_challenger(c)
    assert registry.verify_ledger() == []


def test_model_types_are_independent(registry: ModelRegistry) -> None:
    docs = registry.register_model(tiny_model(1), "clf", "docs")
    imgs = registry.register_model(tiny_model(2), "enc", "images")
    registry.promote_to_champion(docs, reason="x")
    registry.promote_to_champion(imgs, reason="x")
    assert registry.get_statistics()["by_status"]["champion"] == 2


@pytest.mark.parametrize("retire", ["archive_model", "deprecate_model"])
def test_retired_models_cannot_be_promoted(registry: ModelRegistry, retire: str) -> None:
    (a,) = _register(registry, 1)
    getattr(registry, retire)(a, reason="obsolete")
    with pytest.raises(InvalidTransitionError, match=f"cannot move {a} from") as info:
        registry.promote_to_champion(a, reason="try")
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidTransitionError):
        registry.set_challenger(a)


def test_champion_cannot_be_archived_or_deprecated(registry: ModelRegistry) -> None:
    (a,) = _register(registry, 1)
    registry.promote_to_champion(a, reason="first")
    for call in (registry.archive_model, registry.deprecate_model):
        with pytest.raises(InvalidTransitionError, match="is the docs champion"):
            call(a, reason="oops")
    with pytest.raises(InvalidTransitionError, match="from deprecated to archived"):
        b = registry.register_model(tiny_model(9), "clf", "docs")
        registry.deprecate_model(b, reason="bad")
        registry.archive_model(b, reason="bad")


def test_rollback_walks_back_through_champions(registry: ModelRegistry) -> None:
    a, b, c, d = _register(registry, 4)
    for model_id in (a, b, c):
        registry.promote_to_champion(model_id, reason="better")
    assert registry.rollback_to_previous_champion("docs", reason="p99 regression") == b
    assert _statuses(registry, [a, b, c]) == ["archived", "champion", "archived"]
    assert registry.rollback_to_previous_champion("docs", reason="still bad") == a
    with pytest.raises(NoPreviousChampionError):
        registry.rollback_to_previous_champion("docs", reason="no more")
    assert registry.get_champion("docs")["id"] == a  # type: ignore[index]
    # A new promotion after rollbacks: rolling it back returns to a.
    registry.promote_to_champion(d, reason="retrained")
    assert registry.rollback_to_previous_champion("docs", reason="bad") == a
    history = registry.get_promotion_history("docs")
    rollbacks = [e for e in history if e.action is LedgerAction.ROLLBACK]
    restores = [e for e in history if e.action is LedgerAction.RESTORE]
    assert [e.model_id for e in rollbacks] == [c, b, d]
    assert [e.model_id for e in restores] == [b, a, a]
    assert [e.previous_champion_id for e in restores] == [c, b, d]
    assert [e.reason for e in rollbacks] == ["p99 regression", "still bad", "bad"]
    assert [b.model_id for b in registry.get_champion_backups("docs")] == [a, b, c, b, a, d]
    assert registry.verify_ledger() == []


def test_rollback_never_restores_a_deprecated_model(registry: ModelRegistry) -> None:
    a, b, c = _register(registry, 3)
    for model_id in (a, b, c):
        registry.promote_to_champion(model_id, reason="better")
    registry.deprecate_model(b, reason="license problem")
    assert registry.rollback_to_previous_champion("docs", reason="bad") == a
    assert registry.get_model(b).status is ModelStatus.DEPRECATED
    registry.deprecate_model(c, reason="bad")
    with pytest.raises(NoPreviousChampionError):
        registry.rollback_to_previous_champion("docs", reason="again")


def test_rollback_with_only_deprecated_predecessors(registry: ModelRegistry) -> None:
    a, b = _register(registry, 2)
    registry.promote_to_champion(a, reason="first")
    registry.promote_to_champion(b, reason="second")
    registry.deprecate_model(a, reason="gone")
    with pytest.raises(NoPreviousChampionError, match=b):
        registry.rollback_to_previous_champion("docs", reason="x")
    assert registry.get_champion("docs")["id"] == b  # type: ignore[index]


def test_ledger_cannot_be_rewritten_through_the_registry_database(
    registry: ModelRegistry,
) -> None:
    (a,) = _register(registry, 1)
    registry.promote_to_champion(a, reason="first")
    conn = open_database(registry.config.location)
    with pytest.raises(ConstraintViolation, match="append-only") as info:
        conn.execute("UPDATE ledger SET reason = 'forged'")
    assert info.value.constraint is Constraint.TRIGGER
    with pytest.raises(ConstraintViolation, match="append-only"):
        conn.execute("DELETE FROM ledger WHERE action = 'promote'")
    conn.close()
    assert [e.reason for e in registry.get_history(model_id=a)] == ["registered", "first"]


def test_verify_ledger_detects_out_of_band_status_change(registry: ModelRegistry) -> None:
    (a,) = _register(registry, 1)
    conn = open_database(registry.config.location)
    conn.execute("UPDATE models SET status = 'archived' WHERE id = ?", (a,))
    conn.close()
    assert any("ledger replay gives ModelStatus.REGISTERED" in p for p in registry.verify_ledger())


def test_tampered_artifact_is_refused_on_load(registry: ModelRegistry) -> None:
    (a,) = _register(registry, 1)
    path = Path(registry.get_model(a).artifact_uri)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match=registry.get_model(a).artifact_sha256):
        registry.load_artifact(a)
    with pytest.raises(ArtifactIntegrityError):
        registry.get_artifact_path(a)


def test_history_limit_and_filters(registry: ModelRegistry) -> None:
    a, b = _register(registry, 2)
    registry.promote_to_champion(a, reason="1")
    registry.promote_to_champion(b, reason="2")
    everything = registry.get_history()
    assert [e.seq for e in everything] == sorted(e.seq for e in everything)
    assert registry.get_history(limit=2) == everything[-2:]
    assert {e.action for e in registry.get_history(actions=[LedgerAction.REGISTER])} == {
        LedgerAction.REGISTER
    }
