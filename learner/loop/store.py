"""The loop's durable state in the registry's database (schema version 2).

Every write takes the caller's transaction (``tx``, from ``ModelRegistry.transaction()``), so a
registry transition, the routing table it implies, the A/B test it ends, the loop state it
moves and the event that records it commit together or not at all: a ``kill -9`` at any line
leaves either the old world or the new one. Reads use the registry's connection on the loop's
thread; :meth:`LoopStore.events_after` opens its own read-only connection, so the admin API's
``ListEvents`` reads the stream from any thread without waiting for the loop. The store talks to
the registry's database through the storage seam (``learner.db``): SQLite or PostgreSQL alike.

Tables: ``loop_state`` (phase + JSON state per model type), ``routing`` (the one table and its
generation, which a trigger keeps growing), ``ab_tests`` (with their sequential state; a
partial unique index allows one running test per type), ``loop_events`` (append-only),
``drift_checks`` (the report's drift history) and ``schedule`` (when each periodic job last
ran, so a restart does not reset the daily health check's clock).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import statcore
from learner.db import Database, Location, open_database
from learner.abtest import ABTest, ABTestResult, ABTestStatus, SequentialState
from learner.events import EventKind, LoopEvent, details_json
from learner.loop.state import ModelLoopState

__all__ = ["LoopStore", "EventReader", "DriftPoint", "StoredDriftCheck"]

Tx = Database


@dataclass(frozen=True)
class DriftPoint:
    """One feature's statistics at one drift check."""

    psi: float
    ks_statistic: float


@dataclass(frozen=True)
class StoredDriftCheck:
    """One evaluated drift check of a model type's champion (the report's drift series)."""

    at: float
    model_id: str
    drift_detected: bool
    features: Mapping[str, DriftPoint]


def routes_to_json(table: statcore.RoutingTable) -> str:
    return json.dumps({t: {"champion": r.champion, "challenger": r.challenger,
                           "share": r.challenger_share, "salt": r.salt}
                       for t, r in sorted(table.routes.items())}, sort_keys=True)


def routes_from_json(generation: int, text: str) -> statcore.RoutingTable:
    routes = {t: statcore.Route(r["champion"], r["challenger"], float(r["share"]), r["salt"])
              for t, r in json.loads(text).items()}
    return statcore.RoutingTable(generation, routes)


def _test_row(row: tuple[Any, ...]) -> ABTest:
    (test_id, model_type, champion, challenger, split, started_ms, generation, status, sequential,
     last_result, ended_at) = row
    result = None if last_result is None else ABTestResult.from_dict(json.loads(last_result))
    return ABTest(test_id, model_type, champion, challenger, float(split), int(started_ms),
                  int(generation), ABTestStatus(status), SequentialState.from_json(sequential),
                  result, ended_at)


_TEST_COLUMNS = ("test_id, model_type, champion_id, challenger_id, traffic_split, started_ms, "
                 "generation, status, sequential, last_result, ended_at")


def _event_row(row: tuple[Any, ...]) -> LoopEvent:
    seq, at, kind, model_type, subject, message, details = row
    return LoopEvent(int(seq), float(at), EventKind.parse(kind), model_type, message,
                     json.loads(details), subject)


