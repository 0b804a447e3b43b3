"""Dockerfiles, checked statically (no Docker engine here): multi-stage, the sidecar image
without torch, the learner with the train extra, non-root, no secrets baked in."""

from __future__ import annotations

import json
import pathlib
import re
import tomllib
from dataclasses import dataclass, field

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCKER = ROOT / "deploy" / "docker"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, op: str) -> list[str]:
        return [a for o, a in self.instructions if o == op]

    def text(self) -> str:
        return "\n".join(f"{o} {a}" for o, a in self.instructions)


def _stages(name: str) -> list[Stage]:
    """Instructions per stage, continuation lines joined and comments dropped."""
    text = (DOCKER / name).read_text()
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    stages: list[Stage] = []
    for line in joined.splitlines():
        if not line.strip():
            continue
        op, _, rest = line.strip().partition(" ")
        if op.upper() == "FROM":
            m = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest.strip(), re.I)
            assert m, line
            stages.append(Stage(m.group(1), m.group(2)))
        elif stages:
            stages[-1].instructions.append((op.upper(), rest.strip()))
        else:
            assert op.upper() == "ARG", line
    return stages


@pytest.mark.parametrize("name", ["Dockerfile.sidecar", "Dockerfile.learner"])
def test_multi_stage_build_then_slim_runtime(name: str) -> None:
    build, runtime = _stages(name)
    assert build.name == "build"
    assert any("maturin build --release" in r for r in build.args("RUN"))
    assert runtime.base.startswith("python:3.11-slim")
    assert "from=build" in runtime.text()  # the wheel comes from the build stage
    user = runtime.args("USER")[-1]
    assert user.split(":")[0] not in {"0", "root"}
    for copied in (a.split()[0] for a in build.args("COPY")):
        assert (ROOT / copied).exists(), copied


def test_build_stage_copies_every_python_package_of_the_wheel() -> None:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["maturin"][
        "python-packages"]
    build = _stages("Dockerfile.sidecar")[0]
    copied = {a.split()[0] for a in build.args("COPY")}
    assert set(packages) | {"statcore"} <= copied


def test_both_images_share_the_same_build_stage() -> None:
    assert (_stages("Dockerfile.sidecar")[0].instructions
            == _stages("Dockerfile.learner")[0].instructions)


def test_sidecar_runtime_has_no_torch() -> None:
    runtime = _stages("Dockerfile.sidecar")[1]
    text = runtime.text()
    assert "pip install /dist/loopwise-*.whl" in text
    assert "torch" not in text.lower() and "[train]" not in text
    assert json.loads(runtime.args("ENTRYPOINT")[-1]) == ["sidecar", "serve"]
    assert set(runtime.args("EXPOSE")[-1].split()) == {"50051", "50052", "9464"}
    health = runtime.args("HEALTHCHECK")[-1]
    assert json.loads(health.split("CMD", 1)[1]) == ["sidecar", "health", "--plane", "data"]


def test_learner_runtime_installs_the_train_extra() -> None:
    runtime = _stages("Dockerfile.learner")[1]
    assert '"${wheel}[train]"' in runtime.text()
    assert "download.pytorch.org/whl/cpu" in (DOCKER / "Dockerfile.learner").read_text()
    assert json.loads(runtime.args("ENTRYPOINT")[-1]) == ["learner"]
    assert json.loads(runtime.args("CMD")[-1]) == [
        "serve", "--config", "/etc/loopwise/learner.toml"]


@pytest.mark.parametrize("name", ["Dockerfile.sidecar", "Dockerfile.learner"])
def test_no_secret_is_baked_in(name: str) -> None:
    for stage in _stages(name):
        for op in ("ENV", "ARG"):
            for arg in stage.args(op):
                for key in re.findall(r"(\w+)=", arg):
                    if re.search(r"TOKEN|SECRET|PASSWORD", key):
                        assert key.endswith("_FILE"), f"{name}: {op} {key}"
        for arg in stage.args("COPY"):
            assert not re.search(r"token|secret|\.pem|\.key", arg, re.I), arg


def test_dockerignore_keeps_the_context_small_and_secret_free() -> None:
    patterns = set((ROOT / ".dockerignore").read_text().split())
    assert {"**/.git", "**/.venv", "**/target", "tests", "**/admin-token*"} <= patterns


def test_learner_image_exposes_the_admin_grpc_port_and_metrics() -> None:
    """It said ``EXPOSE 8080 # learner HTTP API`` for what is the gRPC admin API on 50061."""
    from learner.cli import DEFAULT_ADDR

    runtime = _stages("Dockerfile.learner")[1]
    admin_port = DEFAULT_ADDR.rsplit(":", 1)[1]
    assert set(runtime.args("EXPOSE")[-1].split()) == {admin_port, "9465"}
    text = (DOCKER / "Dockerfile.learner").read_text()
    assert "HTTP API" not in text and f"{admin_port}: the admin gRPC API" in text
