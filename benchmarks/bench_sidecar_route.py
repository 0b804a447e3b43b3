"""Route latency: the sidecar's ``Route`` (unary) and ``RouteStream`` (bidirectional) against
bare grpcio echo servers measured in the same run.

Claims: ``Route`` p50 <= 1.15x a bare unary echo's p50; ``RouteStream`` p50 <= 1.15x a bare
bidirectional echo's p50. The sidecar and the bare server run as separate processes pinned to
CPU 0 (the client to CPU 1); measurements alternate between the two in blocks so drifting load
hits both.

Usage: ``python benchmarks/bench_sidecar_route.py [--n 5000] [--write]``.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import queue
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import numpy as np

from benchmarks.sidecar_harness import machine, set_table, start_bare, start_sidecar, write_section
from loopwise_proto.v1 import sidecar_pb2, sidecar_pb2_grpc


def _lockstep(call: Callable[[Iterator[Any]], Iterator[Any]]) -> Callable[[Any], Any]:
    """One message out, wait for its reply, over one long-lived stream."""
    q: queue.Queue[Any] = queue.Queue()

    def gen() -> Iterator[Any]:
        while True:
            item = q.get()
            if item is None:
                return
            yield item

    replies = call(gen())

    def roundtrip(msg: Any) -> Any:
        q.put(msg)
        return next(replies)

    roundtrip.close = lambda: q.put(None)  # type: ignore[attr-defined]
    return roundtrip


def _measure(fns: dict[str, Callable[[int], Any]], n: int, blocks: int = 10) -> dict[str, np.ndarray]:
    out: dict[str, list[int]] = {k: [] for k in fns}
    for fn in fns.values():  # warm up
        for i in range(300):
            fn(i)
    per = n // blocks
    for b in range(blocks):
        for name, fn in fns.items():
            for i in range(b * per, (b + 1) * per):
                t0 = time.perf_counter_ns()
                fn(i)
                out[name].append(time.perf_counter_ns() - t0)
    return {k: np.asarray(v) / 1000.0 for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:  # type: ignore[operator]
        os.sched_setaffinity(0, {1})
    with tempfile.TemporaryDirectory() as tmp:
        sc = start_sidecar(pathlib.Path(tmp), "0")
        bare = start_bare(pathlib.Path(tmp), "0")
        try:
            set_table(sc.info["admin_addr"])
            sch = grpc.insecure_channel(sc.info["data_addr"])
            bch = grpc.insecure_channel(bare.info["addr"])
            stub = sidecar_pb2_grpc.SidecarStub(sch)
            reqs = [sidecar_pb2.RouteRequest(model_type="invoice", key=f"user-{i}", tag=i)
                    for i in range(args.n)]
            raw = [r.SerializeToString() for r in reqs]
            bare_unary = bch.unary_unary("/bare.Echo/Unary")
            bare_bidi = _lockstep(bch.stream_stream("/bare.Echo/Bidi"))
            route_stream = _lockstep(stub.RouteStream)
            res = _measure({
                "Route (sidecar, unary)": lambda i: stub.Route(reqs[i]),
                "bare unary echo": lambda i: bare_unary(raw[i]),
                "RouteStream (sidecar, bidi)": lambda i: route_stream(reqs[i]),
                "bare bidi echo": lambda i: bare_bidi(raw[i]),
            }, args.n)
            route_stream.close()  # type: ignore[attr-defined]
            bare_bidi.close()  # type: ignore[attr-defined]
        finally:
            sc.stop()
            bare.stop()
    rows = ["| call | p50 µs | p90 µs | p99 µs | n |", "|---|---|---|---|---|"]
    p50 = {}
    for name, us in res.items():
        p50[name] = float(np.percentile(us, 50))
        rows.append(f"| {name} | {p50[name]:.1f} | {np.percentile(us, 90):.1f} | "
                    f"{np.percentile(us, 99):.1f} | {len(us)} |")
    r1 = p50["Route (sidecar, unary)"] / p50["bare unary echo"]
    r2 = p50["RouteStream (sidecar, bidi)"] / p50["bare bidi echo"]
    verdict = lambda r: "**PASS**" if r <= 1.15 else "**MISS**"  # noqa: E731
    body = "\n".join(rows) + (
        f"\n\nClaim `Route` p50 ≤ 1.15× bare unary echo: ratio {r1:.3f} {verdict(r1)}\n"
        f"\nClaim `RouteStream` p50 ≤ 1.15× bare bidi echo: ratio {r2:.3f} {verdict(r2)}\n"
        "\nSidecar and bare server: separate processes pinned to CPU 0; client pinned to CPU 1; "
        "sequential calls (one in flight), blocks alternating between the servers. The bare "
        "server echoes raw bytes (no protobuf parsing), so the ratio includes the sidecar's "
        "parse + decide + serialize + metrics.\n\n```\n" + machine() + "\n```")
    print(body)
    if args.write:
        write_section("Route latency (bench_sidecar_route.py)", body)


if __name__ == "__main__":
    main()
