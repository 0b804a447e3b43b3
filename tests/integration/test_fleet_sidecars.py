"""The learner against three real sidecar processes over gRPC (``GrpcFleet``), in real time.

Injected drift is detected at the next check; the A/B test ends in a promotion; an injected
degradation causes an automatic rollback and every sidecar routes to the restored champion; a
sidecar that is down during the push converges after it returns.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np
import pytest

from learner import ContinuousLearner, LearningConfig
from learner.errors import FleetError
from learner.fleet.discovery import StaticDiscovery
from learner.fleet.grpc import GrpcFleet
from learner.registry import ModelRegistry
from learner.serve.runner import LearnerThread
from loopwise_proto.v1 import admin_pb2, admin_pb2_grpc, sidecar_pb2, sidecar_pb2_grpc
from tests.learner.simulation import FEATURES, FakeRetrainer, reference_rows, tiny_model
from tests.sidecar.conftest import TOKEN, SidecarProcess

MODEL = "doc_classifier"
pytestmark = pytest.mark.integration


class Traffic:
    """Requests routed and recorded through each sidecar's data plane, labelled via Feedback."""

    def __init__(self, data_addrs: list[str]) -> None:
        self.addrs = data_addrs
        self.shift = 0.0
        self.quality: dict[str, float] = {}
        self.default_quality = 0.95
        self.rng = np.random.default_rng(11)
        self.stop = threading.Event()
        self.down: set[int] = set()
        self.pool = ThreadPoolExecutor(8)
        self.sent = 0

    def _one_batch(self, i: int, n: int) -> None:
        channel = grpc.insecure_channel(self.addrs[i])
        stub = sidecar_pb2_grpc.SidecarStub(channel)
        try:
            keys = [f"doc-{self.sent}-{i}-{k}" for k in range(n)]
            served = [stub.Route(sidecar_pb2.RouteRequest(model_type=MODEL, key=k), timeout=2).model_id
                      for k in keys]
            feats = self.rng.standard_normal((n, len(FEATURES))) + self.shift
            right = [self.rng.random() < self.quality.get(m, self.default_quality) for m in served]
            ids = [f"req-{k}" for k in keys]
            stub.Record(sidecar_pb2.RecordBatch(
                request_id=ids, model_type=[MODEL] * n, model_id=served,
                confidence=[0.9] * n, latency_ms=[20.0] * n, numeric_names=list(FEATURES),
                numeric=feats.ravel().tolist(), prediction=[json.dumps({"doc_type": "invoice"})] * n), timeout=5)
            labels = [json.dumps({"doc_type": "invoice" if ok else "credit_memo"}) for ok in right]
            list(self.pool.map(lambda rl: stub.Feedback(sidecar_pb2.FeedbackRequest(
                request_id=rl[0], label=rl[1]), timeout=5), zip(ids, labels)))
        except grpc.RpcError:
            pass  # a sidecar being restarted
        finally:
            channel.close()

    def run(self) -> None:
        while not self.stop.is_set():
            for i in range(len(self.addrs)):
                if i not in self.down:
                    self._one_batch(i, 40)
            self.sent += 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sidecars(tmp_path: Path) -> Iterator[list[SidecarProcess]]:
    """Three sidecars on fixed loopback ports (a restarted one keeps its addresses)."""
    config = tmp_path / "sidecar.toml"
    config.write_text("[ingest]\nwindow_s = 1\nflush_interval_s = 0.2\n")
    procs = []
    for i in range(3):
        d = tmp_path / f"sidecar-{i}"
        d.mkdir()
        p = SidecarProcess(d, "--config", str(config), "--data-addr", f"127.0.0.1:{free_port()}",
                           "--admin-addr", f"127.0.0.1:{free_port()}")
        p.start()
        procs.append(p)
    yield procs
    for p in procs:
        if p.proc is not None and p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait()
        if not p.log.closed:
            p.log.close()


def generation(admin_addr: str) -> int:
    with grpc.insecure_channel(admin_addr) as channel:
        status = admin_pb2_grpc.AdminStub(channel).GetStatus(
            admin_pb2.GetStatusRequest(), metadata=[("authorization", f"Bearer {TOKEN}")], timeout=2)
    return int(status.routing_generation)


