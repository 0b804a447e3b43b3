"""Fleet collection over real gRPC (sidecars on loopback, port 0): the streamed pull returns
exactly the unary call's windows, concurrent pulls merge every window exactly once, a stalled
sidecar delays nobody, and a sidecar without the stream is still collected."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import time
from collections.abc import Iterator
from concurrent import futures

import grpc
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

import statcore
from learner.errors import FleetError, SidecarUnreachableError
from learner.fleet import Baseline, WindowCollector
from learner.fleet.discovery import StaticDiscovery
from learner.fleet.grpc import GrpcFleet
from learner.serve.config import FleetConfig, InvalidServeConfigError
from loopwise_proto.v1 import admin_pb2, admin_pb2_grpc, sidecar_pb2
from sidecar.clock import FakeClock
from sidecar.config import load_config
from sidecar.server import SidecarServer, build_domain, create_server
from sidecar.servicers import AdminServicer
from tests.sidecar.conftest import TOKEN, Planes, SidecarProcess, planes, write_token

MODEL = "invoice"
FEATURES = ("amount", "pages")
MINUTE = 60_000


def _config(tmp: pathlib.Path, name: str, admin_addr: str = "127.0.0.1:0") -> object:
    return load_config(overrides={
        "data_addr": "127.0.0.1:0", "admin_addr": admin_addr, "metrics_addr": "127.0.0.1:0",
        "db": str(tmp / name), "admin_token_file": str(write_token(tmp)), "server.workers": 4})


class Fleet:
    """In-process sidecars (``create_server``, each with its own LMDB) on one fake clock."""

    def __init__(self, tmp: pathlib.Path, count: int) -> None:
        self.tmp, self.clock = tmp, FakeClock(1_800_000_000_000 - 1_800_000_000_000 % MINUTE)
        self.servers: list[SidecarServer] = []
        self.planes: list[Planes] = []
        self.records = 0
        for i in range(count):
            self.start(i)

    def start(self, i: int) -> None:
        """Starts sidecar ``i`` (again: on its database and admin address)."""
        admin = self.planes[i].addrs["admin_addr"] if i < len(self.planes) else "127.0.0.1:0"
        server, ports = create_server(_config(self.tmp, f"db-{i}", admin), clock=self.clock,  # type: ignore[arg-type]
                                      registry=CollectorRegistry())
        server.start()
        p = planes({"data_addr": ports.data_addr, "admin_addr": ports.admin_addr})
        if i < len(self.servers):
            self.servers[i], self.planes[i] = server, p
        else:
            self.servers.append(server)
            self.planes.append(p)

    def stop(self, i: int) -> None:
        self.planes[i].close()
        self.servers[i].stop()

    @property
    def admin(self) -> list[str]:
        return [p.addrs["admin_addr"] for p in self.planes]

    def grpc_fleet(self, **kwargs: object) -> GrpcFleet:
        return GrpcFleet(StaticDiscovery(self.admin), token=TOKEN, timeout_s=5.0,
                         clock=lambda: self.clock.now_ms() / 1000, **kwargs)  # type: ignore[arg-type]

    def record_minute(self, n: int = 5, model_id: str = "inv-v1") -> None:
        """``n`` records on every sidecar in the current minute, then the clock moves a minute."""
        rng = np.random.default_rng(self.records)
        now = self.clock.now_ms()
        for k, p in enumerate(self.planes):
            p.data.Record(sidecar_pb2.RecordBatch(
                request_id=[f"r{self.records}-{k}-{i}" for i in range(n)], model_type=[MODEL] * n,
                model_id=[model_id] * n, ts_ms=[now + 1000] * n, confidence=[0.9] * n,
                latency_ms=[12.0] * n, numeric_names=list(FEATURES),
                numeric=rng.standard_normal(n * len(FEATURES)).tolist(),
                prediction=[json.dumps({"doc_type": "invoice"})] * n), timeout=10)
        self.records += n * len(self.planes)
        self.clock.advance(MINUTE)

    def close(self) -> None:
        for i in range(len(self.servers)):
            self.stop(i)


@pytest.fixture
def fleet(tmp_path: pathlib.Path) -> Iterator[Fleet]:
    f = Fleet(tmp_path, 3)
    setup = f.grpc_fleet()
    assert setup.push_routing(statcore.RoutingTable(1, {MODEL: statcore.Route("inv-v1")})).complete
    f.record_minute()  # one window over the layout without features, before the baseline
    rng = np.random.default_rng(0)
    baseline = Baseline.from_reference_data(MODEL, "inv-v1", rng.standard_normal((500, 2)), feature_names=FEATURES)
    assert setup.push_baseline(baseline).complete
    setup.close()
    yield f
    f.close()


def _call(p: Planes, method: str, request: object) -> object:
    return getattr(p.admin, method)(request, metadata=[("authorization", f"Bearer {TOKEN}")], timeout=10)


def test_the_stream_returns_exactly_the_windows_of_the_unary_call(fleet: Fleet) -> None:
    for minute in range(11):
        fleet.record_minute(model_id="inv-v1" if minute % 3 else "inv-v2")
    p = fleet.planes[0]
    unary = _call(p, "GetAggregates", admin_pb2.GetAggregatesRequest(since_ms=0))
    assert len(unary.windows) == 12 and len(unary.layouts) == 2  # type: ignore[attr-defined]
    chunks = list(p.admin.GetAggregatesStream(admin_pb2.GetAggregatesStreamRequest(since_ms=0, max_windows=5),
                                              metadata=[("authorization", f"Bearer {TOKEN}")], timeout=10))
    assert [w for c in chunks for w in c.windows] == list(unary.windows)  # type: ignore[attr-defined]
    assert [len(c.windows) for c in chunks] == [5, 5, 2]
    assert [c.HasField("status") for c in chunks] == [True, False, False]
    assert chunks[0].status.routing_generation == 1 and chunks[0].status.baselines == [MODEL]
    assert {c.now_ms for c in chunks} == {unary.now_ms}  # type: ignore[attr-defined]
    sent = [fp for c in chunks for fp in c.layouts]
    assert sorted(sent) == sorted(unary.layouts) and len(sent) == len(set(sent))  # each layout once
    assert {fp: blob for c in chunks for fp, blob in c.layouts.items()} == dict(unary.layouts)  # type: ignore[attr-defined]

    known = admin_pb2.GetAggregatesStreamRequest(since_ms=0, known_layouts=list(unary.layouts))  # type: ignore[attr-defined]
    again = list(p.admin.GetAggregatesStream(known, metadata=[("authorization", f"Bearer {TOKEN}")], timeout=10))
    assert [len(c.layouts) for c in again] == [0] and len(again[0].windows) == 12

    since = unary.windows[7].window_start_ms  # type: ignore[attr-defined]
    tail = _call(p, "GetAggregates", admin_pb2.GetAggregatesRequest(since_ms=since))
    streamed = p.admin.GetAggregatesStream(admin_pb2.GetAggregatesStreamRequest(since_ms=since),
                                           metadata=[("authorization", f"Bearer {TOKEN}")], timeout=10)
    assert [w for c in streamed for w in c.windows] == list(tail.windows)  # type: ignore[attr-defined]
    nothing = list(p.admin.GetAggregatesStream(admin_pb2.GetAggregatesStreamRequest(since_ms=2 ** 62),
                                               metadata=[("authorization", f"Bearer {TOKEN}")], timeout=10))
    assert len(nothing) == 1 and not nothing[0].windows and nothing[0].HasField("status")

    grpc_fleet = fleet.grpc_fleet()
    streamed_batch, unary_batch = grpc_fleet.pull(fleet.admin[0], 0), grpc_fleet.pull_unary(fleet.admin[0], 0)
    assert [w.key for w in streamed_batch.closed] == [w.key for w in unary_batch.closed]
    assert [w.aggregate.encode() for w in streamed_batch.closed] == [w.aggregate.encode() for w in unary_batch.closed]
    assert (streamed_batch.cursor, streamed_batch.routing_generation) == (unary_batch.cursor, 1)
    assert len(streamed_batch.closed) == 12
    with pytest.raises(grpc.RpcError) as denied:
        list(p.admin.GetAggregatesStream(admin_pb2.GetAggregatesStreamRequest(), timeout=10))
    assert denied.value.code() is grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
    grpc_fleet.close()


def test_concurrent_pulls_merge_every_window_exactly_once_under_replays(fleet: Fleet) -> None:
    grpc_fleet = fleet.grpc_fleet(max_concurrent_pulls=2)  # fewer slots than sidecars
    collector = WindowCollector(grpc_fleet)
    new = 0
    for _ in range(4):
        for _ in range(3):
            fleet.record_minute()
        result = collector.refresh()
        assert result.stale == ()
        new += result.new_windows
    # Each pull re-asks the last two minutes before its cursor; a restarted sidecar serves
    # every window it holds again; a new learner pulls six hours back: each window counts once.
    fleet.stop(1)
    fleet.start(1)  # on its database and address
    fleet.record_minute()
    new += collector.refresh().new_windows
    assert collector.refresh().new_windows == 0
    stored = sum(len(_call(p, "GetAggregates", admin_pb2.GetAggregatesRequest(since_ms=0)).windows)  # type: ignore[attr-defined]
                 for p in fleet.planes)
    assert new == stored == 3 * 14
    fresh = WindowCollector(fleet.grpc_fleet())
    assert (fresh.refresh().new_windows, fresh.refresh().new_windows) == (stored, 0)
    first_minute = 3 * 5  # recorded over the layout without features, before the baseline
    for c in (collector, fresh):
        merged = c.merged(MODEL, "inv-v1", include_open=False)
        assert merged is not None and merged.records == fleet.records - first_minute
        assert c.merged(MODEL, "inv-v1", since_ms=fleet.clock.now_ms() - MINUTE,
                        include_open=False).records == 3 * 5  # type: ignore[union-attr]
    grpc_fleet.close()


def test_an_older_sidecar_without_the_stream_is_pulled_with_the_unary_call(tmp_path: pathlib.Path) -> None:
    class OlderAdmin(AdminServicer):
        GetAggregatesStream = admin_pb2_grpc.AdminServicer.GetAggregatesStream  # UNIMPLEMENTED

    clock = FakeClock(1_800_000_000_000)
    domain = build_domain(_config(tmp_path, "db"), clock, CollectorRegistry())  # type: ignore[arg-type]
    server = grpc.server(futures.ThreadPoolExecutor(2))
    admin_pb2_grpc.add_AdminServicer_to_server(OlderAdmin(domain), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        address = f"127.0.0.1:{port}"
        grpc_fleet = GrpcFleet(StaticDiscovery([address]), token=TOKEN, clock=lambda: clock.now_ms() / 1000)
        assert grpc_fleet.push_routing(statcore.RoutingTable(4, {MODEL: statcore.Route("inv-v1")})).complete
        batch = grpc_fleet.pull(address, 0)
        assert batch.routing_generation == 4 and batch.cursor == clock.now_ms()
        assert dict(grpc_fleet.pull_many({address: 0}))[address] == batch
        grpc_fleet.close()
    finally:
        server.stop(None)
        domain.store.close()


def test_max_concurrent_pulls_is_validated_and_reaches_the_fleet(tmp_path: pathlib.Path) -> None:
    token = write_token(tmp_path)
    with pytest.raises(InvalidServeConfigError, match=r"fleet.max_concurrent_pulls: must be an integer >= 1"):
        FleetConfig(static=("127.0.0.1:1",), admin_token_file=token, max_concurrent_pulls=0)
    config = FleetConfig(static=("127.0.0.1:1",), admin_token_file=token, max_concurrent_pulls=3)
    fleet = GrpcFleet.from_config(config, token=TOKEN)
    assert fleet.max_concurrent_pulls == 3
    fleet.close()
    with pytest.raises(ValueError, match="max_concurrent_pulls"):
        GrpcFleet(StaticDiscovery(["127.0.0.1:1"]), token=TOKEN, max_concurrent_pulls=0)


@pytest.mark.integration
def test_a_stalled_sidecar_delays_nobody_and_is_collected_when_it_resumes(tmp_path: pathlib.Path) -> None:
    config = tmp_path / "sidecar.toml"
    config.write_text("[ingest]\nwindow_s = 1\nflush_interval_s = 0.2\n")
    procs = []
    try:
        for i in range(4):
            d = tmp_path / f"sidecar-{i}"
            d.mkdir()
            proc = SidecarProcess(d, "--config", str(config))
            proc.start()
            procs.append(proc)
        by_admin = {p.addrs["admin_addr"]: p for p in procs}
        timeout_s = 3.0
        grpc_fleet = GrpcFleet(StaticDiscovery(list(by_admin)), token=TOKEN, timeout_s=timeout_s)
        assert grpc_fleet.push_routing(statcore.RoutingTable(1, {MODEL: statcore.Route("inv-v1")})).complete
        for k, p in enumerate(procs):
            planes_k = planes(p.addrs)
            planes_k.data.Record(sidecar_pb2.RecordBatch(
                request_id=[f"r{k}-{i}" for i in range(3)], model_type=[MODEL] * 3, model_id=["inv-v1"] * 3,
                confidence=[0.9] * 3, latency_ms=[10.0] * 3), timeout=10)
            planes_k.close()
        time.sleep(2.5)  # the 1-second windows close and are flushed

        # The two sidecars pulled first (addresses in order) stop answering, mid-connection.
        stalled = grpc_fleet.sidecars()[:2]
        for address in stalled:
            os.kill(by_admin[address].proc.pid, signal.SIGSTOP)  # type: ignore[union-attr]
        collector = WindowCollector(grpc_fleet)
        started = time.monotonic()
        arrived: dict[str, float] = {}
        for address, answer in grpc_fleet.pull_many({a: 0 for a in grpc_fleet.sidecars()}):
            arrived[address] = time.monotonic() - started
            assert isinstance(answer, SidecarUnreachableError) == (address in stalled), (address, answer)
        live = [a for a in arrived if a not in stalled]
        assert max(arrived[a] for a in live) < timeout_s / 2, arrived  # nobody waited for the stalled
        assert all(timeout_s * 0.9 <= arrived[a] < timeout_s * 1.5 for a in stalled), arrived

        started = time.monotonic()
        result = collector.refresh()  # serially this would take two deadlines
        assert time.monotonic() - started < timeout_s * 1.5
        assert sorted(result.stale) == sorted(stalled) and result.new_windows >= 2
        merged = collector.merged(MODEL, "inv-v1", include_open=False)
        assert merged is not None and merged.records == 6

        for address in stalled:
            os.kill(by_admin[address].proc.pid, signal.SIGCONT)  # type: ignore[union-attr]
        result = collector.refresh()
        assert result.stale == ()
        assert collector.merged(MODEL, "inv-v1", include_open=False).records == 12  # type: ignore[union-attr]
        assert len(grpc_fleet.generations()) == 4
        grpc_fleet.close()
    finally:
        for p in procs:
            if p.proc is not None and p.proc.poll() is None:
                os.kill(p.proc.pid, signal.SIGCONT)
                p.proc.kill()
                p.proc.wait()
            if not p.log.closed:
                p.log.close()


def test_a_failed_pull_is_reported_not_raised(fleet: Fleet) -> None:
    grpc_fleet = fleet.grpc_fleet()
    fleet.stop(2)
    answers = dict(grpc_fleet.pull_many({a: 0 for a in fleet.admin}))
    assert isinstance(answers[fleet.admin[2]], SidecarUnreachableError)
    assert not any(isinstance(answers[a], FleetError) for a in fleet.admin[:2])
    fleet.start(2)
    grpc_fleet.close()


def test_a_sidecar_serving_a_corrupt_window_is_stale_and_the_others_are_merged(fleet: Fleet) -> None:
    fleet.record_minute()
    good = fleet.servers[0].domain.store.windows_since(0)[-1]
    fleet.servers[0].domain.store.put_window(MODEL, "inv-v1", good[2] - MINUTE, good[3][:40])  # truncated
    collector = WindowCollector(fleet.grpc_fleet())
    result = collector.refresh()
    assert result.stale == (fleet.admin[0],)
    merged = collector.merged(MODEL, "inv-v1", include_open=False)
    assert merged is not None and merged.records == 2 * 5


def test_a_window_filed_under_another_model_than_its_aggregate_is_refused(fleet: Fleet) -> None:
    fleet.record_minute()
    good = fleet.servers[0].domain.store.windows_since(0)[-1]
    fleet.servers[0].domain.store.put_window(MODEL, "inv-v9", good[2] - MINUTE, good[3])  # inv-v1's bytes
    collector = WindowCollector(fleet.grpc_fleet())
    assert collector.refresh().stale == (fleet.admin[0],)
    assert collector.models(MODEL) == ["inv-v1"]
