"""statcore.Store through Python: real LMDB files in tmp_path."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import lmdb
import pytest

import statcore
from statcore import (
    InvalidInputError,
    NotFoundError,
    Sample,
    StaleGenerationError,
    StatcoreError,
    Store,
    StoreError,
    StoreFullError,
)

SMALL = {"map_size": 1 << 20, "max_map_size": 64 << 20}


def make_sample(request_id: str, ts_ms: int = 1_000, **kw: object) -> Sample:
    fields: dict[str, object] = {
        "request_id": request_id,
        "ts_ms": ts_ms,
        "prediction": b'{"label": "a"}',
        "confidence": 0.5,
        "model_type": "clf",
        "model_id": "m1",
        "document_id": f"doc-{request_id}",
        "payload": f"payload-{request_id}".encode(),
    }
    fields.update(kw)
    return Sample(**fields)  # type: ignore[arg-type]


def fields(s: Sample) -> tuple[object, ...]:
    return (
        s.seq,
        s.ts_ms,
        s.model_type,
        s.model_id,
        s.request_id,
        s.document_id,
        s.payload,
        s.prediction,
        s.confidence,
        s.label,
        s.human_correction,
    )


def batch(prefix: str, n: int, ts_ms: int = 1_000) -> list[Sample]:
    return [make_sample(f"{prefix}-{i}", ts_ms) for i in range(n)]


def test_exports() -> None:
    for name in ("Store", "Sample", "NotFoundError"):
        assert name in statcore.__all__
    assert issubclass(NotFoundError, StatcoreError) and issubclass(NotFoundError, LookupError)
    assert issubclass(StoreFullError, StoreError)


def test_sample_constructor_and_validation() -> None:
    s = make_sample("r1", label=b"yes", human_correction=True)
    assert (s.seq, s.request_id, s.label, s.human_correction) == (0, "r1", b"yes", True)
    assert repr(s).startswith('Sample(seq=0, ts_ms=1000')
    minimal = Sample(request_id="r", ts_ms=0, prediction=b"{}", confidence=1.0)
    assert (minimal.payload, minimal.model_type, minimal.label) == (b"", "", None)
    with pytest.raises(AttributeError):
        s.seq = 3  # type: ignore[misc]
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(InvalidInputError, match="confidence"):
            make_sample("r", confidence=bad)
    with pytest.raises(InvalidInputError, match="request_id"):
        make_sample("")
    with pytest.raises(ValueError):  # InvalidInputError is also a ValueError
        make_sample("")


def test_routing_round_trip_and_stale_generation(tmp_path: Path) -> None:
    with Store(tmp_path / "db", **SMALL) as store:
        assert store.get_routing() is None
        store.put_routing(2, b"table-2")
        with pytest.raises(StaleGenerationError):
            store.put_routing(1, b"old")
        assert store.get_routing() == (2, b"table-2")
    with Store(tmp_path / "db", **SMALL) as store:
        assert store.get_routing() == (2, b"table-2")


def test_windows(tmp_path: Path) -> None:
    store = Store(str(tmp_path), **SMALL)
    store.put_window("b", "m", 10, b"b10")
    store.put_window("a", "m2", 20, b"a20")
    store.put_window("a", "m", 30, b"a30")
    store.put_window("a", "m", -5, b"old")
    assert store.get_window("a", "m", 30) == b"a30"
    assert store.get_window("a", "m", 31) is None
    assert store.windows_since(10) == [
        ("a", "m", 30, b"a30"),
        ("a", "m2", 20, b"a20"),
        ("b", "m", 10, b"b10"),
    ]
    assert store.delete_windows_before(20) == 2
    assert [w[:3] for w in store.windows_since(-(2**63))] == [("a", "m", 30), ("a", "m2", 20)]
    with pytest.raises(InvalidInputError, match="model_type"):
        store.put_window("a\0b", "m", 0, b"")


def test_group_commit_pull_ack_and_reopen(tmp_path: Path) -> None:
    store = Store(tmp_path, **SMALL)
    seqs = store.append(batch("r", 1_000))
    assert seqs == list(range(1, 1_001))
    assert store.stats()["pending"] == 1_000
    assert store.pull(0, 10) == []  # not flushed: not visible
    store.flush(now_ms=2_000)
    stats = store.stats()
    assert (stats["samples"], stats["pending"], stats["oldest_seq"], stats["newest_seq"]) == (
        1_000,
        0,
        1,
        1_000,
    )
    assert stats["last_flush_ms"] == 2_000 and stats["bytes"] > 0
    page = store.pull(store.cursor(), 100)
    assert [s.seq for s in page] == list(range(1, 101))
    assert fields(page[4]) == (5, 1_000, "clf", "m1", "r-4", "doc-r-4", b"payload-r-4",
                               b'{"label": "a"}', 0.5, None, False)
    store.ack(page[-1].seq)
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.cursor()
    store = Store(tmp_path, **SMALL)
    assert store.cursor() == 100
    assert store.pull(store.cursor(), 1)[0].seq == 101
    with pytest.raises(InvalidInputError):
        store.ack(5_000)  # never flushed
    with pytest.raises(InvalidInputError, match="after_seq"):
        store.pull(-1, 10)


def test_unflushed_samples_are_lost_and_seqs_reissued(tmp_path: Path) -> None:
    store = Store(tmp_path, **SMALL)
    store.append_and_flush(batch("a", 3), now_ms=0)
    store.append(batch("b", 2))
    store.close()
    store = Store(tmp_path, **SMALL)
    assert store.stats()["samples"] == 3
    assert store.append(batch("c", 1)) == [4]


def test_rejected_batch_stores_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path, **SMALL)
    good = batch("r", 3)
    with pytest.raises(TypeError):
        store.append([*good, "not a sample"])  # type: ignore[list-item]
    assert store.stats()["pending"] == 0
    assert store.append(good) == [1, 2, 3]


def test_attach_label(tmp_path: Path) -> None:
    store = Store(tmp_path, **SMALL)
    store.append_and_flush(batch("r", 3), now_ms=0)
    assert store.attach_label("r-2", b"cat", True, 10) == 3
    store.append([make_sample("late")])
    assert store.attach_label("late", b"dog", False, 11) == 4  # buffered: flushed with it
    assert store.stats()["pending"] == 0
    with pytest.raises(NotFoundError):
        store.attach_label("missing", b"x", False, 12)
    with pytest.raises(LookupError):
        store.attach_label("missing", b"x", False, 12)
    store.close()
    labelled = {s.request_id: (s.label, s.human_correction) for s in Store(tmp_path).pull(0, 10)}
    assert labelled == {
        "r-0": (None, False),
        "r-1": (None, False),
        "r-2": (b"cat", True),
        "late": (b"dog", False),
    }


def test_eviction_by_count_and_age_is_counted(tmp_path: Path) -> None:
    store = Store(tmp_path, max_samples=5, max_age_ms=1_000, **SMALL)
    store.append_and_flush(batch("a", 4, ts_ms=0), now_ms=0)
    store.append_and_flush(batch("b", 4, ts_ms=500), now_ms=500)
    stats = store.stats()
    assert (stats["samples"], stats["oldest_seq"], stats["evicted_total"]) == (5, 4, 3)
    with pytest.raises(NotFoundError):
        store.attach_label("a-0", b"x", False, 0)  # index entry went with the sample
    store.flush(now_ms=1_200)  # cutoff 200: a-3 (ts 0) goes
    stats = store.stats()
    assert (stats["samples"], stats["oldest_seq"], stats["evicted_total"]) == (4, 5, 4)
    store.close()
    store = Store(tmp_path, max_samples=5, max_age_ms=1_000, **SMALL)
    assert store.stats()["evicted_total"] == 4
    assert store.append(batch("c", 1)) == [9]  # seqs are never reused


def test_map_growth_and_store_full(tmp_path: Path) -> None:
    grow = Store(tmp_path / "grow", map_size=64 * 1024, max_map_size=64 << 20)
    big = [make_sample(f"r{i}", payload=b"x" * 1_000) for i in range(1_000)]
    grow.append_and_flush(big, now_ms=0)
    assert grow.stats()["map_size"] > 64 * 1024
    assert grow.stats()["samples"] == 1_000

    full = Store(tmp_path / "full", map_size=64 * 1024, max_map_size=256 * 1024)
    full.append(big)
    with pytest.raises(StoreFullError):
        full.flush(now_ms=0)
    stats = full.stats()
    assert (stats["pending"], stats["samples"], stats["map_size"]) == (1_000, 0, 256 * 1024)


def test_bad_config(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="max_map_size"):
        Store(tmp_path, map_size=1 << 20, max_map_size=1 << 10)
    with pytest.raises(InvalidInputError, match="max_samples"):
        Store(tmp_path, max_samples=-1)
    with pytest.raises(InvalidInputError, match="max_age_ms"):
        Store(tmp_path, max_age_ms=-1)


def test_same_directory_twice_in_one_process(tmp_path: Path) -> None:
    store = Store(tmp_path, **SMALL)
    with pytest.raises(StoreError, match="already open"):
        Store(tmp_path, **SMALL)
    store.close()
    Store(tmp_path, **SMALL).close()


def test_threads_share_one_store(tmp_path: Path) -> None:
    store = Store(tmp_path, **SMALL)

    def work(t: int) -> None:
        for i in range(20):
            store.append_and_flush(batch(f"t{t}-{i}", 10), now_ms=i)
            store.pull(0, 5)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert [s.seq for s in store.pull(0, 10_000)] == list(range(1, 801))


def test_files_are_real_lmdb(tmp_path: Path) -> None:
    store = Store(tmp_path, **SMALL)
    store.append_and_flush(batch("r", 3), now_ms=0)
    store.append_and_flush(batch("s", 2), now_ms=0)
    assert store.attach_label("r-1", b'{"a": 1}', True, 0) == 2
    store.put_routing(7, b"blob")
    store.put_window("t", "m", 0, b"w")
    store.close()
    env = lmdb.open(str(tmp_path), readonly=True, lock=False, max_dbs=8)
    try:
        with env.begin() as txn:
            names = {bytes(k) for k, _ in txn.cursor()}
            assert names >= {b"meta", b"segments", b"labels", b"windows", b"routing"}
            # One segment per appended batch, keyed by its first seq; labels apart, by seq.
            segments = env.open_db(b"segments", txn=txn, create=False)
            rows = [(bytes(k), bytes(v)) for k, v in txn.cursor(db=segments)]
            assert [k for k, _ in rows] == [seq.to_bytes(8, "big") for seq in (1, 4)]
            assert all(v[:4] == b"LWSG" for _, v in rows)
            assert [int.from_bytes(v[14:18], "little") for _, v in rows] == [3, 2]
            labels = env.open_db(b"labels", txn=txn, create=False)
            assert [bytes(k) for k, _ in txn.cursor(db=labels)] == [(2).to_bytes(8, "big")]
            assert txn.get((2).to_bytes(8, "big"), db=labels).endswith(b'{"a": 1}')
            meta = env.open_db(b"meta", txn=txn, create=False)
            assert txn.get(b"format", db=meta) == b"LWST" + (2).to_bytes(2, "little")
    finally:
        env.close()


def test_future_format_version_is_refused(tmp_path: Path) -> None:
    Store(tmp_path, **SMALL).close()
    env = lmdb.open(str(tmp_path), max_dbs=8, map_size=1 << 20)
    with env.begin(write=True) as txn:
        meta = env.open_db(b"meta", txn=txn, create=False)
        txn.put(b"format", b"LWST" + (99).to_bytes(2, "little"), db=meta)
    env.close()
    with pytest.raises(StoreError, match="format version 99"):
        Store(tmp_path, **SMALL)