def wait_for(predicate: Callable[[], bool], timeout_s: float, step_s: float = 0.25) -> bool:
    """Polls ``predicate`` (a FleetError or an RPC error, e.g. no routing table yet or a sidecar
    still starting, counts as not yet)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            if predicate():
                return True
        except (FleetError, grpc.RpcError):
            pass
        time.sleep(step_s)
    return False


def test_drift_promotion_rollback_and_convergence_over_real_sidecars(
        tmp_path: Path, sidecars: list[SidecarProcess]) -> None:
    admin = [p.addrs["admin_addr"] for p in sidecars]
    data = [p.addrs["data_addr"] for p in sidecars]
    fleet = GrpcFleet(StaticDiscovery(admin), token=TOKEN, timeout_s=2.0, window_s=1.0,
                      data_addresses=dict(zip(admin, data)))
    rng = np.random.default_rng(3)
    config = LearningConfig(
        model_types=(MODEL,), drift_check_interval_s=1.0, ab_eval_interval_s=1.0,
        health_check_interval_s=2.0, ab_test_min_samples=150, ab_test_traffic_split=0.5,
        drift_min_samples=300, min_labelled_for_concept_drift=100000, health_min_labelled=150)

    def build(sleeper: Callable[[float], None]) -> ContinuousLearner:
        # Built on the learner's own thread: the registry's SQLite connection lives there.
        registry = ModelRegistry(tmp_path / "registry")
        if registry.get_champion(MODEL) is None:
            first = registry.register_model(tiny_model(0), MODEL, MODEL, {"accuracy": 0.95})
            registry.promote_to_champion(first, reason="initial deployment", metrics={"accuracy": 0.95})
        return ContinuousLearner(config, registry=registry, fleet=fleet, retrainer=FakeRetrainer(registry),
                                 reference_data=lambda t, m: reference_rows(rng), sleeper=sleeper)

    runner: LearnerThread[ContinuousLearner] = LearnerThread(build, on_exit=lambda lr: lr.registry.close())
    runner.start()
    champion = runner.call(lambda lr: lr.registry.get_champion(MODEL)["id"])
    counters = lambda: runner.call(lambda lr: dict(lr.counters))  # noqa: E731
    traffic = Traffic(data)
    traffic.quality[champion] = 0.95
    worker = threading.Thread(target=traffic.run, daemon=True)
    worker.start()
    try:
        # Stationary traffic: the champion serves everywhere, no drift.
        assert wait_for(lambda: all(fleet.route(MODEL, f"k{i}") == champion for i in range(3)), 20)
        time.sleep(4)
        assert counters()["drift_detected_count"] == 0

        # Drift: detected at the next check, a challenger is trained and gets an A/B test.
        traffic.shift = 0.8
        traffic.quality[champion] = 0.70
        assert wait_for(lambda: counters()["ab_tests_created"] >= 1, 40)
        assert counters()["drift_detected_count"] >= 1
        challenger = runner.call(lambda lr: lr.registry.get_challenger(MODEL)["id"])
        traffic.quality[challenger] = 0.97
        # The challenger's reference data is the unshifted one: stop the drift, or the promoted
        # challenger would be retrained against at once and the next test race the health check.
        traffic.shift = 0.0

        # The A/B test ends in a promotion.
        assert wait_for(lambda: counters()["promotions"] >= 1, 60)
        assert runner.call(lambda lr: lr.registry.get_champion(MODEL)["id"]) == challenger

        # One sidecar goes down; the new champion degrades; the health check rolls back.
        traffic.down.add(2)
        sidecars[2].stop()
        traffic.quality[challenger] = 0.40
        assert wait_for(lambda: counters()["rollbacks"] >= 1, 60)
        assert runner.call(lambda lr: lr.registry.get_champion(MODEL)["id"]) == champion
        live = GrpcFleet(StaticDiscovery(admin[:2]), token=TOKEN, data_addresses=dict(zip(admin, data)))
        assert all(live.route(MODEL, f"k{i}") == champion for i in range(10))

        # The sidecar comes back (same addresses, same LMDB) and converges at the next reconcile
        # on whatever table the fleet has by then (the learner may already test a new challenger).
        traffic.shift, traffic.quality[champion] = 0.0, 0.95
        sidecars[2].start()
        back = GrpcFleet(StaticDiscovery([admin[2]]), token=TOKEN, data_addresses={admin[2]: data[2]})
        keys = [f"k{i}" for i in range(10)]
        assert wait_for(lambda: generation(admin[2]) == generation(admin[0]) == generation(admin[1])
                        and [back.route(MODEL, k) for k in keys] == [live.route(MODEL, k) for k in keys], 45)
    finally:
        traffic.stop.set()
        runner.stop()
        worker.join(10)
        traffic.pool.shutdown()
