"""Store additions for the sidecar: named blobs and column-wise sample appends."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

import statcore
from statcore import Store


def test_blobs_round_trip_and_survive_reopen(tmp_path: pathlib.Path) -> None:
    with Store(tmp_path) as s:
        assert s.get_blob("baseline/a") is None
        s.put_blob("baseline/a", b"1")
        s.put_blob("baseline/b", b"2")
        s.put_blob("layout/x", b"3")
        with pytest.raises(statcore.InvalidInputError):
            s.put_blob("", b"x")
    with Store(tmp_path) as s:
        assert s.get_blob("baseline/a") == b"1"
        assert s.blobs_with_prefix("baseline/") == [("baseline/a", b"1"), ("baseline/b", b"2")]


def test_append_columns_equals_append(tmp_path: pathlib.Path) -> None:
    with Store(tmp_path / "a") as a, Store(tmp_path / "b") as b:
        first = a.append_columns(
            request_id=["r1", "r2"], ts_ms=np.array([5, 6]), prediction=['{"k": 1}', "{}"],
            confidence=np.array([0.5, 0.9]), model_type=["t", "t"], model_id=["m1", "m2"],
            document_id=["d1", ""], payload=[b"p", b""])
        seqs = b.append([statcore.Sample(request_id=r, ts_ms=t, prediction=p, confidence=c,
                                         model_type="t", model_id=m, document_id=d, payload=pl)
                         for r, t, p, c, m, d, pl in [("r1", 5, b'{"k": 1}', 0.5, "m1", "d1", b"p"),
                                                      ("r2", 6, b"{}", 0.9, "m2", "", b"")]])
        assert first == seqs[0]
        a.flush(10)
        b.flush(10)
        fields = ("seq", "ts_ms", "request_id", "document_id", "model_id", "payload",
                  "prediction", "confidence")
        pa, pb = a.pull(0, 10), b.pull(0, 10)
        assert [[getattr(s, f) for f in fields] for s in pa] == \
            [[getattr(s, f) for f in fields] for s in pb]


def test_append_columns_refuses_the_whole_batch(tmp_path: pathlib.Path) -> None:
    with Store(tmp_path) as s:
        with pytest.raises(statcore.InvalidInputError):
            s.append_columns(request_id=["r1", ""], ts_ms=np.array([1, 2]),
                             prediction=["{}", "{}"], confidence=np.array([0.5, 0.5]),
                             model_type=["t", "t"], model_id=["m", "m"])
        with pytest.raises(statcore.InvalidInputError):
            s.append_columns(request_id=["r1"], ts_ms=np.array([1, 2]), prediction=["{}"],
                             confidence=np.array([0.5]), model_type=["t"], model_id=["m"])
        s.flush(1)
        assert s.stats()["samples"] == 0
