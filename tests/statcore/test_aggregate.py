"""Aggregates: counts against numpy, percentiles, outcomes, exact merge, codec, bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import statcore
from statcore import Aggregate, Layout

RNG = np.random.default_rng(20261128)
FEATURES = ["amount", "pages", "lines"]


@pytest.fixture(scope="module")
def baseline() -> np.ndarray:
    return np.column_stack(
        [RNG.lognormal(5, 1, 20_000), RNG.integers(1, 12, 20_000).astype(float), RNG.normal(30, 8, 20_000)]
    )


@pytest.fixture(scope="module")
def layout(baseline: np.ndarray) -> Layout:
    return Layout.from_baseline(
        [(name, np.ascontiguousarray(baseline[:, j])) for j, name in enumerate(FEATURES)],
        categorical=[("lang", ["en"] * 50 + ["de"] * 30 + ["fr"] * 5)],
        fields=["total", "date"],
        bins=1024,
    )


def batch(n: int, rng: np.random.Generator, shift: float = 0.0) -> dict[str, Any]:
    numeric = np.column_stack(
        [rng.lognormal(5 + shift, 1, n), rng.integers(1, 12, n).astype(float), rng.normal(30, 8, n)]
    )
    numeric[rng.random(n) < 0.01, 1] = np.nan
    labelled = (rng.random(n) < 0.3).astype(np.uint8)
    return {
        "numeric": numeric,
        "categorical": {"lang": list(rng.choice(["en", "de", "fr", "it"], n))},
        "confidence": rng.random(n),
        "latency_ms": rng.gamma(2.0, 40.0, n),
        "error": (rng.random(n) < 0.02).astype(np.uint8),
        "labelled": labelled,
        "correct": (rng.random(n) < 0.85).astype(np.uint8),
        "field_flags": rng.choice(np.array([1, 2, 4, 6], np.uint8), size=(n, 2)),
    }


def aggregate(layout: Layout, b: dict[str, Any], start: int = 0) -> Aggregate:
    a = Aggregate(layout, "doc", "doc_1.0.0", start, start + 60_000)
    a.update(**b)
    return a


def test_counts_match_numpy(layout: Layout) -> None:
    b = batch(5_000, np.random.default_rng(1))
    a = aggregate(layout, b)
    for j, name in enumerate(FEATURES):
        col = b["numeric"][:, j]
        finite = col[~np.isnan(col)]
        edges = layout.edges(name)
        expected = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=len(edges) + 1)
        np.testing.assert_array_equal(a.numeric_counts(name), expected)
        assert a.numeric_nan(name) == int(np.isnan(col).sum())
    cats = layout.categories("lang")
    assert cats == ["de", "en", "fr"]
    langs = np.array(b["categorical"]["lang"])
    expected_cat = [int((langs == c).sum()) for c in cats] + [int((langs == "it").sum())]
    assert a.categorical_counts("lang").tolist() == expected_cat
    conf_edges = np.linspace(0, 1, 21)
    expected_conf = np.bincount(np.searchsorted(conf_edges, b["confidence"], side="right"), minlength=22)
    np.testing.assert_array_equal(a.confidence_counts(), expected_conf)
    assert a.records == 5_000
    assert a.errors == int(b["error"].sum())


@pytest.mark.parametrize(
    "sample",
    [
        lambda r: r.gamma(2.0, 40.0, 100_000),
        lambda r: r.lognormal(3, 1.5, 100_000),
        lambda r: r.uniform(0.05, 5000, 100_000),
        lambda r: np.round(r.exponential(20, 1001), 1) + 0.5,
    ],
)
def test_latency_percentiles_within_one_percent_of_numpy(layout: Layout, sample: Any) -> None:
    lat = sample(np.random.default_rng(7))
    a = Aggregate(layout, "doc", "m", 0, 1)
    a.update(
        numeric=np.zeros((len(lat), 3)),
        categorical={"lang": ["en"] * len(lat)},
        confidence=np.full(len(lat), 0.5),
        latency_ms=lat,
    )
    qs = [0.5, 0.95, 0.99, 0.0, 1.0, 0.25]
    ours = a.latency_quantiles(qs)
    theirs = np.percentile(lat, [q * 100 for q in qs])
    for o, t in zip(ours, theirs):
        assert o is not None
        assert abs(o - t) <= 0.01 * t
    assert a.latency_mean_ms == pytest.approx(lat.mean(), rel=1e-6)


def test_outcomes_accuracy_and_f1(layout: Layout) -> None:
    b = batch(4_000, np.random.default_rng(3))
    a = aggregate(layout, b)
    lab = b["labelled"] == 1
    assert a.labelled == int(lab.sum())
    assert a.correct == int(b["correct"][lab].sum())
    assert a.accuracy == pytest.approx(b["correct"][lab].mean())
    flags = b["field_flags"][lab]
    for j, field in enumerate(["total", "date"]):
        tp, fp, fn = (int(((flags[:, j] & bit) != 0).sum()) for bit in (1, 2, 4))
        assert a.field_counts()[field] == (tp, fp, fn)
        assert a.f1()[field] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    a.update_outcomes(np.array([1, 0], np.uint8), np.array([[1, 1], [6, 4]], np.uint8))
    assert a.labelled == int(lab.sum()) + 2


def test_merge_is_exact_in_any_order(layout: Layout) -> None:
    rng = np.random.default_rng(11)
    parts = [batch(int(n), rng) for n in rng.integers(1, 800, 6)]
    aggs = [aggregate(layout, p, start=i * 60_000) for i, p in enumerate(parts)]
    whole = Aggregate(layout, "doc", "doc_1.0.0", 0, 60_000)
    for p in parts:
        whole.update(**p)
    forward = aggs[0].copy()
    for x in aggs[1:]:
        forward.merge(x)
    backward = aggs[-1].copy()
    for x in reversed(aggs[:-1]):
        backward.merge(x)
    assert forward == backward
    assert forward.records == whole.records
    for name in FEATURES:
        np.testing.assert_array_equal(forward.numeric_counts(name), whole.numeric_counts(name))
    assert forward.latency_quantiles([0.5, 0.99]) == whole.latency_quantiles([0.5, 0.99])
    assert (forward.window_start_ms, forward.window_end_ms) == (0, 6 * 60_000)
    merged = Aggregate.merge_encoded(layout, [x.encode() for x in aggs])
    assert merged == forward
    assert Aggregate.merge_encoded(layout, []) is None
    by_bytes = aggs[0].copy()
    for x in aggs[1:]:
        by_bytes.merge_bytes(x.encode())
    assert by_bytes == forward and by_bytes.encode() == forward.encode()


def test_peek_reads_model_and_window_and_checks_the_bytes(layout: Layout) -> None:
    a = aggregate(layout, batch(50, np.random.default_rng(8)))
    blob = a.encode()
    assert Aggregate.peek(blob, layout) == (a.model_type, a.model_id, a.window_start_ms, a.window_end_ms)
    with pytest.raises(statcore.StatcoreError):
        Aggregate.peek(blob[:-1], layout)
    before = a.copy()
    with pytest.raises(statcore.StatcoreError):
        a.merge_bytes(blob[: len(blob) // 2])
    assert a == before  # a refused merge changes nothing


def test_codec_and_incompatibility(layout: Layout) -> None:
    a = aggregate(layout, batch(300, np.random.default_rng(5)))
    blob = a.encode()
    assert Aggregate.decode(blob, layout) == a
    assert Layout.decode(layout.encode()) == layout
    other = Layout([("x", [0.0, 1.0])])
    with pytest.raises(statcore.IncompatibleError):
        Aggregate.decode(blob, other)
    with pytest.raises(statcore.CodecError):
        Aggregate.decode(blob[: len(blob) // 2], layout)
    with pytest.raises(statcore.IncompatibleError):
        a.merge(Aggregate(layout, "doc", "doc_2.0.0", 0, 1))


BAD: list[tuple[str, Any, str]] = [
    ("confidence", lambda b: b["confidence"].__setitem__(3, np.nan), r"confidence\[3\]"),
    ("confidence", lambda b: b["confidence"].__setitem__(0, 1.2), r"confidence\[0\]"),
    ("latency", lambda b: b["latency_ms"].__setitem__(5, -1.0), r"latency_ms\[5\]"),
    ("latency", lambda b: b["latency_ms"].__setitem__(6, np.inf), r"latency_ms\[6\]"),
    ("numeric", lambda b: b["numeric"].__setitem__((2, 0), np.inf), r"numeric\[2\]\[\"amount\"\]"),
    ("length", lambda b: b.__setitem__("latency_ms", b["latency_ms"][:-1]), "latency_ms"),
    ("columns", lambda b: b.__setitem__("numeric", b["numeric"][:, :2].copy()), "numeric"),
    ("categorical", lambda b: b.__setitem__("categorical", {}), "lang"),
    ("flags", lambda b: b["field_flags"].__setitem__((1, 1), 3), r"field_flags\[3\]"),
    ("bools", lambda b: b["error"].__setitem__(0, 2), r"error\[0\]"),
]


@pytest.mark.parametrize(("case", "mutate", "field"), BAD, ids=[c[0] + str(i) for i, c in enumerate(BAD)])
def test_bad_batches_raise_and_change_nothing(layout: Layout, case: str, mutate: Any, field: str) -> None:
    a = aggregate(layout, batch(100, np.random.default_rng(9)))
    before = a.encode()
    bad = batch(10, np.random.default_rng(10))
    mutate(bad)
    with pytest.raises(statcore.InvalidInputError, match=field) as info:
        a.update(**bad)
    assert isinstance(info.value, ValueError)
    assert a.encode() == before


def test_feature_drift_matches_raw_statistics(layout: Layout, baseline: np.ndarray) -> None:
    ref = Aggregate(layout, "doc", "baseline", 0, 1)
    n = len(baseline)
    ref.update(
        numeric=np.ascontiguousarray(baseline),
        categorical={"lang": ["en"] * n},
        confidence=np.full(n, 0.5),
        latency_ms=np.ones(n),
    )
    current = batch(20_000, np.random.default_rng(12), shift=0.3)
    cur = aggregate(layout, current)
    drift = {d.name: d for d in statcore.feature_drift(ref, cur, jensen_shannon=True, psi_groups=0)}
    assert list(drift) == [*FEATURES, "lang"]
    amount = drift["amount"]
    raw_current = current["numeric"][:, 0].copy()
    raw = statcore.compare_raw(np.ascontiguousarray(baseline[:, 0]), raw_current)
    assert amount.psi == pytest.approx(raw.psi, rel=1e-12)
    assert amount.ks_statistic == pytest.approx(raw.ks_statistic, rel=1e-12)
    assert amount.psi == pytest.approx(
        statcore.psi(ref.numeric_counts("amount").astype(float), cur.numeric_counts("amount").astype(float))
    )
    assert amount.ks_pvalue < 1e-10 and amount.psi > 0.05
    assert drift["lines"].ks_pvalue > 1e-4
    assert drift["lang"].kind == statcore.FeatureKind.CATEGORICAL and np.isnan(drift["lang"].ks_statistic)


def numpy_coarsen(reference: np.ndarray, current: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Oracle: close a group at the first slot where the reference mass reaches k/groups."""
    cum, total = np.cumsum(reference), reference.sum()
    cuts = []
    k = 1
    for i, c in enumerate(cum):
        if k < groups and c >= total * k / groups:
            cuts.append(i + 1)
            while k < groups and c >= total * k / groups:
                k += 1
    bounds = [0, *cuts] + ([len(reference)] if not cuts or cuts[-1] != len(reference) else [])
    r = np.array([reference[a:b].sum() for a, b in zip(bounds, bounds[1:])])
    c = np.array([current[a:b].sum() for a, b in zip(bounds, bounds[1:])])
    return r, c


def test_alarm_psi_uses_ten_groups_of_equal_reference_mass(layout: Layout, baseline: np.ndarray) -> None:
    ref = Aggregate(layout, "doc", "baseline", 0, 1)
    n = len(baseline)
    ref.update(numeric=np.ascontiguousarray(baseline), categorical={"lang": ["en"] * n},
               confidence=np.full(n, 0.5), latency_ms=np.ones(n))
    small = aggregate(layout, batch(300, np.random.default_rng(2)))  # stationary, 300 records
    coarse = {d.name: d.psi for d in statcore.feature_drift(ref, small)}
    fine = {d.name: d.psi for d in statcore.feature_drift(ref, small, psi_groups=0)}
    for name in ["amount", "lines"]:
        r, c = numpy_coarsen(ref.numeric_counts(name).astype(float), small.numeric_counts(name).astype(float), 10)
        assert len(r) == 10
        assert coarse[name] == pytest.approx(statcore.psi(r, c), rel=1e-12)
        assert coarse[name] < 0.1 < fine[name]
