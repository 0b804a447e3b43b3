"""Two-proportion z-test, mSPRT (single looks) and SRM against statsmodels/scipy oracles."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportions_ztest

import statcore
from statcore import Msprt, srm, ztest_two_proportions

ALTERNATIVES = ["two-sided", "larger", "smaller"]


def _random_arms(rng: np.random.Generator, n_cases: int) -> list[tuple[int, int, int, int]]:
    cases: list[tuple[int, int, int, int]] = []
    while len(cases) < n_cases:
        na, nb = (int(v) for v in rng.integers(1, 100_000, size=2))
        p = rng.uniform(0.0, 1.0, size=2)
        xa, xb = int(rng.binomial(na, p[0])), int(rng.binomial(nb, p[1]))
        pooled = (xa + xb) / (na + nb)
        if 0.0 < pooled < 1.0:
            cases.append((xa, na, xb, nb))
    return cases


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_ztest_equals_statsmodels(alternative: str) -> None:
    rng = np.random.default_rng(7)
    for xa, na, xb, nb in _random_arms(rng, 500):
        z, p = proportions_ztest([xa, xb], [na, nb], alternative=alternative)
        r = ztest_two_proportions(xa, na, xb, nb, alternative=alternative)  # type: ignore[arg-type]
        assert r.statistic == pytest.approx(z, rel=1e-10, abs=1e-10)
        assert r.pvalue == pytest.approx(p, rel=1e-10, abs=1e-10)


def test_ztest_small_counts_and_degenerate_pool() -> None:
    r = ztest_two_proportions(1, 3, 2, 3)
    z, p = proportions_ztest([1, 2], [3, 3])
    assert (r.statistic, r.pvalue) == pytest.approx((z, p), rel=1e-12)
    # All successes in both arms: statsmodels gives NaN; statcore reports no evidence.
    r = ztest_two_proportions(10, 10, 4, 4)
    assert (r.statistic, r.pvalue) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((11, 10, 1, 10, "two-sided"), "count_a"),
        ((1, 10, 1, 0, "two-sided"), "nobs_b"),
        ((-1, 10, 1, 10, "two-sided"), "count_a"),
        ((1, 10, 1, -10, "two-sided"), "nobs_b"),
        ((1, 10, 1, 10, "less"), "alternative"),
        ((1, 10, 1, 10, "Two-Sided"), "alternative"),
    ],
)
def test_ztest_invalid_input(args: tuple[int, int, int, int, str], field: str) -> None:
    with pytest.raises(statcore.InvalidInputError, match=field) as info:
        ztest_two_proportions(*args)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)


def test_srm_equals_scipy_chisquare() -> None:
    rng = np.random.default_rng(5)
    for _ in range(300):
        k = int(rng.integers(2, 6))
        shares = rng.uniform(0.05, 1.0, size=k)
        n = int(rng.integers(10, 1_000_000))
        skew = rng.uniform(0.9, 1.1, size=k)
        obs = rng.multinomial(n, shares * skew / np.sum(shares * skew))
        if obs.sum() == 0:
            continue
        expected = stats.chisquare(obs, f_exp=shares / shares.sum() * obs.sum())
        r = srm(obs.tolist(), shares.tolist())
        assert r.statistic == pytest.approx(expected.statistic, rel=1e-10, abs=1e-12)
        assert r.pvalue == pytest.approx(expected.pvalue, rel=1e-10, abs=1e-300)


def test_srm_detects_a_broken_split() -> None:
    assert srm([50_000, 51_500], [0.5, 0.5]).pvalue < 1e-3
    assert srm(np.array([50_000, 50_100]), np.array([1.0, 1.0])).pvalue > 0.05


@pytest.mark.parametrize(
    ("observed", "shares", "field"),
    [
        ([10], [1.0], "observed"),
        ([10, 10], [1.0], "expected_shares"),
        ([10, 10], [1.0, float("nan")], "expected_shares"),
        ([10, 10], [1.0, -1.0], "expected_shares"),
        ([10, -1], [1.0, 1.0], "observed"),
        ([0, 0], [1.0, 1.0], "observed"),
    ],
)
def test_srm_invalid_input(observed: list[int], shares: list[float], field: str) -> None:
    with pytest.raises(statcore.InvalidInputError, match=field):
        srm(observed, shares)


def _log_lambda(xa: int, na: int, xb: int, nb: int, tau: float, theta0: float = 0.0) -> float:
    pa, pb = xa / na, xb / nb
    v = pa * (1 - pa) / na + pb * (1 - pb) / nb
    t2 = tau * tau
    return 0.5 * math.log(v / (v + t2)) + t2 * (pb - pa - theta0) ** 2 / (2 * v * (v + t2))


def _pvalue(xa: int, na: int, xb: int, nb: int, tau: float) -> float:
    return min(1.0, math.exp(-_log_lambda(xa, na, xb, nb, tau)))


def test_msprt_first_look_matches_formula() -> None:
    rng = np.random.default_rng(9)
    for xa, na, xb, nb in _random_arms(rng, 200):
        if xa in (0, na) and xb in (0, nb):
            continue
        t = Msprt(alpha=0.05, tau=0.05)
        r = t.update(xa, na, xb, nb)
        assert r.estimate == pytest.approx(xb / nb - xa / na, abs=1e-15)
        assert r.pvalue == pytest.approx(_pvalue(xa, na, xb, nb, 0.05), rel=1e-9, abs=1e-300)
        assert r.rejected == (r.pvalue <= 0.05)
        for end in (r.ci_low, r.ci_high):
            if -1.0 < end < 1.0:
                assert _log_lambda(xa, na, xb, nb, 0.05, end) == pytest.approx(math.log(20.0), rel=1e-7)


def test_msprt_running_minimum_and_intersection() -> None:
    t = Msprt()
    assert (t.alpha, t.tau, t.looks) == (0.05, 0.05, 0)
    looks = [(85, 100, 88, 100), (170, 200, 180, 200), (250, 300, 270, 300), (345, 400, 352, 400)]
    p, lo, hi = 1.0, -1.0, 1.0
    for look in looks:
        r = t.update(*look)
        p, lo, hi = min(p, _pvalue(*look, 0.05)), max(lo, r.ci_low), min(hi, r.ci_high)
        assert r.pvalue == pytest.approx(p, rel=1e-12)
        assert (r.ci_low, r.ci_high) == (lo, hi)
    assert t.looks == len(looks)


def test_msprt_update_many_equals_loop() -> None:
    rng = np.random.default_rng(4)
    steps = rng.binomial(100, [[0.85, 0.87]] * 50)
    ca, cb = np.cumsum(steps[:, 0]), np.cumsum(steps[:, 1])
    n = np.arange(1, 51, dtype=np.int64) * 100
    loop = Msprt()
    expected = [loop.update(int(a), int(k), int(b), int(k)).pvalue for a, k, b in zip(ca, n, cb)]
    batch = Msprt()
    got = batch.update_many(ca.astype(np.int64), n, cb.astype(np.int64), n)
    np.testing.assert_array_equal(got, expected)
    assert batch.looks == loop.looks == 50


def test_msprt_degenerate_looks_do_not_reject() -> None:
    t = Msprt()
    r = t.update(0, 100, 0, 100)
    assert (r.pvalue, r.ci_low, r.ci_high, r.rejected) == (1.0, -1.0, 1.0, False)
    r = t.update(100, 200, 100, 200)
    assert not r.rejected


@pytest.mark.parametrize(("alpha", "tau"), [(0.0, 0.05), (1.0, 0.05), (0.05, 0.0), (0.05, float("nan"))])
def test_msprt_invalid_parameters(alpha: float, tau: float) -> None:
    with pytest.raises(statcore.InvalidInputError):
        Msprt(alpha=alpha, tau=tau)


def test_msprt_rejects_counts_going_backwards() -> None:
    t = Msprt()
    t.update(50, 100, 50, 100)
    with pytest.raises(statcore.InvalidInputError, match="nobs_a"):
        t.update(40, 200, 60, 200)
    with pytest.raises(statcore.InvalidInputError, match="count_b"):
        t.update(60, 200, 300, 200)
    with pytest.raises(statcore.InvalidInputError, match="count_a"):
        t.update(-1, 200, 60, 200)
    with pytest.raises(statcore.InvalidInputError, match="nobs_a"):
        t.update_many(np.array([60]), np.array([200, 300]), np.array([60]), np.array([200]))
    assert t.looks == 1


def test_docstring_examples_run() -> None:
    for fn in (ztest_two_proportions, srm, Msprt):
        runner = doctest.DocTestRunner(verbose=False)
        for test in doctest.DocTestFinder().find(fn, globs={**vars(statcore)}):
            runner.run(test)
        assert runner.failures == 0, fn.__name__
        assert runner.tries > 0, fn.__name__
