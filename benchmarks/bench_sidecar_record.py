"""Record ingestion: ``RecordStream`` throughput in batches of 1,000 records against a bare
grpcio stream receiving the same bytes, and the sidecar's resident memory after N records.

Claims: >= 300,000 records/s with the sidecar on one core; >= 0.5x the bare stream's rate;
sidecar RSS <= 200 MB after 10 million records.

The sidecar runs pinned to CPU 0 (``taskset``), the client on CPU 1. Batches are serialized
once up front and sent as raw bytes to both servers, so the client costs the same for both;
the bare server (``/bare.Echo/Sink``) only counts messages. Each record: ids, model type and
id, confidence, latency, 4 numeric features, a ~40-byte JSON prediction; every record goes to
the durable sample log (``log_samples`` on, the default; max_samples 200,000 by default, so older ones
are evicted).

Usage: ``python benchmarks/bench_sidecar_record.py [--records 10000000] [--write]``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import tempfile
import time

import grpc

from benchmarks.sidecar_harness import Proc, machine, set_table, start_bare, start_sidecar, write_section
from loopwise_proto.v1 import sidecar_pb2

BATCH = 1000


def make_batches(k: int) -> list[bytes]:
    out = []
    for b in range(k):
        ids = [f"req-{b}-{i}" for i in range(BATCH)]
        msg = sidecar_pb2.RecordBatch(
            request_id=ids, model_type=["invoice"] * BATCH,
            model_id=["inv-v1" if i % 2 else "inv-v2" for i in range(BATCH)],
            confidence=[(i % 100) / 100 for i in range(BATCH)],
            latency_ms=[5.0 + (i % 50) for i in range(BATCH)],
            numeric_names=["amount", "pages", "lines", "age_days"],
            numeric=[float((i * 7 + j) % 97) for i in range(BATCH) for j in range(4)],
            prediction=[json.dumps({"doc_type": "invoice", "total": i % 1000}) for i in range(BATCH)],
        )
        out.append(msg.SerializeToString())
    return out


def stream(channel: grpc.Channel, method: str, batches: list[bytes], n_batches: int) -> float:
    call = channel.stream_unary(method)

    def gen():  # type: ignore[no-untyped-def]
        for i in range(n_batches):
            yield batches[i % len(batches)]

    t0 = time.perf_counter()
    reply = call(gen(), timeout=3600)
    elapsed = time.perf_counter() - t0
    if method.endswith("RecordStream"):
        ack = sidecar_pb2.RecordAck.FromString(reply)
        assert ack.accepted == n_batches * BATCH and ack.rejected_batches == 0, ack
    return n_batches * BATCH / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=10_000_000)
    ap.add_argument("--rate-records", type=int, default=300_000)
    ap.add_argument("--max-samples", type=int, default=None,
                    help="the sidecar's store.max_samples (default: its default, 200,000)")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    if args.max_samples is not None:
        os.environ["SIDECAR_STORE_MAX_SAMPLES"] = str(args.max_samples)
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    batches = make_batches(50)
    size = sum(map(len, batches)) / len(batches)
    k = args.rate_records // BATCH
    with tempfile.TemporaryDirectory() as tmp:
        sc = start_sidecar(pathlib.Path(tmp), "0")
        bare = start_bare(pathlib.Path(tmp), "0")
        try:
            set_table(sc.info["admin_addr"])
            sch = grpc.insecure_channel(sc.info["data_addr"], options=[
                ("grpc.max_send_message_length", 16 << 20)])
            bch = grpc.insecure_channel(bare.info["addr"])
            sidecar_method = "/loopwise.v1.Sidecar/RecordStream"
            stream(sch, sidecar_method, batches, 20)  # warm-up
            stream(bch, "/bare.Echo/Sink", batches, 20)
            rates: dict[str, list[float]] = {"sidecar": [], "bare": []}
            for _ in range(3):
                rates["sidecar"].append(stream(sch, sidecar_method, batches, k))
                rates["bare"].append(stream(bch, "/bare.Echo/Sink", batches, k))
            t0 = time.perf_counter()
            sent = 40 + 3 * k
            remaining = max(0, args.records // BATCH - sent)
            if remaining:
                stream(sch, sidecar_method, batches, remaining)
            soak_s = time.perf_counter() - t0
            time.sleep(1.5)  # one flush
            total = (sent + remaining - 20) * BATCH
            rss = sc.rss_mb()
        finally:
            sc.stop()
            bare.stop()
    best = {k2: max(v) for k2, v in rates.items()}
    ratio = best["sidecar"] / best["bare"]
    ok = lambda c: "**PASS**" if c else "**MISS**"  # noqa: E731
    body = (
        "| stream | records/s (best of 3) | all runs |\n|---|---|---|\n"
        + "\n".join(f"| {n} | {best[n]:,.0f} | {', '.join(f'{r:,.0f}' for r in v)} |"
                    for n, v in rates.items())
        + f"\n\nBatch: {BATCH} records, {size / 1024:.1f} KiB serialized; {k} batches per run.\n"
        f"\nClaim ≥ 300,000 records/s (sidecar on one core): {best['sidecar']:,.0f} "
        f"{ok(best['sidecar'] >= 300_000)}\n"
        f"\nClaim ≥ 0.5× the bare stream: ratio {ratio:.3f} {ok(ratio >= 0.5)}\n"
        f"\nSample log bound (store.max_samples): "
        f"{os.environ.get('SIDECAR_STORE_MAX_SAMPLES', '200,000 (default)')}.\n"
        f"\nResident memory after {total:,} records into the sidecar "
        f"(soak of the last {remaining * BATCH:,} took {soak_s:.1f} s): "
        f"VmRSS {rss.get('VmRSS', 0):.0f} MB (anon {rss.get('RssAnon', 0):.0f} MB, file-backed "
        f"LMDB pages {rss.get('RssFile', 0):.0f} MB), peak VmHWM {rss.get('VmHWM', 0):.0f} MB. "
        f"Claim ≤ 200 MB: {ok(rss.get('VmRSS', 1e9) <= 200)}\n"
        f"\n```\n{machine()}\n```")
    print(body)
    if args.write:
        suffix = f", max_samples={args.max_samples:,}" if args.max_samples else ""
        write_section(f"Record ingestion (bench_sidecar_record.py{suffix})", body)


if __name__ == "__main__":
    main()
