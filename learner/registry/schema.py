"""The registry's schema (models, ledger, backups, and the loop's durable state), per backend.

Invariants live in the database, not only in Python, on both backends:

* ``one_champion_per_type`` / ``one_challenger_per_type``: partial unique indexes, so a second
  champion or challenger for a model type cannot be written by any process.
* ``UNIQUE (name, major, minor, patch)``: no version is registered twice.
* ``ledger``, ``champion_backups`` and ``loop_events`` are append-only: triggers refuse every
  UPDATE and DELETE (and, on PostgreSQL, TRUNCATE).
* ``routing_generation_grows``: the routing table's generation only ever grows.

Released versions: 1 (models, ledger, backups), 2 (durable loop state). SQLite databases of
both exist in the field; PostgreSQL support starts with this code at version 2, built by the
same steps.
"""

from __future__ import annotations

from learner.db import Backend, Migration, Schema
from learner.registry.status import ModelStatus

__all__ = ["REGISTRY_SCHEMA"]

_STATUSES = ", ".join(f"'{status.value}'" for status in ModelStatus)
_PHASES = "'monitoring', 'retraining', 'ab_testing'"
_TEST_STATUSES = "'running', 'concluded', 'stopped'"
_EVENT_KINDS = ("'drift', 'retraining', 'ab_test', 'promotion', 'rollback', 'health', 'report', "
                "'routing'")

# Column types that differ: SQLite's REAL is 8 bytes (PostgreSQL's is 4); its INTEGER is 8
# bytes (PostgreSQL's is 4); its autoincrement key is an identity column there.
_TYPES = {
    Backend.SQLITE: {"real": "REAL", "bigint": "INTEGER", "seq": "INTEGER PRIMARY KEY AUTOINCREMENT"},
    Backend.POSTGRESQL: {"real": "DOUBLE PRECISION", "bigint": "BIGINT",
                         "seq": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"},
}


def _models(b: Backend) -> tuple[str, ...]:
    t = _TYPES[b]
    return (
        f"""
        CREATE TABLE models (
            id              TEXT PRIMARY KEY,
            name            TEXT NOT NULL,
            model_type      TEXT NOT NULL,
            major           INTEGER NOT NULL CHECK (major >= 0),
            minor           INTEGER NOT NULL CHECK (minor >= 0),
            patch           INTEGER NOT NULL CHECK (patch >= 0),
            status          TEXT NOT NULL CHECK (status IN ({_STATUSES})),
            artifact_sha256 TEXT NOT NULL CHECK (length(artifact_sha256) = 64),
            artifact_uri    TEXT NOT NULL,
            artifact_bytes  {t['bigint']} NOT NULL CHECK (artifact_bytes >= 0),
            artifact_kind   TEXT NOT NULL,
            metrics         TEXT NOT NULL DEFAULT '{{}}',
            metadata        TEXT NOT NULL DEFAULT '{{}}',
            base_model      TEXT,
            training_job    TEXT,
            data_window     TEXT,
            drift_report    TEXT,
            created_at      {t['real']} NOT NULL,
            updated_at      {t['real']} NOT NULL,
            UNIQUE (name, major, minor, patch)
        )
        """,
        "CREATE UNIQUE INDEX one_champion_per_type ON models (model_type) "
        "WHERE status = 'champion'",
        "CREATE UNIQUE INDEX one_challenger_per_type ON models (model_type) "
        "WHERE status = 'challenger'",
        "CREATE INDEX models_by_type_status ON models (model_type, status)",
        "CREATE INDEX models_by_base_model ON models (base_model) WHERE base_model IS NOT NULL",
        "CREATE INDEX models_by_training_job ON models (training_job) "
        "WHERE training_job IS NOT NULL",
        "CREATE INDEX models_by_drift_report ON models (drift_report) "
        "WHERE drift_report IS NOT NULL",
    )


def _append_only(b: Backend, table: str) -> tuple[str, ...]:
    """Triggers that refuse UPDATE and DELETE on ``table`` (and TRUNCATE on PostgreSQL)."""
    if b is Backend.SQLITE:
        return tuple(
            f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END"
            for op in ("UPDATE", "DELETE"))
    return tuple(
        f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} FOR EACH {level} "
        "EXECUTE FUNCTION loopwise_refuse_change()"
        for op, level in (("UPDATE", "ROW"), ("DELETE", "ROW"), ("TRUNCATE", "STATEMENT")))


# PostgreSQL: triggers call a function; 23000 (integrity_constraint_violation) is what the
# backend maps to a TRIGGER constraint violation, as SQLite's RAISE(ABORT) is.
_REFUSE_CHANGE = """
CREATE FUNCTION loopwise_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END $$
"""


