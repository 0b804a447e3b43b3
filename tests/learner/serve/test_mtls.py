"""Mutual TLS on the learner's planes: its admin API (and the CLI that calls it), and its
channels to the sidecars (``GrpcFleet``, configured by ``[tls]``)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from learner.cli import ExitCode, main
from learner.fleet import LocalFleet
from learner.fleet.discovery import StaticDiscovery
from learner.fleet.grpc import GrpcFleet
from learner.metrics import LearnerMetrics
from learner.routing import RoutingPlan
from learner.serve.config import InvalidServeConfigError, ServeConfig
from learner.serve.server import build_learner_thread, create_server
from sidecar.clock import FakeClock
from sidecar.config import load_config
from sidecar.server import create_server as create_sidecar
from sidecar.tls import TlsFiles
from tests.learner.serve.conftest import seed_registry, write_config
from tests.pki import Authority, write_identity
from tests.sidecar.conftest import TOKEN as SIDECAR_TOKEN
from tests.sidecar.conftest import write_token


def _tls_config(tmp: Path, learner: TlsFiles, server_name: str | None = None) -> ServeConfig:
    path = write_config(tmp)
    lines = ["[tls]", f'cert_file = "{learner.cert_file}"', f'key_file = "{learner.key_file}"',
             f'ca_file = "{learner.ca_file}"']
    if server_name:
        lines.append(f'server_name = "{server_name}"')
    path.write_text(path.read_text() + "\n".join(lines) + "\n")
    return ServeConfig.load(path, env={})


def _cli(addr: str, token_file: Path, *tls: str) -> int:
    return main(["status", "--json", "--addr", addr, "--token-file", str(token_file), *tls,
                 "--timeout", "3"], io.StringIO(), io.StringIO())


def test_learner_admin_api_and_cli_over_mutual_tls(tmp_path: Path) -> None:
    ca, other = Authority.create("loopwise-ca"), Authority.create("other-ca")
    pki = tmp_path / "pki"
    learner_id = write_identity(pki, "learner", ca, "loopwise-learner", server=True, client=True)
    operator = write_identity(pki, "operator", ca, "operator", server=False)
    stranger = write_identity(pki, "stranger", other, "operator", server=False, trust=ca)
    seed_registry(tmp_path / "registry")
    config = _tls_config(tmp_path, learner_id)
    learner = build_learner_thread(config, LearnerMetrics(), fleet=LocalFleet.with_sidecars(1))
    learner.start()
    server, port = create_server(config, learner)
    server.start()
    addr, token = f"localhost:{port}", tmp_path / "token"
    try:
        def flags(who: TlsFiles) -> list[str]:
            return ["--tls-cert-file", str(who.cert_file), "--tls-key-file", str(who.key_file),
                    "--tls-ca-file", str(who.ca_file)]

        assert _cli(addr, token, *flags(operator)) == 0
        assert _cli(addr, token) == ExitCode.UNAVAILABLE  # plain text
        assert _cli(addr, token, "--tls-ca-file", str(operator.ca_file)) == ExitCode.UNAVAILABLE
        assert _cli(addr, token, *flags(stranger)) == ExitCode.UNAVAILABLE
    finally:
        server.stop(None).wait()
        learner.stop()


def test_learner_to_sidecar_channels_over_mutual_tls(tmp_path: Path) -> None:
    ca, other = Authority.create("loopwise-ca"), Authority.create("other-ca")
    pki = tmp_path / "pki"
    sidecar_id = write_identity(pki, "sidecar", ca, "loopwise-sidecar", server=True)
    learner_id = write_identity(pki, "learner", ca, "loopwise-learner", server=True, client=True)
    stranger = write_identity(pki, "stranger", other, "loopwise-learner", server=False, trust=ca)
    config = load_config(overrides={
        "data_addr": "127.0.0.1:0", "admin_addr": "127.0.0.1:0", "metrics_addr": "127.0.0.1:0",
        "db": str(tmp_path / "db"), "admin_token_file": str(write_token(tmp_path)),
        "tls_cert_file": str(sidecar_id.cert_file), "tls_key_file": str(sidecar_id.key_file),
        "tls_client_ca_file": str(sidecar_id.ca_file)})
    sidecar, ports = create_sidecar(config, clock=FakeClock(1), registry=CollectorRegistry())
    sidecar.start()
    table = RoutingPlan().set_route("invoice", champion="inv-v1")
    serve_tls = _tls_config(tmp_path, learner_id, server_name="loopwise-sidecar").tls
    try:
        fleet = GrpcFleet(StaticDiscovery([ports.admin_addr]), token=SIDECAR_TOKEN, timeout_s=3,
                          tls=serve_tls)
        assert fleet.push_routing(table).applied == (ports.admin_addr,)
        fleet.close()
        for tls in (None, stranger):
            refused = GrpcFleet(StaticDiscovery([ports.admin_addr]), token=SIDECAR_TOKEN,
                                timeout_s=3, tls=tls)
            result = refused.push_routing(table)
            assert result.applied == ()
            refused.close()
    finally:
        sidecar.stop()


def test_tls_section_keys_go_together(tmp_path: Path) -> None:
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    with pytest.raises(InvalidServeConfigError, match=r"tls: cert_file, key_file and ca_file"):
        ServeConfig.from_mapping({"fleet": {"local": 1}, "server": {"admin_token_file": "/t"},
                                  "tls": {"cert_file": str(cert)}})
    assert not ServeConfig.from_mapping({"fleet": {"local": 1},
                                         "server": {"admin_token_file": "/t"}}).tls.enabled
