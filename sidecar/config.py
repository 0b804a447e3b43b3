"""Sidecar configuration: frozen, validated dataclasses loaded from TOML, environment and flags.

Precedence (lowest first): built-in defaults, the TOML file (``--config``), environment
variables ``SIDECAR_<SECTION>_<KEY>`` (e.g. ``SIDECAR_SERVER_DATA_ADDR``), command-line flags.
Every problem is reported at once in one ``ConfigError``, each with its ``section.key``.

Example file::

    [server]
    data_addr = "127.0.0.1:50051"      # or "unix:/run/loopwise/sidecar.sock"
    admin_addr = "127.0.0.1:50052"
    metrics_addr = "127.0.0.1:9464"
    admin_token_file = "/etc/loopwise/admin-token"   # owner-only (0600), >= 16 bytes
    tls_cert_file = "/etc/loopwise/tls/tls.crt"     # TLS on both planes, re-read on rotation
    tls_key_file = "/etc/loopwise/tls/tls.key"
    tls_client_ca_file = "/etc/loopwise/tls/ca.crt" # mutual TLS: client certificates required

    [store]
    db = "/var/lib/loopwise/sidecar"

    [ingest]
    flush_interval_s = 1.0   # records are durable within this interval
    window_s = 60
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sidecar.tokens import token_file_problem


@dataclass(frozen=True)
class ConfigIssue:
    """One problem: the offending key (``section.key``) and what is wrong with it."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class ConfigError(ValueError):
    """Every configuration problem found, reported together."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__("invalid configuration:\n  " + "\n  ".join(map(str, self.issues)))


def _help(text: str, default: Any = dataclasses.MISSING) -> Any:
    if default is dataclasses.MISSING:
        return field(metadata={"help": text})
    if isinstance(default, (list, tuple)):
        return field(default=tuple(default), metadata={"help": text})
    return field(default=default, metadata={"help": text})


def _check_addr(issues: list[ConfigIssue], key: str, addr: str, *, allow_unix: bool) -> None:
    if allow_unix and addr.startswith("unix:"):
        if len(addr) <= len("unix:"):
            issues.append(ConfigIssue(key, "unix: address needs a path"))
        return
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        form = "host:port or unix:PATH" if allow_unix else "host:port"
        issues.append(ConfigIssue(key, f"must be {form} (port 0-65535), got {addr!r}"))


class _View:
    """Attribute access over a dict of values (missing required keys read as None)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:
        return None


def _raise(section: str, issues: list[ConfigIssue]) -> None:
    if issues:
        raise ConfigError([ConfigIssue(f"{section}.{i.key}", i.message) for i in issues])


