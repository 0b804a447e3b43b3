//! Always-valid sequential test for the difference of two proportions: the normal-mixture
//! mSPRT of Johari, Koomen, Pekelis and Walsh (2017, "Peeking at A/B tests").
//!
//! At a look with cumulative counts, `θ̂ = p̂_b − p̂_a`,
//! `V = p̂_a (1 − p̂_a) / n_a + p̂_b (1 − p̂_b) / n_b` and, for a normal mixing distribution
//! `θ ~ N(θ0, τ²)` over alternatives,
//! `Λ(θ0) = sqrt(V / (V + τ²)) · exp(τ² (θ̂ − θ0)² / (2 V (V + τ²)))`.
//! The always-valid p-value is the running minimum over looks of `min(1, 1/Λ(0))`, and the
//! always-valid confidence interval the running intersection of `{θ0 : Λ(θ0) < 1/α}`, which is
//! `θ̂ ± sqrt(V (V + τ²) / τ² · (2 ln(1/α) + ln((V + τ²) / V)))`. Rejecting when the p-value
//! reaches `α` keeps the false-rejection rate at most `α` however often one looks.
//!
//! **Degenerate looks.** When `V = 0` (each arm all successes or all failures) the look carries
//! no usable variance estimate: it neither lowers the p-value nor narrows the interval (its own
//! interval is the full `[−1, 1]`). Intervals are clipped to `[−1, 1]`, the range of `θ`. On an
//! event of probability at most `α` the running intersection can become empty
//! (`ci_low > ci_high`); it is reported as is.

use super::check_arm;
use crate::error::{CoreError, Result};

/// Default mixing standard deviation `τ` for accuracy-like metrics: effects worth detecting
/// are a few percentage points, and the mixture is most powerful for `|θ|` of the order of
/// `τ`, so `τ = 0.05` (five points) centres power on 1–10 point differences. Choose `τ` near
/// the effect size you expect; any `τ > 0` keeps the guarantee, only power changes.
pub const DEFAULT_TAU: f64 = 0.05;

/// State after a look (for [`msprt_look`]: of that look alone).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MsprtResult {
    /// `θ̂ = p̂_b − p̂_a` at this look.
    pub estimate: f64,
    /// Always-valid p-value for `θ = 0`.
    pub pvalue: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// `pvalue <= alpha`; once true it stays true.
    pub rejected: bool,
}

fn check_params(alpha: f64, tau: f64) -> Result<()> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(CoreError::invalid("alpha", format!("{alpha} is not in (0, 1)")));
    }
    if !(tau.is_finite() && tau > 0.0) {
        return Err(CoreError::invalid("tau", format!("{tau} is not positive and finite")));
    }
    Ok(())
}

/// One look on its own (cumulative counts of arms `a` and `b`); [`Msprt::update`] combines
/// looks into the always-valid running p-value and interval.
pub fn msprt_look(
    count_a: u64,
    nobs_a: u64,
    count_b: u64,
    nobs_b: u64,
    tau: f64,
    alpha: f64,
) -> Result<MsprtResult> {
    check_params(alpha, tau)?;
    check_arm("a", count_a, nobs_a)?;
    check_arm("b", count_b, nobs_b)?;
    let (pa, pb) = (count_a as f64 / nobs_a as f64, count_b as f64 / nobs_b as f64);
    let estimate = pb - pa;
    let v = pa * (1.0 - pa) / nobs_a as f64 + pb * (1.0 - pb) / nobs_b as f64;
    if v.is_nan() || v <= 0.0 {
        return Ok(MsprtResult { estimate, pvalue: 1.0, ci_low: -1.0, ci_high: 1.0, rejected: false });
    }
    let tau2 = tau * tau;
    let ln_lambda = 0.5 * (v / (v + tau2)).ln() + tau2 * estimate * estimate / (2.0 * v * (v + tau2));
    let pvalue = (-ln_lambda).exp().min(1.0);
    let half = (v * (v + tau2) / tau2 * (2.0 * (1.0 / alpha).ln() + ((v + tau2) / v).ln())).sqrt();
    Ok(MsprtResult {
        estimate,
        pvalue,
        ci_low: (estimate - half).max(-1.0),
        ci_high: (estimate + half).min(1.0),
        rejected: pvalue <= alpha,
    })
}

