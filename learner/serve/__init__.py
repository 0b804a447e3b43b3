"""``learner serve``: the learner as a service (admin gRPC API, ``/metrics``, the loop thread).

Importing this package is light; the server lives in ``learner.serve.server``.
"""
