"""Content-addressed artifact storage over fsspec.

Artifacts are safetensors bytes stored at ``<root>/sha256/<ab>/<sha256>.safetensors``. The
root is any fsspec URL: a local directory by default, ``s3://bucket/prefix`` (or gs://, az://,
...) where the matching fsspec backend is installed. Identical artifacts are stored once.
Every read re-hashes the bytes it returns, so a tampered or truncated file is refused.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec  # type: ignore[import-untyped]

from learner.registry.errors import ArtifactIntegrityError, ArtifactMissingError

__all__ = ["ArtifactRef", "ArtifactStore", "sha256_hex"]

_SUFFIX = ".safetensors"


def sha256_hex(data: bytes) -> str:
    """Lower-case hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ArtifactRef:
    """Pointer to a stored artifact: its digest, full URL and size."""

    sha256: str
    uri: str
    size: int


class ArtifactStore:
    """Stores and verifies safetensors blobs addressed by their sha256."""

    def __init__(self, url: str, cache_dir: Path | None = None) -> None:
        fs, root = fsspec.core.url_to_fs(url)
        self._fs: Any = fs
        self._root = root.rstrip("/")
        self._url = url
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        self._protocol: str = protocol
        self._is_local = protocol in ("file", "local")
        self._cache_dir = cache_dir

    @property
    def url(self) -> str:
        """The root URL artifacts are stored under."""
        return self._url

    def _path(self, sha256: str) -> str:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ArtifactIntegrityError(f"not a sha256 digest: {sha256!r}")
        return f"{self._root}/sha256/{sha256[:2]}/{sha256}{_SUFFIX}"

    def _uri(self, path: str) -> str:
        return path if self._is_local else f"{self._protocol}://{path}"

    def put(self, data: bytes) -> ArtifactRef:
        """Store ``data`` (idempotent); the write is atomic where the filesystem allows."""
        digest = sha256_hex(data)
        path = self._path(digest)
        ref = ArtifactRef(digest, self._uri(path), len(data))
        if self._fs.exists(path) and self._fs.size(path) == len(data):
            return ref
        self._fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        if self._is_local:
            tmp = f"{path}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        else:
            self._fs.pipe_file(path, data)
        return ref

    def get(self, sha256: str) -> bytes:
        """The artifact's bytes, after checking they hash to ``sha256``."""
        path = self._path(sha256)
        try:
            data: bytes = self._fs.cat_file(path)
        except FileNotFoundError:
            raise ArtifactMissingError(f"artifact {sha256} is missing from {self._url}") from None
        actual = sha256_hex(data)
        if actual != sha256:
            raise ArtifactIntegrityError(
                f"artifact {sha256} is corrupt or tampered: its bytes hash to {actual}"
            )
        return data

    def local_path(self, sha256: str) -> Path:
        """A verified local file holding the artifact.

        Local stores return the stored file itself (verified now: don't modify it); remote
        stores download into ``cache_dir`` once and verify the copy.
        """
        if self._is_local:
            self.get(sha256)
            return Path(self._path(sha256))
        if self._cache_dir is None:
            raise ArtifactMissingError(f"no cache directory to download {sha256} into")
        target = self._cache_dir / f"{sha256}{_SUFFIX}"
        if target.exists() and sha256_hex(target.read_bytes()) == sha256:
            return target
        data = self.get(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        return target

    def size_bytes(self) -> int:
        """Total bytes stored under the root (walks the store; for reporting only)."""
        base = f"{self._root}/sha256"
        if not self._fs.exists(base):
            return 0
        sizes = self._fs.du(base, total=False)
        return sum(int(size) for name, size in sizes.items() if str(name).endswith(_SUFFIX))
