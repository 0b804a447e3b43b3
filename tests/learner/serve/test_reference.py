"""`learner serve` with a reference directory pushes the champion's baseline at start-up."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from learner.fleet import LocalFleet
from learner.metrics import LearnerMetrics
from learner.reference import ReferenceDirectory
from learner.serve.config import ServeConfig
from learner.serve.server import build_learner_thread
from tests.learner.serve.conftest import seed_registry, write_config


def test_baseline_from_the_reference_directory_reaches_every_sidecar(tmp_path: Path) -> None:
    seed_registry(tmp_path / "registry")
    reference = tmp_path / "reference"
    reference.mkdir()
    rng = np.random.default_rng(0)
    save_file({"amount": rng.normal(size=2000), "pages": rng.normal(size=2000)},
              str(reference / "clf.safetensors"))
    path = write_config(tmp_path)
    text = path.read_text().replace("[fleet]", f'reference_dir = "{reference}"\n[fleet]')
    path.write_text(text)
    config = ServeConfig.load(path, env={})
    assert config.registry.reference_dir == reference
    fleet = LocalFleet.with_sidecars(2)
    learner = build_learner_thread(config, LearnerMetrics(), fleet=fleet)
    learner.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            baseline = learner.call(lambda lr: lr.baselines.get("clf"))
            if baseline is not None:
                break
            time.sleep(0.1)
        assert baseline is not None
        assert baseline.layout.numeric_names == ["amount", "pages"]
        assert baseline.model_id == "clf_1.0.1"
        assert all(fleet.sidecar(s).layout("clf").fingerprint == baseline.layout.fingerprint
                   for s in fleet.sidecars())
    finally:
        learner.stop()


def test_drift_that_cannot_be_evaluated_is_visible(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    """Without reference data drift was never evaluated and nothing said so (issue 16): now a
    log warning, a status field (``learner status``) and ``loopwise_learner_drift_unavailable``."""
    import io
    import logging

    from learner.cli import main
    from learner.serve.server import create_server

    seed_registry(tmp_path / "registry")
    reference = tmp_path / "reference"
    reference.mkdir()
    path = write_config(tmp_path)
    config = ServeConfig.load(path, env={})
    metrics = LearnerMetrics()
    caplog.set_level(logging.WARNING, logger="learner.continuous_learner")
    learner = build_learner_thread(config, metrics, fleet=LocalFleet.with_sidecars(1))
    learner.start()
    server, port = create_server(config, learner)
    server.start()
    try:
        out = io.StringIO()
        argv = ["status", "--addr", f"127.0.0.1:{port}", "--token-file", str(tmp_path / "token")]
        assert main(argv, out, io.StringIO()) == 0
        assert "WARNING: drift of clf is not evaluated: no reference data is configured" in out.getvalue()
        assert "[registry] reference_dir" in out.getvalue()
        assert metrics.registry.get_sample_value("loopwise_learner_drift_unavailable", {"model_type": "clf"}) == 1
        assert any("drift of clf cannot be evaluated" in r.getMessage() for r in caplog.records)
        # A reference directory without the champion's file: the status names the files.
        learner.call(lambda lr: setattr(lr, "_reference_data", ReferenceDirectory(reference)))
        learner.call(lambda lr: lr.set_baseline("clf"))
        out = io.StringIO()
        assert main([*argv, "--json"], out, io.StringIO()) == 0
        assert "clf_1.0.1.safetensors or clf.safetensors" in json.loads(out.getvalue())["drift_unavailable"]["clf"]
        # With the file, drift is evaluable again.
        save_file({"amount": np.arange(100.0)}, str(reference / "clf.safetensors"))
        learner.call(lambda lr: lr.set_baseline("clf"))
        out = io.StringIO()
        assert main([*argv, "--json"], out, io.StringIO()) == 0
        assert json.loads(out.getvalue())["drift_unavailable"] == {}
        assert metrics.registry.get_sample_value("loopwise_learner_drift_unavailable", {"model_type": "clf"}) == 0
    finally:
        server.stop(None).wait()
        learner.stop()
