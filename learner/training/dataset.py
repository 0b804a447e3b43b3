"""The training set: human corrections plus pseudo-labels, a class balance, a held-out split.

Pure logic over stored samples (no torch). A sample's ``payload`` is the document text
(UTF-8); its ``prediction`` and ``label`` are a class name, either as JSON ``{"label": ...}``
or as bare UTF-8 text. Anything that does not decode, or names a class the task does not
have, is skipped and counted; it never stops a build.
"""

from __future__ import annotations

import enum
import json
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from learner.training.config import DataConfig
from learner.training.errors import CorruptSampleError, InsufficientSamplesError
from learner.training.sample_source import RawSample

__all__ = [
    "LabelSource", "Example", "TrainingSet", "decode_class", "build_training_set",
    "stratified_split",
]


class LabelSource(enum.Enum):
    """Where an example's label came from."""

    CORRECTION = "correction"
    PSEUDO_LABEL = "pseudo_label"


@dataclass(frozen=True)
class Example:
    """One labelled text."""

    text: str
    label: str
    source: LabelSource = LabelSource.CORRECTION


@dataclass(frozen=True)
class TrainingSet:
    """Train and held-out examples plus what the build saw."""

    train: tuple[Example, ...]
    heldout: tuple[Example, ...]
    corrections: int
    pseudo_labels: int
    skipped_corrupt: int
    skipped_unlabelled: int
    window_ms: tuple[int, int]
    class_balance: dict[str, int] = field(default_factory=dict)

    @property
    def data_window(self) -> str:
        """The lookback window as ``start_ms/end_ms`` (registry lineage)."""
        return f"{self.window_ms[0]}/{self.window_ms[1]}"

    def report(self) -> dict[str, object]:
        """A JSON-ready summary (goes into job metrics and registry metadata)."""
        return {
            "train_examples": len(self.train), "heldout_examples": len(self.heldout),
            "corrections": self.corrections, "pseudo_labels": self.pseudo_labels,
            "skipped_corrupt": self.skipped_corrupt,
            "skipped_unlabelled": self.skipped_unlabelled,
            "class_balance": dict(self.class_balance), "data_window": self.data_window,
        }


def decode_class(blob: bytes, labels: frozenset[str], field: str = "label") -> str:
    """A class name from ``{field: name}`` JSON (``{"label": name}`` also works) or bare UTF-8;
    raises CorruptSampleError. The sidecar scores ``{"doc_type": ...}`` by default, so the
    learner passes ``DataConfig.label_field``.

    >>> decode_class(b'{"label": "invoice"}', frozenset({"invoice"}))
    'invoice'
    >>> decode_class(b'{"doc_type": "invoice", "total": 3}', frozenset({"invoice"}), "doc_type")
    'invoice'
    >>> decode_class(b"invoice", frozenset({"invoice"}))
    'invoice'
    """
    try:
        text = blob.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise CorruptSampleError("label is not UTF-8") from None
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CorruptSampleError(f"label JSON does not parse: {exc}") from None
        text = None
        if isinstance(value, dict):
            text = value.get(field, value.get("label"))
        if not isinstance(text, str):
            raise CorruptSampleError(f"label JSON has no string {field!r}")
    if text not in labels:
        raise CorruptSampleError(f"unknown class {text!r}")
    return text


def _example(sample: RawSample, labels: frozenset[str], cfg: DataConfig,
             pseudo_cutoff_ms: int) -> Example | None:
    """The example a sample gives, None when it gives none; CorruptSampleError if unreadable."""
    try:
        text = sample.payload.decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptSampleError("payload is not UTF-8") from None
    if not text.strip():
        raise CorruptSampleError("empty payload")
    if sample.label is not None and sample.human_correction:
        return Example(text, decode_class(sample.label, labels, cfg.label_field), LabelSource.CORRECTION)
    if sample.confidence != sample.confidence:  # NaN
        raise CorruptSampleError("confidence is NaN")
    if sample.confidence >= cfg.min_pseudo_label_confidence and sample.ts_ms <= pseudo_cutoff_ms:
        return Example(text, decode_class(sample.prediction, labels, cfg.label_field), LabelSource.PSEUDO_LABEL)
    return None


def build_training_set(samples: Iterable[RawSample], labels: Sequence[str], cfg: DataConfig,
                       now_ms: int) -> TrainingSet:
    """Corrections always, confident predictions past the grace period as pseudo-labels.

    ``samples`` should already be restricted to the lookback window (see
    :meth:`SampleStore.window`); anything outside it is ignored here as well.
    Raises :class:`InsufficientSamplesError` below ``cfg.min_feedback_samples``.
    """
    known = frozenset(labels)
    since_ms = now_ms - int(cfg.lookback_s * 1000)
    pseudo_cutoff_ms = now_ms - int(cfg.pseudo_label_grace_s * 1000)
    examples: list[Example] = []
    corrupt = unlabelled = 0
    for sample in samples:
        if not since_ms <= sample.ts_ms <= now_ms:
            continue
        try:
            example = _example(sample, known, cfg, pseudo_cutoff_ms)
        except CorruptSampleError:
            corrupt += 1
            continue
        if example is None:
            unlabelled += 1
        else:
            examples.append(example)
    corrections = sum(e.source is LabelSource.CORRECTION for e in examples)
    if len(examples) < cfg.min_feedback_samples:
        raise InsufficientSamplesError(len(examples), cfg.min_feedback_samples, corrections,
                                       len(examples) - corrections, corrupt)
    train, heldout = stratified_split(examples, cfg.heldout_fraction, cfg.split_seed)
    balance = Counter(e.label for e in examples)
    return TrainingSet(
        train=tuple(train), heldout=tuple(heldout), corrections=corrections,
        pseudo_labels=len(examples) - corrections, skipped_corrupt=corrupt,
        skipped_unlabelled=unlabelled, window_ms=(since_ms, now_ms),
        class_balance={label: balance[label] for label in labels},
    )


def stratified_split(examples: Sequence[Example], fraction: float, seed: int
                     ) -> tuple[list[Example], list[Example]]:
    """Per class, ``fraction`` of the examples (at least one if the class has two) held out."""
    by_class: dict[str, list[Example]] = {}
    for example in examples:
        by_class.setdefault(example.label, []).append(example)
    rng = random.Random(seed)
    train: list[Example] = []
    heldout: list[Example] = []
    for label in sorted(by_class):
        group = list(by_class[label])
        rng.shuffle(group)
        n_held = round(len(group) * fraction)
        n_held = max(n_held, 1) if len(group) >= 2 else 0
        heldout.extend(group[:n_held])
        train.extend(group[n_held:])
    rng.shuffle(train)
    return train, heldout
