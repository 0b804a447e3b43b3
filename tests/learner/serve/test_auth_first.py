"""The learner's admin API authenticates before it looks a method up."""

from __future__ import annotations

import grpc
import pytest

from tests.learner.serve.conftest import TOKEN, Served


def test_unknown_method_is_unauthenticated_without_a_token(served: Served) -> None:
    with grpc.insecure_channel(served.addr) as channel:
        call = channel.unary_unary("/loopwise.v1.LearnerAdmin/DeleteRegistry")
        with pytest.raises(grpc.RpcError) as e:
            call(b"", timeout=5)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as e:
            call(b"", timeout=5, metadata=[("authorization", f"Bearer {TOKEN}")])
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
