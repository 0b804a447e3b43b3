"""Bearer-token authentication for the admin plane (a gRPC server interceptor)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

import grpc

#: Methods reachable without a token (probes must not need the admin secret).
OPEN_PREFIXES = ("/grpc.health.v1.Health/",)


def _deny(kind: str) -> grpc.RpcMethodHandler:
    def refuse(request: Any, context: grpc.ServicerContext) -> Any:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")

    factory: Callable[..., grpc.RpcMethodHandler] = getattr(grpc, f"{kind}_rpc_method_handler")
    return factory(refuse)


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """Refuses every call whose ``authorization`` metadata is not ``Bearer <token>``.

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
        handler = continuation(details)
        if handler is None:
            return None
        self._on_refused()
        if handler.request_streaming and handler.response_streaming:
            return _deny("stream_stream")
        if handler.request_streaming:
            return _deny("stream_unary")
        if handler.response_streaming:
            return _deny("unary_stream")
        return _deny("unary_unary")