@dataclass(frozen=True)
class ServerConfig:
    """Listening addresses, security and the RPC thread pool."""

    admin_token_file: pathlib.Path = _help(
        "File holding the admin plane's bearer token (required; never put the token itself in "
        "configuration). Owner-only permissions (e.g. 0600) and at least 16 bytes, or the "
        "sidecar refuses to start."
    )
    data_addr: str = _help("Data plane address: host:port or unix:PATH.", "127.0.0.1:50051")
    admin_addr: str = _help("Admin plane address (learner only): host:port or unix:PATH.",
                            "127.0.0.1:50052")
    metrics_addr: str = _help("Prometheus /metrics address, host:port.", "127.0.0.1:9464")
    tls_cert_file: pathlib.Path | None = _help(
        "PEM certificate (chain) for TLS on the data and admin planes; re-read when the file "
        "changes (rotation without a restart).", None)
    tls_key_file: pathlib.Path | None = _help("PEM private key of tls_cert_file.", None)
    tls_client_ca_file: pathlib.Path | None = _help(
        "PEM CA bundle verifying client certificates: when set, both planes require one "
        "(mutual TLS). Needs tls_cert_file.", None)
    workers: int = _help("RPC worker threads per plane (each open stream holds one).", 32)
    max_message_bytes: int = _help("Largest accepted gRPC message (bytes).", 16 << 20)
    grace_s: float = _help(
        "Seconds in-flight RPCs get on shutdown; 1 s after it the final flush and the store "
        "close happen regardless of stuck streams, and the process exits.", 5.0)
    ready_file: pathlib.Path | None = _help(
        "If set, a JSON file with the bound ports written once the sidecar serves.", None
    )

    def __post_init__(self) -> None:
        _raise("server", self.validate(vars(self)))

    @staticmethod
    def validate(v: Mapping[str, Any]) -> list[ConfigIssue]:
        """Problems with ``v`` (absent keys are skipped: they are reported as missing)."""
        self = _View(v)
        issues: list[ConfigIssue] = []
        _check_addr(issues, "data_addr", self.data_addr, allow_unix=True)
        _check_addr(issues, "admin_addr", self.admin_addr, allow_unix=True)
        _check_addr(issues, "metrics_addr", self.metrics_addr, allow_unix=False)
        if self.data_addr == self.admin_addr and not self.data_addr.endswith(":0"):
            issues.append(ConfigIssue("admin_addr", "must differ from data_addr"))
        if self.admin_token_file is not None:
            problem = token_file_problem(self.admin_token_file)
            if problem is not None:
                issues.append(ConfigIssue("admin_token_file", problem))
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            issues.append(ConfigIssue("tls_key_file", "tls_cert_file and tls_key_file go together"))
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            issues.append(ConfigIssue("tls_client_ca_file",
                                      "needs tls_cert_file and tls_key_file (mutual TLS)"))
        for key in ("tls_cert_file", "tls_key_file", "tls_client_ca_file"):
            path = getattr(self, key)
            if path is not None and not path.is_file():
                issues.append(ConfigIssue(key, f"no such file: {path}"))
        if self.workers < 2:
            issues.append(ConfigIssue("workers", "must be at least 2"))
        if self.max_message_bytes < 1024:
            issues.append(ConfigIssue("max_message_bytes", "must be at least 1024"))
        if self.grace_s < 0:
            issues.append(ConfigIssue("grace_s", "must not be negative"))
        return issues


@dataclass(frozen=True)
class StoreConfig:
    """The LMDB store: routing table, baselines, aggregate windows, sample log."""

    db: pathlib.Path = _help("LMDB directory (created if missing).")
    max_samples: int = _help(
        "Most samples kept in the log (oldest evicted). The log is a buffer the learner drains "
        "(PullSamples/AckSamples), not an archive; its pages count in the sidecar's memory.", 200_000)
    max_age_s: float | None = _help("Samples older than this are evicted; unset: no age bound.",
                                    None)
    map_size: int = _help("Initial LMDB map size, bytes.", 64 << 20)
    max_map_size: int = _help("LMDB map size cap, bytes.", 16 << 30)

    def __post_init__(self) -> None:
        _raise("store", self.validate(vars(self)))

    @staticmethod
    def validate(v: Mapping[str, Any]) -> list[ConfigIssue]:
        """Problems with ``v`` (absent keys are skipped: they are reported as missing)."""
        self = _View(v)
        issues: list[ConfigIssue] = []
        if self.db is not None and self.db.exists() and not self.db.is_dir():
            issues.append(ConfigIssue("db", f"is not a directory: {self.db}"))
        if self.max_samples < 1:
            issues.append(ConfigIssue("max_samples", "must be positive"))
        if self.max_age_s is not None and self.max_age_s <= 0:
            issues.append(ConfigIssue("max_age_s", "must be positive"))
        if self.map_size < 1 << 16:
            issues.append(ConfigIssue("map_size", "must be at least 65536"))
        if self.max_map_size < self.map_size:
            issues.append(ConfigIssue("max_map_size", "must be at least map_size"))
        return issues


