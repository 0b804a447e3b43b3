"""``GrpcSampleSource``: a :class:`~learner.training.sample_source.SampleSource` over one
sidecar's ``PullSamples`` / ``AckSamples`` (admin plane, bearer token)."""

from __future__ import annotations

import grpc

from learner.errors import FleetError, SidecarUnreachableError
from learner.training.sample_source import RawSample
from loopwise_proto.v1 import admin_pb2, admin_pb2_grpc

__all__ = ["GrpcSampleSource"]


class GrpcSampleSource:
    """Pulls a sidecar's sample log in seq order; ``ack`` only after the caller stored them."""

    def __init__(self, channel: grpc.Channel, *, token: str, timeout_s: float = 30.0) -> None:
        self._stub = admin_pb2_grpc.AdminStub(channel)
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._timeout = timeout_s

    def pull(self, after_seq: int, limit: int) -> list[RawSample]:
        try:
            stream = self._stub.PullSamples(admin_pb2.PullSamplesRequest(after_seq=after_seq, limit=limit),
                                            metadata=self._metadata, timeout=self._timeout)
            return [
                RawSample(seq=s.seq, ts_ms=s.ts_ms, model_type=s.model_type, model_id=s.model_id,
                          request_id=s.request_id, document_id=s.document_id, payload=s.payload,
                          prediction=s.prediction, confidence=s.confidence,
                          label=s.label if s.HasField("label") else None, human_correction=s.human_correction)
                for s in stream
            ]
        except grpc.RpcError as exc:
            raise _error("PullSamples", exc) from None

    def ack(self, seq: int) -> None:
        try:
            self._stub.AckSamples(admin_pb2.AckSamplesRequest(seq=seq), metadata=self._metadata,
                                  timeout=self._timeout)
        except grpc.RpcError as exc:
            raise _error("AckSamples", exc) from None


def _error(method: str, exc: grpc.RpcError) -> FleetError:
    code = exc.code() if isinstance(exc, grpc.Call) else None
    message = f"{method} failed: {code.name if code else exc}"
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return SidecarUnreachableError(message)
    return FleetError(message)
