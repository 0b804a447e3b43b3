//! Mergeable streaming accumulators, one per file, all behind [`Accumulator`].
//!
//! Contract (checked by property tests in every file): `update_many(xs)` equals a loop of
//! `update(x)`, and `merge` is associative and commutative, so aggregates from many sidecars and
//! many windows combine exactly in any order. Validation of untrusted input happens *before* an
//! accumulator is touched (see [`crate::aggregate`]), so `update` itself cannot fail.

pub mod binned;
pub mod categorical;
pub mod latency;
pub mod outcomes;

pub use binned::BinnedCounts;
pub use categorical::{CategoricalCounts, Vocabulary};
pub use latency::LatencyHistogram;
pub use outcomes::{FieldCounts, FieldOutcome, Outcome, OutcomeCounts};

use crate::error::Result;

pub trait Accumulator: Clone + PartialEq + std::fmt::Debug {
    /// One observation.
    type Item<'a>: Copy;

    fn update(&mut self, item: Self::Item<'_>);

    fn update_many<'a>(&mut self, items: impl IntoIterator<Item = Self::Item<'a>>) {
        for item in items {
            self.update(item);
        }
    }

    /// Adds `other` into `self`. Fails with `Incompatible` when the layouts differ (other edges,
    /// other caps); `self` is then unchanged.
    fn merge(&mut self, other: &Self) -> Result<()>;

    /// Number of observations absorbed so far.
    fn count(&self) -> u64;
}

/// The contract every accumulator's property tests check: `merge` is associative and
/// commutative, and merging the parts equals absorbing everything into one accumulator.
#[cfg(test)]
pub(crate) fn check_merge_laws<A: Accumulator>(
    a: &A,
    b: &A,
    c: &A,
    whole: &A,
) -> std::result::Result<(), String> {
    let merged = |x: &A, y: &A| -> std::result::Result<A, String> {
        let mut m = x.clone();
        m.merge(y).map_err(|e| e.to_string())?;
        Ok(m)
    };
    let ab_c = merged(&merged(a, b)?, c)?;
    let a_bc = merged(a, &merged(b, c)?)?;
    let c_ba = merged(c, &merged(b, a)?)?;
    if ab_c != a_bc {
        return Err(format!("not associative: {ab_c:?} != {a_bc:?}"));
    }
    if ab_c != c_ba {
        return Err(format!("not commutative: {ab_c:?} != {c_ba:?}"));
    }
    if &ab_c != whole {
        return Err(format!("merge of the parts {ab_c:?} != the whole {whole:?}"));
    }
    Ok(())
}
