"""The model registry facade: versioned models, champion/challenger, ledger, artifacts.

>>> import tempfile, numpy as np
>>> registry = ModelRegistry(tempfile.mkdtemp(), clock=lambda: 1_700_000_000.0)
>>> first = registry.register_model({"w": np.ones(2)}, "clf", "doc_classifier", {"f1": 0.9})
>>> second = registry.register_model({"w": np.zeros(2)}, "clf", "doc_classifier", {"f1": 0.93})
>>> first, second
('clf_1.0.0', 'clf_1.0.1')
>>> registry.promote_to_champion(first, reason="initial")
>>> registry.promote_to_champion(second, reason="A/B test winner", metrics={"p_value": 0.01})
'clf_1.0.0'
>>> registry.rollback_to_previous_champion("doc_classifier", reason="latency regression")
'clf_1.0.0'
>>> registry.get_champion("doc_classifier")["version"]
'1.0.0'
>>> registry.close()
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import numpy as np

from learner.db import Database, WriteScope, retry_transient
from learner.registry import ledger, transitions
from learner.registry.artifacts import deserialize, serialize_model
from learner.registry.config import RegistryConfig, default_actor
from learner.registry.database import open_registry_database
from learner.registry.errors import (
    DuplicateVersionError, InvalidMetadataError, InvalidNameError, NoPreviousChampionError,
)
from learner.registry.ledger import ChampionBackup, LedgerEntry
from learner.registry.records import (
    MODEL_COLUMNS,
    Lineage,
    ModelRecord,
    model_id_for,
    to_json,
    validate_name,
)
from learner.registry.status import LedgerAction, ModelStatus
from learner.registry.storage import ArtifactStore
from learner.registry.version import ModelVersion, VersionBump

__all__ = ["ModelRegistry"]

T = TypeVar("T")

_PROMOTION_ACTIONS = frozenset(
    {LedgerAction.PROMOTE, LedgerAction.DEMOTE, LedgerAction.ROLLBACK, LedgerAction.RESTORE}
)
_FIRST_VERSION = ModelVersion(1, 0, 0)
# Literal statuses so the planner may use the partial unique indexes.
_HOLDER_SQL = {
    status: f"SELECT {MODEL_COLUMNS} FROM models WHERE model_type = ? AND status = '{status.value}'"
    for status in (ModelStatus.CHAMPION, ModelStatus.CHALLENGER)
}


def _reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidMetadataError("a non-blank reason is required for every transition")
    return reason


class ModelRegistry:
    """Registry of model versions backed by a database (metadata: SQLite by default, or
    PostgreSQL when ``config.url`` names one) and fsspec (artifacts).

    Safe to use from several processes on the same database: every write is a transaction
    that holds the registry's write lock from its first statement, and the database enforces
    one champion and one challenger per model type. One instance holds one connection: use it
    from one thread.
    """

    def __init__(
        self,
        root: str | Path = "model_registry",
        *,
        artifact_url: str | None = None,
        actor: str | None = None,
        busy_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.time,
        config: RegistryConfig | None = None,
    ) -> None:
        self._config = config or RegistryConfig(
            root=Path(root), artifact_url=artifact_url, actor=actor, busy_timeout_s=busy_timeout_s
        )
        self._clock = clock
        self._actor = self._config.actor or default_actor()
        self._store = ArtifactStore(
            self._config.resolved_artifact_url, cache_dir=self._config.root / "cache"
        )
        self._conn: Database = open_registry_database(
            self._config.location, self._config.busy_timeout_s, clock
        )
        # Champion/challenger lookups are the hot path (one per routed request): their
        # records are cached until this connection writes or the database's data version
        # shows that another connection (any process) has committed. A backend that cannot
        # tell cheaply (PostgreSQL) reports no version, and the lookups are not cached.
        self._holders: dict[tuple[str, ModelStatus], ModelRecord | None] = {}
        self._seen_data_version = -1

    @property
    def config(self) -> RegistryConfig:
        """The configuration this registry was opened with."""
        return self._config

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    def __enter__(self) -> ModelRegistry:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _writing(self) -> Iterator[Database]:
        try:
            with self._conn.transaction(WriteScope.REGISTRY) as conn:
                yield conn
        finally:
            self._holders.clear()

    def _write(self, body: Callable[[Database], T]) -> T:
        """Run ``body`` in one write transaction, again if the database aborted it as
        transient (the one place registry transitions are retried)."""
        def attempt() -> T:
            with self._writing() as conn:
                return body(conn)
        return retry_transient(attempt)

    def transaction(self) -> AbstractContextManager[Database]:
        """One write transaction on the registry's database for a registry transition and the
        loop state that goes with it (``learner.loop.store``): both commit, or neither."""
        return self._writing()

    @property
    def connection(self) -> Database:
        """The registry's connection, for reads on the owning thread."""
        return self._conn

    def change(self, reason: str, statistics: Mapping[str, Any] | None = None,
               actor: str | None = None) -> transitions.Change:
        """Who/when/why of a transition run inside :meth:`transaction`."""
        return self._change(reason, statistics, actor)

    def _change(self, reason: str, statistics: Mapping[str, Any] | None, actor: str | None
                ) -> transitions.Change:
        return transitions.Change(
            at=self._clock(), actor=actor or self._actor, reason=_reason(reason),
            statistics_json=transitions.statistics_json(statistics),
        )

    # -- registration ------------------------------------------------------------------

    def register_model(
        self,
        model: object,
        name: str,
        model_type: str,
        metrics: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        version: ModelVersion | str | None = None,
        bump: VersionBump = VersionBump.PATCH,
        base_model: str | None = None,
        training_job: str | None = None,
        data_window: str | None = None,
        drift_report: str | None = None,
        actor: str | None = None,
        reason: str = "registered",
    ) -> str:
        """Store ``model``'s tensors and register a new version; returns its id.

        Without ``version`` the registry picks the next one: ``1.0.0`` for a new name,
        otherwise the latest version of ``name`` bumped by ``bump``. Lineage fields are
        optional; a peft model's base model is recorded unless ``base_model`` is given.
        """
        validate_name(name, "name")
        validate_name(model_type, "model_type")
        explicit = None if version is None else ModelVersion.coerce(version)
        metrics_json, metadata_json = to_json(metrics, "metrics"), to_json(metadata, "metadata")
        change = self._change(reason, None, actor)
        artifact = serialize_model(model)
        lineage = Lineage(base_model or artifact.base_model, training_job, data_window,
                          drift_report)
        ref = self._store.put(artifact.data)  # content-addressed: safe outside the transaction

        def register(conn: Database) -> str:
            chosen = self._next_version(conn, name, model_type, explicit, bump)
            model_id = model_id_for(name, chosen)
            conn.execute(
                f"INSERT INTO models ({MODEL_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (model_id, name, model_type, chosen.major, chosen.minor, chosen.patch,
                 ModelStatus.REGISTERED.value, ref.sha256, ref.uri, ref.size, artifact.kind.value,
                 metrics_json, metadata_json, lineage.base_model, lineage.training_job,
                 lineage.data_window, lineage.drift_report, change.at, change.at),
            )
            champion = transitions.holder(conn, model_type, ModelStatus.CHAMPION)
            ledger.append(
                conn, at=change.at, model_id=model_id, model_type=model_type,
                action=LedgerAction.REGISTER, from_status=None, to_status=ModelStatus.REGISTERED,
                actor=change.actor, reason=change.reason, statistics_json=metrics_json,
                previous_champion_id=champion,
            )
            return model_id

        return self._write(register)

    @staticmethod
    def _next_version(
        conn: Database, name: str, model_type: str,
        explicit: ModelVersion | None, bump: VersionBump,
    ) -> ModelVersion:
        row = conn.execute(
            "SELECT model_type, major, minor, patch FROM models WHERE name = ? "
            "ORDER BY major DESC, minor DESC, patch DESC LIMIT 1",
            (name,),
        ).fetchone()
        if row is not None and row[0] != model_type:
            raise InvalidNameError(f"name {name!r} is already registered as type {row[0]!r}")
        if explicit is None:
            return _FIRST_VERSION if row is None else ModelVersion(*row[1:]).bump(bump)
        taken = conn.execute(
            "SELECT 1 FROM models WHERE name = ? AND major = ? AND minor = ? AND patch = ?",
            (name, explicit.major, explicit.minor, explicit.patch),
        ).fetchone()
        if taken is not None:
            raise DuplicateVersionError(f"{model_id_for(name, explicit)} is already registered")
        return explicit

    # -- transitions -------------------------------------------------------------------

    def promote_to_champion(
        self, model_id: str, reason: str, metrics: Mapping[str, Any] | None = None,
        *, actor: str | None = None,
    ) -> str | None:
        """Make ``model_id`` champion; returns the champion it replaced (now archived).

        The replaced champion's record and artifact pointer are backed up first; ``metrics``
        (the evidence) go to the ledger and are merged into the model's metrics.
        """
        change = self._change(reason, metrics, actor)
        return self._write(lambda conn: transitions.promote(conn, model_id, change, metrics))

    def set_challenger(
        self, model_id: str, reason: str = "set as challenger",
        statistics: Mapping[str, Any] | None = None, *, actor: str | None = None,
    ) -> str | None:
        """Make ``model_id`` its type's challenger; returns the challenger it replaced."""
        change = self._change(reason, statistics, actor)
        return self._write(lambda conn: transitions.set_challenger(conn, model_id, change))

    def rollback_to_previous_champion(
        self, model_type: str, reason: str, statistics: Mapping[str, Any] | None = None,
        *, actor: str | None = None,
    ) -> str:
        """Archive the champion and restore the previous one; returns the restored id."""
        validate_name(model_type, "model_type")
        change = self._change(reason, statistics, actor)
        return self._write(lambda conn: transitions.rollback(conn, model_type, change))

    def archive_model(self, model_id: str, reason: str, *, actor: str | None = None) -> None:
        """Archive a registered model or challenger."""
        change = self._change(reason, None, actor)
        self._write(lambda conn: transitions.retire(conn, model_id, ModelStatus.ARCHIVED, change))

    def deprecate_model(self, model_id: str, reason: str, *, actor: str | None = None) -> None:
        """Deprecate a model for good: never promoted or restored again."""
        change = self._change(reason, None, actor)
        self._write(lambda conn: transitions.retire(conn, model_id, ModelStatus.DEPRECATED, change))

    # -- queries -----------------------------------------------------------------------

    def can_roll_back(self, model_type: str) -> bool:
        """Whether ``model_type`` has a champion and an earlier one a rollback would restore."""
        champion = transitions.holder(self._conn, model_type, ModelStatus.CHAMPION)
        if champion is None:
            return False
        try:
            ledger.rollback_target(self._conn, champion, lambda m: transitions.fetch(self._conn, m).status)
        except NoPreviousChampionError:
            return False
        return True

    def get_model(self, model_id: str) -> ModelRecord:
        """The record of ``model_id``; raises :class:`ModelNotFoundError`."""
        return transitions.fetch(self._conn, model_id)

    def _holder_record(self, model_type: str, status: ModelStatus) -> ModelRecord | None:
        data_version = self._conn.data_version()
        if data_version is None:
            row = self._conn.execute(_HOLDER_SQL[status], (model_type,)).fetchone()
            return None if row is None else ModelRecord.from_row(row)
        if data_version != self._seen_data_version:
            self._holders.clear()
            self._seen_data_version = data_version
        key = (model_type, status)
        if key in self._holders:
            return self._holders[key]
        row = self._conn.execute(_HOLDER_SQL[status], (model_type,)).fetchone()
        record = None if row is None else ModelRecord.from_row(row)
        self._holders[key] = record
        return record

    def get_champion(self, model_type: str) -> dict[str, Any] | None:
        """The champion as a dict (``id``, ``version``, ``metrics``, ...), or None."""
        record = self._holder_record(model_type, ModelStatus.CHAMPION)
        return None if record is None else record.to_dict()

    def get_challenger(self, model_type: str) -> dict[str, Any] | None:
        """The challenger as a dict, or None."""
        record = self._holder_record(model_type, ModelStatus.CHALLENGER)
        return None if record is None else record.to_dict()

    def list_models(
        self,
        model_type: str | None = None,
        status: ModelStatus | str | None = None,
        *,
        name: str | None = None,
        base_model: str | None = None,
        training_job: str | None = None,
        drift_report: str | None = None,
    ) -> list[ModelRecord]:
        """Models matching every given filter, by name then version."""
        filters: dict[str, Any] = {
            "model_type": model_type, "name": name, "base_model": base_model,
            "training_job": training_job, "drift_report": drift_report,
            "status": None if status is None else ModelStatus.parse(status).value,
        }
        used = {column: value for column, value in filters.items() if value is not None}
        sql = f"SELECT {MODEL_COLUMNS} FROM models"
        if used:
            sql += " WHERE " + " AND ".join(f"{column} = ?" for column in used)
        sql += " ORDER BY name, major, minor, patch"
        return [ModelRecord.from_row(row) for row in self._conn.execute(sql, list(used.values()))]

    def get_history(
        self,
        model_type: str | None = None,
        model_id: str | None = None,
        actions: Collection[LedgerAction] | None = None,
        limit: int | None = None,
    ) -> list[LedgerEntry]:
        """Ledger entries, oldest first (``limit`` keeps the most recent)."""
        return ledger.entries(self._conn, model_type=model_type, model_id=model_id,
                              actions=actions, limit=limit)

    def get_promotion_history(self, model_type: str) -> list[LedgerEntry]:
        """Promotions, demotions, rollbacks and restores of ``model_type``, oldest first."""
        return self.get_history(model_type=model_type, actions=_PROMOTION_ACTIONS)

    def get_champion_backups(self, model_type: str | None = None) -> list[ChampionBackup]:
        """Snapshots of champions taken before they were replaced."""
        return ledger.backups(self._conn, model_type)

    def get_lineage(self, model_id: str) -> list[ModelRecord]:
        """``model_id`` followed by its base models, as far as they are registered here."""
        chain = [self.get_model(model_id)]
        seen = {model_id}
        while (base := chain[-1].lineage.base_model) is not None and base not in seen:
            row = self._conn.execute(
                f"SELECT {MODEL_COLUMNS} FROM models WHERE id = ?", (base,)
            ).fetchone()
            if row is None:
                break
            seen.add(base)
            chain.append(ModelRecord.from_row(row))
        return chain

    def verify_ledger(self) -> list[str]:
        """Replay the ledger against the stored statuses; returns problems (empty if sound)."""
        return ledger.check_consistency(self._conn)

    def get_statistics(self) -> dict[str, Any]:
        """Counts per status (every status present), per type, champions, storage size."""
        by_status = {status.value: 0 for status in ModelStatus}
        for status, count in self._conn.execute(
            "SELECT status, count(*) FROM models GROUP BY status"
        ):
            by_status[status] = count
        by_type = dict(
            self._conn.execute("SELECT model_type, count(*) FROM models GROUP BY model_type")
        )
        champions = dict(
            self._conn.execute("SELECT model_type, id FROM models WHERE status = 'champion'")
        )
        stored = self._conn.execute(
            "SELECT coalesce(sum(artifact_bytes), 0) FROM "
            "(SELECT DISTINCT artifact_sha256, artifact_bytes FROM models) AS stored"
        ).fetchone()[0]
        stored = int(stored)
        ledger_entries = int(self._conn.execute("SELECT count(*) FROM ledger").fetchone()[0])
        return {
            "total_models": sum(by_status.values()),
            "by_status": by_status,
            "by_type": by_type,
            "champions": champions,
            "storage_size_mb": round(stored / (1024 * 1024), 6),
            "ledger_entries": ledger_entries,
        }

    # -- artifacts ---------------------------------------------------------------------

    def load_artifact(self, model_id: str) -> dict[str, np.ndarray]:
        """The model's tensors, after verifying the artifact's sha256."""
        record = self.get_model(model_id)
        return deserialize(self._store.get(record.artifact_sha256))

    def get_artifact_path(self, model_id: str) -> Path:
        """A local, verified safetensors file for the model (downloaded if remote)."""
        return self._store.local_path(self.get_model(model_id).artifact_sha256)
