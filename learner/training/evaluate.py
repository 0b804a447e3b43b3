"""Held-out accuracy and macro F1, and the champion-vs-new verdict. Pure functions, no torch.

>>> m = classification_metrics(["a", "b", "b"], ["a", "b", "a"], ("a", "b"))
>>> round(m.accuracy, 3), round(m.macro_f1, 3)
(0.667, 0.667)
>>> beats(Comparison(champion=m, candidate=m, n=3), min_improvement=0.0)
False
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["EvalMetrics", "Comparison", "classification_metrics", "beats"]


@dataclass(frozen=True)
class EvalMetrics:
    """Accuracy and macro-averaged F1 on one evaluation set."""

    accuracy: float
    macro_f1: float
    n: int

    def to_dict(self) -> dict[str, float]:
        return {"accuracy": self.accuracy, "macro_f1": self.macro_f1, "n": self.n}


@dataclass(frozen=True)
class Comparison:
    """The champion and the candidate on the same held-out examples."""

    champion: EvalMetrics | None
    candidate: EvalMetrics
    n: int

    @property
    def accuracy_gain(self) -> float | None:
        return None if self.champion is None else self.candidate.accuracy - self.champion.accuracy

    def to_dict(self) -> dict[str, object]:
        return {
            "heldout_n": self.n, "candidate": self.candidate.to_dict(),
            "champion": None if self.champion is None else self.champion.to_dict(),
            "accuracy_gain": self.accuracy_gain,
        }


def classification_metrics(truth: Sequence[str], predicted: Sequence[str],
                           labels: Sequence[str]) -> EvalMetrics:
    """Accuracy and macro F1 over ``labels`` (classes absent from both count as F1 0)."""
    if len(truth) != len(predicted) or not truth:
        raise ValueError("truth and predictions must be non-empty and of equal length")
    correct = sum(t == p for t, p in zip(truth, predicted))
    f1s = []
    for label in labels:
        tp = sum(t == label and p == label for t, p in zip(truth, predicted))
        fp = sum(t != label and p == label for t, p in zip(truth, predicted))
        fn = sum(t == label and p != label for t, p in zip(truth, predicted))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return EvalMetrics(correct / len(truth), sum(f1s) / len(f1s), len(truth))


def beats(comparison: Comparison, min_improvement: float) -> bool:
    """True when the candidate's held-out accuracy exceeds the champion's by > ``min_improvement``.

    With no champion there is nothing to beat: the candidate wins.
    """
    gain = comparison.accuracy_gain
    return gain is None or gain > min_improvement
