"""One fleet collection cycle (pull + merge + drift + health, plus the status round every loop
tick makes) against real sidecars on loopback: the concurrent ``GetAggregatesStream`` path
against the old serial unary path (``GetAggregates`` + ``GetStatus`` one sidecar after the
other, every layout in every answer) in the same run, on the same sidecars.

Sidecars: in-process ``sidecar.server.create_server`` instances, ``--per-helper`` of them in
each helper process (this script with ``--helper``), each with its own LMDB directory and its
own data, admin and metrics servers on loopback ports. One ``python -m sidecar serve`` per
sidecar costs ~56 MB and an interpreter start each (``bench_rollback``: 20 took 1.1 GB), too
much for 100 on a 2-core box shared with other jobs; a helper shares one interpreter among its
sidecars but runs the same servers, servicers, store and ingest code. The helpers' sidecars
share one fake clock the benchmark moves (``--hours`` of history without waiting for it).

Traffic: 2 model types, 10 numeric features, 1-minute windows (the sidecar default),
``--per-window`` records per model type and minute, ``--hours`` of history. Cycles:

* **catch-up**: a learner's first pull (it reaches back 6 h: every window each sidecar holds);
* **hourly**: one more hour of traffic, then the drift tick: 60 new windows per model type and
  sidecar, plus the one-window overlap each pull re-asks (deduplicated).

Each cycle is timed on the learner side only: wall clock, and CPU with ``time.process_time``
(this process: the collector, the fleet's threads, grpc's threads; the sidecars run in the
helpers). Drift is ``DriftDetector.detect_drift`` of the champion's merged closed windows
against the baseline's reference, health ``assess_health`` of its merged windows; the status
round is ``Fleet.generations()`` + ``Fleet.reconcile()`` (the executor's ``resync``).

Usage: ``python benchmarks/bench_fleet_collection.py [--sidecars 100] [--per-helper 25]
[--hours 4] [--per-window 60] [--rounds 3] [--write]``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.results import publish  # noqa: E402
from learner.abtest import ArmStats  # noqa: E402
from learner.config import LearningConfig  # noqa: E402
from learner.drift import DriftDetector  # noqa: E402
from learner.errors import FleetError  # noqa: E402
from learner.fleet import Baseline, PullBatch, WindowCollector  # noqa: E402
from learner.fleet.discovery import StaticDiscovery  # noqa: E402
from learner.fleet.grpc import GrpcFleet  # noqa: E402
from learner.health import assess_health  # noqa: E402
from loopwise_proto.v1 import sidecar_pb2, sidecar_pb2_grpc  # noqa: E402
import statcore  # noqa: E402

TOKEN = "bench-admin-token-0123456789"  # token files: >= 16 bytes, owner-only
TYPES = ("doc_classifier", "field_extractor")
FEATURES = tuple(f"f{i}" for i in range(10))
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
GOAL_WALL_S, GOAL_CPU_CORES, TARGET = 10.0, 1.0, 1000
READING = (
    "Reading the numbers: a learner's first pull after it starts (the catch-up cycle: every window of"
    ' the last hours; 6 h back by default) misses the goal at 1,000 sidecars on both paths: its CPU '
    "is decoding and merging each sidecar's windows (statcore `Aggregate.decode` materialises the "
    'dense histograms of every window before it is merged; the stream costs a little more CPU than '
    "the unary call here, grpc's streaming machinery in Python). It happens once per learner start; "
    'every later tick is the hourly kind. The next step is merging the received bytes in one GIL-free'
    " crossing per window start (statcore's core has `merge_encoded`; the binding only exposes it as "
    'a static merge of a list), not a larger message. A stalled sidecar costs its own `timeout_s` and'
    ' nothing else (`tests/learner/fleet/test_grpc_collection.py`, a SIGSTOPped sidecar process).'
)


def champion(model_type: str) -> str:
    return f"{model_type}_1.0.0"


# ---- helper process: the sidecars ----------------------------------------------------------

def helper(count: int, base: pathlib.Path, start_ms: int) -> None:
    from prometheus_client import CollectorRegistry

    from sidecar.clock import FakeClock
    from sidecar.config import load_config
    from sidecar.server import create_server

    clock = FakeClock(start_ms)
    token = base / "token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    servers, addrs = [], []
    for i in range(count):
        config = load_config(overrides={
            "data_addr": "127.0.0.1:0", "admin_addr": "127.0.0.1:0", "metrics_addr": "127.0.0.1:0",
            "db": str(base / f"sidecar-{i}"), "admin_token_file": str(token), "server.workers": 2,
            "ingest.window_s": 60, "ingest.log_samples": False})
        server, ports = create_server(config, clock=clock, registry=CollectorRegistry())
        server.start()
        servers.append(server)
        addrs.append({"admin": ports.admin_addr, "data": ports.data_addr})
    print(json.dumps(addrs), flush=True)
    for line in sys.stdin:  # "at <ms>": move the clock; EOF: stop
        clock.advance(int(line.split()[1]) - clock.now_ms())
        print("ok", flush=True)
    for server in servers:
        server.stop()


class Helpers:
    """The helper processes and their sidecars' addresses."""

    def __init__(self, sidecars: int, per_helper: int, tmp: pathlib.Path, start_ms: int) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        self.admin: list[str] = []
        self.data: list[str] = []
        for h in range(0, sidecars, per_helper):
            base = tmp / f"helper-{h // per_helper}"
            base.mkdir()
            proc = subprocess.Popen(
                [sys.executable, __file__, "--helper", str(min(per_helper, sidecars - h)), str(base), str(start_ms)],
                cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), text=True,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            self.procs.append(proc)
        for proc in self.procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("a helper failed to start")
            for a in json.loads(line):
                self.admin.append(a["admin"])
                self.data.append(a["data"])

    def set_clock(self, ms: int) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(f"at {ms}\n")
            proc.stdin.flush()
        for proc in self.procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ok"

    def rss_mb(self) -> float:
        total = 0.0
        for proc in self.procs:
            for line in pathlib.Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        return total

    def stop(self) -> None:
        for proc in self.procs:
            if proc.stdin is not None:
                proc.stdin.close()
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


