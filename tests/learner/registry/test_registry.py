from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from learner import ModelRegistry
from learner.registry import (
    DuplicateVersionError,
    InvalidConfigError,
    InvalidMetadataError,
    InvalidNameError,
    LedgerAction,
    ModelNotFoundError,
    ModelStatus,
    ModelVersion,
    NoChampionError,
    RegistryConfig,
    VersionBump,
)
from learner.registry import ModelRegistry as RegistryFromPackage
from learner.db import Backend, SqliteLocation
from tests.learner.conftest import TestDatabase
from tests.learner.registry.conftest import FakeClock, tiny_model


def test_seed_registry_operations_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    # Production already has a vision_encoder champion (the seed's example assumes one).
    with ModelRegistry() as existing:
        incumbent = existing.register_model(
            tiny_model(0), "vision_encoder", "vision_encoder", {"accuracy": 0.93}
        )
        existing.promote_to_champion(incumbent, reason="initial deployment")
    model = tiny_model(1)

    # --- the seed's "Registry Operations" example, with our import path ---
    registry = ModelRegistry()

    # Register model
    model_id = registry.register_model(
        model=model,
        name="vision_encoder",
        model_type="vision_encoder",
        metrics={"accuracy": 0.95},
        metadata={"training_samples": 10000}
    )

    # Get champion
    champion = registry.get_champion("vision_encoder")
    print(f"Champion: {champion['id']}")
    print(f"Version: {champion['version']}")
    print(f"Metrics: {champion['metrics']}")

    # Promote to champion
    registry.promote_to_champion(
        model_id=model_id,
        reason="A/B test winner",
        metrics={"accuracy": 0.97}
    )

    # Rollback
    previous_id = registry.rollback_to_previous_champion(
        model_type="vision_encoder",
        reason="Production issues"
    )

    # Statistics
    stats = registry.get_statistics()
    print(stats)
    # --- end of the seed's example ---

    out = capsys.readouterr().out
    assert "Champion: vision_encoder_1.0.0\nVersion: 1.0.0\nMetrics: {'accuracy': 0.93}" in out
    assert model_id == "vision_encoder_1.0.1"
    assert previous_id == incumbent
    assert registry.get_champion("vision_encoder")["id"] == incumbent  # type: ignore[index]
    assert registry.get_model(model_id).status is ModelStatus.ARCHIVED
    assert registry.get_model(model_id).metrics == {"accuracy": 0.97}
    assert stats["total_models"] == 2
    assert stats["by_status"] == {
        "registered": 0, "challenger": 0, "champion": 1, "archived": 1, "deprecated": 0
    }
    assert stats["storage_size_mb"] > 0
    assert (tmp_path / "model_registry" / "registry.sqlite3").exists()
    registry.close()


def test_both_import_paths_name_the_same_classes() -> None:
    import learner
    import learner.registry

    assert learner.ModelRegistry is RegistryFromPackage is learner.registry.ModelRegistry
    assert learner.ModelVersion is learner.registry.ModelVersion is ModelVersion


def test_versions_are_chosen_per_name(registry: ModelRegistry) -> None:
    ids = [registry.register_model(tiny_model(i), "doc_classifier", "docs") for i in range(3)]
    assert ids == ["doc_classifier_1.0.0", "doc_classifier_1.0.1", "doc_classifier_1.0.2"]
    assert registry.register_model(tiny_model(9), "doc_classifier", "docs",
                                   bump=VersionBump.MINOR) == "doc_classifier_1.1.0"
    assert registry.register_model(tiny_model(9), "doc_classifier", "docs",
                                   version="3.0.0") == "doc_classifier_3.0.0"
    assert registry.register_model(tiny_model(9), "doc_classifier", "docs",
                                   bump=VersionBump.MAJOR) == "doc_classifier_4.0.0"
    assert registry.register_model(tiny_model(1), "other", "docs") == "other_1.0.0"
    with pytest.raises(DuplicateVersionError, match="doc_classifier_1.0.1 is already"):
        registry.register_model(tiny_model(5), "doc_classifier", "docs",
                                version=ModelVersion(1, 0, 1))
    with pytest.raises(InvalidNameError, match="already registered as type 'docs'"):
        registry.register_model(tiny_model(5), "doc_classifier", "images")


