//! Wasserstein-1 (earth mover's) distance from binned data:
//! `W1 = ∫ |F_ref(x) − F_cur(x)| dx` over the interior `[e_0, e_{E−1}]`.
//!
//! Within an interior bin the mass is taken as spread uniformly, so `F_ref − F_cur` is linear
//! between its values at the two edges and the integral over the bin is exact for that
//! piecewise-linear CDF. **Underflow and overflow mass** is treated as sitting on the outermost
//! edges (`e_0` and `e_{E−1}`): it shifts the CDF difference at `e_0` and is otherwise not
//! integrated, i.e. values outside the edges are clamped onto them. With quantile edges from
//! the baseline, the baseline has no mass outside and only the current tails beyond the
//! baseline's range are clamped, which can only shorten the distance they travel.
//! Requires edges ([`Histogram::new`]).

use super::{validate_pair, Comparison, Histogram};
use crate::error::{CoreError, Result};

/// Wasserstein-1 distance between two histograms over the same edges.
pub struct Wasserstein;

/// `∫_0^w |a + (b − a) t / w| dt`: exact integral of a linear function's absolute value.
fn abs_linear_integral(a: f64, b: f64, width: f64) -> f64 {
    if (a >= 0.0) == (b >= 0.0) {
        0.5 * width * (a.abs() + b.abs())
    } else {
        // The line crosses zero: two triangles.
        0.5 * width * (a * a + b * b) / (a.abs() + b.abs())
    }
}

impl Comparison for Wasserstein {
    type Output = f64;

    fn compare(reference: &Histogram<'_>, current: &Histogram<'_>) -> Result<f64> {
        if reference.edges.is_empty() || current.edges.is_empty() {
            return Err(CoreError::invalid("edges", "Wasserstein distance needs bin edges"));
        }
        validate_pair(reference, current)?;
        let (n, m) = (reference.total(), current.total());
        let edges = reference.edges;
        // Difference of the CDFs at e_0, including the underflow slot.
        let (mut cum_ref, mut cum_cur) = (reference.counts[0], current.counts[0]);
        let mut left = cum_ref / n - cum_cur / m;
        let mut total = 0.0;
        for (k, w) in edges.windows(2).enumerate() {
            cum_ref += reference.counts[k + 1];
            cum_cur += current.counts[k + 1];
            let right = cum_ref / n - cum_cur / m;
            total += abs_linear_integral(left, right, w[1] - w[0]);
            left = right;
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn w1(e: &[f64], r: &[f64], c: &[f64]) -> f64 {
        Wasserstein::compare(&Histogram::new(e, r), &Histogram::new(e, c)).unwrap()
    }

    #[test]
    fn shifted_uniform_bins() {
        // All reference mass in [0, 1), all current mass in [1, 2): uniform within bins → W1 = 1.
        let e = [0.0, 1.0, 2.0];
        assert!((w1(&e, &[0.0, 4.0, 0.0, 0.0], &[0.0, 0.0, 4.0, 0.0]) - 1.0).abs() < 1e-15);
        assert_eq!(w1(&e, &[1.0, 2.0, 3.0, 4.0], &[1.0, 2.0, 3.0, 4.0]), 0.0);
    }

    #[test]
    fn tails_sit_on_the_outer_edges() {
        // Reference all underflow (at e_0 = 0), current all overflow (at e_1 = 10): W1 = 10.
        let e = [0.0, 10.0];
        assert!((w1(&e, &[1.0, 0.0, 0.0], &[0.0, 0.0, 1.0]) - 10.0).abs() < 1e-15);
    }

    #[test]
    fn sign_change_inside_a_bin() {
        assert!((abs_linear_integral(1.0, -1.0, 2.0) - 1.0).abs() < 1e-15);
        assert!((abs_linear_integral(-0.5, -0.5, 2.0) - 1.0).abs() < 1e-15);
    }

    #[test]
    fn needs_edges() {
        let c = [1.0, 1.0];
        let res = Wasserstein::compare(&Histogram::from_counts(&c), &Histogram::from_counts(&c));
        assert!(matches!(res, Err(CoreError::InvalidInput { field, .. }) if field == "edges"));
    }

    proptest! {
        #[test]
        fn symmetric_and_within_range(v in proptest::collection::vec((0u32..100, 0u32..100), 2..30)) {
            let e: Vec<f64> = (0..v.len() - 1).map(|i| i as f64 * 0.5).collect();
            let r: Vec<f64> = v.iter().map(|x| f64::from(x.0) + 1.0).collect();
            let c: Vec<f64> = v.iter().map(|x| f64::from(x.1) + 1.0).collect();
            let d = w1(&e, &r, &c);
            let span = e[e.len() - 1] - e[0];
            prop_assert!(d >= 0.0 && d <= span + 1e-12);
            prop_assert!((d - w1(&e, &c, &r)).abs() < 1e-12);
        }
    }
}
