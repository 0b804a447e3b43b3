//! Mergeable log-bucket latency histogram (milliseconds) with bounded relative error.
//!
//! Bucket `i` holds values in `(γ^(i-1), γ^i]` with `γ = (1+α)/(1−α)` and `α = 0.005`; it is
//! reported as `2γ^i/(γ+1)`, which is within `α` (0.5 %) of every value in the bucket. Values
//! below [`MIN_MS`] share one bucket, values above [`MAX_MS`] another; quantiles are clamped to
//! the exact minimum and maximum seen. All state is integers (the sum is kept in integer
//! nanoseconds), so merging is exact, associative and commutative.

use std::sync::OnceLock;

use super::Accumulator;
use crate::error::{CoreError, Result};

/// Relative accuracy of every bucket.
pub const RELATIVE_ACCURACY: f64 = 0.005;
/// Smallest latency resolved (1 µs); smaller values count in the lowest bucket.
pub const MIN_MS: f64 = 1e-3;
/// Largest latency resolved (~2.8 h); larger values count in the highest bucket.
pub const MAX_MS: f64 = 1e7;

fn gamma() -> f64 {
    (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY)
}

fn bucket_index(x: f64, ln_gamma: f64) -> i32 {
    (x.ln() / ln_gamma).ceil() as i32
}

/// Mantissa bits kept in the lookup key: a cell spans a ratio of `2^(1/256) ≈ 1.0027 < γ`, so
/// it holds at most one bucket boundary.
const KEY_SHIFT: u32 = 52 - 8;

/// Replaces a logarithm per value by one table look-up and two comparisons. The bit pattern of
/// a positive double grows with its value, so its top bits index cells of geometric width;
/// each cell knows the slot of its lower end, and a value's slot is that plus the number of
/// the (at most two) next bucket boundaries below it. Immutable, computed once.
struct SlotIndex {
    /// Upper boundary of each slot, `γ^(offset + slot)`, then `+inf` padding.
    upper: Vec<f64>,
    cells: Vec<u32>,
    base_key: u64,
}

impl SlotIndex {
    fn get() -> &'static SlotIndex {
        static INDEX: OnceLock<SlotIndex> = OnceLock::new();
        INDEX.get_or_init(|| {
            let ln_gamma = gamma().ln();
            let offset = bucket_index(MIN_MS, ln_gamma);
            let mut upper: Vec<f64> = (0..LatencyHistogram::SLOTS as i32)
                .map(|s| (f64::from(offset + s) * ln_gamma).exp())
                .collect();
            upper.extend([f64::INFINITY; 2]);
            let base_key = MIN_MS.to_bits() >> KEY_SHIFT;
            let cells = (base_key..=(MAX_MS.to_bits() >> KEY_SHIFT) + 1)
                .map(|k| {
                    let low = f64::from_bits(k << KEY_SHIFT);
                    upper[..LatencyHistogram::SLOTS].partition_point(|b| *b < low) as u32
                })
                .collect();
            SlotIndex { upper, cells, base_key }
        })
    }

    /// The slot of a value clamped to `[MIN_MS, MAX_MS]`: the number of slot boundaries below it.
    #[inline]
    fn slot(&self, x: f64) -> usize {
        let x = x.clamp(MIN_MS, MAX_MS);
        let s = self.cells[((x.to_bits() >> KEY_SHIFT) - self.base_key) as usize] as usize;
        let s = s + usize::from(self.upper[s] < x) + usize::from(self.upper[s + 1] < x);
        s.min(LatencyHistogram::SLOTS - 1)
    }
}

/// `y.round() as u64` for a non-negative `y`, without the library call `round` compiles to on
/// baseline x86-64 (and via u64: a float-to-u128 cast is a slow library call too). The
/// truncation is exact to subtract, so the fraction decides the rounding exactly as `round`
/// does (halves away from zero); beyond `u64::MAX` both saturate.
#[inline(always)]
fn round_to_u64(y: f64) -> u64 {
    let whole = y as u64;
    whole.saturating_add(u64::from(y - whole as f64 >= 0.5))
}

#[derive(Clone, Debug, PartialEq)]
pub struct LatencyHistogram {
    /// Dense counts for bucket indices `offset ..= offset + counts.len() - 1`.
    counts: Vec<u64>,
    offset: i32,
    total: u64,
    sum_ns: u128,
    min_ms: f64,
    max_ms: f64,
    ln_gamma: f64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    /// Number of buckets (the same for every histogram: merges need no layout check).
    pub const SLOTS: usize = 2303;

