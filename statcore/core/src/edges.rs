//! Shared bin edges for numeric features, computed once from a baseline.
//!
//! Layout used everywhere in statcore: with `E` strictly increasing edges `e_0 < … < e_{E-1}`,
//! a histogram has `E + 1` slots and a finite value `x` falls in slot
//! `#{ i : e_i <= x }`. Slot 0 is the underflow `(-inf, e_0)`, slot `k` is `[e_{k-1}, e_k)`
//! and slot `E` is the overflow `[e_{E-1}, +inf)`. NaN is never binned (counted apart).
//! With the default of 1,024 bins, `E = 1,025` quantile edges and 1,026 slots.

use crate::error::{CoreError, Result};

/// Default number of interior bins for numeric features.
pub const DEFAULT_BINS: usize = 1024;

/// Quantile edges of the finite values in `baseline`: the `k/bins` quantiles for
/// `k = 0..=bins` (linear interpolation, as numpy's default), with duplicates removed so that
/// the result is strictly increasing. Fails on an empty (or all-NaN) baseline or `bins == 0`.
pub fn quantile_edges(baseline: &[f64], bins: usize) -> Result<Vec<f64>> {
    if bins == 0 {
        return Err(CoreError::invalid("bins", "must be at least 1"));
    }
    let mut sorted: Vec<f64> = baseline.iter().copied().filter(|x| x.is_finite()).collect();
    if sorted.is_empty() {
        return Err(CoreError::invalid("baseline", "has no finite values"));
    }
    sorted.sort_unstable_by(f64::total_cmp);
    let last = (sorted.len() - 1) as f64;
    let mut edges: Vec<f64> = Vec::with_capacity(bins + 1);
    for k in 0..=bins {
        let pos = last * (k as f64) / (bins as f64);
        let lo = pos.floor() as usize;
        let hi = pos.ceil() as usize;
        let frac = pos - lo as f64;
        let q = sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
        if edges.last().is_none_or(|prev| q > *prev) {
            edges.push(q);
        }
    }
    Ok(edges)
}

/// Checks caller-supplied edges: non-empty, finite and strictly increasing.
pub fn validate_edges(field: &str, edges: &[f64]) -> Result<()> {
    if edges.is_empty() {
        return Err(CoreError::invalid(field, "edges are empty"));
    }
    if edges.iter().any(|e| !e.is_finite()) {
        return Err(CoreError::invalid(field, "edges must be finite"));
    }
    if edges.windows(2).any(|w| w[0] >= w[1]) {
        return Err(CoreError::invalid(field, "edges must be strictly increasing"));
    }
    Ok(())
}

/// Slot of a finite (or infinite) non-NaN `x`: the number of edges `<= x` (see module docs).
/// Branch-free binary search; `edges` must be strictly increasing and non-empty.
#[inline]
pub fn slot(edges: &[f64], x: f64) -> usize {
    let mut base = 0usize;
    let mut len = edges.len();
    while len > 1 {
        let half = len / 2;
        // SAFETY-free indexing: base + half < base + len <= edges.len().
        base = if edges[base + half] <= x { base + half } else { base };
        len -= half;
    }
    base + usize::from(edges[base] <= x)
}

/// Edges compared at once by [`BinEdges::slot`]; the edge vector is padded with this many NaN
/// (a comparison with NaN is false, so padding never counts).
const LANES: usize = 4;
/// Grid cells per edge: with quantile edges most cells hold at most one edge, and a cell holds
/// more than [`LANES`] only where edges are over twice as dense as on average.
const CELLS_PER_EDGE: usize = 2;
/// `2^52`: adding it to a number in `[0, 2^52)` rounds that number to an integer held in the
/// low bits of the sum (see [`BinEdges::cell`]).
const ROUND_TO_INTEGER: f64 = 4_503_599_627_370_496.0;

