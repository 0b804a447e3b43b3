"""The demo inference server's input features: cheap statistics of a document's text.

They are what the sidecars aggregate and the learner compares with the champion's reference
data. The demo's drift (German and French documents, new vendor templates with ``|``
separators) moves them; the classic English templates set the reference.

>>> row = features("INVOICE 42 from Acme GmbH. Amount due 310.00 EUR.")
>>> round(row["upper_share"], 3), row["non_ascii_share"], len(row) == len(FEATURES)
(0.452, 0.0, True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["FEATURES", "features", "feature_columns"]

FEATURES: tuple[str, ...] = ("chars", "words", "digit_share", "upper_share", "non_ascii_share",
                             "punct_share", "mean_word_len")


def features(text: str) -> dict[str, float]:
    """One document's features (all finite)."""
    n = max(len(text), 1)
    words = text.split()
    letters = sum(c.isalpha() for c in text) or 1
    return {
        "chars": float(len(text)),
        "words": float(len(words)),
        "digit_share": sum(c.isdigit() for c in text) / n,
        "upper_share": sum(c.isupper() for c in text) / letters,
        "non_ascii_share": sum(ord(c) > 127 for c in text) / n,
        "punct_share": sum(c in "|:;.,/-" for c in text) / n,
        "mean_word_len": sum(map(len, words)) / max(len(words), 1),
    }


def feature_columns(texts: Sequence[str]) -> dict[str, np.ndarray]:
    """Column per feature over ``texts`` (the reference data format)."""
    rows = [features(t) for t in texts]
    return {name: np.array([r[name] for r in rows], dtype=np.float64) for name in FEATURES}
