from __future__ import annotations

import json

import pytest

from learner.training import DataConfig, InsufficientSamplesError, LabelSource, RawSample
from learner.training.dataset import build_training_set, decode_class, stratified_split
from learner.training.errors import CorruptSampleError

LABELS = ("invoice", "quotation", "credit_memo")
NOW_MS = 100 * 86_400_000
HOUR_MS = 3_600_000


def sample(seq: int, label: str, *, ts_ms: int = NOW_MS - 2 * HOUR_MS, confidence: float = 0.5,
           corrected: bool = False, payload: bytes | None = None,
           prediction: bytes | None = None) -> RawSample:
    return RawSample(
        seq=seq, ts_ms=ts_ms, model_type="doc_type", model_id="m", request_id=f"r{seq}",
        document_id=f"d{seq}", payload=payload if payload is not None else f"doc {seq}".encode(),
        prediction=prediction if prediction is not None else json.dumps({"label": label}).encode(),
        confidence=confidence, label=label.encode() if corrected else None,
        human_correction=corrected,
    )


CFG = DataConfig(min_feedback_samples=3, pseudo_label_grace_s=3600.0, heldout_fraction=0.25)


def test_corrections_and_confident_predictions_become_examples() -> None:
    samples = [
        sample(1, "invoice", corrected=True),
        sample(2, "quotation", confidence=0.95),  # pseudo-label
        sample(3, "quotation", confidence=0.89),  # not confident enough
        sample(4, "credit_memo", confidence=0.99, ts_ms=NOW_MS - 60_000),  # still in grace
        sample(5, "credit_memo", corrected=True, ts_ms=NOW_MS - 60_000),  # corrections: always
        sample(6, "invoice", confidence=0.9),  # exactly at the threshold
        sample(7, "invoice", corrected=True, ts_ms=NOW_MS - 31 * 86_400_000),  # out of lookback
    ]
    ts = build_training_set(samples, LABELS, CFG, NOW_MS)
    assert (ts.corrections, ts.pseudo_labels, ts.skipped_unlabelled) == (2, 2, 2)
    assert ts.class_balance == {"invoice": 2, "quotation": 1, "credit_memo": 1}
    sources = {e.source for e in ts.train + ts.heldout}
    assert sources == {LabelSource.CORRECTION, LabelSource.PSEUDO_LABEL}
    assert ts.window_ms == (NOW_MS - 30 * 86_400_000, NOW_MS)
    assert ts.report()["data_window"] == f"{NOW_MS - 30 * 86_400_000}/{NOW_MS}"


def test_corrupt_samples_are_counted_not_fatal() -> None:
    samples = [sample(i, LABELS[i % 3], corrected=True) for i in range(6)] + [
        sample(10, "invoice", corrected=True, payload=b"\xff\xfe"),
        sample(11, "invoice", confidence=0.99, prediction=b"{not json"),
        sample(12, "invoice", confidence=0.99, prediction=b'{"label": "unknown_type"}'),
        sample(13, "invoice", corrected=True, payload=b"   "),
    ]
    ts = build_training_set(samples, LABELS, CFG, NOW_MS)
    assert ts.skipped_corrupt == 4 and len(ts.train) + len(ts.heldout) == 6


def test_insufficient_samples_message_has_the_numbers() -> None:
    samples = [sample(1, "invoice", corrected=True), sample(2, "invoice", confidence=0.95),
               sample(3, "invoice", corrected=True, payload=b"\xff")]
    with pytest.raises(InsufficientSamplesError) as info:
        build_training_set(samples, LABELS, DataConfig(), NOW_MS)
    message = str(info.value)
    assert message.startswith("Insufficient samples")
    assert "2 usable" in message and "1 human corrections" in message
    assert "1 pseudo-labels" in message and "1 corrupt" in message and "1000" in message
    assert (info.value.available, info.value.required) == (2, 1000)


def test_stratified_split_keeps_every_class_in_both_parts() -> None:
    from learner.training import Example

    examples = [Example(f"t{i}", LABELS[i % 3]) for i in range(30)] + [Example("x", "solo")]
    train, heldout = stratified_split(examples, 0.2, seed=3)
    assert len(train) + len(heldout) == 31
    assert {e.label for e in heldout} == set(LABELS)  # 2 per class; "solo" stays in train
    assert sum(e.label == "invoice" for e in heldout) == 2
    assert stratified_split(examples, 0.2, seed=3) == (train, heldout)


def test_decode_class() -> None:
    known = frozenset(LABELS)
    assert decode_class(b'{"label": "invoice"}', known) == "invoice"
    assert decode_class(b" quotation\n", known) == "quotation"
    for bad in (b"\xff", b"{", b'{"x": 1}', b"[1]", b"receipt"):
        with pytest.raises(CorruptSampleError):
            decode_class(bad, known)
