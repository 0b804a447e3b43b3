"""The learner's durable copy of sidecar samples and the collector that fills it.

The table lives wherever the store's :class:`~learner.db.Location` says: an SQLite file
(``samples.db``) or the shared PostgreSQL database.

Samples are inserted in one transaction per batch, de-duplicated by ``(sidecar, seq)``, and
only then acknowledged to the sidecar: a crash between commit and ack means a redelivery,
which the UNIQUE key absorbs. A redelivered sample that now carries a correction updates the
stored one.

Corrections are attached to a sample in place on the sidecar (same seq), so the collector
only takes samples older than the pseudo-label grace period: a correction made within the
grace period is therefore always seen. Corrections made later than that are not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from learner.db import (
    Backend, Database, Location, Migration, Schema, WriteScope, location_from, migrate,
    open_database,
)
from learner.training.sample_source import RawSample, SampleSource

__all__ = ["SampleStore", "StoredSample", "CollectReport", "SampleCollector"]

_SAMPLES_TABLE = """
CREATE TABLE IF NOT EXISTS samples (
    sidecar TEXT NOT NULL,
    seq {bigint} NOT NULL,
    ts_ms {bigint} NOT NULL,
    model_type TEXT NOT NULL,
    model_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    document_id TEXT NOT NULL,
    payload {blob} NOT NULL,
    prediction {blob} NOT NULL,
    confidence {real} NOT NULL,
    label {blob},
    human_correction INTEGER NOT NULL,
    PRIMARY KEY (sidecar, seq)
)
"""
_BY_TYPE = "CREATE INDEX IF NOT EXISTS samples_by_type_ts ON samples (model_type, ts_ms)"

#: Version 1 is the table SQLite ``samples.db`` files had before versioning (``IF NOT EXISTS``
#: adopts them).
SAMPLES_SCHEMA = Schema(
    name="samples",
    version_table="samples_schema_version",
    migrations=(
        Migration(1, "sidecar samples, unique by (sidecar, seq)", {
            Backend.SQLITE: (_SAMPLES_TABLE.format(bigint="INTEGER", blob="BLOB", real="REAL"),
                             _BY_TYPE),
            Backend.POSTGRESQL: (_SAMPLES_TABLE.format(bigint="BIGINT", blob="BYTEA",
                                                       real="DOUBLE PRECISION"), _BY_TYPE),
        }),
    ),
)

_UPSERT = """
INSERT INTO samples (sidecar, seq, ts_ms, model_type, model_id, request_id, document_id,
                     payload, prediction, confidence, label, human_correction)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (sidecar, seq) DO UPDATE SET
    label = excluded.label, human_correction = excluded.human_correction
WHERE excluded.label IS NOT NULL AND samples.label IS NULL
"""


@dataclass(frozen=True)
class StoredSample:
    """A sample with the sidecar it came from."""

    sidecar: str
    sample: RawSample


class SampleStore:
    """The samples table (an SQLite file path, or any :class:`~learner.db.Location`); one
    connection, use from one thread."""

    def __init__(self, location: Location | str | Path, busy_timeout_s: float = 30.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.location = location if not isinstance(location, (str, Path)) else location_from(location)
        self._conn: Database = open_database(self.location, busy_timeout_s=busy_timeout_s,
                                             sync_every_commit=True)
        try:
            migrate(self._conn, SAMPLES_SCHEMA, clock)
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        self._conn.close()

    def insert(self, sidecar: str, samples: list[RawSample]) -> int:
        """Store ``samples`` durably (one transaction); returns how many were new."""
        if not samples:
            return 0
        with self._conn.transaction(WriteScope.SAMPLES) as tx:
            before = self._count(tx, sidecar)
            tx.executemany(_UPSERT, [
                (sidecar, s.seq, s.ts_ms, s.model_type, s.model_id, s.request_id, s.document_id,
                 s.payload, s.prediction, s.confidence, s.label, int(s.human_correction))
                for s in samples
            ])
            return self._count(tx, sidecar) - before

    @staticmethod
    def _count(conn: Database, sidecar: str) -> int:
        row = conn.execute("SELECT COUNT(*) FROM samples WHERE sidecar = ?", (sidecar,))
        return int(row.fetchone()[0])

    def last_seq(self, sidecar: str) -> int:
        """Highest stored seq from ``sidecar`` (0 when none)."""
        row = self._conn.execute("SELECT MAX(seq) FROM samples WHERE sidecar = ?", (sidecar,))
        value = row.fetchone()[0]
        return 0 if value is None else int(value)

    def count(self, model_type: str | None = None) -> int:
        if model_type is None:
            return int(self._conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
        row = self._conn.execute("SELECT COUNT(*) FROM samples WHERE model_type = ?",
                                 (model_type,))
        return int(row.fetchone()[0])

    def window(self, model_type: str, since_ms: int, until_ms: int) -> Iterator[StoredSample]:
        """Samples of ``model_type`` with ``since_ms <= ts_ms <= until_ms``, oldest first."""
        cursor = self._conn.execute(
            "SELECT sidecar, seq, ts_ms, model_type, model_id, request_id, document_id, payload, "
            "prediction, confidence, label, human_correction FROM samples "
            "WHERE model_type = ? AND ts_ms BETWEEN ? AND ? ORDER BY ts_ms, sidecar, seq",
            (model_type, since_ms, until_ms),
        )
        for row in cursor:
            yield StoredSample(row[0], RawSample(
                seq=row[1], ts_ms=row[2], model_type=row[3], model_id=row[4], request_id=row[5],
                document_id=row[6], payload=bytes(row[7]), prediction=bytes(row[8]),
                confidence=float(row[9]), label=None if row[10] is None else bytes(row[10]),
                human_correction=bool(row[11]),
            ))


@dataclass(frozen=True)
class CollectReport:
    """What one collection pass did, per sidecar."""

    pulled: Mapping[str, int]
    inserted: Mapping[str, int]
    held_back: Mapping[str, int]

    @property
    def duplicates(self) -> int:
        return sum(self.pulled.values()) - sum(self.inserted.values())


class SampleCollector:
    """Pulls from every sidecar, stores, then acks; samples younger than ``grace_s`` wait."""

    def __init__(self, store: SampleStore, sources: Mapping[str, SampleSource], *,
                 grace_s: float, clock: Callable[[], float], batch_size: int = 500) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self._store, self._sources = store, dict(sources)
        self._grace_ms, self._clock, self._batch = int(grace_s * 1000), clock, batch_size

    def collect(self) -> CollectReport:
        pulled: dict[str, int] = {}
        inserted: dict[str, int] = {}
        held: dict[str, int] = {}
        cutoff_ms = int(self._clock() * 1000) - self._grace_ms
        for name, source in self._sources.items():
            pulled[name] = inserted[name] = held[name] = 0
            while True:
                batch = source.pull(self._store.last_seq(name), self._batch)
                # seq order: stop at the first sample still within its grace period
                ready = batch[: next((i for i, s in enumerate(batch)
                                      if s.ts_ms > cutoff_ms), len(batch))]
                held[name] += len(batch) - len(ready)
                if ready:
                    inserted[name] += self._store.insert(name, ready)
                    pulled[name] += len(ready)
                    source.ack(ready[-1].seq)  # only after the commit above
                if len(ready) < self._batch:
                    break
        return CollectReport(pulled, inserted, held)