def _ledger(b: Backend) -> tuple[str, ...]:
    t = _TYPES[b]
    return (
        f"""
        CREATE TABLE ledger (
            seq                  {t['seq']},
            at                   {t['real']} NOT NULL,
            model_id             TEXT NOT NULL REFERENCES models (id),
            model_type           TEXT NOT NULL,
            action               TEXT NOT NULL,
            from_status          TEXT CHECK (from_status IN ({_STATUSES})),
            to_status            TEXT NOT NULL CHECK (to_status IN ({_STATUSES})),
            actor                TEXT NOT NULL,
            reason               TEXT NOT NULL,
            statistics           TEXT NOT NULL DEFAULT '{{}}',
            previous_champion_id TEXT,
            fallback_id          TEXT
        )
        """,
        "CREATE INDEX ledger_by_model ON ledger (model_id, seq)",
        "CREATE INDEX ledger_by_type ON ledger (model_type, seq)",
        *_append_only(b, "ledger"),
        f"""
        CREATE TABLE champion_backups (
            seq        {t['seq']},
            at         {t['real']} NOT NULL,
            model_type TEXT NOT NULL,
            model_id   TEXT NOT NULL REFERENCES models (id),
            replaced_by TEXT NOT NULL,
            snapshot   TEXT NOT NULL
        )
        """,
        "CREATE INDEX champion_backups_by_type ON champion_backups (model_type, seq)",
        *_append_only(b, "champion_backups"),
    )


def _v1(b: Backend) -> tuple[str, ...]:
    functions = (_REFUSE_CHANGE,) if b is Backend.POSTGRESQL else ()
    return (*functions, *_models(b), *_ledger(b))


_GENERATION_GROWS = {
    Backend.SQLITE: (
        """
        CREATE TRIGGER routing_generation_grows BEFORE UPDATE ON routing
        WHEN NEW.generation <= OLD.generation
        BEGIN SELECT RAISE(ABORT, 'routing generation must grow'); END
        """,
    ),
    Backend.POSTGRESQL: (
        """
        CREATE FUNCTION loopwise_routing_generation_grows() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.generation <= OLD.generation THEN
                RAISE EXCEPTION 'routing generation must grow'
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            RETURN NEW;
        END $$
        """,
        "CREATE TRIGGER routing_generation_grows BEFORE UPDATE ON routing FOR EACH ROW "
        "EXECUTE FUNCTION loopwise_routing_generation_grows()",
    ),
}


def _v2(b: Backend) -> tuple[str, ...]:
    t = _TYPES[b]
    return (
        f"""
        CREATE TABLE loop_state (
            model_type TEXT PRIMARY KEY,
            phase      TEXT NOT NULL CHECK (phase IN ({_PHASES})),
            state      TEXT NOT NULL,
            updated_at {t['real']} NOT NULL
        )
        """,
        f"""
        CREATE TABLE routing (
            id         INTEGER PRIMARY KEY CHECK (id = 1),
            generation {t['bigint']} NOT NULL CHECK (generation >= 0),
            routes     TEXT NOT NULL,
            updated_at {t['real']} NOT NULL
        )
        """,
        # A generation only ever grows, whoever writes it.
        *_GENERATION_GROWS[b],
        f"""
        CREATE TABLE ab_tests (
            test_id       TEXT PRIMARY KEY,
            model_type    TEXT NOT NULL,
            champion_id   TEXT NOT NULL,
            challenger_id TEXT NOT NULL,
            traffic_split {t['real']} NOT NULL CHECK (traffic_split > 0 AND traffic_split < 1),
            started_ms    {t['bigint']} NOT NULL,
            generation    {t['bigint']} NOT NULL,
            status        TEXT NOT NULL CHECK (status IN ({_TEST_STATUSES})),
            sequential    TEXT NOT NULL,
            last_result   TEXT,
            ended_at      {t['real']}
        )
        """,
        "CREATE UNIQUE INDEX one_running_test_per_type ON ab_tests (model_type) "
        "WHERE status = 'running'",
        f"""
        CREATE TABLE loop_events (
            seq        {t['seq']},
            at         {t['real']} NOT NULL,
            kind       TEXT NOT NULL CHECK (kind IN ({_EVENT_KINDS})),
            model_type TEXT NOT NULL,
            subject    TEXT NOT NULL,
            message    TEXT NOT NULL,
            details    TEXT NOT NULL
        )
        """,
        "CREATE INDEX loop_events_by_type ON loop_events (model_type, at)",
        *_append_only(b, "loop_events"),
        f"""
        CREATE TABLE drift_checks (
            seq        {t['seq']},
            at         {t['real']} NOT NULL,
            model_type TEXT NOT NULL,
            model_id   TEXT NOT NULL,
            drift      INTEGER NOT NULL CHECK (drift IN (0, 1)),
            features   TEXT NOT NULL
        )
        """,
        "CREATE INDEX drift_checks_by_type ON drift_checks (model_type, at)",
        f"""
        CREATE TABLE schedule (
            job      TEXT PRIMARY KEY,
            last_run {t['real']} NOT NULL
        )
        """,
    )


REGISTRY_SCHEMA = Schema(
    name="registry",
    version_table="schema_version",
    migrations=(
        Migration(1, "models, lineage, append-only ledger and champion backups",
                  {b: _v1(b) for b in Backend}),
        Migration(2, "durable loop state: per-type phase and cursors, routing table, A/B tests, "
                     "event stream, drift checks, schedule",
                  {b: _v2(b) for b in Backend}),
    ),
)
