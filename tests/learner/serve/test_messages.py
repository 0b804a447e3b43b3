"""Proto conversions of the learner's admin plane."""

from __future__ import annotations

from learner.notify import EventKind
from learner.serve.messages import event_kind
from loopwise_proto.v1 import learner_pb2 as pb


def test_every_event_kind_has_a_proto_value_and_reads_back() -> None:
    values = {kind: pb.LoopEventKind.Value(f"LOOP_EVENT_KIND_{kind.name}") for kind in EventKind}
    assert len(set(values.values())) == len(EventKind) and 0 not in values.values()
    assert all(event_kind(v) is kind for kind, v in values.items())


def test_an_unknown_or_unset_kind_reads_as_a_report() -> None:
    assert event_kind(0) is EventKind.REPORT
    assert event_kind(max(pb.LoopEventKind.values()) + 1) is EventKind.REPORT
