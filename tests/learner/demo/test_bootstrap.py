"""The demo's set-up: its directory and secrets, and configuration files the real loaders accept."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from learner.demo import bootstrap
from learner.demo.features import FEATURES
from learner.serve.config import FleetKind, ServeConfig
from sidecar.config import load_config


def test_prepare_replaces_a_demo_directory_but_never_anything_else(tmp_path: Path) -> None:
    other = tmp_path / "mine"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="not a demo directory"):
        bootstrap.prepare(other)
    assert (other / "thesis.tex").read_text() == "precious"

    paths = bootstrap.prepare(tmp_path / "demo")
    (paths.logs / "old.log").write_text("from the last run")
    first = paths.learner_token.read_text()
    paths = bootstrap.prepare(tmp_path / "demo")
    assert not (paths.logs / "old.log").exists() and paths.registry.is_dir()
    for token in (paths.sidecar_token, paths.learner_token):
        assert stat.S_IMODE(token.stat().st_mode) == 0o600 and len(token.read_text().strip()) >= 32
    assert paths.learner_token.read_text() != first != paths.sidecar_token.read_text()


def test_the_configuration_files_load_with_the_servers_own_loaders(tmp_path: Path) -> None:
    paths = bootstrap.prepare(tmp_path / "demo")
    sidecar = load_config(bootstrap.sidecar_config(paths, "sidecar-a"), env={})
    assert sidecar.ingest.window_s == 2 and sidecar.server.admin_token_file == paths.sidecar_token
    assert sidecar.server.data_addr == "127.0.0.1:0" and sidecar.store.db == paths.root / "sidecar-a" / "db"
    learner = ServeConfig.load(bootstrap.learner_config(paths, ["127.0.0.1:7001", "127.0.0.1:7002"]), env={})
    assert learner.fleet.kind is FleetKind.STATIC and learner.fleet.static == ("127.0.0.1:7001", "127.0.0.1:7002")
    assert learner.training.enabled and learner.training.label_field == sidecar.ingest.primary_field
    assert learner.learning.model_types == (bootstrap.MODEL_TYPE,)
    assert learner.registry.reference_dir == paths.reference


def test_reference_data_is_one_column_per_feature(tmp_path: Path) -> None:
    paths = bootstrap.prepare(tmp_path / "demo")
    path = bootstrap.write_reference(paths, "doc_classifier", ["INVOICE 1 from Acme.", "Lieferschein Nr. 2"])
    columns = load_file(str(path))
    assert sorted(columns) == sorted(FEATURES)
    assert all(v.shape == (2,) and np.isfinite(v).all() for v in columns.values())
    assert columns["non_ascii_share"][0] == 0.0
