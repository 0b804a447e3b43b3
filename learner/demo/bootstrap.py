"""Everything the demo sets up before any process starts: its directory, secrets, configuration
files, the production model (a real LoRA adapter trained on the classic English documents,
registered and promoted in the registry) and that model's reference data.

The configuration is the demo's embedded defaults: short windows and check intervals so that
what takes days in production happens in minutes; every value is an ordinary configuration
key of ``sidecar serve`` or ``learner serve``.
"""

from __future__ import annotations

import secrets
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from safetensors.numpy import save_file

from learner.demo.features import feature_columns
from learner.synthetic import DocumentGenerator

__all__ = ["DemoPaths", "prepare", "train_production_model", "write_reference",
           "sidecar_config", "learner_config", "MODEL_TYPE"]

MODEL_TYPE = "doc_classifier"
_MARKER = ".loopwise-demo"


@dataclass(frozen=True)
class DemoPaths:
    root: Path

    @property
    def registry(self) -> Path:
        return self.root / "registry"

    @property
    def reference(self) -> Path:
        return self.root / "reference"

    @property
    def training(self) -> Path:
        return self.root / "training"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def sidecar_token(self) -> Path:
        return self.root / "secrets" / "sidecar-admin.token"

    @property
    def learner_token(self) -> Path:
        return self.root / "secrets" / "learner-admin.token"

    def sidecar_dir(self, name: str) -> Path:
        return self.root / name


def prepare(root: Path) -> DemoPaths:
    """A fresh demo directory (an earlier demo's is replaced; any other non-empty one refused)
    with two random admin tokens readable only by this user."""
    if root.exists() and any(root.iterdir()):
        if not (root / _MARKER).exists():
            raise FileExistsError(f"{root} is not empty and not a demo directory; choose another --workdir")
        shutil.rmtree(root)
    paths = DemoPaths(root)
    for d in (root, paths.registry, paths.reference, paths.training, paths.logs, root / "secrets"):
        d.mkdir(parents=True, exist_ok=True)
    (root / _MARKER).write_text("created by `python -m learner.demo`; deleted by its next run\n")
    for token in (paths.sidecar_token, paths.learner_token):
        token.touch(mode=0o600)
        token.write_text(secrets.token_urlsafe(24) + "\n")
    return paths


def train_production_model(paths: DemoPaths, seed: int,
                           progress: Callable[[float, dict[str, float]], None] | None = None
                           ) -> tuple[str, float]:
    """Trains LoRA on 160 classic documents, registers and promotes it; (model id, accuracy on
    200 fresh classic documents)."""
    from learner.registry import ModelRegistry
    from learner.training import Example, ModelSpec, TrainingConfig
    from learner.training.trainer import LoraSequenceClassifierTrainer

    trainer = LoraSequenceClassifierTrainer(
        ModelSpec(), TrainingConfig(epochs=4, batch_size=16, max_seq_len=64, learning_rate=3e-3, seed=seed))
    old = [Example(d.text, d.label) for d in DocumentGenerator(seed=seed + 100).generate(160)]
    trained = trainer.train(old, progress=progress)
    check = DocumentGenerator(seed=seed + 200).generate(200)
    predicted = trainer.predict(trained.model, [d.text for d in check])
    accuracy = sum(p == d.label for p, d in zip(predicted, check)) / len(check)
    with ModelRegistry(paths.registry, actor="demo-bootstrap") as registry:
        model_id = registry.register_model(
            trained.model, MODEL_TYPE, MODEL_TYPE, metrics={"accuracy": accuracy},
            metadata=trainer.adapter_metadata(), base_model=trainer.spec.model,
            reason="the production model before the demo starts")
        registry.promote_to_champion(model_id, reason="initial deployment", metrics={"accuracy": accuracy})
    return model_id, accuracy


def write_reference(paths: DemoPaths, name: str, texts: list[str]) -> Path:
    """``<reference>/<name>.safetensors``: the features of ``texts`` (a model type's or a model
    id's reference data, which the learner turns into baselines)."""
    path = paths.reference / f"{name}.safetensors"
    save_file(feature_columns(texts), str(path))
    return path


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml(sections: dict[str, dict[str, object]]) -> str:
    out = []
    for name, table in sections.items():
        out.append(f"[{name}]")
        out += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
        out.append("")
    return "\n".join(out)


def sidecar_config(paths: DemoPaths, name: str) -> Path:
    """A sidecar on free loopback ports with 2-second windows."""
    d = paths.sidecar_dir(name)
    d.mkdir(parents=True, exist_ok=True)
    path = d / "sidecar.toml"
    path.write_text(_toml({
        "server": {"data_addr": "127.0.0.1:0", "admin_addr": "127.0.0.1:0", "metrics_addr": "127.0.0.1:0",
                   "admin_token_file": str(paths.sidecar_token), "ready_file": str(d / "ready.json"),
                   "grace_s": 1.0},
        "store": {"db": str(d / "db")},
        "ingest": {"window_s": 2, "flush_interval_s": 0.5},
    }))
    return path


def learner_config(paths: DemoPaths, sidecar_admin_addrs: list[str]) -> Path:
    """``learner serve`` over the given sidecars with the demo's short intervals."""
    path = paths.root / "learner.toml"
    path.write_text(_toml({
        "registry": {"root": str(paths.registry), "reference_dir": str(paths.reference)},
        "fleet": {"static": sidecar_admin_addrs, "admin_token_file": str(paths.sidecar_token),
                  "timeout_s": 5.0},
        "server": {"admin_addr": "127.0.0.1:0", "metrics_addr": "127.0.0.1:0",
                   "admin_token_file": str(paths.learner_token), "grace_s": 1.0},
        "learning": {
            "model_types": [MODEL_TYPE],
            "drift_check_interval_s": 3.0, "drift_min_samples": 300, "drift_max_lookback_s": 60.0,
            # Retrain on human corrections only, once they include the drifted documents:
            # with fewer, the set is mostly pre-drift documents the champion already knows and
            # a retrain can come out futile (then backs off); the drifting champion's confident
            # mistakes must not become pseudo-labels.
            "min_feedback_samples": 900, "min_pseudo_label_confidence": 1.0,
            "min_labelled_for_concept_drift": 200,
            "ab_eval_interval_s": 3.0, "ab_test_traffic_split": 0.5, "ab_test_min_samples": 100,
            "health_check_interval_s": 15.0, "health_min_labelled": 80,
            "report_interval_s": 86_400.0,
        },
        "training": {"enabled": True, "work_dir": str(paths.training), "epochs": 3, "batch_size": 16,
                     "learning_rate": 3e-3, "label_field": "doc_type", "label_grace_s": 4.0},
    }))
    return path


def python() -> str:
    return sys.executable
