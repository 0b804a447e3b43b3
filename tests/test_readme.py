"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})  # noqa: S102 - our own documentation


def test_every_configuration_key_is_in_the_reference() -> None:
    import dataclasses

    from learner.config import LearningConfig
    from learner.serve.config import _SECTIONS as LEARNER_SECTIONS
    from sidecar.config import SECTIONS as SIDECAR_SECTIONS

    text = README.read_text()
    sections = [*SIDECAR_SECTIONS.items(), *LEARNER_SECTIONS.items(), ("learning", LearningConfig)]
    missing = [f"{name}.{f.name}" for name, cls in sections for f in dataclasses.fields(cls)
               if f"| `{name}.{f.name}` |" not in text]
    assert not missing, f"README's configuration reference lacks {missing}"
