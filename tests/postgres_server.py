"""A real PostgreSQL server for the tests: initdb in a temporary directory, started on loopback
on a free port, one fresh database per test, stopped and removed at the end.

Debian's ``postgresql`` package provides the binaries (``/usr/lib/postgresql/<N>/bin``;
``.ci/run`` installs it). PostgreSQL refuses to run as root, so under root the server runs as
the ``postgres`` system user, which owns the temporary directory. Clients authenticate with a
password over TCP (scram-sha-256), read from an environment variable as in production.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import psycopg

__all__ = ["PostgresServer", "PostgresUnavailable", "find_bindir", "PASSWORD_ENV"]

#: The environment variable the tests' database locations read the password from.
PASSWORD_ENV = "LOOPWISE_TEST_PGPASSWORD"
_USER = "loopwise"
_DURABLE = "-c listen_addresses=127.0.0.1 -c shared_buffers=64MB -c max_connections=200"
_SERVER_SETTINGS = ("-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                    "-c full_page_writes=off -c shared_buffers=16MB -c max_connections=200")


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_bindir() -> Path:
    """The directory of ``initdb``/``pg_ctl``: Debian's newest, else the ``PATH``."""
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                    key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    if debian:
        return Path(debian[-1]).parent
    found = shutil.which("pg_ctl")
    if found is None:
        raise PostgresUnavailable("PostgreSQL server binaries not found (apt-get install postgresql)")
    return Path(found).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One throw-away server; :meth:`create_database` gives each test its own database."""

    def __init__(self, bindir: Path | None = None) -> None:
        self._bindir = bindir or find_bindir()
        self._run_as = "postgres" if os.geteuid() == 0 else None
        if self._run_as is not None:
            try:
                pwd.getpwnam(self._run_as)
            except KeyError:
                raise PostgresUnavailable(
                    "running as root needs a 'postgres' user to run the server as "
                    "(Debian's postgresql package creates it)") from None
        # Under root, /tmp itself (not a root-only TMPDIR) so that the server's user reaches it.
        base = "/tmp" if self._run_as is not None and os.path.isdir("/tmp") else None
        self._dir = Path(tempfile.mkdtemp(prefix="loopwise-pg-", dir=base))
        self.password = secrets.token_urlsafe(18)
        self.port = 0
        self._names = itertools.count(1)
        self._started = False

    def _command(self, args: Sequence[str]) -> list[str]:
        if self._run_as is None:
            return list(args)
        return ["runuser", "-u", self._run_as, "--", *args]

    def _run(self, *args: str) -> None:
        result = subprocess.run(self._command(args), capture_output=True, text=True, timeout=120,
                                cwd=self._dir)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n"
                               f"{result.stdout}\n{result.stderr}\n{self._log_tail()}")

    def _log_tail(self) -> str:
        log = self._dir / "server.log"
        return log.read_text()[-2000:] if log.exists() else ""

    def start(self, *, durable: bool = False) -> PostgresServer:
        """initdb, then ``pg_ctl start -w`` on a free loopback port. Tests run without fsync;
        ``durable`` keeps PostgreSQL's production defaults (for benchmarks)."""
        pwfile = self._dir / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._run_as is not None:
            entry = pwd.getpwnam(self._run_as)
            os.chown(self._dir, entry.pw_uid, entry.pw_gid)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        pwfile.chmod(0o600)
        data = self._dir / "data"
        self._run(str(self._bindir / "initdb"), "-D", str(data), "-U", _USER, "--pwfile",
                  str(pwfile), "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync",
                  "-E", "UTF8", "--locale=C")
        pwfile.unlink()
        for attempt in range(5):  # a port found free may be taken before the server binds it
            self.port = _free_port()
            try:
                self._run(str(self._bindir / "pg_ctl"), "-D", str(data), "-l",
                          str(self._dir / "server.log"), "-w", "-t", "60", "-o",
                          f"{_DURABLE if durable else _SERVER_SETTINGS} -c port={self.port} "
                          f"-c unix_socket_directories={self._dir}", "start")
                break
            except RuntimeError:
                if attempt == 4:
                    raise
        self._started = True
        return self

    def url(self, database: str) -> str:
        """The test's location: no password in it (it comes from :data:`PASSWORD_ENV`)."""
        return f"postgresql://{_USER}@127.0.0.1:{self.port}/{database}"

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.url("postgres"), password=self.password, autocommit=True)

    def create_database(self) -> str:
        """A new, empty database; returns its name."""
        name = f"test_{next(self._names)}_{secrets.token_hex(3)}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        """Drop ``name``, disconnecting whoever is still connected."""
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its directory."""
        try:
            if self._started:
                self._run(str(self._bindir / "pg_ctl"), "-D", str(self._dir / "data"), "-m",
                          "fast", "-w", "stop")
        finally:
            self._started = False
            shutil.rmtree(self._dir, ignore_errors=True)
