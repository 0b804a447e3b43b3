"""The append-only ledger of status transitions, champion backups, and rollback targets.

Every transition is one row in ``ledger`` (triggers refuse UPDATE and DELETE). Rows that make
a model champion carry ``fallback_id``: the champion a rollback from it restores. A promotion's
fallback is the champion it replaced; a restore's fallback is the fallback of the row that made
the restored model champion, so repeated rollbacks walk further back in time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from learner.db import ConstraintViolation, Database
from learner.registry.errors import LedgerError, NoPreviousChampionError
from learner.registry.status import LedgerAction, ModelStatus

__all__ = [
    "LedgerEntry",
    "ChampionBackup",
    "append",
    "entries",
    "backup_champion",
    "backups",
    "rollback_target",
    "check_consistency",
]

_COLUMNS = (
    "seq, at, model_id, model_type, action, from_status, to_status, actor, reason, "
    "statistics, previous_champion_id, fallback_id"
)


@dataclass(frozen=True)
class LedgerEntry:
    """One recorded transition: when, who, why, on what evidence, replacing which champion."""

    seq: int
    at: float
    model_id: str
    model_type: str
    action: LedgerAction
    from_status: ModelStatus | None
    to_status: ModelStatus
    actor: str
    reason: str
    statistics: Mapping[str, Any]
    previous_champion_id: str | None
    fallback_id: str | None


@dataclass(frozen=True)
class ChampionBackup:
    """Snapshot of a champion's record and artifact pointer, taken before it was replaced."""

    seq: int
    at: float
    model_type: str
    model_id: str
    replaced_by: str
    snapshot: Mapping[str, Any]


def append(
    conn: Database,
    *,
    at: float,
    model_id: str,
    model_type: str,
    action: LedgerAction,
    from_status: ModelStatus | None,
    to_status: ModelStatus,
    actor: str,
    reason: str,
    statistics_json: str = "{}",
    previous_champion_id: str | None = None,
    fallback_id: str | None = None,
) -> int:
    """Append one entry (inside the caller's transaction); returns its sequence number."""
    try:
        row = conn.execute(
            f"INSERT INTO ledger ({_COLUMNS.removeprefix('seq, ')}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
            (
                at, model_id, model_type, action.value,
                None if from_status is None else from_status.value, to_status.value,
                actor, reason, statistics_json, previous_champion_id, fallback_id,
            ),
        ).fetchone()
    except ConstraintViolation as exc:
        raise LedgerError(f"ledger refused entry for {model_id}: {exc}") from exc
    return int(row[0])


def _entry(row: tuple[Any, ...]) -> LedgerEntry:
    seq, at, model_id, model_type, action, from_s, to_s, actor, reason, stats, prev, fb = row
    return LedgerEntry(
        seq=seq, at=at, model_id=model_id, model_type=model_type, action=LedgerAction(action),
        from_status=None if from_s is None else ModelStatus(from_s), to_status=ModelStatus(to_s),
        actor=actor, reason=reason, statistics=json.loads(stats),
        previous_champion_id=prev, fallback_id=fb,
    )


def entries(
    conn: Database,
    *,
    model_type: str | None = None,
    model_id: str | None = None,
    actions: Collection[LedgerAction] | None = None,
    limit: int | None = None,
) -> list[LedgerEntry]:
    """Entries in append order, optionally filtered; ``limit`` keeps the most recent ones."""
    where: list[str] = []
    params: list[Any] = []
    if model_type is not None:
        where.append("model_type = ?")
        params.append(model_type)
    if model_id is not None:
        where.append("model_id = ?")
        params.append(model_id)
    if actions is not None:
        names = [action.value for action in actions]
        where.append(f"action IN ({', '.join('?' * len(names))})")
        params.extend(names)
    sql = f"SELECT {_COLUMNS} FROM ledger"
    if where:
        sql += " WHERE " + " AND ".join(where)
    if limit is not None:
        sql = f"SELECT * FROM ({sql} ORDER BY seq DESC LIMIT ?) AS recent"
        params.append(int(limit))
    rows = conn.execute(sql + " ORDER BY seq", params).fetchall()
    return [_entry(row) for row in rows]


