"""The serve configuration: every problem at once, env overrides, the deploy example loads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from learner.db import PostgresLocation, SqliteLocation
from learner.serve.config import FleetKind, InvalidServeConfigError, ServeConfig

ROOT = Path(__file__).resolve().parents[3]


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(InvalidServeConfigError) as info:
        ServeConfig.from_mapping({
            "fleet": {"static": ["nohost"], "local": 2},
            "server": {"admin_addr": "x", "admin_token_file": "/t"},
            "learning": {"ab_test_traffic_split": 2.0},
            "training": {"epochs": 0, "colour": "red"}})
    text = str(info.value)
    for part in ("fleet: set exactly one of static, dns, local", "fleet.static: address 'nohost' is not host:port",
                 "server.admin_addr: must be host:port (got 'x')",
                 "learning.ab_test_traffic_split: must be in (0, 1) (got 2.0)",
                 "training.colour: unknown key", "training.epochs: must be >= 1 (got 0)"):
        assert part in text, part


def test_learner_and_sidecar_report_problems_in_one_style(tmp_path: Path) -> None:
    """The learner printed one ``;``-joined line and hid a section's problems behind an
    unknown key; the sidecar one ``section.key: problem`` per line (issue 16)."""
    from sidecar.config import ConfigError, load_config

    bad = tmp_path / "learner.toml"
    bad.write_text('[registry]\nroot = ""\n[server]\nadmin_addr = "nope"\nbogus = 1\n'
                   "[learning]\ndrift_threshold_psi = -1\nnot_a_key = 2\n")
    with pytest.raises(InvalidServeConfigError) as learner_error:
        ServeConfig.load(bad, env={})
    assert isinstance(learner_error.value, ConfigError)
    assert {str(i) for i in learner_error.value.issues} >= {
        "registry.root: must not be empty", "server.bogus: unknown key",
        "server.admin_addr: must be host:port (got 'nope')",
        "server.admin_token_file: is required (the admin API is authenticated)",
        "learning.not_a_key: unknown key"}
    side = tmp_path / "sidecar.toml"
    side.write_text("[server]\nworkers = 0\nfoo = 1\n")
    with pytest.raises(ConfigError) as sidecar_error:
        load_config(side, {})
    for error in (learner_error.value, sidecar_error.value):
        head, *lines = str(error).split("\n")
        assert head == "invalid configuration:" and lines
        assert all(re.fullmatch(r"  [a-z_.\-]+: \S.*", line) for line in lines), lines


def test_env_overrides_and_kinds() -> None:
    cfg = ServeConfig.from_mapping(
        {"fleet": {"dns": "sidecars.local", "admin_token_file": "/s"},
         "server": {"admin_token_file": "/t"}},
        env={"LOOPWISE_LEARNER_ADMIN_ADDR": "0.0.0.0:7000", "LOOPWISE_LEARNER_REGISTRY_ROOT": "/r"})
    assert cfg.fleet.kind is FleetKind.DNS and cfg.server.admin_addr == "0.0.0.0:7000"
    assert cfg.registry.root == Path("/r")
    with pytest.raises(InvalidServeConfigError, match="fleet.admin_token_file: is required to call"):
        ServeConfig.from_mapping({"fleet": {"static": ["a:1"]}, "server": {"admin_token_file": "/t"}})


def test_the_deploy_example_is_a_valid_config(tmp_path: Path) -> None:
    docs = yaml.safe_load_all((ROOT / "deploy/k8s/learner-deployment.yaml").read_text())
    (config_map,) = [d for d in docs if d and d["kind"] == "ConfigMap"]
    path = tmp_path / "learner.toml"
    path.write_text(config_map["data"]["learner.toml"])
    cfg = ServeConfig.load(path, env={})
    assert cfg.fleet.kind is FleetKind.DNS and cfg.server.metrics_addr == "127.0.0.1:9465"
    assert cfg.tls.enabled  # mutual TLS; addresses: the pod IP through the environment


def test_a_postgresql_url_comes_with_its_password_source_never_the_password(tmp_path: Path) -> None:
    base = {"fleet": {"local": 1}, "server": {"admin_token_file": "/t"}}
    cfg = ServeConfig.from_mapping(
        {**base, "registry": {"url": "postgresql://lw@db/loopwise", "password_file": "/s/pw"}},
        env={"LOOPWISE_LEARNER_REGISTRY_URL": "postgresql://lw@db2/loopwise"})
    assert cfg.registry.url == "postgresql://lw@db2/loopwise"
    assert cfg.registry.database(tmp_path / "jobs.db") == PostgresLocation(
        "postgresql://lw@db2/loopwise", password_file=Path("/s/pw"))
    assert ServeConfig.from_mapping(base).registry.database(tmp_path / "jobs.db") == \
        SqliteLocation(tmp_path / "jobs.db")
    with pytest.raises(InvalidServeConfigError) as info:
        ServeConfig.from_mapping({**base, "registry": {"url": "postgresql://lw:pw@db/x"}})
    assert "registry.url: a postgresql URL must not contain the password" in str(info.value)
    with pytest.raises(InvalidServeConfigError, match="only with a postgresql url"):
        ServeConfig.from_mapping({**base, "registry": {"password_env": "PW"}})
