"""Feedback: joins a late label (or a human correction) to its recorded prediction.

The label is a JSON object with the prediction's fields. Scoring (plain functions):

* ``correct``: the label's primary field (``ingest.primary_field``, default ``doc_type``)
  equals the prediction's.
* per extraction field of the model type's layout: equal values are a true positive; a
  predicted value the label lacks is a false positive; a labelled value the prediction lacks is
  a false negative; a wrong value is both (FP | FN); absent from both: nothing.

The label is committed to the sample log (``Store.attach_label``, durable), then the serving
model's current window absorbs the outcome and is written (``WindowBook.flush``), then the
reply. A label for an unknown request is ``Rejected(UNKNOWN_REQUEST)`` (NOT_FOUND).
Labelling the same request twice counts its outcome twice.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

import statcore
from loopwise_proto.v1 import sidecar_pb2
from sidecar.clock import Clock
from sidecar.errors import Rejected, RejectReason, excerpt
from sidecar.windows import WindowBook
from statcore import Store
from statcore._statcore import Layout

TP, FP, FN = 1, 2, 4
_MISSING = object()


def field_flags(prediction: dict[str, Any], label: dict[str, Any], fields: list[str]) -> list[int]:
    """Outcome flags per field.

    >>> field_flags({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 5, "d": 4}, ["a", "b", "c", "d", "e"])
    [1, 6, 2, 4, 0]
    """
    out = []
    for f in fields:
        p, l = prediction.get(f, _MISSING), label.get(f, _MISSING)
        if p is _MISSING and l is _MISSING:
            out.append(0)
        elif p is _MISSING:
            out.append(FN)
        elif l is _MISSING:
            out.append(FP)
        else:
            out.append(TP if p == l else FP | FN)
    return out


#: A JSON string (skipped whole) or a bracket.
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_depth_exceeds(text: bytes, limit: int) -> bool:
    """Whether arrays and objects in ``text`` nest deeper than ``limit`` (brackets inside
    strings do not count). Checked before ``json.loads``, whose recursion would otherwise
    end in ``RecursionError``.

    >>> json_depth_exceeds(b'{"a": [1, {"b": "]]]"}]}', 3)
    False
    >>> json_depth_exceeds(b'[[[[]]]]', 3)
    True
    """
    depth = 0
    for m in _JSON_TOKENS.finditer(text):
        token = m.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


def _json_object(field: str, text: str | bytes, max_depth: int) -> dict[str, Any]:
    raw = text.encode() if isinstance(text, str) else text
    if json_depth_exceeds(raw, max_depth):
        raise Rejected(RejectReason.MALFORMED, field, f"nests deeper than {max_depth} levels")
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise Rejected(RejectReason.MALFORMED, field, f"is not valid JSON: {e}") from e
    if not isinstance(value, dict):
        raise Rejected(RejectReason.MALFORMED, field, "must be a JSON object")
    return value


@dataclass(frozen=True)
class Joined:
    """The outcome of one feedback."""

    seq: int
    request_id: str
    model_type: str
    model_id: str
    correct: bool


class FeedbackJoiner:
    def __init__(self, store: Store, windows: WindowBook, layout_for: Any, primary_field: str,
                 max_label_bytes: int, clock: Clock, max_json_depth: int = 32) -> None:
        self._store = store
        self._windows = windows
        self._layout_for = layout_for
        self._primary = primary_field
        self._max = max_label_bytes
        self._max_depth = max_json_depth
        self._clock = clock

    def join(self, req: sidecar_pb2.FeedbackRequest) -> Joined:
        if len(req.label) > self._max:
            raise Rejected(RejectReason.OVERSIZED, "label", f"larger than {self._max} bytes")
        label = _json_object("label", req.label, self._max_depth)
        request_id = req.request_id
        if not request_id:
            if not req.document_id:
                raise Rejected(RejectReason.EMPTY_ID, "request_id",
                               "request_id or document_id is required")
            # The store indexes every sample it keeps by document id too (rebuilt at start,
            # so this joins after a restart or a kill -9 as long as the sample is kept).
            found = self._store.request_for_document(req.document_id)
            if found is None:
                raise Rejected(RejectReason.UNKNOWN_REQUEST, "document_id",
                               f"no recorded request for document {excerpt(req.document_id)}")
            request_id = found
        now = self._clock.now_ms()
        try:
            seq = self._store.attach_label(request_id, req.label.encode(), req.human_correction,
                                           req.ts_ms or now)
        except statcore.NotFoundError as e:
            raise Rejected(RejectReason.UNKNOWN_REQUEST, "request_id",
                           f"no recorded prediction for request {excerpt(request_id)}") from e
        sample = self._store.pull(seq - 1, 1)[0]
        try:
            prediction = _json_object("prediction", sample.prediction, self._max_depth)
        except Rejected:
            prediction = {}  # an unparseable recorded prediction scores as empty
        layout: Layout = self._layout_for(sample.model_type)
        correct = prediction.get(self._primary, _MISSING) == label.get(self._primary, None)
        flags = np.array([field_flags(prediction, label, layout.fields)], dtype=np.uint8)
        key = (sample.model_type, sample.model_id,
               self._windows.window_start(sample.model_type, now))
        change = self._windows.update_outcomes(key, np.array([correct], dtype=np.uint8), flags)
        # Acknowledged only once the outcome is stored too: a kill -9 after the reply never
        # leaves a stored label whose outcome the aggregates lack (concurrent feedback shares
        # one commit).
        self._windows.flush_through(change, now)
        return Joined(seq, request_id, sample.model_type, sample.model_id, bool(correct))
