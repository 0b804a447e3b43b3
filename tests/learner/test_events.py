"""The event log (numbered, bounded, forwarding, thread-safe) and the one-line descriptions."""

from __future__ import annotations

import threading

import pytest

from learner.event_text import describe
from learner.events import EventLog
from learner.notify import EventKind, Notification, RecordingNotifier


def test_events_are_numbered_kept_bounded_and_forwarded() -> None:
    forward = RecordingNotifier()
    log = EventLog(forward, capacity=100, clock=lambda: 1.0)

    def emit() -> None:
        for _ in range(500):
            log.notify(Notification(EventKind.HEALTH, "clf", "x"))

    threads = [threading.Thread(target=emit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    kept = log.after(0)
    assert log.last_seq == 2000 and len(forward.sent) == 2000
    assert [e.seq for e in kept] == list(range(1901, 2001))
    assert [e.seq for e in log.after(1990, limit=3)] == [1991, 1992, 1993]
    with pytest.raises(ValueError):
        EventLog(capacity=0)


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
