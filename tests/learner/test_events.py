"""The event log (numbered, bounded, forwarding, thread-safe) and the one-line descriptions."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from learner.db import ConstraintViolation

from learner.event_text import describe
from learner.events import EventKind, EventLog, LoopEvent, MemoryEventStore
from learner.loop.store import EventReader, LoopStore
from learner.registry import ModelRegistry


def test_events_are_numbered_forwarded_and_thread_safe() -> None:
    seen: list[LoopEvent] = []
    log = EventLog(MemoryEventStore(), clock=lambda: 1.0)
    log.subscribe(seen.append)

    def emit() -> None:
        for _ in range(500):
            log.emit(EventKind.HEALTH, "clf", "x")

    threads = [threading.Thread(target=emit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log.last_seq == 2000 and len(seen) == 2000
    assert [e.seq for e in log.after(0)] == list(range(1, 2001))
    assert [e.seq for e in log.after(1990, limit=3)] == [1991, 1992, 1993]


def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    seen: list[LoopEvent] = []
    log = EventLog(MemoryEventStore())
    log.subscribe(lambda e: 1 / 0)  # type: ignore[func-returns-value]
    log.subscribe(seen.append)
    log.emit(EventKind.DRIFT, "clf", "psi high")
    assert [e.kind for e in seen] == [EventKind.DRIFT]


def test_the_durable_stream_keeps_its_numbers_across_a_reopen(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "registry", clock=lambda: 7.0)
    store = LoopStore.of_registry(registry, lambda: 7.0)
    log = EventLog(store, clock=lambda: 7.0)
    for kind in (EventKind.DRIFT, EventKind.PROMOTION):
        log.emit(kind, "clf", kind.value, {"x": 1.5}, subject="clf_1.0.1")
    store.close()
    registry.close()
    registry = ModelRegistry(tmp_path / "registry", clock=lambda: 8.0)
    store = LoopStore.of_registry(registry, lambda: 8.0)
    log = EventLog(store, clock=lambda: 8.0)
    assert log.emit(EventKind.ROLLBACK, "clf", "back").seq == 3
    events = EventReader(registry.config.location).after(1)
    assert [(e.seq, e.kind, e.at) for e in events] == [(2, EventKind.PROMOTION, 7.0), (3, EventKind.ROLLBACK, 8.0)]
    assert events[0].details == {"x": 1.5} and events[0].subject == "clf_1.0.1"
    with pytest.raises(ConstraintViolation, match="append-only"):
        with registry.transaction() as tx:
            tx.execute("DELETE FROM loop_events")
    store.close()
    registry.close()


def test_promotion_line_carries_the_test_statistics() -> None:
    details = {"new_champion": "clf_1.0.1", "generation": 4, "result": {
        "challenger": {"accuracy": 0.81, "labelled": 400}, "champion": {"accuracy": 0.52, "labelled": 390},
        "estimate": 0.29, "ci_low": 0.2, "ci_high": 0.38, "p_value": 1e-9, "srm_pvalue": 0.7}}
    line = describe(EventKind.PROMOTION, "promoted", details)
    assert line.startswith("PROMOTED clf_1.0.1: accuracy 0.810 (n=400) vs 0.520 (n=390)")
    assert "[95% CI +0.200, +0.380]" in line and "p=1.0e-09" in line and "SRM p=0.70" in line


def test_missing_details_fall_back_to_the_message() -> None:
    assert describe(EventKind.PROMOTION, "promoted clf_1.0.2 by hand", {}) == \
        "PROMOTION: promoted clf_1.0.2 by hand"
    assert describe(EventKind.DRIFT, "psi high", {"features": {"a": None}}) == "DRIFT: psi high"
    assert describe(EventKind.REPORT, "weekly report", {}) == "REPORT: weekly report"
