"""Configuration: defaults, precedence (TOML < env < flags), every error reported at once."""

from __future__ import annotations

import pathlib

import pytest

from sidecar.cli import main
from sidecar.config import ConfigError, load_config


def _token(tmp: pathlib.Path) -> str:
    (tmp / "token").write_text("t0ken-of-16-bytes\n")
    (tmp / "token").chmod(0o600)
    return str(tmp / "token")


def test_defaults_are_loopback(tmp_path: pathlib.Path) -> None:
    c = load_config(overrides={"db": str(tmp_path / "db"), "admin_token_file": _token(tmp_path)})
    for addr in (c.server.data_addr, c.server.admin_addr, c.server.metrics_addr):
        assert addr.startswith("127.0.0.1:")
    assert c.ingest.flush_interval_s == 1.0


def test_toml_env_and_flags_in_precedence(tmp_path: pathlib.Path) -> None:
    toml = tmp_path / "sidecar.toml"
    toml.write_text(f'[server]\ndata_addr = "127.0.0.1:1"\nadmin_token_file = "{_token(tmp_path)}"\n'
                    f'admin_addr = "unix:{tmp_path}/admin.sock"\n'
                    f'[store]\ndb = "{tmp_path}/db"\n[ingest]\nwindow_s = 30\n'
                    'fields = ["doc_type", "total"]\n')
    env = {"SIDECAR_SERVER_DATA_ADDR": "127.0.0.1:2", "SIDECAR_INGEST_WINDOW_S": "45",
           "HOME": "/x"}
    c = load_config(toml, env, {"data_addr": "127.0.0.1:3", "metrics_addr": None})
    assert c.server.data_addr == "127.0.0.1:3"
    assert c.ingest.window_s == 45
    assert c.ingest.fields == ("doc_type", "total")
    assert c.server.admin_addr.startswith("unix:")


def test_every_error_is_reported_at_once(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(env={"SIDECAR_INGEST_WINDOW_S": "soon"}, overrides={
            "data_addr": "nowhere", "admin_token_file": str(tmp_path / "missing"),
            "store.max_samples": 0, "ingest.flush_interval_s": 0, "server.colour": "red"})
    keys = {i.key for i in e.value.issues}
    assert keys == {"server.data_addr", "server.admin_token_file", "server.colour",
                    "store.db", "store.max_samples", "ingest.flush_interval_s",
                    "ingest.window_s"}


def test_frozen(tmp_path: pathlib.Path) -> None:
    c = load_config(overrides={"db": str(tmp_path / "db"), "admin_token_file": _token(tmp_path)})
    with pytest.raises(AttributeError):
        c.server.data_addr = "x"  # type: ignore[misc]


def test_cli_reports_config_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--data-addr", "bad"]) == 2
    err = capsys.readouterr().err
    assert "server.data_addr" in err and "server.admin_token_file" in err and "store.db" in err
