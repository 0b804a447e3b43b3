"""``learner serve`` killed with SIGKILL at random points and restarted, over three real sidecars.

Each round starts an operation through the admin API — a promotion, a rollback, a new A/B test —
or just lets the loop run (the A/B test's looks), kills the learner at a random moment, and
restarts it. After every restart: exactly one champion per model type; within 5 s every sidecar
routes as the registry says (the champion, and the running test's challenger at its share);
the running test continues with its counts (not reset, never above what was recorded); the
events from before the kill are still listed; and at the end a promotion reaches every sidecar.
Sidecars keep a routing generation that a restarted learner must continue above.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from learner.fleet.discovery import StaticDiscovery
from learner.fleet.grpc import GrpcFleet
from learner.registry import ModelRegistry, ModelStatus
from loopwise_proto.v1 import learner_pb2 as pb
from loopwise_proto.v1 import learner_pb2_grpc, sidecar_pb2, sidecar_pb2_grpc
from tests.integration.test_fleet_sidecars import Traffic, free_port, sidecars  # noqa: F401 (fixture)
from tests.learner.simulation import tiny_model
from tests.sidecar.conftest import TOKEN, SidecarProcess

MODEL = "doc_classifier"
LEARNER_TOKEN = "learner-admin-token-0123456789"
ROOT = Path(__file__).resolve().parents[2]
ROUNDS = int(os.environ.get("LOOPWISE_RESTART_ROUNDS", "20"))
MODELS = ROUNDS + 4  # every promotion archives a model: enough for one per round
pytestmark = pytest.mark.integration


class LearnerProcess:
    """``learner serve`` as a real process; ``kill()`` is SIGKILL."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log_path = config, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.addr = ""

    def start(self, timeout_s: float = 30.0) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from learner.cli import main; sys.exit(main())",
             "serve", "--config", str(self.config)],
            stdout=subprocess.PIPE, stderr=log, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        log.close()
        assert self.proc.stdout is not None
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(self.proc.stdout.readline().decode()),  # type: ignore[union-attr]
                                  daemon=True)
        reader.start()
        reader.join(timeout_s)
        if not found or not found[0].strip():
            self.kill()
            raise RuntimeError(self.log_path.read_text()[-4000:])
        self.addr = json.loads(found[0])["admin_addr"]

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait(10)
            if self.proc.stdout is not None:
                self.proc.stdout.close()

    def stub(self) -> tuple[grpc.Channel, learner_pb2_grpc.LearnerAdminStub]:
        channel = grpc.insecure_channel(self.addr)
        return channel, learner_pb2_grpc.LearnerAdminStub(channel)


def call(learner: LearnerProcess, method: str, request: Any, timeout: float = 20.0) -> Any:
    channel, stub = learner.stub()
    try:
        return getattr(stub, method)(request, metadata=[("authorization", f"Bearer {LEARNER_TOKEN}")],
                                     timeout=timeout)
    finally:
        channel.close()


def table_of(data_addr: str) -> Any:
    """The routing table in force on a sidecar (the first message of WatchRouting)."""
    with grpc.insecure_channel(data_addr) as channel:
        stream = sidecar_pb2_grpc.SidecarStub(channel).WatchRouting(sidecar_pb2.WatchRoutingRequest(), timeout=3)
        try:
            return next(iter(stream))
        finally:
            stream.cancel()


def labelled_on_sidecars(fleet: GrpcFleet, test: Any) -> tuple[int, int]:
    """Each arm's labelled outcomes of ``test`` summed straight from every sidecar's windows
    (closed and open, served under the test's generation or later): an upper bound, taken after
    the learner's look, for what the learner may count — each window once."""
    totals = {test.champion_id: 0, test.challenger_id: 0}
    for sidecar in fleet.sidecars():
        batch = fleet.pull(sidecar, 0)
        windows = [(w.key.model_id, w.key.window_start_ms, w.key.generation, w.aggregate.labelled)
                   for w in batch.closed]
        windows += [(a.model_id, a.window_start_ms, batch.routing_generation, a.labelled) for a in batch.open]
        for model_id, start, generation, labelled in windows:
            if model_id in totals and start >= test.started_ms and generation >= test.generation:
                totals[model_id] += labelled
    return totals[test.champion_id], totals[test.challenger_id]