# ---- traffic -------------------------------------------------------------------------------

def hour_of_traffic(start_ms: int, per_window: int, rng: np.random.Generator, shift: float) -> bytes:
    """One hour of records of both model types, ``per_window`` per type and minute."""
    n_per_type = 60 * per_window
    ts = np.concatenate([start_ms + np.repeat(np.arange(60) * MINUTE_MS, per_window)
                         + rng.integers(0, MINUTE_MS, n_per_type) for _ in TYPES])
    n = ts.size
    types = [t for t in TYPES for _ in range(n_per_type)]
    batch = sidecar_pb2.RecordBatch(
        request_id=[f"r{start_ms}-{i}" for i in range(n)], model_type=types,
        model_id=[champion(t) for t in types], ts_ms=ts.tolist(),
        confidence=rng.uniform(0.5, 1.0, n).tolist(), latency_ms=rng.gamma(4.0, 5.0, n).tolist(),
        error=(rng.random(n) < 0.01).tolist(), numeric_names=list(FEATURES),
        numeric=(rng.standard_normal((n, len(FEATURES))) + shift).ravel().tolist())
    return batch.SerializeToString()


def record_everywhere(data_addrs: list[str], raw: bytes) -> None:
    def send(addr: str) -> None:
        with grpc.insecure_channel(addr) as channel:
            call = channel.unary_unary("/loopwise.v1.Sidecar/Record", request_serializer=None,
                                       response_deserializer=sidecar_pb2.RecordAck.FromString)
            ack = call(raw, timeout=60)
            assert ack.accepted > 0, ack

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, data_addrs))


