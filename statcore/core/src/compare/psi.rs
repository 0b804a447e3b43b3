//! Population Stability Index: `PSI = Σ (a_i − e_i) · ln(a_i / e_i)` over the slots, with
//! `e_i` the reference ("expected") and `a_i` the current ("actual") proportions.
//!
//! **Empty-slot rule.** Every proportion is floored at [`PSI_EPSILON`] (`1e-4`) before the
//! sum: `e_i = max(ref_i / ref_total, ε)`, `a_i = max(cur_i / cur_total, ε)`. A slot empty on
//! both sides therefore contributes exactly 0, a slot empty on one side contributes a finite
//! amount, and each term stays `>= 0`, so PSI is finite and non-negative. The floored
//! proportions are not renormalised. (Rule of thumb: < 0.1 stable, 0.1–0.25 moderate shift,
//! > 0.25 major shift.)

use super::{validate_pair, Comparison, Histogram};
use crate::error::Result;

/// Floor applied to every proportion (see the module docs).
pub const PSI_EPSILON: f64 = 1e-4;

/// Population Stability Index between two histograms.
pub struct Psi;

impl Comparison for Psi {
    type Output = f64;

    fn compare(reference: &Histogram<'_>, current: &Histogram<'_>) -> Result<f64> {
        validate_pair(reference, current)?;
        let (inv_ref, inv_cur) = (1.0 / reference.total(), 1.0 / current.total());
        let psi = reference
            .counts
            .iter()
            .zip(current.counts)
            .map(|(r, c)| {
                let expected = (r * inv_ref).max(PSI_EPSILON);
                let actual = (c * inv_cur).max(PSI_EPSILON);
                // Equal proportions (e.g. a slot empty on both sides) add exactly 0: skip the log.
                if actual == expected {
                    0.0
                } else {
                    (actual - expected) * (actual / expected).ln()
                }
            })
            .sum();
        Ok(psi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn psi(r: &[f64], c: &[f64]) -> f64 {
        Psi::compare(&Histogram::from_counts(r), &Histogram::from_counts(c)).unwrap()
    }

    #[test]
    fn known_value() {
        // proportions (0.2, 0.3, 0.5) vs (0.25, 0.25, 0.5)
        let want = 0.05 * (0.25f64 / 0.2).ln() + (-0.05) * (0.25f64 / 0.3).ln();
        assert!((psi(&[2.0, 3.0, 5.0], &[1.0, 1.0, 2.0]) - want).abs() < 1e-15);
        assert_eq!(psi(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]), 0.0);
    }

    #[test]
    fn empty_slots_follow_the_floor_rule() {
        // Slot 0 empty in both: contributes nothing. Slot 1 empty in current only: floored.
        let got = psi(&[0.0, 1.0, 1.0], &[0.0, 0.0, 1.0]);
        let (e1, a1) = (0.5f64, PSI_EPSILON);
        let (e2, a2) = (0.5f64, 1.0f64);
        let want = (a1 - e1) * (a1 / e1).ln() + (a2 - e2) * (a2 / e2).ln();
        assert!((got - want).abs() < 1e-15);
        assert!(got.is_finite());
    }

    #[test]
    fn invalid_input_is_refused() {
        let ok = Histogram::from_counts(&[1.0, 1.0]);
        assert!(Psi::compare(&Histogram::from_counts(&[1.0, f64::NAN]), &ok).is_err());
        assert!(Psi::compare(&ok, &Histogram::from_counts(&[1.0])).is_err());
    }

    proptest! {
        #[test]
        fn non_negative_and_zero_on_equal(v in proptest::collection::vec((0u32..1000, 0u32..1000), 1..40)) {
            let r: Vec<f64> = v.iter().map(|x| f64::from(x.0) + 1.0).collect();
            let c: Vec<f64> = v.iter().map(|x| f64::from(x.1)).chain([1.0]).collect();
            let r: Vec<f64> = r.into_iter().chain([0.0]).collect();
            let p = psi(&r, &c);
            prop_assert!(p >= 0.0 && p.is_finite());
            prop_assert!(psi(&r, &r).abs() < 1e-15);
            // PSI is symmetric in its two arguments.
            prop_assert!((p - psi(&c, &r)).abs() < 1e-12 * p.max(1.0));
        }
    }
}
