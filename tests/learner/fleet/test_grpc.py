"""``GrpcFleet`` against a real in-process sidecar (gRPC over loopback)."""

from __future__ import annotations

import pytest

from learner.errors import FleetError
from learner.fleet.discovery import StaticDiscovery
from learner.fleet.grpc import GrpcFleet
from learner.routing import RoutingPlan
from loopwise_proto.v1 import sidecar_pb2
from tests.sidecar.conftest import TOKEN, clock, inproc  # noqa: F401 - fixtures



def test_without_data_addresses_the_learner_routes_exactly_like_the_sidecars(inproc) -> None:  # noqa: F811
    planes, _, _ = inproc
    fleet = GrpcFleet(StaticDiscovery([planes.addrs["admin_addr"]]), token=TOKEN, timeout_s=5.0)
    with pytest.raises(FleetError, match="no routing table"):
        fleet.route("invoice", "doc-1")
    table = RoutingPlan().set_route("invoice", champion="inv-v1", challenger="inv-v2", share=0.3, salt="exp-7")
    assert fleet.push_routing(table).applied == (planes.addrs["admin_addr"],)
    keys = [f"doc-{i}" for i in range(400)]
    by_sidecar = [planes.data.Route(sidecar_pb2.RouteRequest(model_type="invoice", key=k), timeout=5).model_id
                  for k in keys]
    assert [fleet.route("invoice", k) for k in keys] == by_sidecar
    assert 0.2 < by_sidecar.count("inv-v2") / len(keys) < 0.4
    with pytest.raises(FleetError, match="receipt"):
        fleet.route("receipt", "doc-1")