@dataclass(frozen=True)
class IngestConfig:
    """Record batches, windows, durability and feedback scoring."""

    flush_interval_s: float = _help(
        "Records and windows are flushed to LMDB this often: a record is durable within it.", 1.0
    )
    window_s: int = _help("Aggregate window length, seconds.", 60)
    retention_s: int = _help("Aggregate windows older than this are deleted.", 7 * 86_400)
    max_batch_records: int = _help("Most records in one batch (larger: INVALID_ARGUMENT).", 10_000)
    max_payload_bytes: int = _help(
        "Largest payload, prediction or feedback label of one record, bytes.", 1 << 20
    )
    flush_max_pending: int = _help(
        "Flush early once this many samples wait in memory (statcore's flush thread commits "
        "them while ingest goes on; at twice this many, ingest waits for the flush). Bounds "
        "memory under load: 10 M records at ~2 M/s leave the sidecar at 92-124 MB resident.",
        20_000)
    max_future_skew_s: float = _help(
        "How far a record's ts_ms may lie ahead of the sidecar's clock (clock skew between the "
        "model server and the sidecar), seconds; later timestamps refuse the batch.", 300.0)
    max_record_age_s: int = _help(
        "How far a record's ts_ms may lie behind the sidecar's clock, seconds; older timestamps "
        "refuse the batch (their windows would already be closed, or past retention).",
        7 * 86_400)
    log_samples: bool = _help(
        "Append every record to the durable sample log (needed for feedback joins).", True
    )
    fields: tuple[str, ...] = _help(
        "Extraction fields scored for F1 before a baseline names its own.", ("doc_type",)
    )
    primary_field: str = _help("Prediction field whose match counts as 'correct'.", "doc_type")
    pull_limit: int = _help("Default and largest PullSamples batch.", 10_000)
    max_json_depth: int = _help(
        "Deepest nesting of arrays and objects in a feedback label (deeper: INVALID_ARGUMENT); "
        "its size is bounded by max_payload_bytes.", 32)

    def __post_init__(self) -> None:
        _raise("ingest", self.validate(vars(self)))

    @staticmethod
    def validate(v: Mapping[str, Any]) -> list[ConfigIssue]:
        """Problems with ``v`` (absent keys are skipped: they are reported as missing)."""
        self = _View(v)
        issues: list[ConfigIssue] = []
        if not 0.01 <= self.flush_interval_s <= 60:
            issues.append(ConfigIssue("flush_interval_s", "must be within [0.01, 60]"))
        if self.window_s < 1:
            issues.append(ConfigIssue("window_s", "must be at least 1"))
        if self.retention_s < self.window_s:
            issues.append(ConfigIssue("retention_s", "must be at least window_s"))
        for key in ("max_batch_records", "max_payload_bytes", "pull_limit",
                    "flush_max_pending"):
            if getattr(self, key) < 1:
                issues.append(ConfigIssue(key, "must be positive"))
        if not 0 <= self.max_future_skew_s <= 86_400:
            issues.append(ConfigIssue("max_future_skew_s", "must be within [0, 86400]"))
        if self.max_record_age_s < 1:
            issues.append(ConfigIssue("max_record_age_s", "must be positive"))
        if not 1 <= self.max_json_depth <= 256:
            issues.append(ConfigIssue("max_json_depth", "must be within [1, 256]"))
        if not self.primary_field:
            issues.append(ConfigIssue("primary_field", "must not be empty"))
        if any(not f for f in self.fields):
            issues.append(ConfigIssue("fields", "names must not be empty"))
        return issues


@dataclass(frozen=True)
class SidecarConfig:
    """The whole sidecar configuration, one section per subsystem."""

    server: ServerConfig
    store: StoreConfig
    ingest: IngestConfig = field(default_factory=IngestConfig)


SECTIONS: dict[str, type[Any]] = {"server": ServerConfig, "store": StoreConfig,
                                  "ingest": IngestConfig}

