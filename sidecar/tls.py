"""Mutual TLS for every gRPC plane: server credentials that pick up rotated certificate files
without a restart, and the matching channel credentials.

One module for the sidecar (data and admin planes) and the learner (its admin API, its
channels to the sidecars, the CLI). It imports only grpc, so the learner can use it without
torch and the sidecar without the learner.

A plane is served with TLS when its settings name a certificate and a key; it requires client
certificates (mutual TLS) when they also name a CA bundle, which then verifies the clients.
A client presents its own certificate and key and verifies the server with the CA bundle.

Rotation: the server's credentials re-read the certificate, key and CA files when any of
their modification times, sizes or inodes change, checked at every new connection (grpc's
``dynamic_ssl_server_credentials`` asks before each handshake). Established connections keep
the certificate they were opened with; a half-written rotation (a file that does not read)
keeps the previous certificate in force. A client reads its files when its channel is created.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import grpc

__all__ = ["TlsSettings", "TlsFiles", "server_credentials", "channel_credentials",
           "add_port", "open_channel"]

log = logging.getLogger(__name__)


class TlsSettings(Protocol):
    """What the functions here read: the learner's ``[tls]`` section and ``TlsFiles`` fit."""

    @property
    def cert_file(self) -> Path | None: ...

    @property
    def key_file(self) -> Path | None: ...

    @property
    def ca_file(self) -> Path | None: ...


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of one side. ``ca_file`` verifies the peer; ``server_name`` (clients only)
    is the name expected in the server's certificate when it differs from the address."""

    cert_file: Path | None
    key_file: Path | None
    ca_file: Path | None = None
    server_name: str | None = None


def _enabled(settings: TlsSettings | None) -> bool:
    return settings is not None and settings.cert_file is not None


def _stamp(paths: Sequence[Path]) -> tuple[tuple[int, int, int], ...]:
    out = []
    for p in paths:
        st = os.stat(p)
        out.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


class _ReloadingCertificates:
    """The certificate configuration of a server, re-read when its files change."""

    def __init__(self, settings: TlsSettings) -> None:
        assert settings.cert_file is not None and settings.key_file is not None
        self._paths = [Path(settings.cert_file), Path(settings.key_file)]
        if settings.ca_file is not None:
            self._paths.append(Path(settings.ca_file))
        self._lock = threading.Lock()
        self._stamp = _stamp(self._paths)
        self.initial = self._read()

    def _read(self) -> Any:
        cert, key, *ca = (p.read_bytes() for p in self._paths)
        return grpc.ssl_server_certificate_configuration([(key, cert)],
                                                         root_certificates=ca[0] if ca else None)

    def fetch(self) -> Any:
        """A new configuration if the files changed since the last read, else ``None``."""
        with self._lock:
            try:
                stamp = _stamp(self._paths)
                if stamp == self._stamp:
                    return None
                config = self._read()
            except (OSError, ValueError) as e:  # mid-rotation: keep what is in force
                log.warning("TLS files unreadable, keeping the current certificate: %s", e)
                return None
            self._stamp = stamp
            log.info("TLS certificate files changed: re-read %s", [str(p) for p in self._paths])
            return config


def server_credentials(settings: TlsSettings) -> grpc.ServerCredentials:
    """Server credentials from ``settings`` (certificate and key required), re-reading the
    files on rotation; client certificates are required when ``settings.ca_file`` is set."""
    certificates = _ReloadingCertificates(settings)
    return grpc.dynamic_ssl_server_credentials(
        certificates.initial, certificates.fetch,
        require_client_authentication=settings.ca_file is not None)


def channel_credentials(settings: TlsSettings) -> grpc.ChannelCredentials:
    """Client credentials: verify the server with ``ca_file`` (the system roots if unset) and
    present ``cert_file``/``key_file`` when set."""
    def read(path: Path | None) -> bytes | None:
        return None if path is None else Path(path).read_bytes()

    return grpc.ssl_channel_credentials(root_certificates=read(settings.ca_file),
                                        private_key=read(settings.key_file),
                                        certificate_chain=read(settings.cert_file))


def add_port(server: grpc.Server, address: str, settings: TlsSettings | None) -> int:
    """Binds ``address`` with TLS when ``settings`` names a certificate, else in plain text;
    returns the port (0 if binding failed, as grpc does)."""
    if _enabled(settings):
        assert settings is not None
        return server.add_secure_port(address, server_credentials(settings))
    return server.add_insecure_port(address)


def open_channel(address: str, settings: TlsSettings | None,
                 options: Sequence[tuple[str, Any]] = ()) -> grpc.Channel:
    """A channel to ``address``: TLS (mutual when ``settings`` names a certificate) when
    ``settings`` names a certificate or a CA bundle, else plain text. A ``server_name``
    attribute overrides the name checked in the server's certificate."""
    if settings is None or (settings.cert_file is None and settings.ca_file is None):
        return grpc.insecure_channel(address, options=list(options))
    opts = list(options)
    server_name = getattr(settings, "server_name", None)
    if server_name:
        opts.append(("grpc.ssl_target_name_override", server_name))
    return grpc.secure_channel(address, channel_credentials(settings), options=opts)
