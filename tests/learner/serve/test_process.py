"""``learner serve`` as a real process: it prints its addresses, answers the CLI, stops on SIGTERM."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from learner.cli import ExitCode, main
from learner.registry import ModelRegistry
from tests.learner.conftest import TestDatabase
from tests.learner.serve.conftest import seed_registry, write_config


@pytest.mark.integration
def test_serve_process_end_to_end(tmp_path: Path, test_database: TestDatabase) -> None:
    """On SQLite files, and on PostgreSQL named by ``[registry] url`` with the password in an
    environment variable (the child process inherits it)."""
    registry = test_database.registry_config(tmp_path / "registry")
    seed_registry(tmp_path / "registry", registry)
    extra = () if registry.url is None else (f'url = "{registry.url}"',
                                             f'password_env = "{registry.password_env}"')
    config = write_config(tmp_path, registry=extra)
    proc = subprocess.Popen([sys.executable, "-m", "learner.cli", "serve", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        addrs = json.loads(proc.stdout.readline())
        out = io.StringIO()
        base = ["--addr", addrs["admin_addr"], "--token-file", str(tmp_path / "token")]
        assert main(["rollback", "--model-type", "clf", "--reason", "drill", "--json", *base],
                    out, io.StringIO()) == ExitCode.OK
        assert json.loads(out.getvalue())["restored_champion"] == "clf_1.0.0"
        assert main(["status", "--addr", addrs["admin_addr"]], io.StringIO(),
                    io.StringIO()) == ExitCode.UNAUTHENTICATED
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    with ModelRegistry(config=registry) as after:  # the served learner wrote this database
        assert after.get_champion("clf")["id"] == "clf_1.0.0"  # type: ignore[index]
        assert after.verify_ledger() == []
