"""Collection from a real statcore store into the learner's sample store (SQLite and
PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import statcore
from learner.synthetic import DocumentGenerator
from learner.training import SampleCollector, SampleStore, StatcoreStoreSource
from tests.learner.conftest import TestDatabase
from tests.learner.training.conftest import FakeClock, sidecar_samples

HOUR_MS = 3_600_000


def _sidecar(path: Path, n: int, ts_ms: int, prefix: str) -> statcore.Store:
    store = statcore.Store(path, map_size=1 << 22)
    docs = DocumentGenerator(seed=5).generate(n)
    store.append_and_flush([statcore.Sample(**kw) for kw in
                            sidecar_samples(docs, ts_ms, correction_every=3, prefix=prefix)],
                           ts_ms + n)
    return store


def test_collects_every_sidecar_acks_and_deduplicates(tmp_path: Path, clock: FakeClock,
                                                     test_database: TestDatabase) -> None:
    now_ms = int(clock() * 1000)
    a = _sidecar(tmp_path / "a", 25, now_ms - 2 * HOUR_MS, "a")
    b = _sidecar(tmp_path / "b", 7, now_ms - 2 * HOUR_MS, "b")
    store = SampleStore(test_database.location(tmp_path / "samples.db"))
    collector = SampleCollector(store, {"a": StatcoreStoreSource(a), "b": StatcoreStoreSource(b)},
                                grace_s=3600.0, clock=clock, batch_size=10)
    report = collector.collect()
    assert report.inserted == {"a": 25, "b": 7} and report.duplicates == 0
    assert a.cursor() == store.last_seq("a") and b.cursor() == store.last_seq("b")
    assert store.count("doc_type") == 32
    # a redelivery (the learner crashed after its commit, before the ack) adds nothing
    redelivered = StatcoreStoreSource(a).pull(0, 100)
    assert store.insert("a", redelivered) == 0 and store.count() == 32
    assert collector.collect().inserted == {"a": 0, "b": 0}
    store.close()


def test_samples_within_grace_wait_and_late_corrections_are_seen(tmp_path: Path, clock: FakeClock,
                                                                 test_database: TestDatabase) -> None:
    now_ms = int(clock() * 1000)
    sidecar = statcore.Store(tmp_path / "s", map_size=1 << 22)
    sidecar.append_and_flush([
        statcore.Sample(request_id="old", ts_ms=now_ms - 2 * HOUR_MS, prediction=b"invoice",
                        confidence=0.95, model_type="doc_type", payload=b"text"),
        statcore.Sample(request_id="young", ts_ms=now_ms - 60_000, prediction=b"invoice",
                        confidence=0.95, model_type="doc_type", payload=b"text"),
    ], now_ms)
    store = SampleStore(test_database.location(tmp_path / "samples.db"))
    collector = SampleCollector(store, {"s": StatcoreStoreSource(sidecar)}, grace_s=3600.0,
                                clock=clock)
    report = collector.collect()
    assert report.inserted == {"s": 1} and report.held_back == {"s": 1}
    sidecar.attach_label("young", b"quotation", True, now_ms)  # corrected within the grace
    clock.now += 3600
    assert collector.collect().inserted == {"s": 1}
    rows = {s.sample.request_id: s.sample for s in store.window("doc_type", 0, now_ms + 10**7)}
    assert rows["young"].label == b"quotation" and rows["young"].human_correction
    store.close()


def test_redelivery_with_a_correction_updates_the_stored_sample(tmp_path: Path, clock: FakeClock,
                                                               test_database: TestDatabase) -> None:
    from dataclasses import replace

    now_ms = int(clock() * 1000)
    sidecar = _sidecar(tmp_path / "s", 3, now_ms - 2 * HOUR_MS, "s")
    pulled = StatcoreStoreSource(sidecar).pull(0, 10)
    store = SampleStore(test_database.location(tmp_path / "samples.db"))
    assert store.insert("s", pulled) == 3
    unlabelled = next(s for s in pulled if s.label is None)
    fixed = replace(unlabelled, label=b"invoice", human_correction=True)
    assert store.insert("s", [fixed]) == 0
    rows = {s.sample.seq: s.sample for s in store.window("doc_type", 0, now_ms)}
    assert rows[unlabelled.seq].label == b"invoice"
    store.close()


def test_a_samples_file_from_before_schema_versions_is_adopted(tmp_path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(tmp_path / "samples.db")
    conn.executescript(
        "CREATE TABLE samples (sidecar TEXT NOT NULL, seq INTEGER NOT NULL, ts_ms INTEGER NOT NULL,"
        " model_type TEXT NOT NULL, model_id TEXT NOT NULL, request_id TEXT NOT NULL, "
        "document_id TEXT NOT NULL, payload BLOB NOT NULL, prediction BLOB NOT NULL, "
        "confidence REAL NOT NULL, label BLOB, human_correction INTEGER NOT NULL, "
        "PRIMARY KEY (sidecar, seq));"
        "CREATE INDEX samples_by_type_ts ON samples (model_type, ts_ms);"
        "INSERT INTO samples VALUES ('s', 7, 1000, 'doc_type', 'm', 'r', 'd', x'00', x'01', 0.9, "
        "NULL, 0);")
    conn.close()
    store = SampleStore(tmp_path / "samples.db")
    assert store.last_seq("s") == 7 and store.count("doc_type") == 1
    store.close()
