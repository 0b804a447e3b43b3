"""Loopwise sidecar: routing decisions, prediction records and late labels next to each
inference pod, plus an admin plane for the learner and a Prometheus endpoint.

Importing ``sidecar`` is cheap and never imports torch; the server lives in
``sidecar.server`` and the client library in ``sidecar.client``.
"""

__version__ = "0.1.0"
