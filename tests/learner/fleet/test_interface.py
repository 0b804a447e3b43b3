"""A pulled window kept as its encoded bytes merges exactly like the decoded aggregate."""

from __future__ import annotations

import numpy as np
import pytest

import statcore
from learner.fleet.interface import PulledWindow, WindowKey


def _window(layout: statcore.Layout, start: int, rng: np.random.Generator) -> statcore.Aggregate:
    a = statcore.Aggregate(layout, "clf", "clf_1.0.0", start, start + 60_000)
    n = 40
    a.update(confidence=rng.uniform(0.5, 1.0, n), latency_ms=rng.gamma(4.0, 5.0, n),
             numeric=rng.standard_normal((n, 2)), labelled=np.ones(n, np.uint8),
             correct=(rng.random(n) < 0.9).astype(np.uint8))
    return a


def test_encoded_and_decoded_windows_merge_to_the_same_sum() -> None:
    rng = np.random.default_rng(3)
    layout = statcore.Layout.from_baseline([("x", rng.standard_normal(500)), ("y", rng.standard_normal(500))])
    parts = [_window(layout, 0, rng) for _ in range(5)]
    key = WindowKey("s", "clf", "clf_1.0.0", 0)
    decoded = [PulledWindow(1, key, p) for p in parts]
    encoded = [PulledWindow(1, key, encoded=p.encode(), layout=layout) for p in parts]
    sums = []
    for windows in (decoded, encoded):
        total = windows[0].owned()
        for w in windows[1:]:
            w.merge_into(total)
        sums.append(total)
    assert sums[0] == sums[1] and sums[0].records == 200
    assert encoded[0].layout == layout and encoded[0].aggregate == parts[0]  # decoded on demand
    first = encoded[0].owned()
    first.merge(parts[1])
    assert encoded[0].owned() == parts[0]  # owned() hands out a copy: the window is unchanged


def test_a_window_is_an_aggregate_or_its_bytes_with_a_layout() -> None:
    rng = np.random.default_rng(4)
    layout = statcore.Layout.from_baseline([("x", rng.standard_normal(100))])
    a = statcore.Aggregate(layout, "clf", "clf_1.0.0", 0, 1)
    key = WindowKey("s", "clf", "clf_1.0.0", 0)
    with pytest.raises(ValueError):
        PulledWindow(1, key)
    with pytest.raises(ValueError):
        PulledWindow(1, key, a, encoded=a.encode(), layout=layout)
    with pytest.raises(ValueError):
        PulledWindow(1, key, encoded=a.encode())
