"""The collector merges each window once, survives unreachable sidecars, and catches up."""

from __future__ import annotations

import numpy as np

import statcore
from learner import LocalFleet, ManualClock
from learner.fleet import Outcome, WindowCollector


def window(fleet: LocalFleet, sidecar: str, start_ms: int, n: int, model_id: str = "m_1.0.0") -> None:
    side = fleet.sidecar(sidecar)
    agg = statcore.Aggregate(side.layout("m"), "m", model_id, start_ms, start_ms + 3_600_000)
    agg.update(confidence=np.ones(n), latency_ms=np.ones(n), labelled=np.ones(n, np.uint8),
               correct=np.ones(n, np.uint8))
    side.add_window(agg)


def test_windows_are_counted_once_across_pulls_and_replays() -> None:
    fleet = LocalFleet.with_sidecars(2, clock=lambda: 10_000.0)
    collector = WindowCollector(fleet)
    window(fleet, "sidecar-0", 0, 10)
    window(fleet, "sidecar-1", 0, 5)
    assert collector.refresh().new_windows == 2
    assert collector.refresh().new_windows == 0  # cursor: nothing new
    merged = collector.merged("m", "m_1.0.0")
    assert merged is not None and merged.records == 15
    # a sidecar replays the same window (e.g. after a restart with its cursor reset)
    window(fleet, "sidecar-0", 0, 10)  # same (sidecar, model, window start, generation)
    result = collector.refresh()
    assert (result.new_windows, result.duplicates) == (0, 1)
    assert collector.merged("m", "m_1.0.0").records == 15  # type: ignore[union-attr]


def test_unreachable_sidecar_is_stale_and_caught_up_later() -> None:
    fleet = LocalFleet.with_sidecars(2, clock=lambda: 10_000.0)
    stale: list[str] = []
    collector = WindowCollector(fleet, on_stale=stale.append)
    window(fleet, "sidecar-0", 0, 10)
    window(fleet, "sidecar-1", 0, 7)
    fleet.sidecar("sidecar-1").up = False
    assert collector.refresh().stale == ("sidecar-1",)
    assert stale == ["sidecar-1"]
    assert collector.merged("m", "m_1.0.0").records == 10  # type: ignore[union-attr]
    fleet.sidecar("sidecar-1").up = True
    assert collector.refresh().stale == ()
    assert collector.merged("m", "m_1.0.0").records == 17  # type: ignore[union-attr]


def test_open_windows_are_visible_but_not_accumulated() -> None:
    clock = ManualClock(3600.0)
    fleet = LocalFleet.with_sidecars(1, clock=clock)
    collector = WindowCollector(fleet)
    fleet.record(Outcome("m", "m_1.0.0", "doc-1", 12.0, correct=True))
    collector.refresh()
    collector.refresh()
    assert collector.merged("m", "m_1.0.0").records == 1  # type: ignore[union-attr]
    assert collector.merged("m", "m_1.0.0", include_open=False) is None
    clock.advance(3600)
    collector.refresh()
    assert collector.merged("m", "m_1.0.0", include_open=False).records == 1  # type: ignore[union-attr]
    assert collector.merged("m", "m_1.0.0").records == 1  # type: ignore[union-attr]


def test_acknowledged_windows_leave_the_sidecar_and_replays_are_ignored() -> None:
    fleet = LocalFleet.with_sidecars(1, clock=lambda: 10_000.0)
    collector = WindowCollector(fleet)
    window(fleet, "sidecar-0", 0, 4)
    window(fleet, "sidecar-0", 3_600_000, 6)
    collector.refresh()
    side = fleet.sidecar("sidecar-0")
    assert side._closed == []  # acknowledged
    window(fleet, "sidecar-0", 7_200_000, 5)
    side.reset_cursor()
    collector.refresh()
    assert collector.merged("m", "m_1.0.0").records == 15  # type: ignore[union-attr]
    assert collector.forget_before(3_600_000) == 1
    assert collector.merged("m", "m_1.0.0").records == 11  # type: ignore[union-attr]
