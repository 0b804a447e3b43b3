"""Samples pulled from a real sidecar process over gRPC, stored, then acknowledged once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import grpc
import pytest

from learner.errors import FleetError
from learner.training.grpc_source import GrpcSampleSource
from learner.training.sample_store import SampleCollector, SampleStore
from loopwise_proto.v1 import admin_pb2, admin_pb2_grpc, common_pb2, sidecar_pb2, sidecar_pb2_grpc
from tests.sidecar.conftest import TOKEN, SidecarProcess


def test_pull_store_ack_and_no_duplicates(tmp_path: Path) -> None:
    side = SidecarProcess(tmp_path)
    addrs = side.start()
    try:
        admin_channel = grpc.insecure_channel(addrs["admin_addr"])
        auth = [("authorization", f"Bearer {TOKEN}")]
        table = common_pb2.RoutingTable(generation=1)
        table.routes["doc"].CopyFrom(common_pb2.ModelRoute(champion="doc_1"))
        admin_pb2_grpc.AdminStub(admin_channel).SetRoutingTable(
            admin_pb2.SetRoutingTableRequest(table=table), metadata=auth)
        data = sidecar_pb2_grpc.SidecarStub(grpc.insecure_channel(addrs["data_addr"]))
        n = 25
        data.Record(sidecar_pb2.RecordBatch(
            request_id=[f"r{i}" for i in range(n)], model_type=["doc"] * n, model_id=["doc_1"] * n,
            confidence=[0.95] * n, latency_ms=[5.0] * n, payload=[f"text {i}".encode() for i in range(n)],
            prediction=[json.dumps({"doc_type": "invoice"})] * n))
        data.Feedback(sidecar_pb2.FeedbackRequest(request_id="r3", label=json.dumps({"doc_type": "credit_memo"}),
                                                  human_correction=True))
        time.sleep(1.5)  # records are durable within the 1 s flush interval
        source = GrpcSampleSource(admin_channel, token=TOKEN)
        store = SampleStore(tmp_path / "samples.db")
        collector = SampleCollector(store, {"s0": source}, grace_s=0, clock=time.time, batch_size=10)
        report = collector.collect()
        assert report.inserted["s0"] == n and report.pulled["s0"] == n
        assert store.last_seq("s0") > 0
        status = admin_pb2_grpc.AdminStub(admin_channel).GetStatus(
            admin_pb2.GetStatusRequest(), metadata=auth)
        assert status.cursor == store.last_seq("s0")  # acknowledged after the local commit
        assert collector.collect().inserted["s0"] == 0  # nothing twice
        pulled = source.pull(0, 100)
        corrected = next(s for s in pulled if s.request_id == "r3")
        assert corrected.human_correction and json.loads(corrected.label or b"{}") == {"doc_type": "credit_memo"}
        assert next(s for s in pulled if s.request_id == "r4").label is None
        with pytest.raises(FleetError):
            GrpcSampleSource(admin_channel, token="wrong").pull(0, 1)
        store.close()
    finally:
        side.stop()
