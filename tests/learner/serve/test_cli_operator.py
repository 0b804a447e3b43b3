"""Issue 16's CLI findings, each against a served learner (real gRPC, token) through ``main``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from learner.cli import ExitCode
from learner.registry import ModelRegistry
from tests.learner.serve.conftest import Served


def test_unknown_model_types_are_not_found_for_every_command(served: Served) -> None:
    """``models history`` and ``report`` printed nothing and exited 0 for an unknown type."""
    for argv in (("models", "history", "--model-type", "nope"), ("report", "--model-type", "nope"),
                 ("rollback", "--model-type", "nope", "--reason", "x"),
                 ("drift", "check", "--model-type", "nope"), ("drift", "report", "--model-type", "nope")):
        code, out, err = served.cli(*argv)
        assert code == ExitCode.NOT_FOUND, argv
        assert "nope" in err and out == "", argv
        code, out, _ = served.cli(*argv, "--json")
        assert code == ExitCode.NOT_FOUND and json.loads(out)["exit_code"] == ExitCode.NOT_FOUND


def test_history_has_every_ledger_row_with_utc_times(served: Served) -> None:
    """History left out register and set-challenger rows and printed raw epoch seconds."""
    with ModelRegistry(served.root) as reg:
        reg.set_challenger("clf_1.0.2", reason="shadow it")
        expected = [e.action.value for e in reg.get_history(model_type="clf")]
    code, out, _ = served.cli("models", "history", "--model-type", "clf", "--json")
    actions = [e["action"] for e in json.loads(out)]
    assert code == 0 and actions == expected
    assert actions.count("register") == 3 and "set_challenger" in actions
    code, out, _ = served.cli("models", "history", "--model-type", "clf")
    rows = out.splitlines()[2:]
    assert code == 0 and len(rows) == len(expected)
    assert all(re.search(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\b", row) for row in rows)
    assert not re.search(r"\b1\d{9}\b", out)  # no epoch seconds


def test_models_list_keeps_metrics_whole(served: Served, tmp_path: Path) -> None:
    """``models list`` cut the metrics JSON at 60 characters, mid-word."""
    save_file({"w": np.ones((2, 2), dtype=np.float32)}, str(tmp_path / "m.safetensors"))
    metrics = {"accuracy": 0.912345, "f1_vendor_name": 0.87, "f1_invoice_total": 0.93,
               "notes": "trained on the second quarter"}
    code, _, err = served.cli("models", "register", str(tmp_path / "m.safetensors"), "--model-type", "clf",
                              "--metrics", json.dumps(metrics), "--registry", str(served.root))
    assert code == 0, err
    code, out, _ = served.cli("models", "list")
    (row,) = [line for line in out.splitlines() if line.startswith("clf_1.0.3")]
    cell = row.split("registered", 1)[1].strip()
    assert cell.endswith("…") and "{" not in cell
    pairs = cell.removesuffix("…").split()
    assert pairs and all(re.fullmatch(r"[a-z0-9_]+=[^ ]+", p) for p in pairs)
    assert pairs[0] == "accuracy=0.9123"


def test_json_event_kinds_are_short_names(served: Served) -> None:
    served.cli("promote", "clf_1.0.2", "--reason", "hotfix")
    code, out, _ = served.cli("events", "--json")
    (event,) = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and event["kind"] == "promotion"
    code, out, _ = served.cli("events")
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ  #1", out)


def test_status_uptime_and_counter_names_match_the_metrics(served: Served) -> None:
    """``status`` printed ``uptime: 0.0 h`` and counters named unlike the metrics."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    code, out, _ = served.cli("status")
    assert code == 0 and re.search(r"uptime: \d+s\b", out) and "0.0 h" not in out
    counters = json.loads(served.cli("status", "--json")[1])["counters"]
    text = urllib.request.urlopen(served.metrics_url, timeout=5).read().decode()
    exposed = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    assert counters and set(counters) <= exposed, set(counters) - exposed


def test_register_the_first_model_without_python(tmp_path: Path, served: Served) -> None:
    """``models register`` seeds a registry from a safetensors adapter directory."""
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    save_file({"lora_A": np.ones((4, 2), dtype=np.float32)}, str(adapter / "adapter_model.safetensors"))
    root = tmp_path / "fresh-registry"
    code, out, err = served.cli("models", "register", str(adapter), "--model-type", "invoice",
                                "--metrics", '{"accuracy": 0.91}', "--registry", str(root), "--json")
    assert code == 0, err
    assert json.loads(out) == {"id": "invoice_1.0.0", "model_type": "invoice", "version": "1.0.0",
                               "status": "registered", "artifact_sha256": json.loads(out)["artifact_sha256"]}
    with ModelRegistry(root) as reg:
        record = reg.get_model("invoice_1.0.0")
        assert dict(record.metrics) == {"accuracy": 0.91}
        assert set(reg.load_artifact("invoice_1.0.0")) == {"lora_A"}
    code, out, _ = served.cli("models", "register", str(adapter), "--model-type", "invoice", "--registry",
                              str(root))
    assert code == 0 and "invoice_1.0.1" in out and "learner promote invoice_1.0.1" in out
    assert served.cli("models", "register", str(tmp_path / "none"), "--model-type", "x",
                      "--registry", str(root))[0] == ExitCode.NOT_FOUND
    assert served.cli("models", "register", str(adapter), "--model-type", "x", "--metrics", "[1]",
                      "--registry", str(root))[0] == ExitCode.USAGE
    assert served.cli("models", "register", str(adapter), "--model-type", "invoice", "--version", "1.0.0",
                      "--registry", str(root))[0] == ExitCode.INVALID
    assert served.cli("models", "register", str(adapter), "--model-type", "x")[0] == ExitCode.USAGE


def test_register_reads_the_registry_from_the_learners_config(tmp_path: Path) -> None:
    from learner.cli import main
    from tests.learner.serve.conftest import write_config

    config = write_config(tmp_path)
    save_file({"w": np.zeros(3, dtype=np.float32)}, str(tmp_path / "m.safetensors"))
    import io
    out = io.StringIO()
    code = main(["models", "register", str(tmp_path / "m.safetensors"), "--model-type", "clf", "--name", "clf-a",
                 "--version", "2.0.0", "--reason", "seed", "--config", str(config), "--json"], out, io.StringIO())
    assert code == 0 and json.loads(out.getvalue())["id"] == "clf-a_2.0.0"
    with ModelRegistry(tmp_path / "registry") as reg:
        (entry,) = reg.get_history(model_id="clf-a_2.0.0")
    assert entry.action.value == "register" and entry.reason == "seed"
