"""Ingest: serialized batches decoded by statcore, grouped by (model, window), logged."""

from __future__ import annotations

import pathlib
import time

import pytest

from sidecar.config import IngestConfig
from sidecar.errors import Rejected, RejectReason
from sidecar.ingest import Ingest, decode_batch
from sidecar.windows import WindowBook
from statcore import Store
from statcore._statcore import Layout
from tests.sidecar.conftest import batch

KNOWN = frozenset({"a", "b"})


@pytest.fixture
def ingest(tmp_path: pathlib.Path):  # type: ignore[no-untyped-def]
    store = Store(tmp_path / "db")
    layout = Layout([], {}, ["doc_type"])
    windows = WindowBook(store, 1000, lambda mt: layout)
    yield Ingest(IngestConfig(), store, windows), windows
    store.close()


def _groups(windows: WindowBook, raw: bytes, now_ms: int) -> dict[tuple[str, str, int], list[int]]:
    decoded = decode_batch(raw, IngestConfig(), KNOWN, now_ms)
    epochs, cut = windows.epochs()
    return {(mt, mid, start): rows.tolist()
            for mt, mid, start, rows in decoded.groups(windows.window_ms, epochs, cut)}


def test_groups_split_by_model_and_window(ingest) -> None:  # type: ignore[no-untyped-def]
    ing, windows = ingest
    msg = batch(6, model_type=["a", "b", "a", "a", "b", "a"], model_id=["m1", "m2", "m1", "m3", "m2", "m1"])
    msg.ts_ms[:] = [5_100, 5_200, 6_100, 5_300, 5_400, 5_999]
    raw = msg.SerializeToString()
    assert _groups(windows, raw, 5_500) == {
        ("a", "m1", 5000): [0, 5], ("a", "m1", 6000): [2], ("a", "m3", 5000): [3], ("b", "m2", 5000): [1, 4]}
    assert ing.apply(decode_batch(raw, IngestConfig(), KNOWN, 5_500), 5_500) == {"a": 4, "b": 2}
    assert sorted((x.model_id, x.records) for x in windows.current(5_500)) == [
        ("m1", 2), ("m2", 2), ("m3", 1)]


def test_layout_epoch_starts_a_new_window(ingest) -> None:  # type: ignore[no-untyped-def]
    _, windows = ingest
    windows.layout_changed("a", 5_400)
    msg = batch(3, model_type="a")
    msg.ts_ms[:] = [5_300, 5_450, 6_050]
    assert sorted(_groups(windows, msg.SerializeToString(), 5_500)) == [
        ("a", "inv-v1", 5_400), ("a", "inv-v1", 6_000)]


def test_a_routing_cut_starts_a_new_window_for_every_model_type(ingest) -> None:  # type: ignore[no-untyped-def]
    _, windows = ingest
    windows.cut(5_200)
    msg = batch(2, model_type=["a", "b"])
    msg.ts_ms[:] = [5_100, 5_300]
    assert sorted(_groups(windows, msg.SerializeToString(), 5_500)) == [
        ("a", "inv-v1", 5_200), ("b", "inv-v1", 5_200)]


def test_decode_refuses_ragged_optional_columns() -> None:
    with pytest.raises(Rejected) as e:
        decode_batch(batch(3, model_type="a", document_id=["x"]).SerializeToString(), IngestConfig(), KNOWN, 1)
    assert e.value.reason is RejectReason.MALFORMED and e.value.field == "document_id"


def test_logged_records_are_found_by_document_id_before_and_after_the_flush(
        ingest, tmp_path: pathlib.Path) -> None:  # type: ignore[no-untyped-def]
    ing, _ = ingest
    msg = batch(3, model_type="a", document_id=["d0", "", "d2"])
    ing.apply(decode_batch(msg.SerializeToString(), IngestConfig(), KNOWN, 5_000), 5_000)
    store = ing._store
    assert store.request_for_document("d2") == msg.request_id[2]
    assert store.request_for_document("") is None and store.request_for_document("d1") is None
    store.flush(5_000)
    assert store.request_for_document("d0") == msg.request_id[0]


def test_a_backlog_is_flushed_in_the_background_and_twice_it_by_the_ingest_thread(
        tmp_path: pathlib.Path) -> None:
    store = Store(tmp_path / "db")
    windows = WindowBook(store, 1000, lambda mt: Layout([], {}, ["doc_type"]))
    ing = Ingest(IngestConfig(flush_max_pending=4), store, windows)
    inline: list[int] = []
    ing.flush_now = lambda: (inline.append(store.pending()), store.flush(9_000))  # type: ignore[func-returns-value]
    raw = batch(3, model_type="a").SerializeToString()
    ing.apply(decode_batch(raw, IngestConfig(), KNOWN, 5_000), 5_000)
    assert store.pending() == 3 and store.stats().get("last_flush_ms") is None  # below the bound
    # Request ids are unique in the log: the second batch carries new ones.
    raw2 = batch(3, prefix="s", model_type="a").SerializeToString()
    ing.apply(decode_batch(raw2, IngestConfig(), KNOWN, 5_001), 5_001)  # 6 >= 4: background
    deadline = time.monotonic() + 10
    while store.pending() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.pending() == 0 and store.stats()["last_flush_ms"] == 5_001 and not inline
    big = batch(9, prefix="t", model_type="a").SerializeToString()
    ing.apply(decode_batch(big, IngestConfig(), KNOWN, 5_002), 5_002)  # 9 >= 8: inline
    assert inline == [9] and store.pending() == 0
    store.close()