class EventReader:
    """The event stream read from its own read-only connection: the admin API's ``ListEvents``
    and ``learner events --follow`` read it from any thread, without the loop's thread."""

    def __init__(self, location: Location) -> None:
        self._location = location
        self._conn: Database | None = None
        self._lock = threading.Lock()

    @contextmanager
    def _reading(self) -> Iterator[Database]:
        with self._lock:
            if self._conn is None:
                self._conn = open_database(self._location, read_only=True)
            yield self._conn

    def after(self, seq: int, limit: int | None = None) -> list[LoopEvent]:
        """Events with ``seq`` above the given one, oldest first (at most ``limit``)."""
        with self._reading() as conn:
            sql = ("SELECT seq, at, kind, model_type, subject, message, details "
                   "FROM loop_events WHERE seq > ? ORDER BY seq")
            params: tuple[int, ...] = (seq,)
            if limit is not None:
                sql, params = sql + " LIMIT ?", (seq, limit)
            rows = conn.execute(sql, params).fetchall()
        return [_event_row(r) for r in rows]

    @property
    def last_seq(self) -> int:
        with self._reading() as conn:
            return int(conn.execute("SELECT coalesce(max(seq), 0) FROM loop_events").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class LoopStore:
    """Reads and writes of the loop tables; ``connection()`` is the registry's connection and
    ``transaction()`` its write transaction (both used on the loop's thread only)."""

    def __init__(self, connection: Callable[[], Database],
                 transaction: Callable[[], AbstractContextManager[Database]],
                 location: Location, clock: Callable[[], float]) -> None:
        self._conn, self._transaction = connection, transaction
        self._clock = clock
        self._reader = EventReader(location)

    @staticmethod
    def of_registry(registry: Any, clock: Callable[[], float]) -> LoopStore:
        """The loop store in ``registry``'s database (a :class:`~learner.registry.ModelRegistry`)."""
        return LoopStore(lambda: registry.connection, registry.transaction,
                         registry.config.location, clock)

    def write(self) -> AbstractContextManager[Database]:
        return self._transaction()

    # -- loop state ----------------------------------------------------------------------

    def states(self) -> dict[str, ModelLoopState]:
        rows = self._conn().execute("SELECT model_type, phase, state FROM loop_state").fetchall()
        return {t: ModelLoopState.from_json(t, p, s) for t, p, s in rows}

    def state(self, model_type: str) -> ModelLoopState:
        row = self._conn().execute("SELECT phase, state FROM loop_state WHERE model_type = ?",
                                   (model_type,)).fetchone()
        return ModelLoopState(model_type) if row is None else ModelLoopState.from_json(model_type, *row)

    def save_state(self, tx: Tx, state: ModelLoopState) -> None:
        tx.execute("INSERT INTO loop_state (model_type, phase, state, updated_at) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT (model_type) DO UPDATE SET phase = excluded.phase, "
                   "state = excluded.state, updated_at = excluded.updated_at",
                   (state.model_type, state.phase.value, state.to_json(), self._clock()))

    # -- routing -------------------------------------------------------------------------

    def routing(self) -> statcore.RoutingTable | None:
        row = self._conn().execute("SELECT generation, routes FROM routing WHERE id = 1").fetchone()
        return None if row is None else routes_from_json(int(row[0]), row[1])

    def save_routing(self, tx: Tx, table: statcore.RoutingTable) -> None:
        """Persist ``table`` (its generation must be above the stored one: a trigger checks)."""
        tx.execute("INSERT INTO routing (id, generation, routes, updated_at) VALUES (1, ?, ?, ?) "
                   "ON CONFLICT (id) DO UPDATE SET generation = excluded.generation, "
                   "routes = excluded.routes, updated_at = excluded.updated_at",
                   (table.generation, routes_to_json(table), self._clock()))

    # -- A/B tests (the TestBook of the loop's ABTestingManager) -----------------------------

    def get_test(self, test_id: str) -> ABTest | None:
        row = self._conn().execute(f"SELECT {_TEST_COLUMNS} FROM ab_tests WHERE test_id = ?",
                                   (test_id,)).fetchone()
        return None if row is None else _test_row(row)

    def all_tests(self) -> list[ABTest]:
        rows = self._conn().execute(f"SELECT {_TEST_COLUMNS} FROM ab_tests ORDER BY started_ms, test_id")
        return [_test_row(r) for r in rows.fetchall()]

    def save_test(self, tx: Tx, test: ABTest) -> None:
        result = None if test.last_result is None else json.dumps(test.last_result.to_dict(), default=str)
        tx.execute(f"INSERT INTO ab_tests ({_TEST_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                   "ON CONFLICT (test_id) DO UPDATE SET status = excluded.status, "
                   "sequential = excluded.sequential, last_result = excluded.last_result, "
                   "ended_at = excluded.ended_at",
                   (test.test_id, test.model_type, test.champion_id, test.challenger_id,
                    test.traffic_split, test.started_ms, test.generation, test.status.value,
                    test.sequential.to_json(), result, test.ended_at))

    def put_test(self, test: ABTest) -> None:
        with self._transaction() as tx:
            self.save_test(tx, test)

    def next_test_id(self, model_type: str) -> str:
        n = 1 + int(self._conn().execute("SELECT count(*) FROM ab_tests WHERE model_type = ?",
                                         (model_type,)).fetchone()[0])
        while self.get_test(f"ab_{model_type}_{n:04d}") is not None:
            n += 1
        return f"ab_{model_type}_{n:04d}"

    # -- the event stream ----------------------------------------------------------------

    def append_event(self, tx: Tx, at: float, kind: EventKind, model_type: str, subject: str,
                     message: str, details: Mapping[str, Any]) -> LoopEvent:
        row = tx.execute("INSERT INTO loop_events (at, kind, model_type, subject, message, details) "
                         "VALUES (?, ?, ?, ?, ?, ?) RETURNING seq",
                         (at, kind.value, model_type, subject, message, details_json(details))
                         ).fetchone()
        return LoopEvent(int(row[0]), at, kind, model_type, message, dict(details), subject)

    def events_after(self, seq: int, limit: int | None = None) -> list[LoopEvent]:
        """Events with ``seq`` above the given one, oldest first; safe from any thread."""
        return self._reader.after(seq, limit)

    def last_event_seq(self) -> int:
        return self._reader.last_seq

    def events(self, model_type: str, since: float = float("-inf"),
               kinds: tuple[EventKind, ...] = ()) -> list[LoopEvent]:
        rows = self._conn().execute(
            "SELECT seq, at, kind, model_type, subject, message, details FROM loop_events "
            "WHERE model_type = ? AND at >= ? ORDER BY seq", (model_type, since)).fetchall()
        out = [_event_row(r) for r in rows]
        return [e for e in out if e.kind in kinds] if kinds else out

    def event_counts(self) -> dict[tuple[EventKind, str], int]:
        """How many events of each kind and ``details.stage`` ('' when it has none)."""
        conn = self._conn()
        rows = conn.execute(
            f"SELECT kind, coalesce({conn.json_text('details', 'stage')}, ''), count(*) "
            "FROM loop_events GROUP BY 1, 2").fetchall()
        return {(EventKind.parse(k), str(stage)): int(n) for k, stage, n in rows}

    def close(self) -> None:
        self._reader.close()

    # -- drift history and the schedule --------------------------------------------------

    def append_drift_check(self, tx: Tx, at: float, model_type: str, model_id: str,
                           drift_detected: bool, features: Mapping[str, DriftPoint]) -> None:
        body = {n: [p.psi, p.ks_statistic] for n, p in features.items()}
        tx.execute("INSERT INTO drift_checks (at, model_type, model_id, drift, features) "
                   "VALUES (?, ?, ?, ?, ?)", (at, model_type, model_id, int(drift_detected),
                                              json.dumps(body, sort_keys=True)))

    def drift_checks(self, model_type: str, since: float = float("-inf")) -> tuple[StoredDriftCheck, ...]:
        rows = self._conn().execute("SELECT at, model_id, drift, features FROM drift_checks "
                                    "WHERE model_type = ? AND at >= ? ORDER BY seq",
                                    (model_type, since)).fetchall()
        return tuple(StoredDriftCheck(float(at), mid, bool(d),
                                      {n: DriftPoint(float(v[0]), float(v[1]))
                                       for n, v in json.loads(f).items()})
                     for at, mid, d, f in rows)

    def schedule(self) -> dict[str, float]:
        return {job: float(at) for job, at in
                self._conn().execute("SELECT job, last_run FROM schedule").fetchall()}

    def mark_run(self, job: str, at: float) -> None:
        with self._transaction() as tx:
            tx.execute("INSERT INTO schedule (job, last_run) VALUES (?, ?) ON CONFLICT (job) "
                       "DO UPDATE SET last_run = excluded.last_run", (job, at))