    pub fn new() -> Self {
        let ln_gamma = gamma().ln();
        let lo = bucket_index(MIN_MS, ln_gamma);
        debug_assert_eq!((bucket_index(MAX_MS, ln_gamma) - lo + 1) as usize, Self::SLOTS);
        LatencyHistogram {
            counts: vec![0; Self::SLOTS],
            offset: lo,
            total: 0,
            sum_ns: 0,
            min_ms: f64::INFINITY,
            max_ms: f64::NEG_INFINITY,
            ln_gamma,
        }
    }

    /// Checks one latency: finite and non-negative.
    pub fn validate(field: &str, x: f64) -> Result<()> {
        if !x.is_finite() || x < 0.0 {
            return Err(CoreError::invalid(field, format!("latency must be finite and >= 0, got {x}")));
        }
        Ok(())
    }

    fn slot(&self, x: f64) -> usize {
        SlotIndex::get().slot(x)
    }

    fn bucket_value(&self, slot: usize) -> f64 {
        let g = gamma();
        let i = self.offset + slot as i32;
        2.0 * (f64::from(i) * self.ln_gamma).exp() / (g + 1.0)
    }

    pub fn total(&self) -> u64 {
        self.total
    }
    pub fn min(&self) -> Option<f64> {
        (self.total > 0).then_some(self.min_ms)
    }
    pub fn max(&self) -> Option<f64> {
        (self.total > 0).then_some(self.max_ms)
    }
    pub fn mean(&self) -> Option<f64> {
        (self.total > 0).then(|| self.sum_ns as f64 / 1e6 / self.total as f64)
    }

    /// The value of the `k`-th smallest observation (0-based), to within the relative accuracy.
    fn order_statistic(&self, k: u64) -> f64 {
        if k == 0 {
            return self.min_ms;
        }
        if k + 1 >= self.total {
            return self.max_ms;
        }
        let mut seen = 0u64;
        for (slot, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen > k {
                return self.bucket_value(slot).clamp(self.min_ms, self.max_ms);
            }
        }
        self.max_ms
    }

    /// The `q`-quantile, `q` in `[0, 1]`, interpolated between order statistics as numpy's
    /// default (`method="linear"`) does. `None` when empty.
    pub fn quantile(&self, q: f64) -> Result<Option<f64>> {
        if !(0.0..=1.0).contains(&q) {
            return Err(CoreError::invalid("q", format!("must be in [0, 1], got {q}")));
        }
        if self.total == 0 {
            return Ok(None);
        }
        let rank = q * (self.total - 1) as f64;
        let lo = rank.floor() as u64;
        let frac = rank - lo as f64;
        let v_lo = self.order_statistic(lo);
        if frac == 0.0 {
            return Ok(Some(v_lo));
        }
        let v_hi = self.order_statistic(lo + 1);
        Ok(Some(v_lo + (v_hi - v_lo) * frac))
    }

    /// Sparse (slot, count) pairs of the non-empty buckets, plus the scalar state, for codecs.
    pub fn to_parts(&self) -> (Vec<(u32, u64)>, u64, u128, f64, f64) {
        let sparse =
            self.counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(i, c)| (i as u32, *c)).collect();
        (sparse, self.total, self.sum_ns, self.min_ms, self.max_ms)
    }

    /// Adds decoded parts: sparse `(slot, count)` pairs (slots `< SLOTS`, already checked),
    /// the sum in nanoseconds and the extremes. Empty parts change nothing.
    pub fn add_parts(
        &mut self,
        sparse: impl IntoIterator<Item = (u32, u64)>,
        sum_ns: u128,
        min_ms: f64,
        max_ms: f64,
    ) {
        let mut added = 0;
        for (slot, c) in sparse {
            self.counts[slot as usize] += c;
            added += c;
        }
        if added > 0 {
            self.total += added;
            self.sum_ns += sum_ns;
            self.min_ms = self.min_ms.min(min_ms);
            self.max_ms = self.max_ms.max(max_ms);
        }
    }
}

impl Accumulator for LatencyHistogram {
    type Item<'a> = f64;

    /// `x` must have passed [`LatencyHistogram::validate`].
    #[inline]
    fn update(&mut self, x: f64) {
        let s = self.slot(x);
        self.counts[s] += 1;
        self.total += 1;
        self.sum_ns += u128::from(round_to_u64(x * 1e6));
        self.min_ms = self.min_ms.min(x);
        self.max_ms = self.max_ms.max(x);
    }