def test_record_fields_and_clock(registry: ModelRegistry, clock: FakeClock) -> None:
    model_id = registry.register_model(
        tiny_model(1), "clf", "docs", {"f1": 0.9}, {"owner": "team-a"}
    )
    record = registry.get_model(model_id)
    assert record.version == ModelVersion(1, 0, 0)
    assert record.status is ModelStatus.REGISTERED
    assert record.metrics == {"f1": 0.9} and record.metadata == {"owner": "team-a"}
    assert record.created_at == record.updated_at <= clock.now
    assert record.artifact_kind == "numpy"
    (entry,) = registry.get_history(model_id=model_id)
    assert entry.action is LedgerAction.REGISTER and entry.actor == "test-suite"
    assert entry.at == record.created_at


def test_load_artifact_and_path(registry: ModelRegistry) -> None:
    model = tiny_model(3)
    model_id = registry.register_model(model, "clf", "docs")
    loaded = registry.load_artifact(model_id)
    for name, tensor in model.items():
        np.testing.assert_array_equal(loaded[name], tensor)
    path = registry.get_artifact_path(model_id)
    assert path.is_file() and path.suffix == ".safetensors"
    assert registry.get_model(model_id).artifact_sha256 in path.name


def test_identical_artifacts_are_stored_once(registry: ModelRegistry) -> None:
    a = registry.register_model(tiny_model(1), "clf", "docs")
    b = registry.register_model(tiny_model(1), "clf", "docs")
    assert registry.get_model(a).artifact_uri == registry.get_model(b).artifact_uri
    size = registry.get_model(a).artifact_bytes
    assert registry.get_statistics()["storage_size_mb"] == round(size / 2**20, 6)


def test_list_models_filters(registry: ModelRegistry) -> None:
    a = registry.register_model(tiny_model(1), "clf", "docs")
    b = registry.register_model(tiny_model(2), "clf", "docs")
    c = registry.register_model(tiny_model(3), "enc", "images")
    registry.set_challenger(b)
    assert [r.id for r in registry.list_models()] == [a, b, c]
    assert [r.id for r in registry.list_models("docs")] == [a, b]
    assert [r.id for r in registry.list_models(status="challenger")] == [b]
    assert [r.id for r in registry.list_models("docs", ModelStatus.REGISTERED)] == [a]
    assert [r.id for r in registry.list_models(name="enc")] == [c]
    assert registry.get_challenger("docs")["id"] == b  # type: ignore[index]
    assert registry.get_challenger("images") is None
    assert registry.get_champion("docs") is None


def test_lineage_is_recorded_and_queryable(registry: ModelRegistry) -> None:
    base = registry.register_model(tiny_model(0), "encoder", "docs",
                                   base_model="sentence-transformers/all-MiniLM-L6-v2")
    tuned = registry.register_model(
        tiny_model(1), "encoder_ft", "docs", base_model=base, training_job="job-17",
        data_window="2026-11-01T00:00Z/2026-11-08T00:00Z", drift_report="drift-2026-11-08",
    )
    record = registry.get_model(tuned)
    assert record.lineage.base_model == base
    assert record.lineage.training_job == "job-17"
    assert record.lineage.data_window == "2026-11-01T00:00Z/2026-11-08T00:00Z"
    assert record.to_dict()["lineage"]["drift_report"] == "drift-2026-11-08"
    assert [r.id for r in registry.get_lineage(tuned)] == [tuned, base]
    assert [r.id for r in registry.list_models(drift_report="drift-2026-11-08")] == [tuned]
    assert [r.id for r in registry.list_models(training_job="job-17")] == [tuned]
    assert [r.id for r in registry.list_models(base_model=base)] == [tuned]
    with pytest.raises(InvalidMetadataError, match="lineage training_job"):
        registry.register_model(tiny_model(2), "x", "docs", training_job="")


def test_statistics_has_every_status(registry: ModelRegistry) -> None:
    stats = registry.get_statistics()
    assert stats["total_models"] == 0
    assert stats["by_status"] == {s.value: 0 for s in ModelStatus}
    assert stats["storage_size_mb"] == 0
    model_id = registry.register_model(tiny_model(1), "clf", "docs")
    registry.promote_to_champion(model_id, reason="first")
    stats = registry.get_statistics()
    assert stats["by_status"]["champion"] == 1 and stats["champions"] == {"docs": model_id}
    json.dumps(stats)


@pytest.mark.parametrize("bad", ["", "a/b", "a\\b", "..", "a..b", "../x", "x y", "-x", "a" * 200])
def test_bad_names_and_types(registry: ModelRegistry, bad: str) -> None:
    with pytest.raises(InvalidNameError) as info:
        registry.register_model(tiny_model(1), bad, "docs")
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidNameError, match="model_type"):
        registry.register_model(tiny_model(1), "ok", bad)
    assert registry.get_statistics()["total_models"] == 0


