//! All four distances between two raw samples, binned on quantile edges of the baseline.

use super::{Comparison, Histogram, JensenShannon, Ks, Psi, Wasserstein};
use crate::edges::{quantile_edges, slot};
use crate::error::Result;

/// Drift of `current` against `baseline` (see [`drift_report`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriftReport {
    pub psi: f64,
    pub ks_statistic: f64,
    pub ks_bound: f64,
    pub ks_pvalue: f64,
    pub wasserstein: f64,
    pub jensen_shannon: f64,
    /// Number of edges actually used (quantile edges are deduplicated).
    pub n_edges: usize,
    /// NaN values skipped in the baseline and in the current sample.
    pub baseline_nan: u64,
    pub current_nan: u64,
}

/// Counts of `values` over the slots of `edges`, and the number of NaN skipped.
pub fn bin(edges: &[f64], values: &[f64]) -> (Vec<f64>, u64) {
    let mut counts = vec![0.0; edges.len() + 1];
    let mut nan = 0u64;
    for &x in values {
        if x.is_nan() {
            nan += 1;
        } else {
            counts[slot(edges, x)] += 1.0;
        }
    }
    (counts, nan)
}

/// Computes `bins` quantile edges from `baseline`
/// ([`crate::edges::quantile_edges`]), bins both samples (NaN skipped and counted) and
/// compares them with PSI, KS, Wasserstein-1 and Jensen–Shannon. Fails when either sample has
/// no non-NaN value or `bins == 0`.
pub fn drift_report(baseline: &[f64], current: &[f64], bins: usize) -> Result<DriftReport> {
    let edges = quantile_edges(baseline, bins)?;
    let (ref_counts, baseline_nan) = bin(&edges, baseline);
    let (cur_counts, current_nan) = bin(&edges, current);
    let reference = Histogram::new(&edges, &ref_counts);
    let current = Histogram::new(&edges, &cur_counts);
    let ks = Ks::compare(&reference, &current)?;
    Ok(DriftReport {
        psi: Psi::compare(&reference, &current)?,
        ks_statistic: ks.statistic,
        ks_bound: ks.bound,
        ks_pvalue: ks.pvalue,
        wasserstein: Wasserstein::compare(&reference, &current)?,
        jensen_shannon: JensenShannon::compare(&reference, &current)?,
        n_edges: edges.len(),
        baseline_nan,
        current_nan,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::CoreError;

    #[test]
    fn identical_samples_do_not_drift() {
        let x: Vec<f64> = (0..1000).map(|i| f64::from(i).sin()).collect();
        let r = drift_report(&x, &x, 64).unwrap();
        assert_eq!((r.psi, r.ks_statistic, r.wasserstein, r.jensen_shannon), (0.0, 0.0, 0.0, 0.0));
        assert_eq!(r.ks_pvalue, 1.0);
        assert_eq!(r.n_edges, 65);
    }

    #[test]
    fn nan_is_counted_not_binned() {
        let base = [0.0, 1.0, 2.0, 3.0, f64::NAN];
        let cur = [f64::NAN, f64::NAN, 10.0];
        let r = drift_report(&base, &cur, 2).unwrap();
        assert_eq!((r.baseline_nan, r.current_nan), (1, 2));
        // Edges (0, 1.5, 3): the baseline maximum sits in the overflow slot, with the current 10.
        assert_eq!(r.ks_statistic, 0.75);
        let err = drift_report(&base, &[f64::NAN], 2).unwrap_err();
        assert!(matches!(err, CoreError::InvalidInput { field, .. } if field == "current_counts"));
    }
}