# ---- the learner side ----------------------------------------------------------------------

class SerialUnaryFleet:
    """The baseline: the collection path before ``GetAggregatesStream`` (the removed serial
    loop): ``GetAggregates`` + ``GetStatus`` one sidecar after the other, status calls one
    after the other (``GrpcFleet`` with a bound of 1)."""

    def __init__(self, fleet: GrpcFleet) -> None:
        self._fleet = fleet

    def sidecars(self) -> list[str]:
        return self._fleet.sidecars()

    def pull_many(self, cursors: Mapping[str, int]) -> Iterator[tuple[str, PullBatch | FleetError]]:
        for name, after_seq in cursors.items():
            try:
                yield name, self._fleet.pull_unary(name, after_seq)
            except FleetError as exc:
                yield name, exc

    def ack(self, sidecar: str, seq: int) -> None:
        self._fleet.ack(sidecar, seq)

    def generations(self) -> dict[str, int]:
        return self._fleet.generations()

    def reconcile(self) -> list[str]:
        return self._fleet.reconcile()


@dataclass
class Cycle:
    wall_s: float
    cpu_s: float
    pull_wall_s: float
    pull_cpu_s: float
    status_wall_s: float
    analysis_wall_s: float
    new_windows: int
    stale: int


class Learner:
    """A collector over one fleet, plus the drift and health steps of one cycle."""

    def __init__(self, fleet: Any, baselines: list[Baseline]) -> None:
        self.collector = WindowCollector(fleet)
        self.fleet = fleet
        self.baselines = baselines
        config = LearningConfig()
        self.detector = DriftDetector(policy=config.drift_policy())
        self.health = config.health_policy()

    def cycle(self, since_ms: int) -> Cycle:
        cpu0, t0 = time.process_time(), time.perf_counter()
        result = self.collector.refresh()
        t1, cpu1 = time.perf_counter(), time.process_time()
        self.fleet.generations()
        self.fleet.reconcile()
        t2 = time.perf_counter()
        for b in self.baselines:
            window = self.collector.merged(b.model_type, b.model_id, since_ms=since_ms, include_open=False)
            assert window is not None and window.layout.fingerprint == b.layout.fingerprint
            self.detector.detect_drift(b.reference, window, 0.9)
            merged = self.collector.merged(b.model_type, b.model_id, since_ms=since_ms)
            assess_health(ArmStats.from_aggregate(b.model_id, merged), 0.9, self.health)
        t3 = time.perf_counter()
        return Cycle(t3 - t0, time.process_time() - cpu0, t1 - t0, cpu1 - cpu0, t2 - t1, t3 - t2,
                     result.new_windows, len(result.stale))


# ---- the run -------------------------------------------------------------------------------

