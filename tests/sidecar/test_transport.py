"""Transports: a Unix-socket data plane, and TLS on the data plane."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import grpc
import pytest
from prometheus_client import CollectorRegistry

from loopwise_proto.v1 import sidecar_pb2, sidecar_pb2_grpc
from sidecar.clock import FakeClock
from sidecar.config import load_config
from sidecar.server import create_server
from tests.sidecar.conftest import write_token


def _config(tmp: pathlib.Path, **extra: str):  # type: ignore[no-untyped-def]
    return load_config(overrides={
        "admin_addr": "127.0.0.1:0", "metrics_addr": "127.0.0.1:0", "db": str(tmp / "db"),
        "admin_token_file": str(write_token(tmp)), "server.workers": 4, **extra})


def test_unix_socket_data_plane(tmp_path: pathlib.Path) -> None:
    addr = f"unix:{tmp_path}/sidecar.sock"
    server, ports = create_server(_config(tmp_path, data_addr=addr), clock=FakeClock(1),
                                  registry=CollectorRegistry())
    server.start()
    try:
        assert ports.data_addr == addr
        with grpc.insecure_channel(addr) as ch:
            with pytest.raises(grpc.RpcError) as e:
                sidecar_pb2_grpc.SidecarStub(ch).Route(
                    sidecar_pb2.RouteRequest(model_type="none"), timeout=5)
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        server.stop()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_tls_data_plane(tmp_path: pathlib.Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    config = _config(tmp_path, data_addr="localhost:0", tls_cert_file=str(cert),
                     tls_key_file=str(key))
    server, ports = create_server(config, clock=FakeClock(1), registry=CollectorRegistry())
    server.start()
    try:
        creds = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        with grpc.secure_channel(ports.data_addr, creds) as ch:
            with pytest.raises(grpc.RpcError) as e:
                sidecar_pb2_grpc.SidecarStub(ch).Route(
                    sidecar_pb2.RouteRequest(model_type="none"), timeout=5)
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # reached the servicer
        with grpc.insecure_channel(ports.data_addr) as ch:
            with pytest.raises(grpc.RpcError) as e:
                sidecar_pb2_grpc.SidecarStub(ch).Route(
                    sidecar_pb2.RouteRequest(model_type="none"), timeout=2)
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop()
