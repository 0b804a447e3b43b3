"""Anything a client can send gets a clean status, never INTERNAL: undecodable bytes on every
method of both planes, deeply nested labels, sequence numbers past i64, huge ids."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from loopwise_proto.v1 import admin_pb2, sidecar_pb2
from sidecar.errors import MAX_MESSAGE_CHARS
from tests.sidecar.conftest import TOKEN, Planes

Inproc = tuple  # (Planes, SidecarServer, CollectorRegistry)

#: Bytes that do not decode as any message: a truncated varint tag, a length past the end.
UNDECODABLE = [b"\xff", b"\x0a\x05ab", b"\x08"]
#: Field 1 as a string of invalid UTF-8 (field 1 is a string in these requests).
BAD_UTF8 = b"\x0a\x02\xff\xfe"

DATA_METHODS = {"Route": "unary_unary", "Feedback": "unary_unary",
                "RouteStream": "stream_stream", "WatchRouting": "unary_stream"}
ADMIN_METHODS = {"SetRoutingTable": "unary_unary", "SetBaseline": "unary_unary",
                 "GetAggregates": "unary_unary", "PullSamples": "unary_stream",
                 "AckSamples": "unary_unary", "GetStatus": "unary_unary"}
AUTH = [("authorization", f"Bearer {TOKEN}")]


def _raw_call(channel: grpc.Channel, service: str, method: str, kind: str, payload: bytes,
              metadata: list[tuple[str, str]] | None = None) -> grpc.StatusCode:
    """Sends ``payload`` as the request bytes (no serializer) and returns the status code."""
    call = getattr(channel, kind)(f"/loopwise.v1.{service}/{method}")
    request: bytes | Iterator[bytes] = iter([payload]) if kind.startswith("stream") else payload
    try:
        result = call(request, metadata=metadata, timeout=5)
        if kind.endswith("_stream"):
            list(result)
    except grpc.RpcError as e:
        return e.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize("payload", UNDECODABLE)
@pytest.mark.parametrize("method", sorted(DATA_METHODS))
def test_undecodable_bytes_on_the_data_plane_are_invalid_argument(
        inproc: Inproc, method: str, payload: bytes) -> None:
    p, _, registry = inproc
    code = _raw_call(p.data_channel, "Sidecar", method, DATA_METHODS[method], payload)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert registry.get_sample_value("loopwise_sidecar_rejected_requests_total",
                                     {"plane": "data", "reason": "malformed"}) == 1


@pytest.mark.parametrize("payload", UNDECODABLE)
@pytest.mark.parametrize("method", sorted(ADMIN_METHODS))
def test_undecodable_bytes_on_the_admin_plane_are_invalid_argument(
        inproc: Inproc, method: str, payload: bytes) -> None:
    p, _, _ = inproc
    code = _raw_call(p.admin_channel, "Admin", method, ADMIN_METHODS[method], payload, AUTH)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    # Without a token, the same bytes are refused before they are decoded.
    code = _raw_call(p.admin_channel, "Admin", method, ADMIN_METHODS[method], payload)
    assert code == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(("plane", "method"), [("Sidecar", "Route"), ("Sidecar", "Feedback"),
                                               ("Admin", "SetBaseline")])
def test_invalid_utf8_in_a_string_field_is_invalid_argument(inproc: Inproc, plane: str,
                                                            method: str) -> None:
    p, _, _ = inproc
    channel = p.data_channel if plane == "Sidecar" else p.admin_channel
    assert _raw_call(channel, plane, method, "unary_unary", BAD_UTF8, AUTH) == \
        grpc.StatusCode.INVALID_ARGUMENT


def test_a_malformed_message_mid_stream_ends_only_that_stream(inproc: Inproc) -> None:
    p, _, _ = inproc
    p.set_table(1)
    good = sidecar_pb2.RouteRequest(model_type="invoice", key="k").SerializeToString()
    call = p.data_channel.stream_stream("/loopwise.v1.Sidecar/RouteStream")
    got = []
    with pytest.raises(grpc.RpcError) as e:
        for r in call(iter([good, good, b"\xff", good]), timeout=5):
            got.append(r)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(got) == 2
    assert p.data.Route(sidecar_pb2.RouteRequest(model_type="invoice")).model_id


@pytest.mark.parametrize("depth", [33, 5_000, 200_000])
def test_deeply_nested_label_is_invalid_argument(inproc: Inproc, depth: int) -> None:
    p, _, _ = inproc
    p.set_table(1)
    from tests.sidecar.conftest import batch
    p.data.Record(batch(1))
    label = '{"a":' * depth + "1" + "}" * depth
    request = sidecar_pb2.FeedbackRequest(request_id="r0", label=label)
    inproc_max = 1000  # the fixture's ingest.max_payload_bytes
    with pytest.raises(grpc.RpcError) as e:
        p.data.Feedback(request, timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    expected = "nests deeper than 32" if len(label) <= inproc_max else "larger than"
    assert expected in e.value.details()
    # A label nested within the limit, with brackets inside strings, is scored.
    ok = '{"doc_type": "invoice", "x": ' + "[" * 30 + '"]]]]"' + "]" * 30 + "}"
    assert p.data.Feedback(sidecar_pb2.FeedbackRequest(request_id="r0", label=ok)).correct


@pytest.mark.parametrize("seq", [1 << 63, (1 << 64) - 1])
def test_sequence_numbers_past_i64_are_invalid_argument(inproc: Inproc, seq: int) -> None:
    p, _, _ = inproc
    with pytest.raises(grpc.RpcError) as e:
        list(p.admin_call("PullSamples", admin_pb2.PullSamplesRequest(after_seq=seq)))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "after_seq" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        p.admin_call("AckSamples", admin_pb2.AckSamplesRequest(seq=seq))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "seq" in e.value.details()


def test_a_2_mib_id_gets_its_reason_in_a_bounded_message(inproc: Inproc) -> None:
    p, _, _ = inproc
    p.set_table(1)
    huge = "é" + "x" * (2 << 20)
    calls = [
        (p.data.Route, sidecar_pb2.RouteRequest(model_type=huge), grpc.StatusCode.INVALID_ARGUMENT),
        (p.data.Feedback, sidecar_pb2.FeedbackRequest(request_id=huge, label="{}"),
         grpc.StatusCode.NOT_FOUND),
        (p.data.Feedback, sidecar_pb2.FeedbackRequest(document_id=huge, label="{}"),
         grpc.StatusCode.NOT_FOUND),
    ]
    for fn, request, code in calls:
        with pytest.raises(grpc.RpcError) as e:
            fn(request, timeout=10)
        assert e.value.code() == code, e.value.details()
        details = e.value.details()
        assert len(details) <= MAX_MESSAGE_CHARS + 40
        assert "(2097153 chars)" in details, details


def test_a_generation_past_i64_is_invalid_argument(inproc: Inproc) -> None:
    p, _, _ = inproc
    with pytest.raises(grpc.RpcError) as e:
        p.set_table(1 << 63)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "table.generation" in e.value.details()
    assert p.set_table((1 << 63) - 1).changed
