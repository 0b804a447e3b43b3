"""In-process client routing: ``SidecarClient(in_process=True).route()`` latency.

Claim: p50 <= 2 µs. Baseline in the same run: a bare ``statcore`` ``Router.decide`` call (the
hash alone) and a Python dict lookup. The client gets its table from a real sidecar over
``WatchRouting``; each timed sample is the mean of 100 consecutive calls (timer overhead
amortised), over 2,000 samples with distinct keys.

Usage: ``python benchmarks/bench_client_inprocess.py [--write]``.
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile
import time
from collections.abc import Callable

import numpy as np

from benchmarks.sidecar_harness import machine, set_table, start_sidecar, write_section
from sidecar.client import SidecarClient


def _samples(fn: Callable[[str], object], keys: list[str], inner: int = 100) -> np.ndarray:
    out = []
    for s in range(len(keys) // inner):
        chunk = keys[s * inner:(s + 1) * inner]
        t0 = time.perf_counter_ns()
        for k in chunk:
            fn(k)
        out.append((time.perf_counter_ns() - t0) / inner)
    return np.asarray(out) / 1000.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    keys = [f"user-{i}" for i in range(200_000)]
    with tempfile.TemporaryDirectory() as tmp:
        sc = start_sidecar(pathlib.Path(tmp))
        try:
            set_table(sc.info["admin_addr"], share=0.3)
            with SidecarClient(sc.info["data_addr"], in_process=True) as client:
                assert client.wait_for_table(10)
                router = client._router  # the statcore Router the client decides with
                assert router is not None
                table = {k: "inv-v1" for k in keys[:1000]}
                fns = {
                    "SidecarClient.route (in-process)": lambda k: client.route("invoice", k),
                    "baseline: statcore Router.decide": lambda k: router.decide("invoice", k),
                    "baseline: dict.get": lambda k: table.get(k),
                }
                for fn in fns.values():
                    _samples(fn, keys[:20_000])
                res = {name: _samples(fn, keys) for name, fn in fns.items()}
        finally:
            sc.stop()
    rows = ["| call | p50 µs | p99 µs |", "|---|---|---|"]
    for name, us in res.items():
        rows.append(f"| {name} | {np.percentile(us, 50):.3f} | {np.percentile(us, 99):.3f} |")
    p50 = float(np.percentile(res["SidecarClient.route (in-process)"], 50))
    body = "\n".join(rows) + (
        f"\n\nClaim in-process `route()` p50 ≤ 2 µs: {p50:.3f} µs "
        f"{'**PASS**' if p50 <= 2 else '**MISS**'} (each sample: mean of 100 calls).\n"
        f"\n```\n{machine()}\n```")
    print(body)
    if args.write:
        write_section("In-process client routing (bench_client_inprocess.py)", body)


if __name__ == "__main__":
    main()
