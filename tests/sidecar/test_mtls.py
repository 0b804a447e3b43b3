"""Mutual TLS on the sidecar's data and admin planes: a client without a certificate, with one
from another CA, or in plain text is refused on both; rotating the server's certificate files
is picked up by new connections without a restart."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import time
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry

from loopwise_proto.v1 import admin_pb2, admin_pb2_grpc, sidecar_pb2, sidecar_pb2_grpc
from sidecar.clock import FakeClock
from sidecar.config import ConfigError, load_config
from sidecar.server import Ports, create_server
from sidecar.tls import TlsFiles, open_channel
from tests.pki import Authority, write_identity
from tests.sidecar.conftest import TOKEN, write_token


@dataclasses.dataclass
class Pki:
    ca: Authority
    server: TlsFiles
    client: TlsFiles  # signed by ``ca``, trusts ``ca``
    no_cert: TlsFiles  # trusts ``ca``, presents nothing
    foreign: TlsFiles  # signed by another CA, trusts ``ca``


def make_pki(tmp: pathlib.Path) -> Pki:
    ca, other = Authority.create("loopwise-test-ca"), Authority.create("someone-else")
    server = write_identity(tmp / "pki", "server", ca, "loopwise-sidecar", server=True)
    client = write_identity(tmp / "pki", "client", ca, "learner", server=False)
    foreign = write_identity(tmp / "pki", "foreign", other, "learner", server=False, trust=ca)
    return Pki(ca, server, client, TlsFiles(None, None, client.ca_file), foreign)


@pytest.fixture
def mtls(tmp_path: pathlib.Path) -> Iterator[tuple[Pki, Ports]]:
    pki = make_pki(tmp_path)
    config = load_config(overrides={
        "data_addr": "localhost:0", "admin_addr": "localhost:0", "metrics_addr": "127.0.0.1:0",
        "db": str(tmp_path / "db"), "admin_token_file": str(write_token(tmp_path)),
        "tls_cert_file": str(pki.server.cert_file), "tls_key_file": str(pki.server.key_file),
        "tls_client_ca_file": str(pki.server.ca_file),
        "server.workers": 4})
    server, ports = create_server(config, clock=FakeClock(1), registry=CollectorRegistry())
    server.start()
    yield pki, ports
    server.stop()


def _route(addr: str, tls: TlsFiles | None) -> grpc.StatusCode:
    """Route over a fresh channel: INVALID_ARGUMENT means the call reached the servicer."""
    with open_channel(addr, tls) as ch:
        try:
            sidecar_pb2_grpc.SidecarStub(ch).Route(sidecar_pb2.RouteRequest(model_type="none"),
                                                   timeout=3)
        except grpc.RpcError as e:
            return e.code()
    return grpc.StatusCode.OK


def _status(addr: str, tls: TlsFiles | None) -> grpc.StatusCode:
    with open_channel(addr, tls) as ch:
        try:
            admin_pb2_grpc.AdminStub(ch).GetStatus(
                admin_pb2.GetStatusRequest(), timeout=3,
                metadata=[("authorization", f"Bearer {TOKEN}")])
        except grpc.RpcError as e:
            return e.code()
    return grpc.StatusCode.OK


def _health(addr: str, tls: TlsFiles | None) -> grpc.StatusCode:
    with open_channel(addr, tls) as ch:
        try:
            health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=3)
        except grpc.RpcError as e:
            return e.code()
    return grpc.StatusCode.OK


def test_only_clients_with_a_certificate_of_our_ca_get_through(mtls: tuple[Pki, Ports]) -> None:
    pki, ports = mtls
    assert _route(ports.data_addr, pki.client) == grpc.StatusCode.INVALID_ARGUMENT
    assert _status(ports.admin_addr, pki.client) == grpc.StatusCode.OK
    for refused in (None, pki.no_cert, pki.foreign):
        assert _route(ports.data_addr, refused) == grpc.StatusCode.UNAVAILABLE
        assert _status(ports.admin_addr, refused) == grpc.StatusCode.UNAVAILABLE
        assert _health(ports.admin_addr, refused) == grpc.StatusCode.UNAVAILABLE
        assert _health(ports.data_addr, refused) == grpc.StatusCode.UNAVAILABLE


def test_a_rotated_server_certificate_is_served_without_a_restart(
        mtls: tuple[Pki, Ports], tmp_path: pathlib.Path) -> None:
    pki, ports = mtls
    new_ca = Authority.create("rotated-ca")
    trusts_new = write_identity(tmp_path / "new", "client", pki.ca, "learner", server=False,
                                trust=new_ca)
    for addr in (ports.data_addr, ports.admin_addr):
        assert _health(addr, pki.client) == grpc.StatusCode.OK
        assert _health(addr, trusts_new) == grpc.StatusCode.UNAVAILABLE
    cert, key = new_ca.issue("loopwise-sidecar", server=True)
    for path, data in ((pki.server.cert_file, cert), (pki.server.key_file, key)):
        assert path is not None
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # how Kubernetes and cert-manager swap files: atomically
    time.sleep(0.05)
    for addr in (ports.data_addr, ports.admin_addr):
        assert _health(addr, trusts_new) == grpc.StatusCode.OK  # the new certificate
        assert _health(addr, pki.client) == grpc.StatusCode.UNAVAILABLE  # not the old one


def test_client_ca_needs_a_server_certificate(tmp_path: pathlib.Path) -> None:
    pki = make_pki(tmp_path)
    with pytest.raises(ConfigError) as e:
        load_config(overrides={"db": str(tmp_path / "db"),
                               "admin_token_file": str(write_token(tmp_path)),
                               "tls_client_ca_file": str(pki.server.ca_file)})
    assert [i.key for i in e.value.issues] == ["server.tls_client_ca_file"]


def test_the_health_command_probes_both_planes_over_mutual_tls(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sidecar.cli import main

    pki = make_pki(tmp_path)
    # The sidecar's own certificate serves and, in the probe, authenticates the client.
    own = write_identity(tmp_path / "own", "sidecar", pki.ca, "loopwise-sidecar", server=True,
                         client=True)
    env = {"SIDECAR_SERVER_DATA_ADDR": "127.0.0.1:0", "SIDECAR_SERVER_ADMIN_ADDR": "127.0.0.1:0",
           "SIDECAR_SERVER_METRICS_ADDR": "127.0.0.1:0", "SIDECAR_STORE_DB": str(tmp_path / "db"),
           "SIDECAR_SERVER_ADMIN_TOKEN_FILE": str(write_token(tmp_path)),
           "SIDECAR_SERVER_TLS_CERT_FILE": str(pki.server.cert_file),
           "SIDECAR_SERVER_TLS_KEY_FILE": str(pki.server.key_file),
           "SIDECAR_SERVER_TLS_CLIENT_CA_FILE": str(pki.server.ca_file)}
    config = load_config(env=env)
    server, ports = create_server(config, clock=FakeClock(1), registry=CollectorRegistry())
    server.start()
    try:
        env |= {"SIDECAR_SERVER_DATA_ADDR": ports.data_addr,
                "SIDECAR_SERVER_ADMIN_ADDR": ports.admin_addr,
                "SIDECAR_SERVER_TLS_CERT_FILE": str(own.cert_file),
                "SIDECAR_SERVER_TLS_KEY_FILE": str(own.key_file)}
        for var, value in env.items():
            monkeypatch.setenv(var, value)
        for plane in ("admin", "data"):
            assert main(["health", "--plane", plane, "--server-name", "loopwise-sidecar"]) == 0
        monkeypatch.setenv("SIDECAR_SERVER_TLS_CERT_FILE", str(pki.foreign.cert_file))
        monkeypatch.setenv("SIDECAR_SERVER_TLS_KEY_FILE", str(pki.foreign.key_file))
        assert main(["health", "--server-name", "loopwise-sidecar"]) == 1
    finally:
        server.stop()
