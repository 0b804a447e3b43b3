"""Prometheus files: the alerting rules (promtool check + unit tests), the metric names they
use (the sidecar's real exposition; the learner's agreed names), the scrape configuration."""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sidecar.metrics import SidecarMetrics, StateCollector

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy" / "prometheus"
ALERTS = PROM / "alerts.yaml"
SCRAPE = ROOT / "deploy" / "k8s" / "prometheus-scrape.yaml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None,
                                    reason="promtool not installed (.ci/run installs prometheus)")

# The learner's metrics: the alerts' contract with learner/ (which exposes exactly these).
LEARNER_METRICS = {
    "loopwise_learner_rollbacks_total", "loopwise_learner_promotions_total",
    "loopwise_learner_drift_detections_total", "loopwise_learner_stale_sidecars",
    "loopwise_learner_cycles_total", "loopwise_learner_last_cycle_timestamp_seconds",
    "loopwise_learner_drift_unavailable",
}


def _promtool(*args: str, cwd: pathlib.Path = PROM) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def _rules() -> Iterator[dict[str, Any]]:
    for group in yaml.safe_load(ALERTS.read_text())["groups"]:
        yield from group["rules"]


@needs_promtool
def test_promtool_check_rules() -> None:
    run = _promtool("check", "rules", str(ALERTS))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


@needs_promtool
def test_promtool_unit_tests_fire_the_alerts() -> None:
    run = _promtool("test", "rules", "alerts_test.yaml")
    assert run.returncode == 0, run.stdout + run.stderr
    cases = yaml.safe_load((PROM / "alerts_test.yaml").read_text())["tests"]
    fired = {t["alertname"] for case in cases for t in case["alert_rule_test"] if t["exp_alerts"]}
    assert {"LoopwiseFeatureDrift", "LoopwiseRollback", "LoopwiseStaleSidecars",
            "LoopwiseNoLearningCycle", "LoopwiseSidecarDown", "LoopwiseAccuracyLow"} <= fired


def test_every_alert_rule_has_a_unit_test_that_fires_it_and_one_that_does_not() -> None:
    """Only 6 of the 10 rules were unit-tested (issue 16)."""
    cases = yaml.safe_load((PROM / "alerts_test.yaml").read_text())["tests"]
    checks = [c for case in cases for c in case.get("alert_rule_test", [])]
    fired = {c["alertname"] for c in checks if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in checks if not c.get("exp_alerts")}
    rules = {r["alert"] for r in _rules()}
    assert rules - fired == set() and rules - quiet == set()


def test_rollback_alert_points_to_the_ledger_command() -> None:
    rule = {r["alert"]: r for r in _rules()}["LoopwiseRollback"]
    text = " ".join(rule["annotations"]["description"].split())
    assert "learner models history --model-type" in text and "`learner status`" not in text


def test_every_alert_has_severity_summary_and_description() -> None:
    rules = list(_rules())
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert rule["annotations"]["description"].strip(), rule["alert"]


def test_the_required_alerts_exist() -> None:
    rules = {r["alert"]: r for r in _rules()}
    expr = {name: " ".join(r["expr"].split()) for name, r in rules.items()}
    assert expr["LoopwiseFeatureDrift"] == (
        "max by (model_type, feature) (loopwise_sidecar_feature_psi) > 0.25")
    assert rules["LoopwiseFeatureDrift"]["for"] == "1h"
    assert expr["LoopwiseRollback"] == "increase(loopwise_learner_rollbacks_total[15m]) > 0"
    assert expr["LoopwiseStaleSidecars"] == "loopwise_learner_stale_sidecars > 0"
    assert rules["LoopwiseStaleSidecars"]["for"] == "10m"
    assert expr["LoopwiseSidecarDown"] == 'up{job="loopwise-sidecar"} == 0'
    assert expr["LoopwiseNoLearningCycle"] == (
        "time() - max(loopwise_learner_last_cycle_timestamp_seconds) > 3 * 3600")
    for degradation in ("LoopwiseAccuracyLow", "LoopwiseLatencyP99High",
                        "LoopwiseSidecarRejectingRequests"):
        assert "loopwise_sidecar_" in expr[degradation]


