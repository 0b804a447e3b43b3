"""Test-time certificates (``cryptography``): CAs, and server and client certificates they
sign, written as PEM files. Nothing is checked in; every test makes its own."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sidecar.tls import TlsFiles

_DAY = datetime.timedelta(days=1)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass(frozen=True)
class Authority:
    """A CA that signs certificates."""

    name: str
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, name: str) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - _DAY).not_valid_after(now + _DAY)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                             False), critical=True)
                .sign(key, hashes.SHA256()))
        return cls(name, key, cert)

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, cn: str, *, server: bool, client: bool | None = None) -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM) for ``cn``; server certificates name localhost, 127.0.0.1
        and ``cn``. ``client`` (default: not ``server``) allows client authentication."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        usage = [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
        if client or (client is None and not server):
            usage.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(self.cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - _DAY).not_valid_after(now + _DAY)
                   .add_extension(x509.ExtendedKeyUsage(usage), critical=False))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.DNSName(cn),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        key_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return cert.public_bytes(serialization.Encoding.PEM), key_pem


def write_identity(directory: Path, stem: str, ca: Authority, cn: str, *, server: bool,
                   client: bool | None = None, trust: Authority | None = None) -> TlsFiles:
    """Writes ``<stem>.crt``, ``<stem>.key`` and ``<stem>-ca.crt`` (``trust``, default ``ca``)
    into ``directory``; returns them as ``TlsFiles``."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = ca.issue(cn, server=server, client=client)
    paths = (directory / f"{stem}.crt", directory / f"{stem}.key", directory / f"{stem}-ca.crt")
    paths[0].write_bytes(cert)
    paths[1].write_bytes(key)
    paths[1].chmod(0o600)
    paths[2].write_bytes((trust or ca).pem())
    return TlsFiles(*paths)
