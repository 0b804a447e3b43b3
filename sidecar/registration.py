"""Registers a servicer so that request bytes are decoded in the handler, not by grpcio.

grpcio's own deserializer answers INTERNAL ("Exception deserializing request!") to bytes that
do not decode, and on a stream it can leave the call half-aborted. Here every method receives
raw bytes: ``_decode`` parses them and refuses what does not parse as
``Rejected(MALFORMED)`` -> INVALID_ARGUMENT. Methods named in ``raw`` get the bytes untouched
(``Record``/``RecordStream``: statcore decodes the batch itself).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError, Message

from sidecar.errors import Rejected, RejectReason
from sidecar.status_map import abort

_FACTORIES: dict[tuple[bool, bool], Callable[..., grpc.RpcMethodHandler]] = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def _serialize(msg: Message) -> bytes:
    return msg.SerializeToString()


def _decode(cls: type[Message], raw: bytes, context: grpc.ServicerContext,
            on_malformed: Callable[[], None]) -> Message:
    try:
        return cls.FromString(raw)
    except DecodeError:
        on_malformed()
        abort(context, Rejected(RejectReason.MALFORMED, "",
                                f"request is not a valid {cls.DESCRIPTOR.full_name} "
                                f"({len(raw)} bytes)"))


def _decoding(behavior: Callable[..., Any], cls: type[Message], streaming: bool,
              on_malformed: Callable[[], None]) -> Callable[..., Any]:
    if streaming:
        def stream(requests: Iterable[bytes], context: grpc.ServicerContext) -> Any:
            decoded: Iterator[Message] = (_decode(cls, r, context, on_malformed) for r in requests)
            return behavior(decoded, context)
        return stream

    def unary(raw: bytes, context: grpc.ServicerContext) -> Any:
        return behavior(_decode(cls, raw, context, on_malformed), context)
    return unary


def add_service(server: grpc.Server, service: ServiceDescriptor, servicer: object, *,
                on_malformed: Callable[[], None], raw: frozenset[str] = frozenset()) -> None:
    """Registers every method of ``service`` on ``server``, served by the same-named method of
    ``servicer``. ``on_malformed`` is called once per request that does not decode."""
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    for method in service.methods:
        behavior = getattr(servicer, method.name)
        if method.name not in raw:
            cls = message_factory.GetMessageClass(method.input_type)
            behavior = _decoding(behavior, cls, method.client_streaming, on_malformed)
        factory = _FACTORIES[(method.client_streaming, method.server_streaming)]
        handlers[method.name] = factory(behavior, request_deserializer=None,
                                        response_serializer=_serialize)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name,
                                                                          handlers),))
    server.add_registered_method_handlers(service.full_name, handlers)
