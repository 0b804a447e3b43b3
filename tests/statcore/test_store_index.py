"""The store's record index: every recorded id is found, whatever its hash (issue 14).

The former hand-written id hash collided on structured ids (``r11-b121-106`` /
``r11-b129-109``) and a lookup stopped at the first hash match, so Feedback for the older id
answered NOT_FOUND. Lookups now confirm the stored id; these tests record a million structured
ids through the store and look every one of them up, by request id and by document id.
"""

from __future__ import annotations

import pathlib
import time

import pytest

from loopwise_proto.v1 import sidecar_pb2
from statcore import BatchRejectedError, RecordBatch, Store

RULES = {"max_batch_records": 1000, "max_payload_bytes": 4096}


def _batch(run: int, b: int, n: int) -> tuple[bytes, list[str], list[str]]:
    request_ids = [f"r{run}-b{b}-{i}" for i in range(n)]
    document_ids = [f"D{run}-b{b}s{i % 7}-{i}" for i in range(n)]
    msg = sidecar_pb2.RecordBatch(
        request_id=request_ids, document_id=document_ids, model_type=["clf"] * n,
        model_id=["m1"] * n, confidence=[0.5] * n, latency_ms=[1.0] * n)
    return msg.SerializeToString(), request_ids, document_ids


def test_the_issues_colliding_pairs_are_both_found(tmp_path: pathlib.Path) -> None:
    store = Store(tmp_path / "db")
    pairs = [("r11-b121-106", "Dr1-b191s2-4"), ("r11-b129-109", "Dr1-b199s2-9")]
    for request_id, document_id in pairs:
        msg = sidecar_pb2.RecordBatch(request_id=[request_id], document_id=[document_id],
                                      model_type=["clf"], model_id=["m1"], confidence=[0.5],
                                      latency_ms=[1.0])
        store.append_batch(RecordBatch.decode(msg.SerializeToString(), **RULES,
                                              model_types={"clf"}, now_ms=5))
        store.flush(10)
    for seq, (request_id, document_id) in enumerate(pairs, start=1):
        assert store.attach_label(request_id, b'{"doc_type": "x"}', False, 20) == seq
        assert store.request_for_document(document_id) == request_id
    store.close()


def test_a_million_structured_ids_are_all_found_by_request_and_document_id(
        tmp_path: pathlib.Path) -> None:
    store = Store(tmp_path / "db", map_size=256 << 20, max_samples=2_000_000)
    expected: list[tuple[str, str]] = []
    for run in range(10):
        for b in range(100):
            raw, request_ids, document_ids = _batch(run, b, 1000)
            store.append_batch(RecordBatch.decode(raw, **RULES, model_types={"clf"}, now_ms=5))
            expected.extend(zip(request_ids, document_ids))
        store.flush(10)
    assert len(expected) == 1_000_000 and store.stats()["samples"] == 1_000_000
    t0 = time.perf_counter()
    wrong_request = [(seq, r) for seq, (r, _) in enumerate(expected, start=1)
                     if store.find_request(r) != seq]
    wrong_document = [(r, d) for r, d in expected if store.request_for_document(d) != r]
    elapsed = time.perf_counter() - t0
    assert not wrong_request, f"{len(wrong_request)} request ids not found, e.g. {wrong_request[:3]}"
    assert not wrong_document, f"{len(wrong_document)} document ids not found, e.g. {wrong_document[:3]}"
    print(f"2,000,000 lookups in {elapsed:.1f} s")
    store.close()


def test_a_request_id_already_in_the_log_refuses_the_whole_batch(tmp_path: pathlib.Path) -> None:
    store = Store(tmp_path / "db")
    raw, _, _ = _batch(0, 0, 10)
    store.append_batch(RecordBatch.decode(raw, **RULES, model_types={"clf"}, now_ms=5))
    store.flush(10)
    again = sidecar_pb2.RecordBatch(request_id=["new-1", "r0-b0-7"], model_type=["clf"] * 2,
                                    model_id=["m1"] * 2, confidence=[0.5] * 2,
                                    latency_ms=[1.0] * 2)
    batch = RecordBatch.decode(again.SerializeToString(), **RULES, model_types={"clf"}, now_ms=5)
    with pytest.raises(BatchRejectedError) as e:
        store.append_batch(batch)
    assert (e.value.reason, e.value.field) == ("duplicate_id", "request_id[1]")
    assert "r0-b0-7" in e.value.detail and "seq 8" in e.value.detail
    assert store.stats()["pending"] == 0 and store.find_request("new-1") is None
    store.close()


def test_seqs_from_2_63_to_2_64_are_plain_ints_not_overflow_errors(tmp_path: pathlib.Path) -> None:
    """A protobuf uint64 seq >= 2^63 (PullSamples / AckSamples) raised OverflowError."""
    from statcore import InvalidInputError

    store = Store(tmp_path / "db")
    raw, _, _ = _batch(0, 0, 3)
    store.append_batch(RecordBatch.decode(raw, **RULES, model_types={"clf"}, now_ms=5))
    store.flush(10)
    assert store.pull(1 << 63, 10) == [] and store.pull((1 << 64) - 1, 10) == []
    assert [s.seq for s in store.pull(1, 10)] == [2, 3]
    for bad in (1 << 63, (1 << 64) - 1):
        with pytest.raises(InvalidInputError, match="never flushed"):
            store.ack(bad)
    for bad in (-1, 1 << 64):
        with pytest.raises(InvalidInputError, match="2\\*\\*64"):
            store.ack(bad)
        with pytest.raises(InvalidInputError):
            store.pull(bad, 10)
    store.ack(3)
    assert store.cursor() == 3
    store.close()


def test_long_ids_in_lookup_errors_are_quoted_as_bounded_excerpts(tmp_path: pathlib.Path) -> None:
    """A 2 MiB id echoed whole overflowed gRPC's metadata (RESOURCE_EXHAUSTED)."""
    import statcore

    huge = "z" * (2 << 20)
    router = statcore.Router(statcore.RoutingTable(1, {"clf": statcore.Route("m1")}))
    with pytest.raises(statcore.UnknownModelTypeError) as unknown:
        router.decide(huge, "k")
    store = Store(tmp_path / "db")
    with pytest.raises(statcore.NotFoundError) as missing:
        store.attach_label(huge, b"{}", False, 1)
    store.close()
    for e in (unknown.value, missing.value):
        assert len(str(e)) < 300 and f"({2 << 20} bytes)" in str(e), str(e)[:300]
