"""Simulation: the promotion rule over 14 days of A/B traffic evaluated every 6 hours.

10,000 labelled requests a day, 10 % to the challenger (binomial split per look), champion
accuracy 0.85; 56 looks. Every look applies the production rule: >= 1,000 labelled per arm,
SRM p >= 0.001 (``statcore.srm``), significance (mSPRT ``update_many`` running p-values, or the
seed's z-test at every look), then :func:`learner.promotion.meets_promotion_rule`.
Measured rates are printed (``pytest -s``).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import stats

import statcore
from learner.promotion import PromotionPolicy, meets_promotion_rule

DAILY, SHARE, DAYS, LOOKS_PER_DAY = 10_000, 0.1, 14, 4
LOOKS = DAYS * LOOKS_PER_DAY
PER_LOOK = DAILY // LOOKS_PER_DAY
ALPHA, MIN_SAMPLES, SRM_P = 0.05, 1000, 0.001


def promoted(p_champion: float, p_challenger: float, runs: int, seed: int, *,
             min_improvement: float, method: str = "sequential") -> NDArray[np.bool_]:
    """For each run: was the challenger promoted at any 6-hour look within 14 days?"""
    rng = np.random.default_rng(seed)
    nb_step = rng.binomial(PER_LOOK, SHARE, size=(runs, LOOKS))
    na_step = PER_LOOK - nb_step
    ca = np.cumsum(rng.binomial(na_step, p_champion), axis=1).astype(np.int64)
    cb = np.cumsum(rng.binomial(nb_step, p_challenger), axis=1).astype(np.int64)
    na = np.cumsum(na_step, axis=1).astype(np.int64)
    nb = np.cumsum(nb_step, axis=1).astype(np.int64)
    pvalues = np.ones((runs, LOOKS))
    srm_ok = np.empty((runs, LOOKS), dtype=bool)
    enough = (na >= MIN_SAMPLES) & (nb >= MIN_SAMPLES)
    for i in range(runs):
        if method == "sequential":
            # like production: the test's mSPRT sees a look once both arms have MIN_SAMPLES
            j = int(np.argmax(enough[i])) if enough[i].any() else LOOKS
            if j < LOOKS:
                pvalues[i, j:] = statcore.Msprt(ALPHA).update_many(ca[i, j:], na[i, j:], cb[i, j:], nb[i, j:])
        else:
            pvalues[i] = [statcore.ztest_two_proportions(int(a), int(x), int(b), int(y)).pvalue
                          for a, x, b, y in zip(ca[i], na[i], cb[i], nb[i])]
        srm_ok[i] = [statcore.srm([int(x), int(y)], [1 - SHARE, SHARE]).pvalue >= SRM_P
                     for x, y in zip(na[i], nb[i])]
    significant = pvalues <= ALPHA if method == "sequential" else pvalues < ALPHA
    estimate = cb / nb - ca / na
    rule = meets_promotion_rule(significant, estimate, ca / na, PromotionPolicy(min_improvement))
    return np.asarray((rule & enough & srm_ok).any(axis=1))


def upper_95(hits: int, runs: int) -> float:
    return float(stats.binomtest(hits, runs).proportion_ci(0.95, method="exact").high)


@pytest.mark.parametrize(("min_improvement", "seed"), [(0.02, 11), (0.0, 12)])
def test_aa_false_promotions_stay_below_alpha(min_improvement: float, seed: int) -> None:
    runs = 2000
    hits = int(promoted(0.85, 0.85, runs, seed, min_improvement=min_improvement).sum())
    rate, bound = hits / runs, upper_95(hits, runs)
    print(f"\nA/A sequential min_improvement={min_improvement}: {rate:.4f} (upper 95% {bound:.4f}, {runs} runs)")
    assert rate <= ALPHA and bound <= 0.065


def test_peeking_z_test_inflates_false_promotions() -> None:
    runs = 2000
    rate = float(promoted(0.85, 0.85, runs, 13, min_improvement=0.0, method="z_test").mean())
    print(f"\nA/A z-test every 6 h, min_improvement=0: {rate:.4f} ({runs} runs)")
    assert rate > 0.10


def test_three_points_better_is_promoted() -> None:
    rate = float(promoted(0.85, 0.88, 1000, 14, min_improvement=0.02).mean())
    print(f"\n3 points better, sequential: promoted in {rate:.4f} of 1000 runs")
    assert rate >= 0.90


def test_one_point_better_rarely_clears_the_two_point_floor() -> None:
    runs = 2000
    ours = float(promoted(0.85, 0.86, runs, 15, min_improvement=0.02).mean())
    seeds_rule = float(promoted(0.85, 0.86, runs, 16, min_improvement=0.02, method="z_test").mean())
    print(f"\n1 point better: sequential+floor {ours:.4f}; seed's z-test+floor {seeds_rule:.4f} ({runs} runs)")
    assert ours <= 0.20
    assert seeds_rule > ours


def test_vectorised_harness_matches_the_production_decision() -> None:
    """Feeding the same looks through ArmStats -> decision_statistic -> decide_winner ->
    promotion_decision gives the same first promotion look as the vectorised harness."""
    from learner.abtest import ABPolicy, ABTestResult, ArmStats, decide_winner, decision_statistic
    from learner.config import TestMethod
    from learner.promotion import promotion_decision

    runs, seed = 30, 21
    rng = np.random.default_rng(seed)
    nb_step = rng.binomial(PER_LOOK, SHARE, size=(runs, LOOKS))
    na_step = PER_LOOK - nb_step
    ca = np.cumsum(rng.binomial(na_step, 0.85), axis=1)
    cb = np.cumsum(rng.binomial(nb_step, 0.875), axis=1)
    na, nb = np.cumsum(na_step, axis=1), np.cumsum(nb_step, axis=1)
    expected = promoted(0.85, 0.875, runs, seed, min_improvement=0.02)
    policy = ABPolicy(TestMethod.SEQUENTIAL, ALPHA, MIN_SAMPLES)
    for i in range(runs):
        msprt = statcore.Msprt(ALPHA)
        hit = False
        for k in range(LOOKS):
            a = ArmStats("a", int(na[i, k]), int(na[i, k]), int(ca[i, k]))
            b = ArmStats("b", int(nb[i, k]), int(nb[i, k]), int(cb[i, k]))
            enough = min(a.labelled, b.labelled) >= MIN_SAMPLES
            stat = decision_statistic(a, b, policy, msprt) if enough else None
            srm = statcore.srm([a.records, b.records], [1 - SHARE, SHARE]).pvalue if enough else None
            winner, rec, message = decide_winner(a, b, stat, srm, policy)
            result = ABTestResult("t", "m", TestMethod.SEQUENTIAL, winner,
                                  None if stat is None else stat.p_value, rec, message, a, b,
                                  None if stat is None else stat.estimate, None, None, srm, SHARE)
            if promotion_decision(result, PromotionPolicy(0.02)).promote:
                hit = True
                break
        assert hit == bool(expected[i]), i