def registry_view(root: Path) -> tuple[list[str], list[str]]:
    """The champions of the type, and the models a promotion or a test may take."""
    with ModelRegistry(root) as reg:
        champions = [r.id for r in reg.list_models(MODEL, ModelStatus.CHAMPION)]
        eligible = [r.id for r in reg.list_models(MODEL)
                    if r.status in (ModelStatus.REGISTERED, ModelStatus.CHALLENGER)]
        return champions, eligible


@pytest.fixture
def learner_setup(tmp_path: Path, sidecars: list[SidecarProcess]) -> Iterator[tuple[LearnerProcess, Path]]:  # noqa: F811
    root = tmp_path / "registry"
    with ModelRegistry(root, actor="tests") as reg:
        for seed in range(MODELS):
            reg.register_model(tiny_model(seed), MODEL, MODEL, {"accuracy": 0.9})
        reg.promote_to_champion(f"{MODEL}_1.0.0", reason="initial deployment", metrics={"accuracy": 0.9})
    sidecar_token = tmp_path / "sidecar-token"
    sidecar_token.write_text(TOKEN + "\n")
    learner_token = tmp_path / "learner-token"
    learner_token.write_text(LEARNER_TOKEN + "\n")
    for token in (sidecar_token, learner_token):
        token.chmod(0o600)  # secrets: owner-only
    static = ", ".join(f'"{p.addrs["admin_addr"]}"' for p in sidecars)
    config = tmp_path / "learner.toml"
    config.write_text("\n".join([
        "[registry]", f'root = "{root}"',
        "[fleet]", f"static = [{static}]", f'admin_token_file = "{sidecar_token}"', "timeout_s = 2",
        "[server]", 'admin_addr = "127.0.0.1:0"', 'metrics_addr = "127.0.0.1:0"', f'admin_token_file = "{learner_token}"', "grace_s = 1",
        "[learning]", f'model_types = ["{MODEL}"]', "drift_check_interval_s = 1", "ab_eval_interval_s = 0.5",
        "health_check_interval_s = 2", "ab_test_min_samples = 20", "ab_test_traffic_split = 0.3",
        # Looks happen (the sequential state advances) but never promote: the test drives changes.
        "min_improvement_threshold = 1.0", "enable_auto_rollback = false", ""]))
    learner = LearnerProcess(config, tmp_path / "learner.log")
    learner.start()
    try:
        yield learner, root
    finally:
        learner.kill()


def _operation(rng: random.Random, learner: LearnerProcess, root: Path) -> str:
    """Start one admin operation on a thread (it may be cut short by the kill)."""
    champions, candidates = registry_view(root)
    champion = champions[0]
    kind = rng.choice(["promote", "rollback", "ab", "idle", "idle"])
    if kind == "promote":
        request: Any = pb.PromoteRequest(model_id=rng.choice(candidates), reason="restart test")
        method = "Promote"
    elif kind == "rollback":
        request, method = pb.RollbackRequest(model_type=MODEL, reason="restart test"), "Rollback"
    elif kind == "ab":
        request = pb.CreateABTestRequest(champion_id=champion, challenger_id=rng.choice(candidates),
                                         traffic_split=0.3)
        method = "CreateABTest"
    else:
        return kind

    def run() -> None:
        try:
            call(learner, method, request, timeout=10)
        except grpc.RpcError:
            pass  # killed mid-call, or refused (no earlier champion, a deprecated model ...)

    threading.Thread(target=run, daemon=True).start()
    return kind


def _running_test(learner: LearnerProcess) -> Any:
    tests = call(learner, "ListABTests", pb.ListABTestsRequest()).tests
    return next((t for t in tests if t.status == "running"), None)


def _routes_as_registry_says(sidecars: list[SidecarProcess], root: Path, test: Any) -> bool:  # noqa: F811
    champions, _ = registry_view(root)
    if len(champions) != 1:
        return False
    want_challenger = test.challenger_id if test is not None and test.champion_id == champions[0] else ""
    for p in sidecars:
        route = table_of(p.addrs["data_addr"]).routes[MODEL]
        if route.champion != champions[0] or route.challenger != want_challenger:
            return False
        if want_challenger and abs(route.challenger_share - test.traffic_split) > 1e-9:
            return False
    return True


