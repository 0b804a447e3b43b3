"""`learner serve` with a reference directory pushes the champion's baseline at start-up."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from learner.fleet import LocalFleet
from learner.metrics import LearnerMetrics
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
