"""Loopwise sidecar: routing decisions, prediction records and late labels next to each
inference pod, plus an admin plane for the learner and a Prometheus endpoint.

Importing ``sidecar`` is cheap and never imports torch; the server lives in
``sidecar.server`` and the client library in ``sidecar.client``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    #: The installed ``loopwise`` distribution's version (one wheel: sidecar, learner, statcore).
    __version__ = version("loopwise")
except PackageNotFoundError:  # pragma: no cover - running from a tree that was never installed
    __version__ = "0+unknown"
del PackageNotFoundError, version