# --- metric names: the sidecar's real exposition ----------------------------------------------

@dataclass
class _Window:
    """Just enough of a statcore aggregate for ``StateCollector`` to emit every family."""

    model_type: str = "doc_classifier"
    model_id: str = "doc_1.0.0"
    accuracy: float = 0.9
    labelled: int = 100

    def f1(self) -> dict[str, float]:
        return {"doc_type": 0.9}


class _Windows:
    window_ms = 60_000

    def recent(self, now_ms: int) -> list[_Window]:
        return [_Window()]


class _Baselines:
    def psi(self, agg: _Window) -> dict[str, float]:
        return {"amount": 0.1}


class _Store:
    def stats(self) -> dict[str, int]:
        return {"samples": 1, "bytes": 10, "evicted_total": 0, "last_flush_ms": 0}


class _Clock:
    def now_ms(self) -> int:
        return 1_000


def _sidecar_exposition() -> set[str]:
    registry = CollectorRegistry()
    metrics = SidecarMetrics(registry)
    metrics.routed("doc_classifier", "champion")
    metrics.rpc("Record", 0.001)
    metrics.latency.observe("doc_classifier", "doc_1.0.0", np.array([12.0]))
    collector = StateCollector(_Windows(), _Baselines(), _Store(),  # type: ignore[arg-type]
                               lambda: 1, _Clock())
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def _names_in_alerts(prefix: str) -> set[str]:
    exprs = " ".join(r["expr"] for r in _rules())
    return set(re.findall(rf"\b{prefix}[a-z0-9_]+", exprs))


def test_sidecar_metric_names_exist_in_the_exposition() -> None:
    exposed = _sidecar_exposition()
    assert "loopwise_sidecar_feature_psi" in exposed  # the fakes reach every family
    used = _names_in_alerts("loopwise_sidecar_")
    assert len(used) >= 5
    assert used <= exposed, sorted(used - exposed)


def test_learner_metric_names_are_the_agreed_ones() -> None:
    used = _names_in_alerts("loopwise_learner_")
    assert used <= LEARNER_METRICS, sorted(used - LEARNER_METRICS)
    documented = set(re.findall(r"loopwise_learner_[a-z0-9_]+", ALERTS.read_text()))
    assert documented == LEARNER_METRICS  # the header lists the whole contract


# --- scrape configuration ---------------------------------------------------------------------

def _scrape_config() -> dict[str, Any]:
    (doc,) = yaml.safe_load_all(SCRAPE.read_text())
    assert doc["kind"] == "ConfigMap"
    config: dict[str, Any] = yaml.safe_load(doc["data"]["prometheus.yml"])
    return config


def test_scrape_jobs_match_the_alerts() -> None:
    jobs = {j["job_name"]: j for j in _scrape_config()["scrape_configs"]}
    assert set(jobs) == {"loopwise-sidecar", "loopwise-learner"}
    exprs = " ".join(r["expr"] for r in _rules())
    for job in re.findall(r'job="([^"]+)"', exprs):
        assert job in jobs
    for job in jobs.values():
        assert job["kubernetes_sd_configs"] == [{"role": "pod"}]
        sources = {s for r in job["relabel_configs"] for s in r.get("source_labels", [])}
        assert "__meta_kubernetes_pod_annotation_prometheus_io_scrape" in sources
        assert "__meta_kubernetes_pod_annotation_prometheus_io_port" in sources


@needs_promtool
def test_promtool_check_scrape_config(tmp_path: pathlib.Path) -> None:
    """``promtool check config``. Debian's promtool is built without Kubernetes service
    discovery: there the SD blocks are swapped for static targets (the relabelling, rule
    globs and the rest are still checked; the SD block itself by the test above)."""
    config = _scrape_config()
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    run = _promtool("check", "config", str(path), cwd=tmp_path)
    if run.returncode != 0 and "field kubernetes_sd_configs not found" in run.stdout + run.stderr:
        for job in config["scrape_configs"]:
            job.pop("kubernetes_sd_configs")
            job["static_configs"] = [{"targets": ["127.0.0.1:9464"]}]
        path.write_text(yaml.safe_dump(config))
        run = _promtool("check", "config", str(path), cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
