//! Two-sample Kolmogorov–Smirnov statistic from binned data, with a deterministic error bound
//! and the asymptotic p-value.
//!
//! With `F_ref`, `F_cur` the empirical CDFs, the binned statistic is
//! `D = max_k |F_ref(e_k⁻) − F_cur(e_k⁻)|` over the edges, i.e. over the boundaries between
//! consecutive slots. It never exceeds the KS statistic of the raw samples, `D*`. Inside slot
//! `i`, `F_ref` rises by `p_ref_i` and `F_cur` by `p_cur_i`, so with `d_i` the difference at the
//! slot's left boundary, `|F_ref − F_cur| <= max(|d_i + p_ref_i|, |d_i − p_cur_i|)` there. The
//! [`KsResult::bound`] is the maximum of that over slots minus `D`, hence
//! `D <= D* <= D + bound` for any samples that produce these counts.
//!
//! The p-value is the asymptotic `Q(sqrt(n·m / (n + m)) · D)` with `Q` the Kolmogorov survival
//! function ([`crate::special::kolmogorov_sf`]) and `n`, `m` the totals.

use super::{validate_pair, Comparison, Histogram};
use crate::error::Result;
use crate::special::kolmogorov_sf;

/// Slots per chunk: the maxima of a chunk are taken in this many independent lanes.
const LANES: usize = 8;

/// The larger of two numbers that are not NaN (validated counts give finite differences);
/// one instruction, unlike `f64::max`, so the lanes vectorise.
#[inline(always)]
fn max(a: f64, b: f64) -> f64 {
    if b > a {
        b
    } else {
        a
    }
}

/// Below this (2^53) every sum of whole numbers is exact.
const EXACT_WHOLE: f64 = 9_007_199_254_740_992.0;

/// Two-sample Kolmogorov–Smirnov comparison of two histograms.
pub struct Ks;

/// Output of [`Ks`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsResult {
    /// Binned KS statistic `D` (a lower bound on the raw-sample statistic).
    pub statistic: f64,
    /// `D + bound` is an upper bound on the raw-sample statistic.
    pub bound: f64,
    /// Asymptotic p-value `Q(sqrt(n·m/(n+m)) · D)`.
    pub pvalue: f64,
    /// Total count of the reference histogram.
    pub n: f64,
    /// Total count of the current histogram.
    pub m: f64,
}

impl Comparison for Ks {
    type Output = KsResult;