def test_sigkill_at_random_points_then_restart(learner_setup: tuple[LearnerProcess, Path],
                                               sidecars: list[SidecarProcess]) -> None:  # noqa: F811
    learner, root = learner_setup
    rng = random.Random(20261204)
    traffic = Traffic([p.addrs["data_addr"] for p in sidecars])
    traffic.default_quality = 0.9
    worker = threading.Thread(target=traffic.run, daemon=True)
    worker.start()
    kinds: list[str] = []
    checked = 0
    fleet = GrpcFleet(StaticDiscovery([p.addrs["admin_addr"] for p in sidecars]), token=TOKEN,
                      timeout_s=5.0, window_s=1.0, first_pull_lookback_s=3600.0)
    try:
        # A test is running from the start, so most kills land during one.
        call(learner, "CreateABTest", pb.CreateABTestRequest(
            champion_id=f"{MODEL}_1.0.0", challenger_id=f"{MODEL}_1.0.1", traffic_split=0.3))
        for _ in range(ROUNDS):
            if _running_test(learner) is None:  # most kills should land during a test
                champions, eligible = registry_view(root)
                call(learner, "CreateABTest", pb.CreateABTestRequest(
                    champion_id=champions[0], challenger_id=eligible[0], traffic_split=0.3))
            time.sleep(rng.uniform(0.3, 1.5))  # let traffic, windows and looks happen
            before_events = [(e.seq, e.kind, e.message)
                             for e in call(learner, "ListEvents", pb.ListEventsRequest()).events]
            before_test = _running_test(learner)
            before_counts = None
            if before_test is not None:
                r = call(learner, "EvaluateABTest", pb.EvaluateABTestRequest(test_id=before_test.test_id))
                before_counts = (r.champion.labelled, r.challenger.labelled)
            kinds.append(_operation(rng, learner, root))
            time.sleep(rng.uniform(0.0, 0.4))
            learner.kill()
            learner.start()
            started = time.monotonic()

            champions, _ = registry_view(root)
            assert len(champions) == 1, champions
            test = _running_test(learner)
            deadline = started + 5.0
            while not _routes_as_registry_says(sidecars, root, test):
                assert time.monotonic() < deadline, (kinds[-1], [table_of(p.addrs["data_addr"]) for p in sidecars])
                time.sleep(0.1)
                test = _running_test(learner)
            after_events = [(e.seq, e.kind, e.message)
                            for e in call(learner, "ListEvents", pb.ListEventsRequest()).events]
            assert after_events[:len(before_events)] == before_events
            if before_test is not None and test is not None and test.test_id == before_test.test_id:
                assert test.started_ms == before_test.started_ms and test.generation == before_test.generation
                r = call(learner, "EvaluateABTest", pb.EvaluateABTestRequest(test_id=test.test_id))
                assert before_counts is not None
                # Counts come back from the sidecars' windows: not reset, each window once.
                assert r.champion.labelled >= before_counts[0] and r.challenger.labelled >= before_counts[1]
                most = labelled_on_sidecars(fleet, test)
                assert r.champion.labelled <= most[0] and r.challenger.labelled <= most[1], (r, most)
                checked += 1
        # A promotion after the last restart reaches every sidecar.
        _, eligible = registry_view(root)
        target = eligible[0]
        out = call(learner, "Promote", pb.PromoteRequest(model_id=target, reason="after the restarts"))
        assert sorted(out.applied) == sorted(p.addrs["admin_addr"] for p in sidecars)
        assert not out.missed and not out.refused
        assert all(table_of(p.addrs["data_addr"]).routes[MODEL].champion == target for p in sidecars)
        assert {"promote", "rollback", "ab", "idle"} <= set(kinds) or ROUNDS < 20
        assert checked >= ROUNDS // 4  # the test-continuity check ran on a fair share of rounds
    finally:
        traffic.stop.set()
        worker.join(10)
        traffic.pool.shutdown()
        fleet.close()
