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
    assert code == ExitCode.INVALID and "server.admin_token_file: is required" in err


def test_global_options_work_before_the_subcommand() -> None:
    """``learner --json --addr X status`` used to talk to the default address and print text."""
    out, err = io.StringIO(), io.StringIO()
    code = main(["--json", "--addr", "127.0.0.1:1", "--timeout", "2", "status"], out, err)
    assert code == ExitCode.UNAVAILABLE
    body = json.loads(out.getvalue())
    assert body["exit_code"] == ExitCode.UNAVAILABLE and "127.0.0.1:1" in body["error"]
    # After the subcommand they still work, and win over the ones before it.
    out = io.StringIO()
    code = main(["--addr", "127.0.0.1:2", "status", "--json", "--addr", "127.0.0.1:1", "--timeout", "2"],
                out, io.StringIO())
    assert code == ExitCode.UNAVAILABLE and "127.0.0.1:1" in json.loads(out.getvalue())["error"]


class _ClosedAfterOneLine(io.StringIO):
    """A pipe whose reader exits after the first line (``| head -1``)."""

    def write(self, text: str) -> int:
        if self.getvalue():
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(text)


def test_a_reader_that_goes_away_is_not_an_error(tmp_path: Path) -> None:
    from tests.learner.serve.conftest import seed_registry, write_config
    from learner.fleet import LocalFleet
    from learner.metrics import LearnerMetrics
    from learner.serve.config import ServeConfig
    from learner.serve.server import build_learner_thread, create_server

    seed_registry(tmp_path / "registry")
    config = ServeConfig.load(write_config(tmp_path), env={})
    learner = build_learner_thread(config, LearnerMetrics(), fleet=LocalFleet.with_sidecars(2))
    learner.start()
    server, port = create_server(config, learner)
    server.start()
    try:
        addr, token = f"127.0.0.1:{port}", ["--token-file", str(tmp_path / "token")]
        for reason in ("one", "two"):
            assert main(["rollback", "--model-type", "clf", "--reason", reason, "--addr", addr, *token],
                        io.StringIO(), io.StringIO()) in (ExitCode.OK, ExitCode.NOT_FOUND)
        main(["promote", "clf_1.0.2", "--reason", "three", "--addr", addr, *token], io.StringIO(), io.StringIO())
        for fmt in ([], ["--json"]):
            out, err = _ClosedAfterOneLine(), io.StringIO()
            assert main(["events", "--addr", addr, *token, *fmt], out, err) == ExitCode.OK
            assert out.getvalue().count("\n") == 1 and err.getvalue() == ""
    finally:
        server.stop(None).wait()
        learner.stop()


def test_zero_days_and_zero_timeout_are_refused_clearly() -> None:
    """``report --days 0`` made a 7-day report; ``--timeout 0`` failed later with a deadline."""
    for argv in (["report", "--days", "0"], ["--timeout", "0", "status"], ["status", "--timeout", "-1"],
                 ["report", "--days", "nan"], ["events", "--follow", "--interval", "0"]):
        code, out, err = run(*argv)
        assert code == ExitCode.USAGE, argv
        assert "greater than 0" in err or "not a number" in err, err


def test_version(capsys) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    from sidecar import __version__

    assert run("--version")[0] == ExitCode.OK
    assert capsys.readouterr().out.strip() == f"learner {__version__}"
    out = subprocess.run([sys.executable, "-m", "sidecar", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"sidecar {__version__}"
    assert __version__ != "0+unknown"


def _actions(parser):  # type: ignore[no-untyped-def]
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from ((f"{name} {where}".strip(), a) for where, a in _actions(sub))
        else:
            yield "", action


def _commands(parser):  # type: ignore[no-untyped-def]
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            names = {c.dest: c.help for c in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, names.get(name)
                yield from _commands(sub)


def test_every_command_and_option_has_help_and_exit_codes_are_documented() -> None:
    from learner.cli import build_parser

    parser = build_parser()
    missing = [(where, a.dest) for where, a in _actions(parser) if not a.help]
    assert missing == []
    assert [name for name, text in _commands(parser) if not text] == []
    text = parser.format_help()
    assert all(f"  {int(code)}  " in text for code in ExitCode) and "--json" in text