/// Validated edges plus a lookup grid that turns [`slot`] into one table look-up and one
/// comparison of four edges at once.
///
/// A value's cell is `round(clamp((x − e_0) · scale, −1, cells) + 1)`, a non-decreasing
/// function of `x`. Each edge therefore sorts into a cell by the very same arithmetic, and for a
/// value in cell `i` the edges `≤ x` are all those in cells `< i` plus some of those in cell
/// `i`: `first[i] <= slot(x) <= first[i + 1]`, with `first[i]` the number of edges in cells
/// before `i`. Exact whatever the rounding, with no slack. When cell `i` holds at most four
/// edges (nearly always) they are compared all at once, else a binary search runs over them.
#[derive(Debug)]
pub struct BinEdges {
    /// The edges followed by `LANES` NaN.
    padded: Vec<f64>,
    len: usize,
    /// The first edge.
    start: f64,
    scale: f64,
    /// `cells + 1` as a double: the largest clamped position.
    top: f64,
    /// `first[i]`: the number of edges in cells before `i`; `cells + 3` entries.
    first: Vec<u32>,
    /// `first[i] << 3 | w` with `w` the number of edges in cell `i`, or [`WIDE`] when there
    /// are more than [`LANES`]: the fast path reads one entry per value.
    packed: Vec<u32>,
}

/// Width bits of a [`BinEdges`] `packed` entry, and the mark of a cell with more than
/// [`LANES`] edges.
const WIDTH_BITS: u32 = 3;
const WIDE: u32 = (1 << WIDTH_BITS) - 1;

impl PartialEq for BinEdges {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl BinEdges {
    pub fn new(field: &str, edges: Vec<f64>) -> Result<Self> {
        validate_edges(field, &edges)?;
        if edges.len() >= (u32::MAX >> WIDTH_BITS) as usize {
            return Err(CoreError::invalid(field, "too many edges"));
        }
        let len = edges.len();
        let n_cells = CELLS_PER_EDGE * len;
        let scale = n_cells as f64 / (edges[len - 1] - edges[0]);
        // Any positive finite scale gives exact slots; a degenerate one only makes them slower.
        let scale = if scale.is_finite() && scale > 0.0 { scale } else { 1.0 };
        let mut grid = BinEdges {
            padded: Vec::new(),
            len,
            start: edges[0],
            scale,
            top: n_cells as f64 + 1.0,
            first: Vec::new(),
            packed: Vec::new(),
        };
        let mut first = vec![0u32; n_cells + 3];
        for e in &edges {
            first[grid.cell(*e) + 1] += 1;
        }
        for i in 1..first.len() {
            first[i] += first[i - 1];
        }
        grid.packed = first
            .windows(2)
            .map(|w| {
                let width = w[1] - w[0];
                (w[0] << WIDTH_BITS) | if width <= LANES as u32 { width } else { WIDE }
            })
            .collect();
        grid.first = first;
        grid.padded = edges;
        grid.padded.extend_from_slice(&[f64::NAN; LANES]);
        Ok(grid)
    }

    pub fn as_slice(&self) -> &[f64] {
        &self.padded[..self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The look-up state by value: a loop that also writes counts keeps it in registers
    /// (through `&self` the compiler must reload it after every store).
    #[inline(always)]
    pub fn probe(&self) -> Probe<'_> {
        Probe {
            padded: &self.padded,
            first: &self.first,
            packed: &self.packed,
            start: self.start,
            scale: self.scale,
            top: self.top,
        }
    }

    /// The grid cell of `x` (see [`Probe::cell`]).
    #[inline(always)]
    fn cell(&self, x: f64) -> usize {
        self.probe().cell(x) as usize
    }

    /// Same result as [`slot`] for any non-NaN `x`.
    #[inline(always)]
    pub fn slot(&self, x: f64) -> usize {
        self.probe().slot(x)
    }
}

/// A borrowed view of a [`BinEdges`] for hot loops; see [`BinEdges::probe`].
#[derive(Clone, Copy, Debug)]
pub struct Probe<'a> {
    padded: &'a [f64],
    first: &'a [u32],
    packed: &'a [u32],
    start: f64,
    scale: f64,
    top: f64,
}

impl Probe<'_> {
    /// The grid cell of `x`, in `0..=cells + 1`; non-decreasing in `x` (NaN gives cell 0).
    /// Straight-line arithmetic: a loop computing the cells of many values vectorises.
    #[inline(always)]
    pub fn cell(&self, x: f64) -> u32 {
        let t = (x - self.start) * self.scale + 1.0;
        let t = if t > 0.0 { t } else { 0.0 };
        let t = if t < self.top { t } else { self.top };
        ((t + ROUND_TO_INTEGER).to_bits() - ROUND_TO_INTEGER.to_bits()) as u32
    }

