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
        fn slot_equals_linear_count(mut e in proptest::collection::vec(-1e6f64..1e6, 1..60), x in -2e6f64..2e6) {
            e.sort_by(f64::total_cmp);
            e.dedup();
            let expected = e.iter().filter(|v| **v <= x).count();
            prop_assert_eq!(slot(&e, x), expected);
        }
    }
}