    fn compare(reference: &Histogram<'_>, current: &Histogram<'_>) -> Result<KsResult> {
        validate_pair(reference, current)?;
        let (n, m) = (reference.total(), current.total());
        let (inv_n, inv_m) = (1.0 / n, 1.0 / m);
        // Whole counts (converted from integer counters) with totals below 2^53 have exact
        // running sums in any order: each chunk then sums its own slots and only the chunk
        // totals are chained, so chunks overlap. Otherwise one running sum, slot by slot. Both
        // give the very same CDF differences.
        let whole = reference.trusted && current.trusted && n < EXACT_WHOLE && m < EXACT_WHOLE;
        let (mut cum_ref, mut cum_cur) = (0.0f64, 0.0f64);
        let (mut stat, mut upper) = ([0.0f64; LANES], [0.0f64; LANES]);
        // The CDF difference at the left boundary of the chunk's first slot.
        let mut left = 0.0f64;
        for (r, c) in reference.counts.chunks(LANES).zip(current.counts.chunks(LANES)) {
            // `right[j]`: the CDF difference at the right boundary of slot j of the chunk.
            let mut right = [0.0f64; LANES];
            if whole {
                let (mut local_ref, mut local_cur) = ([0.0f64; LANES], [0.0f64; LANES]);
                let (mut sum_ref, mut sum_cur) = (0.0f64, 0.0f64);
                for j in 0..r.len() {
                    sum_ref += r[j];
                    sum_cur += c[j];
                    (local_ref[j], local_cur[j]) = (sum_ref, sum_cur);
                }
                for j in 0..r.len() {
                    right[j] = (cum_ref + local_ref[j]) * inv_n - (cum_cur + local_cur[j]) * inv_m;
                }
                cum_ref += sum_ref;
                cum_cur += sum_cur;
            } else {
                for j in 0..r.len() {
                    cum_ref += r[j];
                    cum_cur += c[j];
                    right[j] = cum_ref * inv_n - cum_cur * inv_m;
                }
            }
            // The maxima run in independent lanes.
            for j in 0..r.len() {
                let d = if j == 0 { left } else { right[j - 1] };
                let (p_ref, p_cur) = (r[j] * inv_n, c[j] * inv_m);
                upper[j] = max(max(upper[j], (d + p_ref).abs()), (d - p_cur).abs());
                stat[j] = max(stat[j], right[j].abs());
            }
            left = right[r.len() - 1];
        }
        let (statistic, upper) = (stat.into_iter().fold(0.0, max), upper.into_iter().fold(0.0, max));
        // The last boundary is +inf where both CDFs are 1: rounding may leave a tiny residue.
        let statistic = statistic.min(1.0);
        let upper = upper.clamp(statistic, 1.0);
        let pvalue = kolmogorov_sf((n * m / (n + m)).sqrt() * statistic);
        Ok(KsResult { statistic, bound: upper - statistic, pvalue, n, m })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ks(r: &[f64], c: &[f64]) -> KsResult {
        Ks::compare(&Histogram::from_counts(r), &Histogram::from_counts(c)).unwrap()
    }

    #[test]
    fn known_values() {
        // Disjoint supports: D = 1, nothing left to bound.
        let res = ks(&[5.0, 0.0], &[0.0, 5.0]);
        assert_eq!(res.statistic, 1.0);
        assert_eq!(res.bound, 0.0);
        // CDFs at boundaries: (0.25, 0.75) vs (0.5, 0.5) → D = 0.25.
        let res = ks(&[1.0, 2.0, 1.0], &[2.0, 0.0, 2.0]);
        assert!((res.statistic - 0.25).abs() < 1e-15);
        // Slot 0 starts at d = 0 with p_cur = 0.5: the raw statistic may reach 0.5 = D + 0.25.
        assert!((res.bound - 0.25).abs() < 1e-15);
        assert_eq!((res.n, res.m), (4.0, 4.0));
        let z = (4.0f64 * 4.0 / 8.0).sqrt() * 0.25;
        assert_eq!(res.pvalue, kolmogorov_sf(z));
        let same = ks(&[3.0, 1.0, 2.0], &[3.0, 1.0, 2.0]);
        assert_eq!((same.statistic, same.pvalue), (0.0, 1.0));
    }

    /// The definition as one serial loop: the chunked lanes must give the very same numbers.
    fn plain(r: &[f64], c: &[f64]) -> (f64, f64) {
        let (inv_n, inv_m) = (1.0 / r.iter().sum::<f64>(), 1.0 / c.iter().sum::<f64>());
        let (mut cum_ref, mut cum_cur, mut statistic, mut upper) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for (r, c) in r.iter().zip(c) {
            let d = cum_ref * inv_n - cum_cur * inv_m;
            upper = upper.max((d + r * inv_n).abs()).max((d - c * inv_m).abs());
            cum_ref += r;
            cum_cur += c;
            statistic = statistic.max((cum_ref * inv_n - cum_cur * inv_m).abs());
        }
        let statistic = statistic.min(1.0);
        (statistic, upper.clamp(statistic, 1.0) - statistic)
    }

    proptest! {
        #[test]
        fn lanes_equal_the_serial_definition(v in proptest::collection::vec((0.0f64..1e3, 0.0f64..1e3, any::<bool>()), 1..300)) {
            // Fractional weights and whole counts, with empty slots.
            let r: Vec<f64> = v.iter().map(|x| if x.2 { x.0.floor() } else { x.0 }).chain([0.5]).collect();
            let c: Vec<f64> = v.iter().map(|x| if x.2 { x.1 } else { 0.0 }).chain([1.0]).collect();
            let res = ks(&r, &c);
            prop_assert_eq!((res.statistic, res.bound), plain(&r, &c));
        }

        #[test]
        fn whole_counts_take_the_chunked_sums_to_the_same_numbers(v in proptest::collection::vec((0u32..100_000, 0u32..100_000), 1..300)) {
            let r: Vec<f64> = v.iter().map(|x| f64::from(x.0)).chain([1.0]).collect();
            let c: Vec<f64> = v.iter().map(|x| f64::from(x.1 % 3 * x.1)).chain([1.0]).collect();
            let edges = crate::edges::BinEdges::new("e", (0..r.len() - 1).map(|i| i as f64).collect()).unwrap();
            let (hr, hc) = (Histogram::over(&edges, &r), Histogram::over(&edges, &c));
            prop_assert!(hr.trusted);
            let res = Ks::compare(&hr, &hc).unwrap();
            prop_assert_eq!((res.statistic, res.bound), plain(&r, &c));
            prop_assert_eq!(res, ks(&r, &c));
        }
    }

    proptest! {
        #[test]
        fn statistic_and_bound_in_unit_interval(v in proptest::collection::vec((0u32..1000, 0u32..1000), 1..40)) {
            let r: Vec<f64> = v.iter().map(|x| f64::from(x.0)).chain([1.0]).collect();
            let c: Vec<f64> = v.iter().map(|x| f64::from(x.1)).chain([1.0]).collect();
            let res = ks(&r, &c);
            prop_assert!((0.0..=1.0).contains(&res.statistic));
            prop_assert!(res.bound >= 0.0 && res.statistic + res.bound <= 1.0 + 1e-15);
            prop_assert!((0.0..=1.0).contains(&res.pvalue));
            let swapped = ks(&c, &r);
            prop_assert!((res.statistic - swapped.statistic).abs() < 1e-12);
        }
    }
}
