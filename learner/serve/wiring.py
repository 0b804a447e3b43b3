"""Factories of the concrete collaborators ``serve()`` builds once: fleet and retrainer.

The gRPC fleet (``learner.fleet.grpc.GrpcFleet``, over the sidecars' admin API) is imported
lazily here and nowhere else; its contract with this module is
``GrpcFleet.from_config(fleet_config, token=..., clock=...)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from learner.config import LearningConfig
from learner.training.sample_source import SampleSource
from learner.errors import LearnerError
from learner.fleet import Fleet, LocalFleet
from learner.registry import ModelRegistry, RegistryConfig
from learner.retrainer import Retrainer
from learner.serve.config import FleetConfig, FleetKind, RegistrySection, TrainingSection
from sidecar.tokens import TokenFileError, read_token_file

if TYPE_CHECKING:
    from sidecar.tls import TlsSettings

__all__ = ["build_fleet", "build_retrainer", "FleetUnavailableError", "Retraining", "read_token",
           "registry_config"]

Clock = Callable[[], float]
DAY = 86_400.0


class FleetUnavailableError(LearnerError):
    """The configured fleet kind cannot be built in this installation."""


def read_token(path: Any) -> str:
    """The bearer token in ``path`` (stripped); an unreadable, empty, short (< 16 bytes) or
    group/world-readable file is an error (``sidecar.tokens``)."""
    try:
        return read_token_file(path)
    except TokenFileError as exc:
        raise LearnerError(str(exc)) from None


def build_fleet(fleet_config: FleetConfig, clock: Clock, tls: TlsSettings | None = None) -> Fleet:
    """The fleet the config names: in-process sidecars, or the gRPC fleet (static or DNS),
    over mutual TLS when ``tls`` is given."""
    if fleet_config.kind is FleetKind.LOCAL:
        return LocalFleet.with_sidecars(fleet_config.local, clock=clock)
    try:
        module = importlib.import_module("learner.fleet.grpc")
        grpc_fleet = module.GrpcFleet
    except (ImportError, AttributeError) as exc:
        raise FleetUnavailableError(
            f"[fleet] {fleet_config.kind.value} needs learner.fleet.grpc.GrpcFleet, which is not "
            f"available in this installation ({exc}); use `local = N` for in-process sidecars"
        ) from None
    assert fleet_config.admin_token_file is not None  # validated by FleetConfig
    fleet: Fleet = grpc_fleet.from_config(fleet_config, token=read_token(fleet_config.admin_token_file),
                                          clock=clock, tls=tls)
    return fleet


def registry_config(section: RegistrySection, actor: str | None = None) -> RegistryConfig:
    """The registry's configuration from the ``[registry]`` section (SQLite under ``root``,
    or the PostgreSQL database ``url`` names)."""
    return RegistryConfig(root=section.root, artifact_url=section.artifact_url, actor=actor,
                          url=section.url, password_file=section.password_file,
                          password_env=section.password_env)


@dataclass
class Retraining:
    """The retrainer and what must be closed with it."""

    retrainer: Retrainer
    close: Callable[[], None]


def sample_sources(fleet_config: FleetConfig, addresses: list[str],
                   tls: TlsSettings | None = None) -> dict[str, SampleSource]:
    """One ``PullSamples``/``AckSamples`` source per sidecar of a gRPC fleet (none for a local
    fleet: its in-process sidecars keep no sample log)."""
    if fleet_config.kind is FleetKind.LOCAL or fleet_config.admin_token_file is None:
        return {}
    from learner.training.grpc_source import GrpcSampleSource
    from sidecar.tls import open_channel

    token = read_token(fleet_config.admin_token_file)
    return {a: GrpcSampleSource(open_channel(a, tls), token=token, timeout_s=max(30.0, fleet_config.timeout_s))
            for a in addresses}


def build_retrainer(training: TrainingSection, learning: LearningConfig, registry: ModelRegistry,
                    clock: Clock, sources: dict[str, SampleSource] | None = None,
                    database: RegistrySection | None = None) -> Retraining | None:
    """The LoRA retrainer over a ``RetrainingOrchestrator`` (``None`` when training is off),
    collecting training samples from ``sources`` (the sidecars' logs) before each check.

    Jobs and samples live in the shared database when ``database`` names one, else in SQLite
    files under the training ``work_dir``.

    Recovers jobs orphaned by a previous run (``recover()``) before returning.
    """
    if not training.enabled:
        return None
    from learner.serve.retraining import OrchestratorRetrainer
    from learner.training import (
        DataConfig, JobStore, ModelSpec, RetrainingOrchestrator, SampleStore, TrainingConfig,
    )
    from learner.training.sample_store import SampleCollector

    training.work_dir.mkdir(parents=True, exist_ok=True)
    section = database or RegistrySection()
    samples = SampleStore(section.database(training.work_dir / "samples.db"))
    jobs = JobStore(section.database(training.work_dir / "jobs.db"))
    data_config = DataConfig(min_feedback_samples=learning.min_feedback_samples,
                             lookback_s=learning.training_lookback_days * DAY,
                             min_pseudo_label_confidence=learning.min_pseudo_label_confidence,
                             pseudo_label_grace_s=training.label_grace_s, label_field=training.label_field)
    collector = (SampleCollector(samples, sources, grace_s=data_config.pseudo_label_grace_s, clock=clock)
                 if sources else None)
    spec = ModelSpec(training.model, training.labels) if training.labels else ModelSpec(training.model)
    orchestrator = RetrainingOrchestrator(
        registry, samples, jobs, work_dir=training.work_dir / "jobs", spec=spec,
        training=TrainingConfig(lora_rank=learning.lora_rank, lora_alpha=learning.lora_alpha,
                                lora_dropout=learning.lora_dropout, epochs=training.epochs,
                                batch_size=training.batch_size, learning_rate=training.learning_rate),
        data=data_config, clock=clock, collector=collector)
    orchestrator.recover()

    def close() -> None:
        orchestrator.close(timeout_s=5.0)
        jobs.close()
        samples.close()

    return Retraining(OrchestratorRetrainer(orchestrator), close)
