"""Token files: read a bearer token, refusing files that must not hold one.

A token file must be readable by its owner only (no group or world permission bits) and hold
at least ``MIN_TOKEN_BYTES`` bytes. Shared by the sidecar's configuration and the learner
(server, fleet and sample channels), so both refuse the same files with the same message. No
gRPC here: configuration loading imports it.
"""

from __future__ import annotations

import os
import stat

__all__ = ["MIN_TOKEN_BYTES", "TokenFileError", "token_file_problem", "read_token_file"]

#: Shortest accepted token (bytes, after stripping whitespace): 128 bits of a random hex or
#: base64 token.
MIN_TOKEN_BYTES = 16


class TokenFileError(ValueError):
    """A token file that cannot be read or must not be used; the message says why."""


def token_file_problem(path: str | os.PathLike[str]) -> str | None:
    """Why the token file at ``path`` must not be used (``None``: it is fine).

    Symbolic links are followed (Kubernetes mounts Secrets as links); the file's own mode
    counts.
    """
    try:
        st = os.stat(path)
        with open(path, "rb") as f:
            token = f.read().strip()
    except OSError as e:
        return f"cannot read token file {path}: {e.strerror}"
    if not stat.S_ISREG(st.st_mode):
        return f"token file {path} is not a regular file"
    if st.st_mode & 0o077:
        return (f"token file {path} is readable by group or others (mode "
                f"{stat.S_IMODE(st.st_mode):04o}); make it owner-only: chmod 600 {path}")
    if not token:
        return f"token file {path} is empty"
    if len(token) < MIN_TOKEN_BYTES:
        return (f"token in {path} is {len(token)} bytes; at least {MIN_TOKEN_BYTES} are "
                f"required (e.g. openssl rand -hex 32)")
    return None


def read_token_file(path: str | os.PathLike[str]) -> str:
    """The token in ``path`` (stripped); ``TokenFileError`` if the file is unreadable,
    group/world-readable, empty or shorter than ``MIN_TOKEN_BYTES``."""
    problem = token_file_problem(path)
    if problem is not None:
        raise TokenFileError(problem)
    with open(path, encoding="utf-8") as f:
        return f.read().strip()