/// Running mSPRT over looks at cumulative counts (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Msprt {
    tau: f64,
    alpha: f64,
    pvalue: f64,
    ci_low: f64,
    ci_high: f64,
    /// Counts of the last accepted look: `(count_a, nobs_a, count_b, nobs_b)`.
    last: (u64, u64, u64, u64),
    looks: u64,
}

impl Msprt {
    /// A fresh test at level `alpha` in `(0, 1)` with mixing standard deviation `tau > 0`.
    pub fn try_new(alpha: f64, tau: f64) -> Result<Self> {
        check_params(alpha, tau)?;
        Ok(Msprt { tau, alpha, pvalue: 1.0, ci_low: -1.0, ci_high: 1.0, last: (0, 0, 0, 0), looks: 0 })
    }

    pub fn tau(&self) -> f64 {
        self.tau
    }

    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// Number of looks absorbed so far.
    pub fn looks(&self) -> u64 {
        self.looks
    }

    /// Absorbs a look at cumulative counts. Counts may not go backwards (successes, failures
    /// and trials of each arm are non-decreasing); on error the state is unchanged.
    pub fn update(&mut self, count_a: u64, nobs_a: u64, count_b: u64, nobs_b: u64) -> Result<MsprtResult> {
        self.check_cumulative(count_a, nobs_a, count_b, nobs_b)?;
        let look = msprt_look(count_a, nobs_a, count_b, nobs_b, self.tau, self.alpha)?;
        self.pvalue = self.pvalue.min(look.pvalue);
        self.ci_low = self.ci_low.max(look.ci_low);
        self.ci_high = self.ci_high.min(look.ci_high);
        self.last = (count_a, nobs_a, count_b, nobs_b);
        self.looks += 1;
        Ok(MsprtResult {
            estimate: look.estimate,
            pvalue: self.pvalue,
            ci_low: self.ci_low,
            ci_high: self.ci_high,
            rejected: self.pvalue <= self.alpha,
        })
    }

    /// A loop of [`Msprt::update`] over parallel slices of looks. Fails on slices of different
    /// lengths (nothing absorbed) or at the first bad look (the looks before it are kept).
    pub fn update_many(
        &mut self,
        count_a: &[u64],
        nobs_a: &[u64],
        count_b: &[u64],
        nobs_b: &[u64],
    ) -> Result<Vec<MsprtResult>> {
        let n = count_a.len();
        if nobs_a.len() != n || count_b.len() != n || nobs_b.len() != n {
            return Err(CoreError::invalid("nobs_a", "count/nobs arrays must have the same length"));
        }
        (0..n).map(|i| self.update(count_a[i], nobs_a[i], count_b[i], nobs_b[i])).collect()
    }