def run(args: argparse.Namespace, tmp: pathlib.Path) -> dict[str, Any]:
    now = [1_800_000_000_000 - 1_800_000_000_000 % HOUR_MS]  # T0, an hour boundary
    history_start = now[0] - args.hours * HOUR_MS
    helpers = Helpers(args.sidecars, args.per_helper, tmp, history_start)
    clock = lambda: now[0] / 1000  # noqa: E731 - the learner's clock, moved with the sidecars'
    rng = np.random.default_rng(0)
    try:
        setup = GrpcFleet(StaticDiscovery(helpers.admin), token=TOKEN, timeout_s=30.0, clock=clock)
        table = statcore.RoutingTable(1, {t: statcore.Route(champion(t)) for t in TYPES})
        assert setup.push_routing(table).complete
        baselines = [Baseline.from_reference_data(t, champion(t), rng.standard_normal((5000, len(FEATURES))),
                                                  feature_names=FEATURES) for t in TYPES]
        for b in baselines:
            assert setup.push_baseline(b).complete
        setup.close()
        helpers.set_clock(now[0] + 1000)  # history recorded "late": every window lies in the past
        started = time.perf_counter()
        for h in range(args.hours):
            record_everywhere(helpers.data, hour_of_traffic(history_start + h * HOUR_MS, args.per_window, rng, 0.0))
        fill_s = time.perf_counter() - started
        now[0] += 1000

        def fleets(path: str) -> tuple[GrpcFleet, Any]:
            grpc_fleet = GrpcFleet(StaticDiscovery(helpers.admin), token=TOKEN, timeout_s=args.timeout_s,
                                   clock=clock, max_concurrent_pulls=args.bound if path == "new" else 1)
            return grpc_fleet, grpc_fleet if path == "new" else SerialUnaryFleet(grpc_fleet)

        results: dict[str, list[Cycle]] = {"new catch-up": [], "old catch-up": [], "new hourly": [],
                                           "old hourly": []}
        learners: dict[str, Learner] = {}
        opened: list[GrpcFleet] = []
        for r in range(args.rounds):  # catch-up: a fresh learner (fresh fleet and collector) each time
            for path in (("new", "old") if r % 2 == 0 else ("old", "new")):
                grpc_fleet, fleet = fleets(path)
                opened.append(grpc_fleet)
                learners[path] = Learner(fleet, baselines)
                fleet.generations()  # connect first: a learner's channels outlive its ticks
                results[f"{path} catch-up"].append(learners[path].cycle(now[0] - 24 * HOUR_MS))
        for r in range(args.rounds):  # hourly: one more hour of traffic (drifted), then both learners
            helpers.set_clock(now[0] + HOUR_MS)
            record_everywhere(helpers.data, hour_of_traffic(now[0] - 1000, args.per_window, rng, 0.3))
            since = now[0] - 1000
            now[0] += HOUR_MS + MINUTE_MS  # the hour's last window has closed
            helpers.set_clock(now[0])
            for path in (("new", "old") if r % 2 == 0 else ("old", "new")):
                results[f"{path} hourly"].append(learners[path].cycle(since))
        expected = {"catch-up": args.sidecars * 120 * args.hours, "hourly": args.sidecars * 120}
        for name, cycles in results.items():  # both paths merge every window, every time
            got = {(c.new_windows, c.stale) for c in cycles}
            if got != {(expected[name.split()[1]], 0)}:
                raise AssertionError(f"{name}: (windows merged, stale) {got}, expected {expected}")
        rss = helpers.rss_mb()
        for f in opened:
            f.close()
        return {"cycles": results, "fill_s": fill_s, "rss_mb": rss}
    finally:
        helpers.stop()


def _median(cycles: list[Cycle], field: str) -> float:
    return float(np.median([getattr(c, field) for c in cycles]))