def test_bad_metrics_and_reasons(registry: ModelRegistry) -> None:
    with pytest.raises(InvalidMetadataError, match="metrics"):
        registry.register_model(tiny_model(1), "clf", "docs", {"f1": float("nan")})
    with pytest.raises(InvalidMetadataError, match="metadata"):
        registry.register_model(tiny_model(1), "clf", "docs", metadata={"x": object()})
    model_id = registry.register_model(tiny_model(1), "clf", "docs")
    with pytest.raises(InvalidMetadataError, match="reason"):
        registry.promote_to_champion(model_id, reason="  ")


def test_unknown_ids_are_lookup_errors(registry: ModelRegistry) -> None:
    for call in (
        lambda: registry.get_model("nope_1.0.0"),
        lambda: registry.promote_to_champion("nope_1.0.0", reason="x"),
        lambda: registry.set_challenger("nope_1.0.0"),
        lambda: registry.archive_model("nope_1.0.0", reason="x"),
        lambda: registry.load_artifact("nope_1.0.0"),
    ):
        with pytest.raises(ModelNotFoundError, match="nope_1.0.0") as info:
            call()
        assert isinstance(info.value, LookupError)
    with pytest.raises(NoChampionError, match="'docs' has no champion"):
        registry.rollback_to_previous_champion("docs", reason="x")


def test_config_validation_reports_every_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfigError) as info:
        RegistryConfig(root=tmp_path, database_name="a/b", busy_timeout_s=0, actor=" ")
    message = str(info.value)
    assert "database_name" in message and "busy_timeout_s" in message and "actor" in message
    assert isinstance(info.value, ValueError)


def test_config_takes_a_postgresql_url_never_its_password(tmp_path: Path) -> None:
    config = RegistryConfig(root=tmp_path, url="postgresql://lw@db:5432/loopwise",
                            password_env="LW_DB_PASSWORD")
    assert config.location.backend is Backend.POSTGRESQL
    assert RegistryConfig(root=tmp_path).location == SqliteLocation(tmp_path / "registry.sqlite3")
    with pytest.raises(InvalidConfigError) as info:
        RegistryConfig(root=tmp_path, url="postgresql://lw:hunter2@db/loopwise",
                       password_file=tmp_path / "pw", password_env="X")
    message = str(info.value)
    assert "must not contain the password" in message and "at most one of" in message
    assert "hunter2" not in message
    with pytest.raises(InvalidConfigError, match="only with a postgresql url"):
        RegistryConfig(root=tmp_path, password_env="X")
    with pytest.raises(InvalidConfigError, match="name the database"):
        RegistryConfig(root=tmp_path, url="postgresql://lw@db")


def test_remote_artifact_url(tmp_path: Path, test_database: TestDatabase) -> None:
    with test_database.registry(tmp_path, artifact_url="memory://registry-test-remote") as registry:
        model_id = registry.register_model(tiny_model(4), "clf", "docs")
        assert registry.get_model(model_id).artifact_uri.startswith("memory://")
        np.testing.assert_array_equal(
            registry.load_artifact(model_id)["encoder.bias"], tiny_model(4)["encoder.bias"]
        )
        assert registry.get_artifact_path(model_id).parent == tmp_path / "cache"


def test_champion_lookup_sees_other_connections_writes(
    tmp_path: Path, test_database: TestDatabase
) -> None:
    with test_database.registry(tmp_path) as reader, test_database.registry(tmp_path) as writer:
        a = writer.register_model(tiny_model(1), "clf", "docs")
        b = writer.register_model(tiny_model(2), "clf", "docs")
        assert reader.get_champion("docs") is None
        writer.promote_to_champion(a, reason="first")
        assert reader.get_champion("docs")["id"] == a  # type: ignore[index]
        champion = reader.get_champion("docs")
        champion["metrics"]["tampered"] = 1  # type: ignore[index]
        assert "tampered" not in reader.get_champion("docs")["metrics"]  # type: ignore[index]
        writer.set_challenger(b)
        assert reader.get_challenger("docs")["id"] == b  # type: ignore[index]
        reader.promote_to_champion(b, reason="reader writes too")
        assert reader.get_champion("docs")["id"] == b  # type: ignore[index]
        assert writer.get_champion("docs")["id"] == b  # type: ignore[index]
        assert reader.get_challenger("docs") is None


@pytest.mark.parametrize("module", ["version", "registry", "__init__"])
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    name = "learner.registry" if module == "__init__" else f"learner.registry.{module}"
    failed, _ = doctest.testmod(importlib.import_module(name))
    assert failed == 0
