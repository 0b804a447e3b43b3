"""In-process sidecars: routing pushes with generations, missed pushes converge, baselines."""

from __future__ import annotations

import numpy as np

import statcore
from learner import LocalFleet, ManualClock
from learner.fleet import Baseline, PushKind
from learner.routing import RoutingPlan


def test_missed_push_converges_on_reconcile() -> None:
    fleet = LocalFleet.with_sidecars(3, clock=ManualClock())
    plan = RoutingPlan()
    fleet.push_routing(plan.set_route("m", champion="m_1.0.0"))
    fleet.sidecar("sidecar-1").up = False
    result = fleet.push_routing(plan.set_route("m", champion="m_1.0.1"))
    assert result.kind is PushKind.ROUTING and result.missed == ("sidecar-1",)
    assert fleet.sidecar("sidecar-1").router.route("m", "k") == "m_1.0.0"
    assert fleet.reconcile() == []  # still down
    fleet.sidecar("sidecar-1").up = True
    assert fleet.reconcile() == ["sidecar-1"]
    assert fleet.sidecar("sidecar-1").router.generation == 2
    assert fleet.reconcile() == []


def test_older_generation_is_refused() -> None:
    fleet = LocalFleet.with_sidecars(1, clock=ManualClock())
    fleet.push_routing(statcore.RoutingTable(5, {"m": statcore.Route("new")}))
    fleet.push_routing(statcore.RoutingTable(3, {"m": statcore.Route("old")}))
    assert fleet.route("m", "k") == "new"


def test_baseline_push_sets_the_layout_everywhere() -> None:
    fleet = LocalFleet.with_sidecars(2, clock=ManualClock())
    data = {"x": np.random.default_rng(0).normal(size=2000)}
    baseline = Baseline.from_reference_data("m", "m_1.0.0", data, bins=64)
    fleet.sidecar("sidecar-0").up = False
    assert fleet.push_baseline(baseline).missed == ("sidecar-0",)
    assert fleet.sidecar("sidecar-1").layout("m").numeric_names == ["x"]
    fleet.sidecar("sidecar-0").up = True
    fleet.reconcile()
    assert fleet.sidecar("sidecar-0").layout("m").fingerprint == baseline.layout.fingerprint
    assert baseline.reference.records == 2000
