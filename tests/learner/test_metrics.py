"""``LearnerMetrics`` from the event stream: retrain durations, champion info (issue 16)."""

from __future__ import annotations

from learner.events import EventKind, LoopEvent
from learner.metrics import LearnerMetrics


def _event(seq: int, at: float, kind: EventKind, subject: str = "", **details: object) -> LoopEvent:
    return LoopEvent(seq, at, kind, "clf", "", details, subject)


def test_retrain_duration_from_start_to_finish() -> None:
    m = LearnerMetrics()
    m.observe(_event(1, 100.0, EventKind.RETRAINING, "job-1", job_id="job-1", stage="started"))
    m.observe(_event(2, 110.0, EventKind.RETRAINING, "job-2", job_id="job-2", stage="started"))
    m.observe(_event(3, 700.0, EventKind.RETRAINING, "clf_1.0.3", job_id="job-1", stage="finished"))
    m.observe(_event(4, 900.0, EventKind.RETRAINING, "job-9", job_id="job-9", stage="finished"))
    value = m.registry.get_sample_value
    assert value("loopwise_learner_retrain_duration_seconds_count", {"model_type": "clf"}) == 1
    assert value("loopwise_learner_retrain_duration_seconds_sum", {"model_type": "clf"}) == 600.0
    assert value("loopwise_learner_retrains_total", {"model_type": "clf"}) == 2


def test_champion_info_has_one_series_per_type() -> None:
    m = LearnerMetrics()
    m.champions({"clf": "clf_1.0.1", "ner": "ner_2.0.0"})
    m.observe(_event(1, 1.0, EventKind.PROMOTION, "clf_1.0.2"))
    value = m.registry.get_sample_value
    assert value("loopwise_learner_champion_info", {"model_type": "clf", "model_id": "clf_1.0.2"}) == 1
    assert value("loopwise_learner_champion_info", {"model_type": "clf", "model_id": "clf_1.0.1"}) is None
    m.observe(_event(2, 2.0, EventKind.ROLLBACK, "clf_1.0.1"))
    m.champions({"clf": "clf_1.0.1"})
    series = [s.labels for f in m.registry.collect() if f.name == "loopwise_learner_champion_info"
              for s in f.samples]
    assert series == [{"model_type": "clf", "model_id": "clf_1.0.1"}]


def test_build_info_and_no_created_series() -> None:
    from sidecar import __version__

    m = LearnerMetrics()
    m.prime("clf")
    assert m.registry.get_sample_value("loopwise_learner_build_info",
                                       {"version": __version__, "python": __import__("platform").python_version()}) == 1
    names = [s.name for f in m.registry.collect() for s in f.samples]
    assert names and not [n for n in names if n.endswith("_created")]
