"""The committed generated code matches what protoc makes from proto/ today."""

from __future__ import annotations

import pathlib

import pytest

from loopwise_proto import codegen


def test_generated_code_is_up_to_date(tmp_path: pathlib.Path) -> None:
    pytest.importorskip("grpc_tools")
    fresh = {p.name: p.read_text() for p in codegen.generate(tmp_path / "v1")}
    committed = {p.name: p.read_text() for p in codegen.OUT_DIR.iterdir() if p.is_file()
                 and not p.name.endswith(".pyc")}
    stale = sorted(n for n in fresh.keys() | committed.keys() if fresh.get(n) != committed.get(n))
    assert not stale, f"out of date with proto/ (run `make proto`): {stale}"


def test_every_field_is_documented() -> None:
    for proto in codegen.PROTO_DIR.glob("*.proto"):
        lines = proto.read_text().splitlines()
        for i, line in enumerate(lines):
            stripped = line.strip()
            is_field = stripped.endswith(";") and "=" in stripped and not stripped.startswith(
                ("syntax", "package", "option", "//"))
            is_decl = stripped.startswith(("message ", "service ", "enum ", "rpc "))
            if is_field or is_decl:
                assert lines[i - 1].strip().startswith("//"), f"{proto.name}:{i + 1} {stripped}"
