"""A client of the learner's admin API: the calls with the caller's credentials, the exit codes
their failures map to, and messages as the CLI's stable ``--json`` documents.

Used by the ``learner`` command line (:mod:`learner.cli`) and the demo's director.
"""

from __future__ import annotations

import enum
import json
import re
from typing import Any

import grpc
from google.protobuf.message import Message

from loopwise_proto.v1 import learner_pb2_grpc
from sidecar.tls import TlsFiles, open_channel

__all__ = ["ExitCode", "CliError", "PushIncompleteError", "Admin", "as_dict", "enum_name"]


class ExitCode(enum.IntEnum):
    OK = 0
    #: drift found (``drift check``), so ``learner drift check ... || retrain`` works.
    DRIFT_DETECTED = 1
    USAGE = 2
    NOT_FOUND = 3
    INVALID = 4
    UNAVAILABLE = 5
    UNAUTHENTICATED = 6
    #: the change is recorded but a live sidecar missed or refused its routing push (named on
    #: stderr); the learner keeps re-pushing until every sidecar holds it.
    PUSH_INCOMPLETE = 7


#: gRPC status -> exit code (anything else: UNAVAILABLE).
_EXIT = {
    grpc.StatusCode.NOT_FOUND: ExitCode.NOT_FOUND,
    grpc.StatusCode.INVALID_ARGUMENT: ExitCode.INVALID,
    grpc.StatusCode.FAILED_PRECONDITION: ExitCode.INVALID,
    grpc.StatusCode.UNAUTHENTICATED: ExitCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED: ExitCode.UNAUTHENTICATED,
}


class CliError(Exception):
    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.code = code


class PushIncompleteError(CliError):
    """The change is made and its result printed, but its routing push did not reach every
    live sidecar: the message goes to stderr even with ``--json``."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ExitCode.PUSH_INCOMPLETE)


def _value(value: Any) -> Any:
    return as_dict(value) if isinstance(value, Message) else value


def enum_name(enum_type: Any, number: int) -> str:
    """An enum value by its short name: ``LOOP_EVENT_KIND_DRIFT`` -> ``drift`` (the prefix every
    value of the enum shares, as the proto style guide wants, is dropped)."""
    prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum_type.name).upper() + "_"
    name: str = enum_type.values_by_number[number].name
    return name.removeprefix(prefix).lower()


def as_dict(message: Message) -> dict[str, Any]:
    """A message as a JSON-ready dict: proto field names, numbers as numbers, unset optional
    fields as None, enums by short lower-case name (``"kind": "drift"``), and ``*_json`` string
    fields parsed (key without ``_json``). This is the stable ``--json`` schema."""
    out: dict[str, Any] = {}
    for f in message.DESCRIPTOR.fields:
        value = getattr(message, f.name)
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            data: Any = {k: _value(v) for k, v in value.items()}
        elif f.is_repeated:
            data = [_value(v) for v in value]
        elif f.has_presence and not message.HasField(f.name):
            data = None
        elif f.enum_type is not None:
            data = enum_name(f.enum_type, value)
        else:
            data = _value(value)
        if f.name.endswith("_json") and isinstance(data, str):
            out[f.name.removesuffix("_json")] = json.loads(data) if data else None
        else:
            out[f.name] = data
    return out


class Admin:
    """The admin API with the caller's credentials; every call maps failures to exit codes."""

    def __init__(self, addr: str, token: str | None, timeout_s: float,
                 tls: TlsFiles | None = None) -> None:
        self._channel = open_channel(addr, tls)
        self._stub = learner_pb2_grpc.LearnerAdminStub(self._channel)
        self._metadata = [("authorization", f"Bearer {token}")] if token else []
        self._timeout_s, self._addr = timeout_s, addr

    def __call__(self, method: str, request: Message) -> Any:
        try:
            return getattr(self._stub, method)(request, metadata=self._metadata, timeout=self._timeout_s)
        except grpc.RpcError as exc:
            code = exc.code()
            detail = exc.details() or code.name
            if code is grpc.StatusCode.UNAVAILABLE:
                detail = f"learner at {self._addr} unavailable: {detail}"
            raise CliError(detail, _EXIT.get(code, ExitCode.UNAVAILABLE)) from None

    def close(self) -> None:
        self._channel.close()
