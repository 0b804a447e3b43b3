"""/metrics: the alert rules' names exist, the exposition parses and passes ``promtool``."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from learner.metrics import ALERT_CONTRACT
from tests.deploy.test_prometheus import LEARNER_METRICS
from tests.learner.serve.conftest import Served


def _exposition(served: Served) -> str:
    served.cli("rollback", "--model-type", "clf", "--reason", "drill")
    return urllib.request.urlopen(served.metrics_url, timeout=5).read().decode()


def test_contract_matches_the_alerts() -> None:
    assert set(ALERT_CONTRACT) == LEARNER_METRICS


def test_exposition_has_every_metric(served: Served) -> None:
    text = _exposition(served)
    names = {s.name for family in text_string_to_metric_families(text) for s in family.samples}
    assert set(ALERT_CONTRACT) <= names, sorted(set(ALERT_CONTRACT) - names)
    for extra in ("loopwise_learner_push_latency_seconds_bucket",):
        assert extra in names
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert families["loopwise_learner_stale_sidecars"] == "gauge"
    assert families["loopwise_learner_cycles"] == "counter"
    for family in ("loopwise_learner_retrains", "loopwise_learner_ab_tests"):
        assert families[family] == "counter"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_check_metrics(served: Served) -> None:
    run = subprocess.run(["promtool", "check", "metrics"], input=_exposition(served),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout == "" and run.stderr == "", run.stdout + run.stderr


def test_bounded_labels_champion_and_build_info(served: Served) -> None:
    """``sidecar_stale_total{sidecar="<ip:port>"}`` grew a series per pod IP; every counter had
    a ``_created`` series; there was no champion or build info."""
    served.fleet.sidecar("sidecar-1").up = False
    served.cli("promote", "clf_1.0.2", "--reason", "hotfix")
    served.cli("drift", "check", "--model-type", "clf")  # pulls: sidecar-1 is stale
    text = _exposition(served)
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    assert not [s.name for s in samples if s.name.endswith("_created")]
    assert not [s for s in samples if "sidecar" in s.labels]
    assert [s.value for s in samples if s.name == "loopwise_learner_sidecar_stale_total"][0] >= 1
    champions = {s.labels["model_type"]: s.labels["model_id"] for s in samples
                 if s.name == "loopwise_learner_champion_info"}
    assert champions == {"clf": "clf_1.0.1"}  # the rollback in _exposition restored it
    assert [s for s in samples if s.name == "loopwise_learner_build_info"]
    assert "loopwise_learner_retrain_duration_seconds_count" in {s.name for s in samples}
