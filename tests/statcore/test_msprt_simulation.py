"""Simulation: the mSPRT keeps its false-rejection rate under continuous monitoring, where the
naive repeated z-test does not, and still detects a real difference.

Each experiment looks after every 100 samples per arm, up to 20,000 per arm (200 looks), and
feeds cumulative counts to ``Msprt.update_many`` (one crossing per experiment).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import stats

from statcore import Msprt

ALPHA = 0.05
STEP = 100
LOOKS = 200  # 200 x 100 = 20,000 samples per arm
Ints = NDArray[np.int64]


def cumulative_counts(
    rng: np.random.Generator, p_a: float, p_b: float, experiments: int
) -> tuple[Ints, Ints, Ints]:
    """(successes a, successes b, trials per arm) at every look, shape (experiments, LOOKS)."""
    ca = np.cumsum(rng.binomial(STEP, p_a, size=(experiments, LOOKS)), axis=1).astype(np.int64)
    cb = np.cumsum(rng.binomial(STEP, p_b, size=(experiments, LOOKS)), axis=1).astype(np.int64)
    nobs = np.arange(1, LOOKS + 1, dtype=np.int64) * STEP
    return ca, cb, nobs


def msprt_ever_rejects(ca: Ints, cb: Ints, nobs: Ints) -> NDArray[np.bool_]:
    out = np.empty(ca.shape[0], dtype=bool)
    for i in range(ca.shape[0]):
        pvalues = Msprt(alpha=ALPHA).update_many(ca[i], nobs, cb[i], nobs)
        out[i] = pvalues[-1] <= ALPHA  # running minimum: the last look holds the smallest
    return out


def naive_ztest_ever_rejects(ca: Ints, cb: Ints, nobs: Ints) -> NDArray[np.bool_]:
    """Pooled two-sided z-test at every look; reject if any look has p < alpha."""
    pa, pb = ca / nobs, cb / nobs
    pooled = (ca + cb) / (2 * nobs)
    se = np.sqrt(pooled * (1 - pooled) * (2 / nobs))
    z = np.divide(pa - pb, se, out=np.zeros_like(pa), where=se > 0)
    pvalues = 2 * stats.norm.sf(np.abs(z))
    return np.asarray((pvalues < ALPHA).any(axis=1))


def upper_95(rejections: int, experiments: int) -> float:
    """Upper end of the two-sided 95% Clopper-Pearson interval."""
    return float(stats.binomtest(rejections, experiments).proportion_ci(0.95, method="exact").high)


@pytest.mark.parametrize(("p", "experiments", "seed"), [(0.85, 4000, 101), (0.5, 2000, 202)])
def test_aa_false_rejection_rate_is_controlled(p: float, experiments: int, seed: int) -> None:
    ca, cb, nobs = cumulative_counts(np.random.default_rng(seed), p, p, experiments)
    rejected = int(msprt_ever_rejects(ca, cb, nobs).sum())
    rate, bound = rejected / experiments, upper_95(rejected, experiments)
    assert rate <= ALPHA, f"mSPRT false rejections {rate:.4f}"
    assert bound <= 0.065, f"mSPRT false rejections {rate:.4f}, upper 95% bound {bound:.4f}"
    # The same data under the naive repeated z-test: peeking inflates the error rate.
    naive = float(naive_ztest_ever_rejects(ca, cb, nobs).mean())
    assert naive > 0.10, f"naive repeated z-test rejected only {naive:.4f}"


def test_power_on_a_real_difference() -> None:
    ca, cb, nobs = cumulative_counts(np.random.default_rng(303), 0.85, 0.88, 500)
    power = float(msprt_ever_rejects(ca, cb, nobs).mean())
    assert power >= 0.9, f"mSPRT power {power:.3f}"
