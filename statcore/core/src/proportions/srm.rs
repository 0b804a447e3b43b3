//! Sample-ratio mismatch: Pearson's chi-square goodness-of-fit of the observed counts per arm
//! against the expected shares (as `scipy.stats.chisquare(observed, f_exp)` with
//! `f_exp = shares / Σ shares · Σ observed`), with `k − 1` degrees of freedom for `k` arms.
//! A tiny p-value (commonly < 0.001) means the traffic split is broken and the experiment's
//! comparisons are not to be trusted.

use crate::error::{CoreError, Result};
use crate::special::chi2_sf;

/// Chi-square statistic and p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SrmResult {
    pub statistic: f64,
    pub pvalue: f64,
}

/// SRM test of `observed` counts per arm against `expected_shares` (positive, finite; they are
/// normalised, so `[1, 1]` and `[0.5, 0.5]` mean the same). Needs at least two arms and a
/// positive total.
pub fn srm(observed: &[u64], expected_shares: &[f64]) -> Result<SrmResult> {
    if observed.len() < 2 {
        return Err(CoreError::invalid("observed", "needs at least two arms"));
    }
    if expected_shares.len() != observed.len() {
        return Err(CoreError::invalid(
            "expected_shares",
            format!("has {} entries for {} arms", expected_shares.len(), observed.len()),
        ));
    }
    if let Some(s) = expected_shares.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(CoreError::invalid("expected_shares", format!("{s} is not positive and finite")));
    }
    let total: f64 = observed.iter().map(|&o| o as f64).sum();
    if total <= 0.0 {
        return Err(CoreError::invalid("observed", "total count must be positive"));
    }
    let share_sum: f64 = expected_shares.iter().sum();
    let statistic: f64 = observed
        .iter()
        .zip(expected_shares)
        .map(|(&o, &s)| {
            let expected = s / share_sum * total;
            let d = o as f64 - expected;
            d * d / expected
        })
        .sum();
    let df = (observed.len() - 1) as f64;
    Ok(SrmResult { statistic, pvalue: chi2_sf(statistic, df) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_scipy_chisquare() {
        let r = srm(&[5050, 4950], &[0.5, 0.5]).unwrap();
        assert!((r.statistic - 1.0).abs() < 1e-12);
        assert!((r.pvalue - 0.31731050786291115).abs() < 1e-12);
        let r = srm(&[100, 120, 80], &[1.0, 1.0, 1.0]).unwrap();
        assert!((r.statistic - 8.0).abs() < 1e-12);
        assert!((r.pvalue - 0.018315638888734182).abs() < 1e-12);
    }

    #[test]
    fn invalid_input() {
        let field = |r: Result<SrmResult>| match r {
            Err(CoreError::InvalidInput { field, .. }) => field,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(field(srm(&[1], &[1.0])), "observed");
        assert_eq!(field(srm(&[1, 2], &[1.0])), "expected_shares");
        assert_eq!(field(srm(&[1, 2], &[1.0, 0.0])), "expected_shares");
        assert_eq!(field(srm(&[1, 2], &[1.0, f64::NAN])), "expected_shares");
        assert_eq!(field(srm(&[0, 0], &[1.0, 1.0])), "observed");
    }
}