    /// The same as a loop of `update`, with the look-up table fetched once and the scalar state
    /// kept in registers (the sum is an integer, so adding it up first changes nothing).
    fn update_many<'a>(&mut self, items: impl IntoIterator<Item = Self::Item<'a>>) {
        let index = SlotIndex::get();
        let counts = &mut self.counts[..];
        let (mut total, mut sum_ns, mut min_ms, mut max_ms) = (0u64, 0u128, self.min_ms, self.max_ms);
        for x in items {
            counts[index.slot(x)] += 1;
            total += 1;
            sum_ns += u128::from(round_to_u64(x * 1e6));
            min_ms = min_ms.min(x);
            max_ms = max_ms.max(x);
        }
        self.total += total;
        self.sum_ns += sum_ns;
        (self.min_ms, self.max_ms) = (min_ms, max_ms);
    }

    fn merge(&mut self, other: &Self) -> Result<()> {
        self.counts.iter_mut().zip(&other.counts).for_each(|(a, b)| *a += b);
        self.total += other.total;
        self.sum_ns += other.sum_ns;
        self.min_ms = self.min_ms.min(other.min_ms);
        self.max_ms = self.max_ms.max(other.max_ms);
        Ok(())
    }

    fn count(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accum::check_merge_laws;
    use proptest::prelude::*;

    fn numpy_linear(sorted: &[f64], q: f64) -> f64 {
        let rank = q * (sorted.len() - 1) as f64;
        let lo = rank.floor() as usize;
        let hi = rank.ceil() as usize;
        sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
    }

    proptest! {
        #[test]
        fn quantiles_within_relative_accuracy(xs in proptest::collection::vec(0.01f64..5e4, 1..400), q in 0.0f64..=1.0) {
            let mut h = LatencyHistogram::new();
            h.update_many(xs.iter().copied());
            let mut sorted = xs.clone();
            sorted.sort_by(f64::total_cmp);
            let exact = numpy_linear(&sorted, q);
            let est = h.quantile(q).unwrap().unwrap();
            prop_assert!((est - exact).abs() <= RELATIVE_ACCURACY * exact + 1e-12, "q={} est={} exact={}", q, est, exact);
        }

        #[test]
        fn contract(xs in proptest::collection::vec(0.0f64..1e3, 0..80), ys in proptest::collection::vec(0.0f64..1e3, 0..80), zs in proptest::collection::vec(0.0f64..1e3, 0..80)) {
            let h = |v: &[f64]| { let mut h = LatencyHistogram::new(); h.update_many(v.iter().copied()); h };
            let mut looped = LatencyHistogram::new();
            xs.iter().for_each(|x| looped.update(*x));
            prop_assert_eq!(&looped, &h(&xs));
            let all: Vec<f64> = xs.iter().chain(&ys).chain(&zs).copied().collect();
            prop_assert_eq!(check_merge_laws(&h(&xs), &h(&ys), &h(&zs), &h(&all)), Ok(()));
        }
    }

    proptest! {
        #[test]
        fn table_slot_equals_counting_boundaries(x in prop_oneof![1e-4f64..1e8, (-10.0f64..20.0).prop_map(f64::exp)]) {
            let index = SlotIndex::get();
            let c = x.clamp(MIN_MS, MAX_MS);
            let expected = index.upper[..LatencyHistogram::SLOTS].partition_point(|b| *b < c).min(LatencyHistogram::SLOTS - 1);
            prop_assert_eq!(index.slot(x), expected);
            // Within rounding of the logarithmic definition.
            let by_log = (bucket_index(c, gamma().ln()) - bucket_index(MIN_MS, gamma().ln())).clamp(0, LatencyHistogram::SLOTS as i32 - 1);
            prop_assert!((by_log - expected as i32).abs() <= 1);
        }
    }

    #[test]
    fn rounding_matches_std_round() {
        let halfway_below = f64::from_bits(0.5f64.to_bits() - 1);
        let cases =
            [0.0, 0.4, 0.5, 1.5, 2.5, halfway_below, 1e6 + 0.5, 4503599627370495.5, 2f64.powi(53), 1e300];
        for y in cases.into_iter().chain((0..10_000).map(|i| f64::from(i) * 0.137_5)) {
            assert_eq!(round_to_u64(y), y.round() as u64, "y = {y}");
        }
    }

    #[test]
    fn slot_count_covers_the_range() {
        let ln_gamma = gamma().ln();
        let span = bucket_index(MAX_MS, ln_gamma) - bucket_index(MIN_MS, ln_gamma) + 1;
        assert_eq!(span as usize, LatencyHistogram::SLOTS);
    }

    #[test]
    fn extremes_and_validation() {
        let mut h = LatencyHistogram::new();
        assert_eq!(h.quantile(0.5).unwrap(), None);
        h.update_many([0.0, 1e9]);
        assert_eq!(h.quantile(0.0).unwrap(), Some(0.0));
        assert_eq!(h.quantile(1.0).unwrap(), Some(1e9));
        assert!(LatencyHistogram::validate("latency_ms", -1.0).is_err());
        assert!(LatencyHistogram::validate("latency_ms", f64::NAN).is_err());
        assert!(h.quantile(1.5).is_err());
    }
}
