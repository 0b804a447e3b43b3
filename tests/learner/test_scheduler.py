"""Interval scheduler over a manual clock."""

from __future__ import annotations

from learner.scheduler import IntervalScheduler, ManualClock


def test_intervals_and_order() -> None:
    clock = ManualClock(0.0)
    ran: list[tuple[str, float]] = []
    s = IntervalScheduler(clock, clock.sleep)
    s.every("hourly", 3600, lambda: ran.append(("hourly", clock())))
    s.every("six", 6 * 3600, lambda: ran.append(("six", clock())))
    s.run(until=6 * 3600)
    assert [name for name, _ in ran].count("hourly") == 6
    assert ran[-2:] == [("hourly", 21600.0), ("six", 21600.0)]


def test_failing_job_does_not_stop_the_loop() -> None:
    clock = ManualClock(0.0)
    s = IntervalScheduler(clock, clock.sleep)

    def boom() -> None:
        raise RuntimeError("boom")

    s.every("boom", 10, boom)
    s.run(until=100)
    assert s.jobs[0].runs == 10 and s.jobs[0].failures == 10


def test_stop() -> None:
    clock = ManualClock(0.0)
    s = IntervalScheduler(clock, clock.sleep)
    s.every("stopper", 10, s.stop)
    s.run()
    assert clock() == 10.0
