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

/// Lanes probed at once by [`BinEdges::slot`]; the edge vector is padded with this many `+inf`.
/// Four covers the window of nearly every value with four grid cells per edge.
const LANES: usize = 4;
/// Grid cells per edge.
const CELLS_PER_EDGE: usize = 4;

/// Validated edges plus a lookup grid that turns [`slot`] into one branch-free probe.
///
/// The range `[e_0, e_last)` is cut into `4·E` equal cells; each cell remembers the slot of its
/// left bound. A value's slot lies between the slots of the cells around it (one cell of slack on
/// each side against rounding); when that window holds at most 4 edges — nearly always — they are
/// compared all at once (SIMD-friendly, no data-dependent branches), else a binary search runs.
#[derive(Debug)]
pub struct BinEdges {
    /// The edges followed by `LANES` copies of `+inf`.
    padded: Vec<f64>,
    len: usize,
    scale: f64,
    cells: Vec<u32>,
}

impl PartialEq for BinEdges {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl BinEdges {
    pub fn new(field: &str, edges: Vec<f64>) -> Result<Self> {
        validate_edges(field, &edges)?;
        let len = edges.len();
        let (lo, hi) = (edges[0], edges[len - 1]);
        let n_cells = CELLS_PER_EDGE * len;
        let width = hi - lo;
        let scale =
            if width > 0.0 && (n_cells as f64 / width).is_finite() { n_cells as f64 / width } else { 0.0 };
        let cells = (0..=n_cells)
            .map(|c| if scale > 0.0 { slot(&edges, lo + c as f64 / scale) as u32 } else { 0 })
            .collect();
        let mut padded = edges;
        padded.extend_from_slice(&[f64::INFINITY; LANES]);
        Ok(BinEdges { padded, len, scale, cells })
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

    /// Same result as [`slot`] for any non-NaN `x`.
    #[inline(always)]
    pub fn slot(&self, x: f64) -> usize {
        let e = &self.padded;
        let last = self.len - 1;
        if x < e[0] {
            return 0;
        }
        if x >= e[last] {
            return self.len;
        }
        if self.scale == 0.0 {
            return slot(self.as_slice(), x);
        }
        let n_cells = self.cells.len() - 1;
        let c = (((x - e[0]) * self.scale) as usize).min(n_cells - 1);
        let lo = self.cells[c.saturating_sub(1)] as usize;
        let hi = ((self.cells[(c + 2).min(n_cells)] as usize) + 1).min(self.len);
        if hi - lo <= LANES {
            // Edges past `hi` are > x (or +inf padding), so counting a fixed window is exact.
            let window: &[f64; LANES] = match e[lo..lo + LANES].try_into() {
                Ok(w) => w,
                Err(_) => return slot(self.as_slice(), x),
            };
            lo + window.iter().map(|v| usize::from(*v <= x)).sum::<usize>()
        } else {
            lo + slot(&e[lo..hi], x)
        }
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
        fn slot_equals_linear_count(mut e in proptest::collection::vec(-1e6f64..1e6, 1..60), x in -2e6f64..2e6) {
            e.sort_by(f64::total_cmp);
            e.dedup();
            let expected = e.iter().filter(|v| **v <= x).count();
            prop_assert_eq!(slot(&e, x), expected);
        }
    }
}
