"""LMDB group commit: throughput and commit latency of ``statcore.Store`` (Rust, heed) by batch
size, against the Python ``lmdb`` binding writing the same bytes, one synced transaction per
batch, in the same run (the baseline skips our codec, index and counters: it is the floor).

Usage: ``python benchmarks/bench_store.py [--write]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import lmdb
import numpy as np

import statcore
from results import publish

PAYLOAD = bytes(256)


def samples(start: int, n: int) -> list[statcore.Sample]:
    return [
        statcore.Sample(
            request_id=f"r{start + i}", ts_ms=start + i, prediction=b'{"doc_type":"invoice"}',
            confidence=0.93, payload=PAYLOAD, model_type="doc", model_id="doc_1.0.0",
        )
        for i in range(n)
    ]


def ours(root: Path, batch: int, batches: int) -> tuple[float, float]:
    store = statcore.Store(str(root / f"ours{batch}"), map_size=1 << 30)
    prepared = [samples(k * batch, batch) for k in range(batches)]
    commit_ms = []
    t0 = time.perf_counter()
    for k, chunk in enumerate(prepared):
        store.append(chunk)
        c0 = time.perf_counter()
        store.flush(k)
        commit_ms.append((time.perf_counter() - c0) * 1e3)
    total = time.perf_counter() - t0
    store.close()
    return batch * batches / total, float(np.median(commit_ms))


def baseline(root: Path, batch: int, batches: int) -> tuple[float, float]:
    env = lmdb.open(str(root / f"bare{batch}"), map_size=1 << 30)
    record = b'{"doc_type":"invoice"}' + PAYLOAD
    commit_ms = []
    t0 = time.perf_counter()
    seq = 0
    for _ in range(batches):
        c0 = time.perf_counter()
        with env.begin(write=True) as txn:
            for _ in range(batch):
                seq += 1
                txn.put(seq.to_bytes(8, "big"), record)
        commit_ms.append((time.perf_counter() - c0) * 1e3)
    total = time.perf_counter() - t0
    env.close()
    return batch * batches / total, float(np.median(commit_ms))


def main() -> None:
    parser = argparse.ArgumentParser(description="LMDB group-commit benchmark")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_store_") as tmp:
        for batch, batches in [(1, 200), (100, 100), (1_000, 40), (10_000, 10)]:
            o_rate, o_ms = ours(Path(tmp), batch, batches)
            b_rate, b_ms = baseline(Path(tmp), batch, batches)
            rows.append(
                f"| {batch:,} | {o_rate:,.0f} rec/s, commit p50 {o_ms:.1f} ms | "
                f"{b_rate:,.0f} rec/s, commit p50 {b_ms:.1f} ms | {o_rate / b_rate:.2f} |"
            )
    publish("statcore store (LMDB group commit)", [
        "`python benchmarks/bench_store.py --write`: 256-byte payload samples appended then "
        "flushed (one synced LMDB transaction per batch: the batch as one segment value, the "
        "counters; the request index is in memory), against the Python `lmdb` binding putting "
        "the same bytes one value per record in one synced transaction per batch. Time "
        "includes the `Sample` objects' transfer into Rust (a sidecar's record batches skip it: "
        "they are stored as received).",
        "",
        "| batch | statcore.Store | bare py-lmdb (same run) | ratio |",
        "|---|---|---|---|",
        *rows,
    ], write=args.write)


if __name__ == "__main__":
    main()
