"""`import statcore` gives the compiled module from the repo root and from an installed wheel.

The repository has a `statcore/` folder (Rust crates plus the Python face) at its root, the
classic trap that can shadow an installed extension. Both ways of importing are checked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import json, statcore, statcore._statcore as s; "
    "print(json.dumps({'ext': s.__file__, 'pkg': statcore.__file__, 'route': statcore.Router.__module__}))"
)


def probe(cwd: Path, extra_path: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if extra_path is not None:
        env["PYTHONPATH"] = str(extra_path)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout))


def test_repo_root_import_gives_the_compiled_module() -> None:
    found = probe(ROOT)
    assert Path(found["ext"]).parent == ROOT / "statcore"
    assert found["ext"].endswith(".so")
    assert found["route"] == "statcore._statcore"


def test_installed_wheel_holds_all_packages_and_imports(tmp_path: Path) -> None:
    maturin = shutil.which("maturin") or str(Path(sys.executable).with_name("maturin"))
    subprocess.run(
        [maturin, "build", "--release", "-q", "-o", str(tmp_path / "dist")],
        cwd=ROOT, check=True, capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("loopwise-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("statcore/_statcore") and n.endswith(".so") for n in names)
    assert "statcore/_statcore.pyi" in names and "statcore/py.typed" in names
    assert "sidecar/__init__.py" in names and "learner/__init__.py" in names
    assert not any(n.endswith(".rs") or n.startswith("statcore/core") for n in names)
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True, capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    found = probe(elsewhere, extra_path=site)
    assert Path(found["ext"]).is_relative_to(site)
    assert Path(found["pkg"]).is_relative_to(site)


@pytest.mark.parametrize("module", ["statcore", "sidecar", "learner"])
def test_packages_do_not_import_torch(module: str) -> None:
    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
