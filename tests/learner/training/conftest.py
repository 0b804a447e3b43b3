"""Shared pieces: offline Hugging Face, a fake clock, sidecar samples from synthetic documents."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence

import pytest

from learner.synthetic import Document

# Nothing may be fetched from a hub, in this process or in the workers it starts.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# transformers 5 deprecates an attribute that peft still reads (harmless).
PEFT_FUTURE = "ignore:.*is_gradient_checkpointing.*:FutureWarning"


class FakeClock:
    """Time that only moves when told to."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_800_000_000.0)


def sidecar_samples(docs: Sequence[Document], ts_ms: int, *, correction_every: int = 1,
                    prefix: str = "r") -> Iterator[dict[str, object]]:
    """Keyword arguments for ``statcore.Sample``: every ``correction_every``-th document carries
    a human correction, the others a confident (correct) prediction."""
    for i, doc in enumerate(docs):
        corrected = i % correction_every == 0
        yield {
            "request_id": f"{prefix}-{i}", "ts_ms": ts_ms + i, "model_type": "doc_type",
            "model_id": "doc_type_1.0.0", "document_id": f"d-{i}",
            "payload": doc.text.encode(), "confidence": 0.5 if corrected else 0.95,
            "prediction": json.dumps({"label": doc.label}).encode(),
            "label": doc.label.encode() if corrected else None, "human_correction": corrected,
        }
