"""``RecordBatch``: a serialized batch decoded in Rust equals the same data given as columns."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from loopwise_proto.v1 import sidecar_pb2
from statcore import Aggregate, BatchRejectedError, InvalidInputError, Layout, RecordBatch, Store

RULES = {"max_batch_records": 1000, "max_payload_bytes": 4096}


def _message(rng: np.random.Generator, n: int) -> sidecar_pb2.RecordBatch:
    return sidecar_pb2.RecordBatch(
        request_id=[f"r{i}" for i in range(n)], document_id=[f"d{i}" if i % 3 else "" for i in range(n)],
        model_type=["invoice"] * n, model_id=["a" if i % 4 else "b" for i in range(n)],
        ts_ms=[1_000 + 7 * i for i in range(n)], confidence=rng.random(n).tolist(),
        latency_ms=rng.gamma(2.0, 10.0, n).tolist(), error=[i % 10 == 0 for i in range(n)],
        numeric_names=["pages", "ignored", "amount"],
        numeric=np.where(rng.random(3 * n) < 0.05, np.nan, rng.normal(size=3 * n)).tolist(),
        categorical_names=["language"], categorical=[["en", "de", "xx"][i % 3] for i in range(n)],
        prediction=[json.dumps({"doc_type": "invoice", "i": i}) for i in range(n)],
        payload=[f"text {i}".encode() for i in range(n)])


def test_update_batch_equals_update_with_the_mapped_columns() -> None:
    rng = np.random.default_rng(5)
    msg = _message(rng, 400)
    layout = Layout([("amount", [-1.0, 0.0, 1.0]), ("pages", [-0.5, 0.5]), ("lines", [0.0])],
                    {"language": ["en", "de"]}, ["doc_type"])
    batch = RecordBatch.decode(msg.SerializeToString(), **RULES, model_types={"invoice"}, now_ms=5)
    assert len(batch) == 400
    for _, model_id, start, rows in batch.groups(10_000, {}, 0):
        got = Aggregate(layout, "invoice", model_id, start, start + 10_000)
        got.update_batch(batch, rows)
        num = np.array(msg.numeric).reshape(400, 3)[rows]
        want = Aggregate(layout, "invoice", model_id, start, start + 10_000)
        want.update(confidence=np.array(msg.confidence)[rows], latency_ms=np.array(msg.latency_ms)[rows],
                    numeric=np.ascontiguousarray(np.column_stack([num[:, 2], num[:, 0], np.full(len(rows), np.nan)])),
                    categorical={"language": [msg.categorical[r] for r in rows]},
                    error=np.array(msg.error, dtype=np.uint8)[rows])
        assert got.encode() == want.encode() and got.records == len(rows)


def test_append_batch_logs_every_record(tmp_path: pathlib.Path) -> None:
    msg = _message(np.random.default_rng(1), 30)
    batch = RecordBatch.decode(msg.SerializeToString(), **RULES, model_types={"invoice"}, now_ms=5)
    store = Store(tmp_path / "db")
    assert store.append_batch(batch) == 1
    store.flush(2_000)
    samples = store.pull(0, 100)
    assert [s.request_id for s in samples] == list(msg.request_id)
    assert [s.payload for s in samples] == list(msg.payload)
    assert [s.prediction.decode() for s in samples] == list(msg.prediction)
    assert [s.document_id for s in samples] == list(msg.document_id)
    assert batch.documents() == [(d, r) for d, r in zip(msg.document_id, msg.request_id) if d]
    store.close()


def test_refusals_are_typed_and_name_the_field() -> None:
    msg = _message(np.random.default_rng(2), 5)
    msg.latency_ms[3] = -1.0
    with pytest.raises(BatchRejectedError) as info:
        RecordBatch.decode(msg.SerializeToString(), **RULES, model_types={"invoice"}, now_ms=5)
    assert (info.value.reason, info.value.field) == ("invalid_number", "latency_ms[3]")
    assert isinstance(info.value, InvalidInputError) and isinstance(info.value, ValueError)
    with pytest.raises(BatchRejectedError) as info:
        RecordBatch.decode(b"\x0a\x05ab", **RULES, model_types={"invoice"}, now_ms=5)
    assert info.value.reason == "malformed"
    with pytest.raises(BatchRejectedError, match="model_type\\[0\\]"):
        RecordBatch.decode(_message(np.random.default_rng(3), 2).SerializeToString(), **RULES,
                           model_types={"receipt"}, now_ms=5)


def test_truncated_or_corrupted_bytes_are_refused_never_crash() -> None:
    """Every truncation and 2,000 random byte flips of a real batch: decoded or refused with a
    ``BatchRejectedError`` (never another exception, never a panic); whatever decodes agrees
    with protobuf's own parser on the record count."""
    rng = np.random.default_rng(9)
    raw = _message(rng, 20).SerializeToString()
    variants = [raw[:cut] for cut in range(len(raw))]
    for _ in range(2000):
        mutated = bytearray(raw)
        for pos in rng.integers(0, len(raw), rng.integers(1, 4)):
            mutated[pos] = int(rng.integers(0, 256))
        variants.append(bytes(mutated))
    decoded = 0
    for data in variants:
        try:
            batch = RecordBatch.decode(data, **RULES, model_types={"invoice"}, now_ms=5)
        except BatchRejectedError as e:
            assert e.reason in {"malformed", "empty_id", "unknown_model_type", "invalid_number", "oversized"}
            continue
        decoded += 1
        assert len(batch) == len(sidecar_pb2.RecordBatch.FromString(data).request_id)
    assert 0 < decoded < len(variants)


def test_latency_column_in_record_order() -> None:
    """The sidecar's cumulative latency histogram reads it, indexed by each group's rows."""
    msg = _message(np.random.default_rng(9), 50)
    batch = RecordBatch.decode(msg.SerializeToString(), **RULES, model_types={"invoice"}, now_ms=5)
    latency = batch.latency_ms()
    assert latency.dtype == np.float64 and latency.tolist() == list(msg.latency_ms)
    rows = np.concatenate([rows for *_, rows in batch.groups(10_000, {}, 0)])
    assert sorted(latency[rows].tolist()) == sorted(msg.latency_ms)
