"""The lease in the shared database (SQLite or PostgreSQL, through ``learner.db``).

Every call is one write transaction in the registry's write scope: it reads the row, applies
:func:`~learner.leader.lease.decide` and writes the result, so two replicas asking at once are
serialised by the database. :meth:`LeaseStore.fence` runs inside a caller's write transaction
(a registry transition, the loop's state, a routing table): it refuses to let a replica whose
token is no longer current commit anything, and because it takes the same write lock as a
takeover, no write of a deposed leader can commit after the new leader's lease did.

Expiry is judged on the database's clock (``Database.clock``) unless a clock is given (tests),
so replicas on machines with skewed clocks agree on it.

Its own versioned schema (``lease_schema_version``), so adding it moves no other schema.
"""

from __future__ import annotations

from collections.abc import Callable

from learner.db import Backend, Database, Location, Migration, Schema, WriteScope, migrate
from learner.db import open_database
from learner.leader.errors import NotLeaderError
from learner.leader.lease import Lease, LeaseOutcome, LeaseVerdict, decide

__all__ = ["LEASE_SCHEMA", "LeaseStore"]

_TABLE = """
CREATE TABLE leader_lease (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    address     TEXT NOT NULL,
    token       {bigint} NOT NULL CHECK (token >= 1),
    acquired_at {real} NOT NULL,
    expires_at  {real} NOT NULL
)
"""
_TOKEN_GROWS = {
    Backend.SQLITE: ("CREATE TRIGGER leader_lease_token_never_shrinks BEFORE UPDATE ON leader_lease "
                     "WHEN NEW.token < OLD.token "
                     "BEGIN SELECT RAISE(ABORT, 'fencing token must not shrink'); END",),
    Backend.POSTGRESQL: (
        """
        CREATE FUNCTION loopwise_lease_token_never_shrinks() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.token < OLD.token THEN
                RAISE EXCEPTION 'fencing token must not shrink'
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            RETURN NEW;
        END $$
        """,
        "CREATE TRIGGER leader_lease_token_never_shrinks BEFORE UPDATE ON leader_lease "
        "FOR EACH ROW EXECUTE FUNCTION loopwise_lease_token_never_shrinks()",
    ),
}
LEASE_SCHEMA = Schema("lease", "lease_schema_version", (
    Migration(1, "leader lease with a fencing token", {
        Backend.SQLITE: (_TABLE.format(bigint="INTEGER", real="REAL"), *_TOKEN_GROWS[Backend.SQLITE]),
        Backend.POSTGRESQL: (_TABLE.format(bigint="BIGINT", real="DOUBLE PRECISION"),
                             *_TOKEN_GROWS[Backend.POSTGRESQL]),
    }),
))
_COLUMNS = "name, holder, address, token, acquired_at, expires_at"


def _read(conn: Database, name: str) -> Lease | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM leader_lease WHERE name = ?", (name,)).fetchone()
    return None if row is None else Lease(row[0], row[1], row[2], int(row[3]), float(row[4]),
                                          float(row[5]))


class LeaseStore:
    """One replica's handle on the lease ``name``: acquire or renew, release, fence, read."""

    def __init__(self, location: Location, *, replica: str, address: str, ttl_s: float = 10.0,
                 name: str = "learner", clock: Callable[[], float] | None = None,
                 busy_timeout_s: float = 5.0) -> None:
        if not ttl_s > 0:
            raise ValueError(f"ttl_s must be > 0, got {ttl_s}")
        if not replica or not address:
            raise ValueError("replica and address must be non-empty")
        self._db = open_database(location, busy_timeout_s=busy_timeout_s)
        self._clock = clock or self._db.clock
        try:
            migrate(self._db, LEASE_SCHEMA, self._clock)
        except BaseException:
            self._db.close()
            raise
        self.replica, self.address, self.ttl_s, self.name = replica, address, ttl_s, name

    def close(self) -> None:
        self._db.close()

    def acquire(self) -> LeaseOutcome:
        """Take a free or expired lease (a new token), renew our own, or learn who leads."""
        with self._db.transaction(WriteScope.REGISTRY) as tx:
            current = _read(tx, self.name)
            outcome = decide(current, self.replica, self.address, now=self._clock(),
                             ttl_s=self.ttl_s, name=self.name)
            lease = outcome.lease
            if outcome.verdict is not LeaseVerdict.REFUSED:
                tx.execute(
                    f"INSERT INTO leader_lease ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
                    "address = excluded.address, token = excluded.token, "
                    "acquired_at = excluded.acquired_at, expires_at = excluded.expires_at",
                    (lease.name, lease.holder, lease.address, lease.token, lease.acquired_at,
                     lease.expires_at))
            return outcome

    def release(self, token: int) -> None:
        """Give up our lease now (a clean shutdown) so a standby takes over without waiting
        for the expiry; the token stays, so the next leader's is higher."""
        with self._db.transaction(WriteScope.REGISTRY) as tx:
            tx.execute("UPDATE leader_lease SET expires_at = ? WHERE name = ? AND holder = ? "
                       "AND token = ?", (self._clock(), self.name, self.replica, token))

    def current(self) -> Lease | None:
        """The lease as stored (live or not)."""
        return _read(self._db, self.name)

    def fence(self, tx: Database, token: int) -> None:
        """Inside the caller's write transaction: raise :class:`NotLeaderError` unless we still
        hold a live lease with ``token``. The transaction then rolls back as a whole."""
        lease = _read(tx, self.name)
        if (lease is None or lease.holder != self.replica or lease.token != token
                or not lease.live(self._clock())):
            live = lease is not None and lease.live(self._clock())
            raise NotLeaderError(lease.holder if live and lease else None,
                                 lease.address if live and lease else None,
                                 lease.token if lease else None)