    /// The slot of a non-NaN `x` whose cell is `cell` (from [`Probe::cell`]).
    #[inline(always)]
    pub fn slot_in(&self, cell: u32, x: f64) -> usize {
        let entry = self.packed[cell as usize];
        let lo = (entry >> WIDTH_BITS) as usize;
        if entry & WIDE != WIDE {
            // Edges before `lo` are <= x and edges past the cell's are > x (or NaN padding),
            // so counting a fixed window of `LANES` edges from `lo` is exact.
            let window = &self.padded[lo..lo + LANES];
            lo + window.iter().map(|e| usize::from(*e <= x)).sum::<usize>()
        } else {
            let hi = self.first[cell as usize + 1] as usize;
            lo + slot(&self.padded[lo..hi], x)
        }
    }

    /// Same result as [`slot`] for any non-NaN `x`.
    #[inline(always)]
    pub fn slot(&self, x: f64) -> usize {
        self.slot_in(self.cell(x), x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn slots_follow_the_layout() {
        let e = [0.0, 1.0, 2.0];
        assert_eq!(slot(&e, -0.5), 0);
        assert_eq!(slot(&e, 0.0), 1);
        assert_eq!(slot(&e, 0.99), 1);
        assert_eq!(slot(&e, 1.0), 2);
        assert_eq!(slot(&e, 2.0), 3);
        assert_eq!(slot(&e, f64::INFINITY), 3);
        assert_eq!(slot(&e, f64::NEG_INFINITY), 0);
        assert_eq!(slot(&[5.0], 4.0), 0);
        assert_eq!(slot(&[5.0], 5.0), 1);
    }

    #[test]
    fn quantile_edges_dedupe_and_match_numpy_style() {
        let base: Vec<f64> = (0..=100).map(f64::from).collect();
        let e = quantile_edges(&base, 4).unwrap();
        assert_eq!(e, vec![0.0, 25.0, 50.0, 75.0, 100.0]);
        let discrete = [1.0, 1.0, 1.0, 2.0, f64::NAN];
        assert_eq!(quantile_edges(&discrete, 4).unwrap(), vec![1.0, 1.25, 2.0]);
        assert!(quantile_edges(&[f64::NAN], 4).is_err());
        assert!(quantile_edges(&[1.0], 0).is_err());
    }

    proptest! {
        #[test]
        fn grid_slot_equals_binary_search(raw in proptest::collection::vec(prop_oneof![-1e3f64..1e3, (-30.0f64..30.0).prop_map(f64::exp)], 1..300), xs in proptest::collection::vec(prop_oneof![-2e3f64..2e3, (-30.0f64..40.0).prop_map(f64::exp)], 1..50)) {
            let mut e = raw;
            e.sort_by(f64::total_cmp);
            e.dedup();
            let b = BinEdges::new("e", e.clone()).unwrap();
            for x in xs.iter().copied().chain(e.iter().copied()) {
                prop_assert_eq!(b.slot(x), slot(&e, x), "x={}", x);
            }
        }

        #[test]
        fn grid_slot_is_exact_on_dense_and_degenerate_edges(
            base in -1e300f64..1e300,
            steps in proptest::collection::vec(prop_oneof![Just(1u64), 1u64..4, 1u64..1_000_000], 1..200),
            picks in proptest::collection::vec(any::<prop::sample::Index>(), 1..40),
        ) {
            // Edges a few ulps apart next to gaps (many edges per cell), values at and next to them.
            let mut e = vec![base];
            for s in &steps {
                let next = f64::from_bits(e[e.len() - 1].to_bits().wrapping_add(*s));
                if next.is_finite() && next > e[e.len() - 1] {
                    e.push(next);
                }
            }
            let b = BinEdges::new("e", e.clone()).unwrap();
            for p in &picks {
                let v = e[p.index(e.len())];
                for x in [v, f64::from_bits(v.to_bits() - 1), f64::from_bits(v.to_bits() + 1), f64::INFINITY, f64::NEG_INFINITY] {
                    prop_assert_eq!(b.slot(x), slot(&e, x), "x={}", x);
                }
            }
        }

        #[test]
        fn slot_equals_linear_count(mut e in proptest::collection::vec(-1e6f64..1e6, 1..60), x in -2e6f64..2e6) {
            e.sort_by(f64::total_cmp);
            e.dedup();
            let expected = e.iter().filter(|v| **v <= x).count();
            prop_assert_eq!(slot(&e, x), expected);
        }
    }
}
