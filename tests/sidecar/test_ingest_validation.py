"""Issue 14: every field validated once at ingest, a batch accepted or refused whole, and one
bad window never costs the others their updates."""

from __future__ import annotations

import pathlib
from typing import Any

import grpc
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

import statcore
from loopwise_proto.v1 import admin_pb2
from sidecar.clock import FakeClock
from sidecar.config import load_config
from sidecar.errors import Rejected, RejectReason
from sidecar.server import SidecarServer, create_server
from sidecar.windows import WindowBook
from statcore import Store
from statcore._statcore import Aggregate, Layout
from tests.sidecar.conftest import Planes, batch, planes, write_token

Inproc = tuple[Planes, SidecarServer, CollectorRegistry]


def _refused(fn, *args) -> tuple[grpc.StatusCode, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as e:
        fn(*args)
    return e.value.code(), e.value.details()


def _stored_records(p: Planes) -> int:
    r = p.admin_call("GetAggregates", admin_pb2.GetAggregatesRequest(since_ms=0))
    layouts = {fp: Layout.decode(b) for fp, b in r.layouts.items()}
    return sum(Aggregate.decode(w.aggregate, layouts[w.layout_fingerprint]).records
               for w in r.windows)


def test_bad_model_ids_are_refused_and_every_good_record_survives_a_restart(
        tmp_path: pathlib.Path, clock: FakeClock) -> None:
    """The issue's reproduction: a model id too long for the window store (or with a NUL) used
    to be accepted, then poisoned every window flush; after a restart 40 of 60 acknowledged
    records were missing from the aggregates."""
    config = load_config(overrides={
        "data_addr": "127.0.0.1:0", "admin_addr": "127.0.0.1:0", "metrics_addr": "127.0.0.1:0",
        "db": str(tmp_path / "db"), "admin_token_file": str(write_token(tmp_path))})
    bad_ids = ["m" * (481 - len("invoice")), "inv\x00v1"]
    for round_ in range(2):
        server, ports = create_server(config, clock=clock, registry=CollectorRegistry())
        server.start()
        p = planes({"data_addr": ports.data_addr, "admin_addr": ports.admin_addr})
        try:
            if round_ == 0:
                p.set_table(1)
                for k in range(3):
                    clock.advance(10)
                    assert p.data.Record(batch(20, prefix=f"g{k}-")).accepted == 20
                    bad = bad_ids[k % 2]
                    code, details = _refused(p.data.Record, batch(1, prefix=f"b{k}-", model_id=bad))
                    assert code == grpc.StatusCode.INVALID_ARGUMENT
                    assert details.startswith("model_id[0]: ") and len(details) < 400, details
                    server.domain.windows.flush(clock.now_ms())
                # SetRoutingTable and GetAggregates work, and answer what they did.
                assert p.set_table(2, share=0.3).changed
                assert _stored_records(p) == 60
            else:
                assert _stored_records(p) == 60
                assert server.domain.store.stats()["samples"] == 60
        finally:
            p.close()
            server.stop()


def test_timestamps_out_of_range_are_refused_before_anything_is_logged(
        inproc: Inproc, clock: FakeClock) -> None:
    """``ts_ms`` near 2^63 used to answer INTERNAL (OverflowError) with the record already in
    the sample log; the year 3000 opened a far-future window."""
    p, server, _ = inproc
    p.set_table(1)
    now = clock.now_ms()
    for k, ts in enumerate([(1 << 63) - 1, 32_503_680_000_000, now + 301_000,
                            now - 8 * 86_400_000]):
        code, details = _refused(p.data.Record, batch(2, prefix=f"t{k}-", ts_ms=ts))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("ts_ms[0]: "), details
    stats = server.domain.store.stats()
    assert stats["samples"] + stats["pending"] == 0
    assert sum(a.records for a in server.domain.windows.current(now)) == 0
    assert p.data.Record(batch(2, prefix="ok-", ts_ms=now + 299_000)).accepted == 2


def test_request_ids_are_unique_within_a_batch_and_in_the_log(
        inproc: Inproc, clock: FakeClock) -> None:
    p, server, _ = inproc
    p.set_table(1)
    code, details = _refused(p.data.Record, batch(3, request_id=["a", "b", "a"]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("request_id[2]: ")
    assert p.data.Record(batch(3, prefix="x")).accepted == 3
    code, details = _refused(p.data.Record, batch(2, request_id=["y0", "x1"]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "already in the sample log" in details
    server.domain.store.flush(clock.now_ms())
    code, _ = _refused(p.data.Record, batch(1, request_id=["x2"]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert sum(a.records for a in server.domain.windows.current(clock.now_ms())) == 3
    assert server.domain.store.find_request("y0") is None


def test_a_2_mib_id_is_quoted_as_a_bounded_excerpt(inproc: Inproc) -> None:
    """The whole id in the message overflowed gRPC's metadata: RESOURCE_EXHAUSTED."""
    p, _, _ = inproc
    p.set_table(1)
    huge = "q" * (2 << 20)
    cases: list[dict[str, Any]] = [{"request_id": [huge]}, {"model_type": [huge]},
                                   {"model_id": [huge]}]
    for columns in cases:
        code, details = _refused(p.data.Record, batch(1, **columns))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and len(details) < 400, (code, len(details))
        assert f"({2 << 20} bytes)" in details


def _book(store: Store) -> WindowBook:
    return WindowBook(store, 1000, lambda mt: Layout([], {}, ["doc_type"]))


def _update(book: WindowBook, key: tuple[str, str, int], n: int) -> None:
    book.update(key, confidence=np.full(n, 0.5), latency_ms=np.full(n, 3.0))


def test_a_window_the_store_cannot_hold_is_never_opened_and_the_others_flush(
        tmp_path: pathlib.Path) -> None:
    """It used to be opened, then made every flush fail and drop every window's updates."""
    store = Store(tmp_path / "db")
    book = _book(store)
    _update(book, ("a", "m1", 0), 40)
    for bad in ("bad\x00id", "m" * 480):
        with pytest.raises(statcore.InvalidInputError):
            _update(book, ("a", bad, 0), 1)
    _update(book, ("a", "m2", 0), 20)
    assert book.flush(500) == 2
    stored = {mid: Aggregate.decode(blob, Layout([], {}, ["doc_type"])).records
              for _, mid, _, blob in store.windows_since(0)}
    assert stored == {"m1": 40, "m2": 20}
    store.close()


def test_window_flush_restores_the_dirty_set_on_any_failure(tmp_path: pathlib.Path) -> None:
    store = Store(tmp_path / "db")
    book = _book(store)
    _update(book, ("a", "m1", 0), 7)
    store.close()
    with pytest.raises(statcore.StoreError):
        book.flush(500)
    reopened = Store(tmp_path / "db")
    book._store = reopened  # the same book, its store back: the pending update is still there
    assert book.flush(500) == 1
    (window,) = reopened.windows_since(0)
    assert Aggregate.decode(window[3], Layout([], {}, ["doc_type"])).records == 7
    reopened.close()


def test_timestamp_bounds_are_configured_in_the_ingest_section(tmp_path: pathlib.Path) -> None:
    from sidecar.config import ConfigError, IngestConfig
    from sidecar.ingest import decode_batch

    config = load_config(env={"SIDECAR_INGEST_MAX_FUTURE_SKEW_S": "2.5",
                              "SIDECAR_INGEST_MAX_RECORD_AGE_S": "60"}, overrides={
        "db": str(tmp_path / "db"), "admin_token_file": str(write_token(tmp_path))})
    assert (config.ingest.max_future_skew_s, config.ingest.max_record_age_s) == (2.5, 60)
    assert IngestConfig().max_future_skew_s == 300.0
    now = 1_800_000_000_000
    for ts, ok in [(now + 2_500, True), (now + 2_501, False), (now - 60_000, True),
                   (now - 60_001, False)]:
        raw = batch(1, model_type="a", ts_ms=ts).SerializeToString()
        try:
            decode_batch(raw, config.ingest, {"a"}, now)
            accepted = True
        except Rejected as refusal:
            accepted = False
            assert (refusal.reason, refusal.field) == (RejectReason.OUT_OF_RANGE, "ts_ms[0]")
        assert accepted == ok, ts
    with pytest.raises(ConfigError) as bad:
        load_config(overrides={"db": str(tmp_path / "db"),
                               "admin_token_file": str(write_token(tmp_path)),
                               "ingest.max_future_skew_s": -1, "ingest.max_record_age_s": 0})
    assert {i.key for i in bad.value.issues} == {"ingest.max_future_skew_s",
                                               "ingest.max_record_age_s"}
