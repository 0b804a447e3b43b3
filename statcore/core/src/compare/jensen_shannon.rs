//! Jensen–Shannon distance: the square root of the Jensen–Shannon divergence in base 2,
//! `sqrt( ½ KL(p ‖ m) + ½ KL(q ‖ m) )` with `m = (p + q) / 2`, which lies in `[0, 1]`
//! (same as `scipy.spatial.distance.jensenshannon(p, q, base=2)`). Empty slots need no
//! special rule: `0 · ln 0 = 0`, and `m > 0` wherever `p` or `q` is.

use super::{validate_pair, Comparison, Histogram};
use crate::error::Result;
use std::f64::consts::LN_2;

/// Jensen–Shannon distance (base 2) between two histograms.
pub struct JensenShannon;

/// `x · ln(x / y)` with the convention `0 · ln(0 / y) = 0`.
fn rel_entr(x: f64, y: f64) -> f64 {
    if x > 0.0 {
        x * (x / y).ln()
    } else {
        0.0
    }
}

impl Comparison for JensenShannon {
    type Output = f64;

    fn compare(reference: &Histogram<'_>, current: &Histogram<'_>) -> Result<f64> {
        validate_pair(reference, current)?;
        let (p, q) = (reference.proportions(), current.proportions());
        let sum: f64 = p
            .iter()
            .zip(&q)
            .map(|(&pi, &qi)| {
                let m = 0.5 * (pi + qi);
                rel_entr(pi, m) + rel_entr(qi, m)
            })
            .sum();
        let divergence = (0.5 * sum / LN_2).clamp(0.0, 1.0);
        Ok(divergence.sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn js(r: &[f64], c: &[f64]) -> f64 {
        JensenShannon::compare(&Histogram::from_counts(r), &Histogram::from_counts(c)).unwrap()
    }

    #[test]
    fn known_values() {
        assert_eq!(js(&[1.0, 0.0], &[0.0, 1.0]), 1.0);
        assert_eq!(js(&[1.0, 3.0], &[2.0, 6.0]), 0.0);
        // scipy.spatial.distance.jensenshannon([1, 2, 3], [3, 2, 1], base=2)
        assert!((js(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) - 0.35470351519813204).abs() < 1e-12);
    }

    proptest! {
        #[test]
        fn symmetric_and_bounded(v in proptest::collection::vec((0u32..1000, 0u32..1000), 1..40)) {
            let r: Vec<f64> = v.iter().map(|x| f64::from(x.0)).chain([1.0]).collect();
            let c: Vec<f64> = v.iter().map(|x| f64::from(x.1)).chain([1.0]).collect();
            let d = js(&r, &c);
            prop_assert!((0.0..=1.0).contains(&d));
            prop_assert!((d - js(&c, &r)).abs() < 1e-12);
        }
    }
}