    fn check_cumulative(&self, count_a: u64, nobs_a: u64, count_b: u64, nobs_b: u64) -> Result<()> {
        let (la, lna, lb, lnb) = self.last;
        let backwards = |arm: &str, x: u64, n: u64, lx: u64, ln: u64| {
            if x < lx || n < ln || n.saturating_sub(x) < ln - lx {
                Err(CoreError::invalid(
                    format!("nobs_{arm}"),
                    format!("cumulative counts went backwards: ({x}, {n}) after ({lx}, {ln})"),
                ))
            } else {
                Ok(())
            }
        };
        check_arm("a", count_a, nobs_a)?;
        check_arm("b", count_b, nobs_b)?;
        backwards("a", count_a, nobs_a, la, lna)?;
        backwards("b", count_b, nobs_b, lb, lnb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn single_look_matches_the_formula() {
        let r = msprt_look(850, 1000, 900, 1000, 0.05, 0.05).unwrap();
        let (pa, pb) = (0.85f64, 0.9f64);
        let v = pa * (1.0 - pa) / 1000.0 + pb * (1.0 - pb) / 1000.0;
        let t2 = 0.0025f64;
        let lambda = (v / (v + t2)).sqrt() * (t2 * 0.05f64.powi(2) / (2.0 * v * (v + t2))).exp();
        assert!((r.estimate - 0.05).abs() < 1e-12);
        assert!((r.pvalue - (1.0 / lambda).min(1.0)).abs() < 1e-12);
        // The interval's ends are exactly where Λ(θ0) = 1/α.
        for end in [r.ci_low, r.ci_high] {
            let l = (v / (v + t2)).sqrt() * (t2 * (r.estimate - end).powi(2) / (2.0 * v * (v + t2))).exp();
            assert!((l - 20.0).abs() < 1e-8);
        }
        assert_eq!(r.rejected, r.pvalue <= 0.05);
    }

    #[test]
    fn degenerate_variance_is_no_evidence() {
        let mut t = Msprt::try_new(0.05, DEFAULT_TAU).unwrap();
        let r = t.update(0, 100, 0, 100).unwrap();
        assert_eq!((r.pvalue, r.ci_low, r.ci_high, r.rejected), (1.0, -1.0, 1.0, false));
        let r = t.update(100, 200, 100, 200).unwrap();
        assert_eq!(r.estimate, 0.0);
    }

    #[test]
    fn invalid_parameters_and_backwards_counts() {
        assert!(Msprt::try_new(0.0, 0.05).is_err());
        assert!(Msprt::try_new(0.05, -1.0).is_err());
        assert!(Msprt::try_new(0.05, f64::NAN).is_err());
        let mut t = Msprt::try_new(0.05, 0.05).unwrap();
        t.update(50, 100, 50, 100).unwrap();
        let before = t.clone();
        assert!(t.update(40, 200, 50, 200).is_err()); // successes of a went down
        assert!(t.update(150, 150, 50, 200).is_err()); // failures of a went down
        assert!(t.update(60, 90, 50, 200).is_err()); // trials of a went down
        assert!(t.update(60, 200, 201, 200).is_err());
        assert_eq!(t, before);
    }

    #[test]
    fn a_clear_difference_is_rejected_and_stays_rejected() {
        let mut t = Msprt::try_new(0.05, 0.05).unwrap();
        let r = t.update(800, 1000, 900, 1000).unwrap();
        assert!(r.rejected && r.ci_low > 0.0);
        let r = t.update(1600, 2000, 1600, 2000).unwrap();
        assert!(r.rejected);
    }

    proptest! {
        #[test]
        fn running_pvalue_and_interval_are_monotone(steps in proptest::collection::vec((0u64..50, 0u64..50, 0u64..50, 0u64..50), 1..30)) {
            let mut t = Msprt::try_new(0.05, 0.05).unwrap();
            let (mut xa, mut na, mut xb, mut nb) = (0, 0, 0, 0);
            let (mut p, mut lo, mut hi) = (1.0f64, -1.0f64, 1.0f64);
            let (mut ca, mut cna, mut cb, mut cnb) = (vec![], vec![], vec![], vec![]);
            for (sa, fa, sb, fb) in steps {
                xa += sa; na += sa + fa + 1; xb += sb; nb += sb + fb + 1;
                ca.push(xa); cna.push(na); cb.push(xb); cnb.push(nb);
                let r = t.update(xa, na, xb, nb).unwrap();
                prop_assert!(r.pvalue <= p && r.ci_low >= lo && r.ci_high <= hi);
                (p, lo, hi) = (r.pvalue, r.ci_low, r.ci_high);
            }
            let mut batch = Msprt::try_new(0.05, 0.05).unwrap();
            let many = batch.update_many(&ca, &cna, &cb, &cnb).unwrap();
            prop_assert_eq!(&batch, &t);
            prop_assert_eq!(many.last().map(|r| r.pvalue), Some(p));
        }
    }
}
