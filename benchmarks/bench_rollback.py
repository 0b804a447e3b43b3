"""Rollback time to a fleet of real sidecars: from ``rollback`` (registry transition + routing
push with a higher generation through ``GrpcFleet``) until all 20 sidecars answer ``Route``
with the restored champion. Goal: p50 ≤ 1 s, p99 ≤ 2 s on loopback; reported as a ratio to
the seed's 5-minute requirement (the baseline).

Usage: ``python benchmarks/bench_rollback.py [--sidecars 20] [--rounds 30] [--write]``.
"""

from __future__ import annotations

import argparse
import pathlib
import resource
import sys
import tempfile
import time

import grpc
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.results import publish  # noqa: E402
from benchmarks.sidecar_harness import BENCH_TOKEN, Proc, start_sidecar  # noqa: E402
from learner import ContinuousLearner, LearningConfig  # noqa: E402
from learner.fleet.discovery import StaticDiscovery  # noqa: E402
from learner.fleet.grpc import GrpcFleet  # noqa: E402
from learner.registry import ModelRegistry  # noqa: E402
from loopwise_proto.v1 import sidecar_pb2, sidecar_pb2_grpc  # noqa: E402

MODEL = "doc_classifier"
SEED_REQUIREMENT_S = 300.0


def weights(seed: int) -> dict[str, np.ndarray]:
    return {"w": np.random.default_rng(seed).normal(size=(4, 4)).astype(np.float32)}


def all_route_to(stubs: list[sidecar_pb2_grpc.SidecarStub], model_id: str) -> bool:
    request = sidecar_pb2.RouteRequest(model_type=MODEL, key="bench-key")
    try:
        return all(s.Route(request, timeout=2).model_id == model_id for s in stubs)
    except grpc.RpcError:
        return False


def wait_until(stubs: list[sidecar_pb2_grpc.SidecarStub], model_id: str, timeout_s: float = 30.0) -> float:
    started = time.perf_counter()
    while not all_route_to(stubs, model_id):
        if time.perf_counter() - started > timeout_s:
            raise TimeoutError(f"sidecars did not converge on {model_id}")
    return time.perf_counter() - started


def run(n_sidecars: int, rounds: int, tmp: pathlib.Path) -> tuple[list[float], float]:
    procs: list[Proc] = []
    try:
        for i in range(n_sidecars):
            d = tmp / f"s{i}"
            d.mkdir()
            procs.append(start_sidecar(d))
        admin = [p.info["admin_addr"] for p in procs]
        data = [p.info["data_addr"] for p in procs]
        rss = sum(p.rss_mb()["VmRSS"] for p in procs)
        fleet = GrpcFleet(StaticDiscovery(admin), token=BENCH_TOKEN, data_addresses=dict(zip(admin, data)))
        registry = ModelRegistry(tmp / "registry")
        rng = np.random.default_rng(0)
        reference = {"amount": rng.normal(size=5000), "pages": rng.normal(size=5000)}
        learner = ContinuousLearner(LearningConfig(model_types=(MODEL,)), registry=registry, fleet=fleet,
                                    reference_data=lambda t, m: reference)
        stubs = [sidecar_pb2_grpc.SidecarStub(grpc.insecure_channel(a)) for a in data]
        champion = registry.register_model(weights(0), MODEL, MODEL, {"accuracy": 0.9})
        learner.promote(champion, reason="initial deployment")
        wait_until(stubs, champion)
        times = []
        for r in range(rounds):
            newer = registry.register_model(weights(r + 1), MODEL, MODEL, {"accuracy": 0.9})
            learner.promote(newer, reason="benchmark round")
            wait_until(stubs, newer)
            started = time.perf_counter()
            learner.rollback(MODEL, reason="benchmark rollback")
            converged = wait_until(stubs, champion)
            times.append(time.perf_counter() - started)
            assert converged <= times[-1]
        registry.close()
        return times, rss
    finally:
        for p in procs:
            p.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sidecars", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    with tempfile.TemporaryDirectory(prefix="bench_rollback_") as tmp:
        times, rss = run(args.sidecars, args.rounds, pathlib.Path(tmp))
    p50, p99 = float(np.percentile(times, 50)), float(np.percentile(times, 99))
    ok = "PASS" if p50 <= 1.0 and p99 <= 2.0 else "MISS"
    publish("Rollback", [
        f"`python benchmarks/bench_rollback.py --write`: {args.sidecars} real sidecar processes on loopback "
        f"(together {rss:.0f} MB resident), {args.rounds} rounds of promote → `rollback` (registry "
        "transition + routing push with a higher generation through `GrpcFleet`), timed until every "
        "sidecar's `Route` answers with the restored champion.",
        "",
        "| rollback until all sidecars route to the restored champion | p50 | p99 | max | seed requirement (baseline) | ratio (p99 / 300 s) | goal p50 ≤ 1 s, p99 ≤ 2 s |",
        "|---|---|---|---|---|---|---|",
        f"| {args.sidecars} sidecars | {p50 * 1e3:.0f} ms | {p99 * 1e3:.0f} ms | {max(times) * 1e3:.0f} ms "
        f"| 300 s | {p99 / SEED_REQUIREMENT_S:.5f} | {ok} |",
    ], write=args.write)


if __name__ == "__main__":
    main()
