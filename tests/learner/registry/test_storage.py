from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from learner.registry import ArtifactIntegrityError, ArtifactMissingError, RegistryError
from learner.registry.storage import ArtifactStore


def test_put_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "art"))
    data = b"hello tensors"
    ref = store.put(data)
    digest = hashlib.sha256(data).hexdigest()
    assert ref.sha256 == digest and ref.size == len(data)
    assert ref.uri.endswith(f"sha256/{digest[:2]}/{digest}.safetensors")
    assert store.put(data) == ref
    assert store.get(digest) == data
    assert store.size_bytes() == len(data)
    assert not list((tmp_path / "art").rglob("*.tmp"))


def test_tampered_artifact_is_refused(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "art"))
    ref = store.put(b"original bytes")
    Path(ref.uri).write_bytes(b"evil bytes")
    with pytest.raises(ArtifactIntegrityError, match="tampered") as info:
        store.get(ref.sha256)
    assert isinstance(info.value, RegistryError)
    with pytest.raises(ArtifactIntegrityError):
        store.local_path(ref.sha256)


def test_missing_artifact(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "art"))
    with pytest.raises(ArtifactMissingError) as info:
        store.get("a" * 64)
    assert isinstance(info.value, LookupError)


def test_rejects_non_digest(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "art"))
    with pytest.raises(ArtifactIntegrityError, match="not a sha256"):
        store.get("../../etc/passwd")


def test_remote_store_downloads_verified_copy(tmp_path: Path) -> None:
    store = ArtifactStore("memory://loopwise-test-artifacts", cache_dir=tmp_path / "cache")
    ref = store.put(b"remote bytes")
    assert ref.uri.startswith("memory://")
    path = store.local_path(ref.sha256)
    assert path.read_bytes() == b"remote bytes"
    assert store.local_path(ref.sha256) == path
