"""Authentication before method lookup, and token files refused unless owner-only and long."""

from __future__ import annotations

import pathlib

import grpc
import pytest

from learner.errors import LearnerError
from learner.serve.wiring import read_token
from sidecar.config import ConfigError, load_config
from sidecar.tokens import MIN_TOKEN_BYTES, TokenFileError, read_token_file
from tests.sidecar.conftest import TOKEN, Planes

Inproc = tuple


@pytest.mark.parametrize("kind", ["unary_unary", "unary_stream", "stream_unary", "stream_stream"])
@pytest.mark.parametrize("method", ["/loopwise.v1.Admin/DropEverything", "/no.such.Service/X",
                                    "/loopwise.v1.Admin/GetStatus"])
def test_without_a_token_every_method_is_unauthenticated_known_or_not(
        inproc: Inproc, method: str, kind: str) -> None:
    p: Planes = inproc[0]
    call = getattr(p.admin_channel, kind)(method)
    request = iter([b""]) if kind.startswith("stream") else b""
    with pytest.raises(grpc.RpcError) as e:
        result = call(request, timeout=5, metadata=[("authorization", "Bearer wrong")])
        if kind.endswith("_stream"):
            list(result)
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    registry = inproc[2]
    assert registry.get_sample_value("loopwise_sidecar_rejected_requests_total",
                                     {"plane": "admin", "reason": "unauthenticated"}) == 1


def test_with_the_token_an_unknown_method_is_unimplemented(inproc: Inproc) -> None:
    p: Planes = inproc[0]
    call = p.admin_channel.unary_unary("/loopwise.v1.Admin/DropEverything")
    with pytest.raises(grpc.RpcError) as e:
        call(b"", timeout=5, metadata=[("authorization", f"Bearer {TOKEN}")])
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


def _token_file(tmp: pathlib.Path, text: str, mode: int) -> pathlib.Path:
    path = tmp / "token"
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize(("text", "mode", "why"), [
    ("a" * 32, 0o644, "readable by group or others"),
    ("a" * 32, 0o640, "readable by group or others"),
    ("a" * 32, 0o604, "readable by group or others"),
    ("x", 0o600, f"at least {MIN_TOKEN_BYTES} are required"),
    ("a" * 15 + "\n", 0o400, f"at least {MIN_TOKEN_BYTES} are required"),
    ("  \n", 0o600, "is empty"),
])
def test_bad_token_files_are_refused_by_the_sidecar_and_the_learner(
        tmp_path: pathlib.Path, text: str, mode: int, why: str) -> None:
    path = _token_file(tmp_path, text, mode)
    with pytest.raises(ConfigError) as e:
        load_config(overrides={"db": str(tmp_path / "db"), "admin_token_file": str(path)})
    (issue,) = e.value.issues
    assert issue.key == "server.admin_token_file" and why in issue.message
    with pytest.raises(TokenFileError, match=why):
        read_token_file(path)
    with pytest.raises(LearnerError, match=why):
        read_token(path)


def test_an_owner_only_token_of_16_bytes_is_accepted_through_a_symlink(
        tmp_path: pathlib.Path) -> None:
    path = _token_file(tmp_path, "a" * 16 + "\n", 0o400)
    link = tmp_path / "link"
    link.symlink_to(path)  # Kubernetes mounts Secret keys as symbolic links
    assert read_token_file(link) == "a" * 16 == read_token(link)
    assert load_config(overrides={"db": str(tmp_path / "db"), "admin_token_file": str(link)})
    with pytest.raises(TokenFileError, match="cannot read"):
        read_token_file(tmp_path / "missing")
