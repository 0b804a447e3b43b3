"""The admin CLI on a local registry: tables, --json, exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from learner.cli import ExitCode, main
from learner.registry import ModelRegistry
from tests.learner.simulation import tiny_model


@pytest.fixture
def root(tmp_path: Path) -> str:
    with ModelRegistry(tmp_path / "reg") as reg:
        for seed in range(2):
            reg.register_model(tiny_model(seed), "clf", "clf", {"accuracy": 0.9})
        reg.promote_to_champion("clf_1.0.0", reason="initial")
        reg.promote_to_champion("clf_1.0.1", reason="A/B test winner")
    return str(tmp_path / "reg")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_status_and_models(root: str) -> None:
    code, out, _ = run("status", "--registry-root", root)
    assert code == ExitCode.OK and "clf_1.0.1" in out and "champion" in out
    code, out, _ = run("models", "list", "--registry-root", root, "--json")
    assert code == 0 and {m["id"] for m in json.loads(out)} == {"clf_1.0.0", "clf_1.0.1"}
    code, out, _ = run("models", "show", "clf_1.0.0", "--registry-root", root)
    assert code == 0 and "archived" in out
    code, out, _ = run("models", "history", "--model-type", "clf", "--registry-root", root, "--json")
    assert [e["action"] for e in json.loads(out)][-2:] == ["demote", "promote"]


def test_rollback_and_errors(root: str) -> None:
    code, out, _ = run("rollback", "--model-type", "clf", "--reason", "latency", "--registry-root", root, "--json")
    assert code == 0 and json.loads(out)["restored_champion"] == "clf_1.0.0"
    code, _, err = run("rollback", "--model-type", "clf", "--reason", "again", "--registry-root", root)
    assert code == ExitCode.NOT_FOUND and "learner:" in err
    code, _, _ = run("models", "show", "nope_1.0.0", "--registry-root", root)
    assert code == ExitCode.NOT_FOUND
    code, _, _ = run("status", "--registry-root", str(Path(root).parent / "missing"))
    assert code == ExitCode.NOT_FOUND
    assert run("rollback", "--model-type", "clf")[0] == ExitCode.USAGE


def test_drift_check_exit_codes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "base.npy", rng.normal(size=(5000, 2)))
    np.save(tmp_path / "same.npy", rng.normal(size=(2000, 2)))
    shifted = rng.normal(size=(2000, 2))
    shifted[:, 0] += 1
    np.save(tmp_path / "shifted.npy", shifted)
    code, out, _ = run("drift", "check", "--baseline", str(tmp_path / "base.npy"),
                       "--current", str(tmp_path / "same.npy"))
    assert code == ExitCode.OK and "No drift detected" in out
    code, out, _ = run("drift", "check", "--baseline", str(tmp_path / "base.npy"),
                       "--current", str(tmp_path / "shifted.npy"), "--json")
    assert code == ExitCode.DRIFT_DETECTED and json.loads(out)["features"]["feature_0"]["drifted"]


def test_commands_needing_the_admin_api_say_so(root: str) -> None:
    code, out, _ = run("ab", "list", "--registry-root", root, "--json")
    assert code == ExitCode.UNAVAILABLE and "admin API" in json.loads(out)["error"]
    assert run("serve", "--config", "x.toml")[0] == ExitCode.UNAVAILABLE