def backup_champion(
    conn: Database,
    *,
    at: float,
    model_type: str,
    model_id: str,
    replaced_by: str,
    snapshot: Mapping[str, Any],
) -> int:
    """Store the champion's record and artifact pointer before it is replaced."""
    row = conn.execute(
        "INSERT INTO champion_backups (at, model_type, model_id, replaced_by, snapshot) "
        "VALUES (?, ?, ?, ?, ?) RETURNING seq",
        (at, model_type, model_id, replaced_by, json.dumps(dict(snapshot), sort_keys=True)),
    ).fetchone()
    return int(row[0])


def backups(conn: Database, model_type: str | None = None) -> list[ChampionBackup]:
    """Champion backups in the order they were taken."""
    sql = "SELECT seq, at, model_type, model_id, replaced_by, snapshot FROM champion_backups"
    params: tuple[Any, ...] = ()
    if model_type is not None:
        sql += " WHERE model_type = ?"
        params = (model_type,)
    rows = conn.execute(sql + " ORDER BY seq", params).fetchall()
    return [
        ChampionBackup(seq, at, mtype, mid, replaced_by, json.loads(snapshot))
        for seq, at, mtype, mid, replaced_by, snapshot in rows
    ]


def _fallback_of(conn: Database, model_id: str) -> str | None:
    row = conn.execute(
        "SELECT fallback_id FROM ledger WHERE model_id = ? AND to_status = 'champion' "
        "ORDER BY seq DESC LIMIT 1",
        (model_id,),
    ).fetchone()
    return None if row is None else row[0]


def rollback_target(
    conn: Database,
    champion_id: str,
    status_of: Callable[[str], ModelStatus],
) -> tuple[str, str | None]:
    """The former champion a rollback from ``champion_id`` restores, and that one's fallback.

    Deprecated former champions are skipped (walking further back). Raises
    :class:`NoPreviousChampionError` when the walk runs out.
    """
    seen = {champion_id}
    candidate = _fallback_of(conn, champion_id)
    while candidate is not None and candidate not in seen:
        seen.add(candidate)
        fallback = _fallback_of(conn, candidate)
        if status_of(candidate) is not ModelStatus.DEPRECATED:
            return candidate, fallback
        candidate = fallback
    raise NoPreviousChampionError(
        f"no earlier non-deprecated champion to roll back to from {champion_id}"
    )


def check_consistency(conn: Database) -> list[str]:
    """Replay the whole ledger; return every inconsistency found (empty when sound).

    Checks that each model's entries chain (``from_status`` = previous ``to_status``, first
    entry a registration), that the replay ends at the status stored in ``models``, and that
    at no point a model type has two champions or two challengers.
    """
    problems: list[str] = []
    status: dict[str, ModelStatus] = {}
    holders: dict[tuple[str, ModelStatus], str] = {}
    exclusive = (ModelStatus.CHAMPION, ModelStatus.CHALLENGER)
    for entry in entries(conn):
        before = status.get(entry.model_id)
        if entry.from_status != before:
            problems.append(
                f"ledger #{entry.seq}: {entry.model_id} recorded from {entry.from_status} "
                f"but was {before}"
            )
        if before in exclusive:
            holders.pop((entry.model_type, before), None)
        if entry.to_status in exclusive:
            key = (entry.model_type, entry.to_status)
            if key in holders:
                problems.append(
                    f"ledger #{entry.seq}: second {entry.to_status.value} for {entry.model_type}"
                    f" ({holders[key]} and {entry.model_id})"
                )
            holders[key] = entry.model_id
        status[entry.model_id] = entry.to_status
    stored = dict(conn.execute("SELECT id, status FROM models").fetchall())
    for model_id, value in stored.items():
        replayed = status.get(model_id)
        if replayed is None or replayed.value != value:
            problems.append(f"{model_id}: stored status {value}, ledger replay gives {replayed}")
    return problems
