"""Crash safety: a child process writes to a statcore.Store and is SIGKILLed at random moments.

The child reports a seq on stdout only after ``append_and_flush`` (or ``attach_label``) returned,
so every reported write must survive the kill. After each kill the parent reopens the store
and checks that it opens, that the log is a contiguous run of seqs covering everything
reported, and that every stored record has exactly the contents the child wrote.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from statcore import Sample, Store

REPO_ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 24
BATCH = 200
STORE_KW = {"map_size": 1 << 20, "max_map_size": 1 << 30}  # small start: growth happens mid-run


def sample_for(request_id: str, ts_ms: int) -> Sample:
    digest = hashlib.sha256(request_id.encode()).digest()
    return Sample(
        request_id=request_id,
        ts_ms=ts_ms,
        model_type="clf",
        model_id=f"m{digest[0] % 3}",
        document_id=request_id[::-1],
        payload=digest * 8,
        prediction=json.dumps({"rid": request_id}).encode(),
        confidence=digest[1] / 255,
    )


def child_main(path: str) -> None:
    """Appends and flushes batches forever; reports each durable write on stdout."""
    store = Store(path, **STORE_KW)
    prefix = f"p{os.getpid()}"
    previous_first = ""
    for b in range(1_000_000):
        rids = [f"{prefix}-{b}-{i}" for i in range(BATCH)]
        seqs = store.append_and_flush([sample_for(r, b) for r in rids], now_ms=b)
        print(f"F {seqs[-1]}", flush=True)
        if previous_first:
            seq = store.attach_label(previous_first, b"label-" + previous_first.encode(), True, b)
            print(f"L {seq} {previous_first}", flush=True)
        previous_first = rids[0]


def expected_fields(s: Sample) -> tuple[object, ...]:
    e = sample_for(s.request_id, s.ts_ms)
    return (e.model_type, e.model_id, e.document_id, e.payload, e.prediction, e.confidence)


def actual_fields(s: Sample) -> tuple[object, ...]:
    return (s.model_type, s.model_id, s.document_id, s.payload, s.prediction, s.confidence)


def run_child_and_kill(path: Path, delay_s: float) -> list[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", f"from {__name__} import child_main; child_main({str(path)!r})"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay_s)
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, f"child exited early: {err[-2000:]}"
    return [line for line in out.splitlines() if line]


def test_sigkill_never_loses_a_reported_write(tmp_path: Path) -> None:
    rng = random.Random(20261128)
    path = tmp_path / "store"
    reported_max = 0
    labels: dict[int, str] = {}
    kills_after_writes = 0
    verified = 0  # records up to this seq were checked after an earlier kill
    started = time.monotonic()
    for _ in range(ROUNDS):
        lines = run_child_and_kill(path, delay_s=rng.uniform(0.1, 0.5))
        round_seqs = [int(line.split()[1]) for line in lines if line.startswith("F ")]
        if round_seqs:
            kills_after_writes += 1
            assert min(round_seqs) > reported_max, "a flushed seq was issued again"
            reported_max = max(round_seqs)
        for line in lines:
            if line.startswith("L "):
                _, seq, rid = line.split()
                labels[int(seq)] = rid

        store = Store(path, **STORE_KW)  # must open after every kill
        try:
            stats = store.stats()
            count = stats["samples"]
            assert (stats["oldest_seq"], stats["newest_seq"]) == (min(count, 1), count)
            assert count >= reported_max, "a reported flush is missing"
            # every record written since the last check, plus a random sample of older ones
            fresh = store.pull(verified, 10_000_000)
            assert [s.seq for s in fresh] == list(range(verified + 1, count + 1))
            picks = rng.sample(range(1, verified + 1), min(verified, 100))
            old = [store.pull(seq - 1, 1)[0] for seq in picks]
            for s in fresh + old:
                assert actual_fields(s) == expected_fields(s), f"corrupt record {s!r}"
            for seq, rid in labels.items():
                (s,) = store.pull(seq - 1, 1)
                assert (s.seq, s.request_id, s.label, s.human_correction) == (
                    seq,
                    rid,
                    b"label-" + rid.encode(),
                    True,
                )
            verified = count
        finally:
            store.close()
    assert kills_after_writes >= ROUNDS // 2, "the child rarely got to write before the kill"
    assert time.monotonic() - started < 40
