"""The admin CLI offline: ``drift check`` on files, usage errors, exit codes without a learner.
(Every command against a running learner: ``tests/learner/serve``.)"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from learner.cli import ExitCode, main


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


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
    assert run("drift", "check", "--baseline", str(tmp_path / "missing.npy"),
               "--current", str(tmp_path / "same.npy"))[0] == ExitCode.NOT_FOUND


def test_usage_errors() -> None:
    assert run("rollback", "--model-type", "clf")[0] == ExitCode.USAGE
    assert run("drift", "check", "--baseline", "a.npy")[0] == ExitCode.USAGE
    assert run("bogus")[0] == ExitCode.USAGE


def test_unreadable_token_file_and_bad_config(tmp_path: Path) -> None:
    code, out, _ = run("status", "--token-file", str(tmp_path / "none"), "--json")
    assert code == ExitCode.UNAUTHENTICATED and json.loads(out)["exit_code"] == 6
    bad = tmp_path / "learner.toml"
    bad.write_text("[fleet]\nlocal = 0\n")
    code, _, err = run("serve", "--config", str(bad))
    assert code == ExitCode.INVALID and "admin_token_file is required" in err
