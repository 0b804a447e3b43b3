"""A learner served in-process: a registry with two champions in its past, three in-process
sidecars, the admin API and /metrics on free ports, a token file."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from learner.cli import main
from learner.fleet import LocalFleet
from learner.metrics import LearnerMetrics
from learner.registry import ModelRegistry, RegistryConfig
from learner.serve.config import ServeConfig
from learner.serve.server import build_learner_thread, create_metrics_server, create_server
from tests.learner.simulation import tiny_model

TOKEN = "s3cret-token-of-the-learner"


def seed_registry(root: Path, config: RegistryConfig | None = None) -> None:
    with ModelRegistry(root, actor="tests", config=config) as reg:
        for seed in range(3):
            reg.register_model(tiny_model(seed), "clf", "clf", {"accuracy": 0.9})
        reg.promote_to_champion("clf_1.0.0", reason="initial")
        reg.promote_to_champion("clf_1.0.1", reason="A/B test winner")


def write_config(tmp: Path, registry: tuple[str, ...] = (), **server: str) -> Path:
    """``registry``: extra lines of the ``[registry]`` section (a database url, say)."""
    token = tmp / "token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    lines = ["[registry]", f'root = "{tmp / "registry"}"', *registry, "[fleet]", "local = 3",
             "[server]",
             'admin_addr = "127.0.0.1:0"', 'metrics_addr = "127.0.0.1:0"',
             f'admin_token_file = "{token}"', "grace_s = 1",
             "[learning]", 'model_types = ["clf"]']
    lines += [f'{k} = "{v}"' for k, v in server.items()]
    path = tmp / "learner.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Served:
    addr: str
    metrics_url: str
    token_file: Path
    fleet: LocalFleet
    root: Path

    def cli(self, *argv: str, token: bool = True) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        auth = ["--token-file", str(self.token_file)] if token else []
        code = main([*argv, "--addr", self.addr, *auth], out, err)
        return code, out.getvalue(), err.getvalue()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    seed_registry(tmp_path / "registry")
    config = ServeConfig.load(write_config(tmp_path), env={})
    metrics = LearnerMetrics()
    fleet = LocalFleet.with_sidecars(3)
    learner = build_learner_thread(config, metrics, fleet=fleet)
    learner.start()
    server, port = create_server(config, learner)
    httpd, mport = create_metrics_server("127.0.0.1:0", metrics.registry)
    import threading
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    server.start()
    try:
        yield Served(f"127.0.0.1:{port}", f"http://127.0.0.1:{mport}/metrics", tmp_path / "token",
                     fleet, tmp_path / "registry")
    finally:
        server.stop(None).wait()
        learner.stop()
        httpd.shutdown()
        httpd.server_close()
