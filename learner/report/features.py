"""Per-feature distributions for the report, from aggregates alone: the champion's baseline (its
reference histograms) against the period's merged windows, over the baseline's bin edges.

The sidecars keep fine histograms (1,024 baseline-quantile bins by default); the report shows
``display_bins`` groups of equal reference mass, so the reference reads flat and a shift shows
as bars rising and falling. Means and standard deviations are estimated from bin midpoints (the
open-ended outer bins at the outermost edges); missing values (NaN) are counted apart.

>>> import numpy as np
>>> edges = np.linspace(0.0, 1.0, 11)              # 10 inner edges -> 12 bins
>>> ref = np.array([0, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 0], dtype=np.uint64)
>>> cur = np.array([0, 0, 0, 0, 0, 10, 10, 10, 10, 10, 10, 0], dtype=np.uint64)
>>> d = feature_distribution("amount", edges, ref, cur, reference_missing=0, current_missing=5,
...                          psi=0.4, ks=0.5, threshold=0.25, display_bins=5)
>>> d.reference, d.current
((0.2, 0.2, 0.2, 0.2, 0.2), (0.0, 0.0, 0.333333, 0.333333, 0.333333))
>>> round(d.reference_mean, 3), round(d.current_mean, 3), d.current_missing, d.drifted
(0.5, 0.7, 5, True)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from learner.report.model import FeatureDistribution

__all__ = ["feature_distribution", "DISPLAY_BINS"]

DISPLAY_BINS = 20


def _groups(reference: NDArray[np.float64], display_bins: int) -> list[int]:
    """Fine-bin indices where each display group ends (exclusive), equal reference mass."""
    total = reference.sum()
    n = len(reference)
    if total <= 0:
        step = max(1, n // display_bins)
        return sorted({min(n, (i + 1) * step) for i in range(display_bins)} | {n})
    cum = np.cumsum(reference) / total
    ends = {int(np.searchsorted(cum, q, side="left")) + 1 for q in np.arange(1, display_bins) / display_bins}
    return sorted({min(n, max(1, e)) for e in ends} | {n})


def _moments(midpoints: NDArray[np.float64], counts: NDArray[np.float64]) -> tuple[float, float]:
    total = counts.sum()
    if total <= 0:
        return 0.0, 0.0
    mean = float(np.dot(midpoints, counts) / total)
    var = float(np.dot((midpoints - mean) ** 2, counts) / total)
    return mean, var ** 0.5


def feature_distribution(name: str, edges: NDArray[np.float64], reference: NDArray[np.uint64],
                         current: NDArray[np.uint64], *, reference_missing: int, current_missing: int,
                         psi: float | None, ks: float | None, threshold: float,
                         display_bins: int = DISPLAY_BINS) -> FeatureDistribution:
    """One feature's reference vs current distribution and statistics (``len(reference) ==
    len(edges) + 1``: the outer bins are open-ended)."""
    edges = np.asarray(edges, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    bounds = np.concatenate([[edges[0]], edges, [edges[-1]]])  # outer bins: at the outer edges
    mids = (bounds[:-1] + bounds[1:]) / 2
    ends = _groups(ref, display_bins)
    starts = [0, *ends[:-1]]
    # display edges: the fine bins' lower bounds at each group start, and the last upper bound
    display_edges = [float(bounds[s]) for s in starts] + [float(bounds[-1])]
    ref_total, cur_total = ref.sum(), cur.sum()

    def shares(counts: NDArray[np.float64], total: float) -> tuple[float, ...]:
        if total <= 0:
            return tuple(0.0 for _ in ends)
        return tuple(round(float(counts[s:e].sum() / total), 6) for s, e in zip(starts, ends))

    ref_mean, ref_std = _moments(mids, ref)
    cur_mean, cur_std = _moments(mids, cur)
    return FeatureDistribution(
        feature=name, edges=tuple(display_edges), reference=shares(ref, ref_total),
        current=shares(cur, cur_total), reference_count=int(ref_total), current_count=int(cur_total),
        reference_missing=int(reference_missing), current_missing=int(current_missing),
        reference_mean=ref_mean, current_mean=cur_mean, reference_std=ref_std, current_std=cur_std,
        psi=psi, ks=ks, drifted=psi is not None and psi > threshold)
