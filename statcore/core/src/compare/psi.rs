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
use crate::special::ln_normal;

/// Floor applied to every proportion (see the module docs).
pub const PSI_EPSILON: f64 = 1e-4;

/// Population Stability Index between two histograms.
pub struct Psi;

impl Comparison for Psi {
    type Output = f64;

    fn compare(reference: &Histogram<'_>, current: &Histogram<'_>) -> Result<f64> {
        validate_pair(reference, current)?;
        Ok(psi_sum(reference.counts, current.counts, 1.0 / reference.total(), 1.0 / current.total()))
    }
}

/// Slots summed in independent lanes: the terms vectorise, and the additions do not wait on
/// one another (a single running sum costs an addition's latency per slot).
const LANES: usize = 8;

/// One slot's term, with proportions in `[ε, ~1]`, so their ratio is a normal positive number
/// for [`ln_normal`]. Equal proportions (e.g. a slot empty on both sides) add exactly 0, since
/// `ln_normal(1) == 0`.
#[inline(always)]
fn term(r: f64, c: f64, inv_ref: f64, inv_cur: f64) -> f64 {
    let floor = |p: f64| if p > PSI_EPSILON { p } else { PSI_EPSILON };
    let (expected, actual) = (floor(r * inv_ref), floor(c * inv_cur));
    (actual - expected) * ln_normal(actual / expected)
}

/// `Σ term` over validated counts of equal length: lane `j` sums slots `j, j + 8, …`, then the
/// lanes are added pairwise. Fixed order, so the result does not depend on the CPU.
fn psi_sum(reference: &[f64], current: &[f64], inv_ref: f64, inv_cur: f64) -> f64 {
    let mut acc = [0.0f64; LANES];
    let mut add = |r: &[f64; LANES], c: &[f64; LANES]| {
        for j in 0..LANES {
            acc[j] += term(r[j], c[j], inv_ref, inv_cur);
        }
    };
    let (r_chunks, c_chunks) = (reference.chunks_exact(LANES), current.chunks_exact(LANES));
    let (r_rest, c_rest) = (r_chunks.remainder(), c_chunks.remainder());
    for (r, c) in r_chunks.zip(c_chunks) {
        if let (Ok(r), Ok(c)) = (r.try_into(), c.try_into()) {
            add(r, c);
        }
    }
    // Zero padding is a slot empty on both sides: it adds exactly 0.
    let (mut r_tail, mut c_tail) = ([0.0f64; LANES], [0.0f64; LANES]);
    r_tail[..r_rest.len()].copy_from_slice(r_rest);
    c_tail[..c_rest.len()].copy_from_slice(c_rest);
    add(&r_tail, &c_tail);
    let pairs = [acc[0] + acc[1], acc[2] + acc[3], acc[4] + acc[5], acc[6] + acc[7]];
    (pairs[0] + pairs[1]) + (pairs[2] + pairs[3])
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

    /// The textbook sum: one running total, `f64::ln`.
    fn plain_psi(r: &[f64], c: &[f64]) -> f64 {
        let (rt, ct) = (r.iter().sum::<f64>(), c.iter().sum::<f64>());
        r.iter()
            .zip(c)
            .map(|(r, c)| {
                let (e, a) = ((r / rt).max(PSI_EPSILON), (c / ct).max(PSI_EPSILON));
                (a - e) * (a / e).ln()
            })
            .sum()
    }

    proptest! {
        #[test]
        fn lanes_and_fast_ln_match_the_plain_sum(v in proptest::collection::vec((0u32..5000, 0u32..5000), 1..2100)) {
            let r: Vec<f64> = v.iter().map(|x| f64::from(x.0 % 7 * x.0)).chain([1.0]).collect();
            let c: Vec<f64> = v.iter().map(|x| f64::from(x.1)).chain([1.0]).collect();
            let (got, want) = (psi(&r, &c), plain_psi(&r, &c));
            prop_assert!((got - want).abs() <= 1e-13 * want.max(1.0), "{} vs {}", got, want);
        }
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
