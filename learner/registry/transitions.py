"""Status transitions, each run inside the caller's ``BEGIN IMMEDIATE`` transaction.

Each function reads the current state, checks the lifecycle, updates ``models`` and appends
to the ledger. The old champion/challenger always leaves its status before the new one takes
it, so the partial unique indexes hold after every statement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from learner.db import Database
from learner.registry import ledger
from learner.registry.errors import (
    InvalidTransitionError,
    LedgerError,
    ModelNotFoundError,
    NoChampionError,
)
from learner.registry.records import MODEL_COLUMNS, ModelRecord, to_json
from learner.registry.status import LedgerAction, ModelStatus, check_transition

__all__ = [
    "Change",
    "fetch",
    "holder",
    "promote",
    "set_challenger",
    "rollback",
    "retire",
    "statistics_json",
]


@dataclass(frozen=True)
class Change:
    """Who makes a change, when, why, and the statistics behind the decision (as JSON)."""

    at: float
    actor: str
    reason: str
    statistics_json: str = "{}"


def fetch(conn: Database, model_id: str) -> ModelRecord:
    """The model's record; raises :class:`ModelNotFoundError`."""
    row = conn.execute(f"SELECT {MODEL_COLUMNS} FROM models WHERE id = ?", (model_id,)).fetchone()
    if row is None:
        raise ModelNotFoundError(f"no model with id {model_id!r}")
    return ModelRecord.from_row(row)


def holder(conn: Database, model_type: str, status: ModelStatus) -> str | None:
    """Id of the model type's champion or challenger, if any."""
    row = conn.execute(
        "SELECT id FROM models WHERE model_type = ? AND status = ?", (model_type, status.value)
    ).fetchone()
    return None if row is None else str(row[0])


def _set_status(
    conn: Database, model_id: str, status: ModelStatus, at: float
) -> None:
    conn.execute(
        "UPDATE models SET status = ?, updated_at = ? WHERE id = ?", (status.value, at, model_id)
    )


def _log(
    conn: Database,
    record: ModelRecord,
    action: LedgerAction,
    to_status: ModelStatus,
    change: Change,
    *,
    from_status: ModelStatus | None = None,
    previous_champion_id: str | None = None,
    fallback_id: str | None = None,
) -> None:
    ledger.append(
        conn, at=change.at, model_id=record.id, model_type=record.model_type, action=action,
        from_status=record.status if from_status is None else from_status, to_status=to_status,
        actor=change.actor, reason=change.reason, statistics_json=change.statistics_json,
        previous_champion_id=previous_champion_id, fallback_id=fallback_id,
    )


def _archive_champion(
    conn: Database, champion: ModelRecord, action: LedgerAction,
    replaced_by: str, change: Change,
) -> None:
    """Safe backup of the champion's record and artifact pointer, then archive it."""
    ledger.backup_champion(
        conn, at=change.at, model_type=champion.model_type, model_id=champion.id,
        replaced_by=replaced_by, snapshot=champion.to_dict(),
    )
    _set_status(conn, champion.id, ModelStatus.ARCHIVED, change.at)
    _log(conn, champion, action, ModelStatus.ARCHIVED, change, previous_champion_id=champion.id)


def promote(
    conn: Database, model_id: str, change: Change,
    metrics: Mapping[str, Any] | None,
) -> str | None:
    """Make ``model_id`` champion, archiving the current one; returns the replaced champion.

    ``metrics`` (the evidence for the promotion) are merged into the model's metrics.
    """
    record = fetch(conn, model_id)
    if record.status is ModelStatus.CHAMPION:
        raise InvalidTransitionError(f"{model_id} is already the {record.model_type} champion")
    check_transition(model_id, record.status, ModelStatus.CHAMPION)
    previous_id = holder(conn, record.model_type, ModelStatus.CHAMPION)
    if previous_id is not None:
        previous = fetch(conn, previous_id)
        _archive_champion(conn, previous, LedgerAction.DEMOTE, model_id, change)
    merged = {**record.metrics, **(metrics or {})}
    conn.execute(
        "UPDATE models SET status = ?, metrics = ?, updated_at = ? WHERE id = ?",
        (ModelStatus.CHAMPION.value, to_json(merged, "metrics"), change.at, model_id),
    )
    _log(conn, record, LedgerAction.PROMOTE, ModelStatus.CHAMPION, change,
         previous_champion_id=previous_id, fallback_id=previous_id)
    return previous_id


def set_challenger(conn: Database, model_id: str, change: Change) -> str | None:
    """Make ``model_id`` the challenger; a previous challenger goes back to ``registered``."""
    record = fetch(conn, model_id)
    if record.status is ModelStatus.CHALLENGER:
        raise InvalidTransitionError(f"{model_id} is already the {record.model_type} challenger")
    check_transition(model_id, record.status, ModelStatus.CHALLENGER)
    previous_id = holder(conn, record.model_type, ModelStatus.CHALLENGER)
    if previous_id is not None:
        previous = fetch(conn, previous_id)
        _set_status(conn, previous_id, ModelStatus.REGISTERED, change.at)
        _log(conn, previous, LedgerAction.UNSET_CHALLENGER, ModelStatus.REGISTERED, change)
    _set_status(conn, model_id, ModelStatus.CHALLENGER, change.at)
    champion = holder(conn, record.model_type, ModelStatus.CHAMPION)
    _log(conn, record, LedgerAction.SET_CHALLENGER, ModelStatus.CHALLENGER, change,
         previous_champion_id=champion)
    return previous_id


def rollback(conn: Database, model_type: str, change: Change) -> str:
    """Archive the champion and restore the one before it (per the ledger); returns its id."""
    current_id = holder(conn, model_type, ModelStatus.CHAMPION)
    if current_id is None:
        raise NoChampionError(f"model type {model_type!r} has no champion to roll back")
    target_id, fallback_id = ledger.rollback_target(
        conn, current_id, lambda mid: fetch(conn, mid).status
    )
    target = fetch(conn, target_id)
    if target.status is not ModelStatus.ARCHIVED:
        raise LedgerError(
            f"ledger names {target_id} as the previous champion but it is {target.status.value}"
        )
    current = fetch(conn, current_id)
    _archive_champion(conn, current, LedgerAction.ROLLBACK, target_id, change)
    _set_status(conn, target_id, ModelStatus.CHAMPION, change.at)
    _log(conn, target, LedgerAction.RESTORE, ModelStatus.CHAMPION, change,
         previous_champion_id=current_id, fallback_id=fallback_id)
    return target_id


_RETIRE_ACTIONS = {
    ModelStatus.ARCHIVED: LedgerAction.ARCHIVE,
    ModelStatus.DEPRECATED: LedgerAction.DEPRECATE,
}


def retire(
    conn: Database, model_id: str, target: ModelStatus, change: Change
) -> None:
    """Archive or deprecate ``model_id`` (never the champion: replace or roll it back first)."""
    action = _RETIRE_ACTIONS.get(target)
    if action is None:
        raise InvalidTransitionError(f"retire() moves to archived or deprecated, not {target}")
    record = fetch(conn, model_id)
    if record.status is ModelStatus.CHAMPION:
        raise InvalidTransitionError(
            f"cannot {action.value} {model_id}: it is the {record.model_type} champion; "
            "promote another model or roll back first"
        )
    check_transition(model_id, record.status, target)
    _set_status(conn, model_id, target, change.at)
    _log(conn, record, action, target, change)


def statistics_json(statistics: Mapping[str, Any] | None) -> str:
    """The decision statistics as canonical JSON."""
    return to_json(statistics, "statistics")