def summarise(args: argparse.Namespace, out: dict[str, Any]) -> list[str]:
    n, k = args.sidecars, TARGET / args.sidecars
    lines = [
        f"`python benchmarks/bench_fleet_collection.py --sidecars {n} --rounds {args.rounds} --write`: "
        f"{n} real sidecars on loopback — in-process `create_server` instances, {args.per_helper} per helper "
        f"process ({-(-n // args.per_helper)} helpers, {out['rss_mb']:.0f} MB resident together), each with its "
        f"own LMDB directory and its own gRPC servers — holding {args.hours} h of 1-minute windows of 2 model "
        f"types with 10 numeric features ({args.per_window} records per type and minute; "
        f"{2 * 60 * args.hours} windows per sidecar; filled in {out['fill_s']:.0f} s). "
        f"New path: `GetAggregatesStream`, {args.bound} sidecars at a time (timeout {args.timeout_s:.0f} s per "
        "sidecar), decoded and merged on the loop's thread as answers arrive. Baseline (same run, same "
        "sidecars): the old serial `GetAggregates` + `GetStatus`. A cycle = pull + merge, the status round "
        "(`generations` + `reconcile`), drift and health of both model types; learner-side wall and CPU "
        f"(`time.process_time`), medians of {args.rounds} cycles (catch-up: a fresh learner each time, its "
        "channels connected before the timed cycle); every cycle merged every window, no sidecar stale.",
        "",
        "| cycle | path | wall (s) | learner CPU (s) | pull+merge wall / CPU (s) | status round (s) "
        "| drift+health (s) | windows merged | learner CPU per sidecar (ms) "
        f"| {TARGET:,}: learner CPU (s) | {TARGET:,}: wall, sidecars on their own pods (s) "
        f"| {TARGET:,}: wall, this run × {k:.0f} (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    cycles = out["cycles"]
    verdicts = []
    for kind in ("catch-up", "hourly"):
        old = cycles[f"old {kind}"]
        # What a pull waits for besides the learner's own CPU, per sidecar, measured serially.
        wait_s = max(0.0, _median(old, "pull_wall_s") - _median(old, "pull_cpu_s")) / n
        for path in ("new", "old"):
            cs = cycles[f"{path} {kind}"]
            wall, cpu, fixed = _median(cs, "wall_s"), _median(cs, "cpu_s"), _median(cs, "analysis_wall_s")
            cpu_1000 = cpu * k
            # The learner decodes and merges on one thread; the pool overlaps the waiting.
            bound = args.bound if path == "new" else 1
            wall_pods = cpu_1000 + TARGET * wait_s / bound
            wall_linear = fixed + (wall - fixed) * k
            lines.append(
                f"| {kind} | {path} | {wall:.2f} | {cpu:.2f} | {_median(cs, 'pull_wall_s'):.2f} / "
                f"{_median(cs, 'pull_cpu_s'):.2f} | {_median(cs, 'status_wall_s'):.2f} | {fixed:.3f} | "
                f"{cs[0].new_windows:,} | {cpu / n * 1e3:.1f} | {cpu_1000:.1f} | {wall_pods:.1f} | {wall_linear:.1f} |")
            if path == "new":
                verdicts.append((kind, cpu_1000, wall_pods, wall_linear))
    lines += ["", "Projection: the learner's CPU grows with the windows it receives, so per sidecar; drift "
              "and health read windows already merged across sidecars and do not grow. \"sidecars on their "
              "own pods\": the learner's CPU plus what it waits for per sidecar (measured by the serial "
              "baseline), divided by the pulls in flight. \"this run × N\": this box's wall scaled "
              "linearly, with the sidecars' own serving CPU on the learner's 2 cores (pessimistic).", ""]
    lines += [READING, ""]
    for kind, cpu, wall, linear in verdicts:
        ok = cpu <= GOAL_WALL_S * GOAL_CPU_CORES and wall <= GOAL_WALL_S
        lines.append(f"Goal for {TARGET:,} sidecars, {kind} cycle (≤ {GOAL_WALL_S:.0f} s wall, ≤ "
                     f"{GOAL_CPU_CORES:.0f} core of learner CPU): {cpu:.1f} s of learner CPU, {wall:.1f} s wall "
                     f"with the sidecars on their own pods ({linear:.1f} s scaled from this box) — "
                     f"**{'PASS' if ok else 'MISS'}**.")
    return lines


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--helper":
        helper(int(sys.argv[2]), pathlib.Path(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sidecars", type=int, default=100)
    parser.add_argument("--per-helper", type=int, default=25)
    parser.add_argument("--hours", type=int, default=4)
    parser.add_argument("--per-window", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bound", type=int, default=32, help="[fleet] max_concurrent_pulls of the new path")
    parser.add_argument("--timeout-s", type=float, default=30.0)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
    with tempfile.TemporaryDirectory(prefix="bench_fleet_") as tmp:
        out = run(args, pathlib.Path(tmp))
    publish("Fleet collection", summarise(args, out), write=args.write)


if __name__ == "__main__":
    main()