#: Command-line flags and the key each sets.
FLAG_KEYS: dict[str, str] = {
    "data_addr": "server.data_addr",
    "admin_addr": "server.admin_addr",
    "metrics_addr": "server.metrics_addr",
    "admin_token_file": "server.admin_token_file",
    "tls_cert_file": "server.tls_cert_file",
    "tls_key_file": "server.tls_key_file",
    "tls_client_ca_file": "server.tls_client_ca_file",
    "ready_file": "server.ready_file",
    "db": "store.db",
    "flush_interval_s": "ingest.flush_interval_s",
}


def _coerce(kind: Any, value: Any) -> Any:
    """Converts TOML/env/flag values to the field's type; raises ValueError."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if value is None or value == "":
            return None
        return _coerce(args[0], value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ValueError(f"expected a boolean, got {value!r}")
    if kind is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"expected an integer, got {value!r}")
        return int(value)
    if kind is float:
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        return float(value)
    if kind is pathlib.Path:
        if not isinstance(value, (str, os.PathLike)):
            raise ValueError(f"expected a path, got {value!r}")
        return pathlib.Path(value)
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        return value
    if typing.get_origin(kind) is tuple:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ValueError(f"expected a list, got {value!r}")
        return tuple(str(i).strip() for i in items)
    raise ValueError(f"unsupported type {kind!r}")


def _build_section(name: str, raw: Mapping[str, Any]) -> tuple[Any, list[ConfigIssue]]:
    cls = SECTIONS[name]
    hints = typing.get_type_hints(cls)
    issues: list[ConfigIssue] = []
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in hints:
            issues.append(ConfigIssue(f"{name}.{key}", "unknown key"))
            continue
        try:
            values[key] = _coerce(hints[key], value)
        except (ValueError, TypeError) as e:
            issues.append(ConfigIssue(f"{name}.{key}", str(e)))
    for f in dataclasses.fields(cls):
        missing = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if missing and f.name not in values and not any(i.key == f"{name}.{f.name}" for i in issues):
            issues.append(ConfigIssue(f"{name}.{f.name}", "is required"))
    defaults = {
        f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING
    }
    bad = {i.key for i in issues}
    issues.extend(
        ConfigIssue(f"{name}.{i.key}", i.message)
        for i in cls.validate(defaults | values)
        if f"{name}.{i.key}" not in bad
    )
    if issues:
        return None, issues
    return cls(**values), []


def load_config(
    toml_path: pathlib.Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> SidecarConfig:
    """Builds the configuration; raises ``ConfigError`` listing every problem.

    ``overrides`` maps ``section.key`` (or a flag name from ``FLAG_KEYS``) to a value; ``None``
    values are ignored (a flag that was not given).
    """
    issues: list[ConfigIssue] = []
    raw: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    if toml_path is not None:
        try:
            data = tomllib.loads(pathlib.Path(toml_path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError([ConfigIssue("--config", str(e))]) from e
        for section, body in data.items():
            if section not in SECTIONS or not isinstance(body, dict):
                issues.append(ConfigIssue(section, "unknown section"))
                continue
            raw[section].update(body)
    for var, value in (env or {}).items():
        if not var.startswith("SIDECAR_"):
            continue
        rest = var[len("SIDECAR_"):].lower()
        section, _, key = rest.partition("_")
        if section not in SECTIONS:
            issues.append(ConfigIssue(var, "unknown section in environment variable"))
            continue
        raw[section][key] = value
    for name, value in (overrides or {}).items():
        if value is None:
            continue
        section, _, key = FLAG_KEYS.get(name, name).partition(".")
        if section not in SECTIONS:
            issues.append(ConfigIssue(name, "unknown setting"))
            continue
        raw[section][key] = value
    built: dict[str, Any] = {}
    for section in SECTIONS:
        obj, section_issues = _build_section(section, raw[section])
        issues.extend(section_issues)
        built[section] = obj
    if issues:
        raise ConfigError(issues)
    return SidecarConfig(**built)
