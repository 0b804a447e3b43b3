"""Bearer-token authentication: a gRPC server interceptor.

Used by the sidecar's admin plane and the learner's admin API. Authentication comes before
method lookup: a call without the right token is UNAUTHENTICATED whatever method it names, so
an unauthenticated client cannot even learn which methods exist. Token files:
``sidecar.tokens``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

import grpc

#: Methods reachable without a token (probes must not need the admin secret).
OPEN_PREFIXES = ("/grpc.health.v1.Health/",)

def _refuse(request: Any, context: grpc.ServicerContext) -> Any:
    context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")


#: Answers any call, of any kind, without reading its request: a stream-stream handler needs
#: no request message before it runs, so it fits unary and streaming clients alike.
_DENY = grpc.stream_stream_rpc_method_handler(_refuse)


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """Refuses every call whose ``authorization`` metadata is not ``Bearer <token>``, before
    the method is looked up (unknown methods included).

    ``on_refused`` is called once per refused call (for the rejected-requests metric).
    """

    def __init__(self, token: str, on_refused: Callable[[], None] = lambda: None) -> None:
        self._expected = f"Bearer {token}".encode()
        self._on_refused = on_refused

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        if details.method.startswith(OPEN_PREFIXES):
            return continuation(details)
        offered = b""
        for key, value in details.invocation_metadata or ():
            if key == "authorization":
                offered = value.encode() if isinstance(value, str) else value
        if hmac.compare_digest(offered, self._expected):
            return continuation(details)
        self._on_refused()
        return _DENY
