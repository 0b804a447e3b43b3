//! Distances between two binned distributions over the same bins, one per file behind
//! [`Comparison`]: PSI, Kolmogorov–Smirnov, Wasserstein-1, Jensen–Shannon.
//!
//! A [`Histogram`] uses the slot layout of [`crate::edges`]: `counts.len() == edges.len() + 1`
//! (underflow, interior bins, overflow; NaN never counted). Statistics that only need the
//! order of the slots (PSI, KS, JS) also accept a histogram built from counts alone
//! ([`Histogram::from_counts`]); Wasserstein needs the edge positions.
//!
//! [`report::drift_report`] bins raw baseline/current samples on quantile edges of the
//! baseline and computes all four at once.

pub mod coarsen;
pub mod jensen_shannon;
pub mod ks;
pub mod psi;
pub mod report;
pub mod wasserstein;

pub use coarsen::{coarsen, DEFAULT_PSI_GROUPS};
pub use jensen_shannon::JensenShannon;
pub use ks::{Ks, KsResult};
pub use psi::Psi;
pub use report::{drift_report, DriftReport};
pub use wasserstein::Wasserstein;

use crate::edges::{validate_edges, BinEdges};
use crate::error::{CoreError, Result};

/// Counts over the slots of a set of shared edges (see the module docs for the layout).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Histogram<'a> {
    /// Strictly increasing edges, or empty when only the slot order is known.
    pub edges: &'a [f64],
    /// One non-negative finite count (or weight) per slot.
    pub counts: &'a [f64],
    /// Built by [`Histogram::over`]: validated edges and counts converted from integers, so
    /// neither needs a re-check (only the total is checked).
    trusted: bool,
    /// Sum of the counts, computed once (every statistic needs it, some twice).
    total: f64,
}

impl<'a> Histogram<'a> {
    /// A histogram over `edges`; checked when compared (see [`Comparison::compare`]).
    pub fn new(edges: &'a [f64], counts: &'a [f64]) -> Self {
        Histogram { edges, counts, trusted: false, total: counts.iter().sum() }
    }

    /// A histogram over edges validated when the [`BinEdges`] was built, with counts that were
    /// converted from integer counters (so finite and non-negative by construction).
    pub fn over(edges: &'a BinEdges, counts: &'a [f64]) -> Self {
        Histogram { edges: edges.as_slice(), counts, trusted: true, total: whole_total(counts) }
    }

    /// Counts whose slots are ordered but whose edge positions are unknown.
    pub fn from_counts(counts: &'a [f64]) -> Self {
        Histogram { edges: &[], counts, trusted: false, total: counts.iter().sum() }
    }

    /// Sum of the counts.
    pub fn total(&self) -> f64 {
        self.total
    }

    /// Checks this histogram alone; `field` names it in the error (`reference_counts`, …).
    pub fn validate(&self, field: &str) -> Result<()> {
        if !self.edges.is_empty() {
            if !self.trusted {
                validate_edges("edges", self.edges)?;
            }
            if self.counts.len() != self.edges.len() + 1 {
                return Err(CoreError::invalid(
                    field,
                    format!(
                        "has {} slots but {} edges need {} (underflow, bins, overflow)",
                        self.counts.len(),
                        self.edges.len(),
                        self.edges.len() + 1
                    ),
                ));
            }
        }
        if self.counts.is_empty() {
            return Err(CoreError::invalid(field, "is empty"));
        }
        let bad =
            if self.trusted { None } else { self.counts.iter().position(|c| !c.is_finite() || *c < 0.0) };
        if let Some(i) = bad {
            return Err(CoreError::invalid(
                field,
                format!("slot {i} is {} (counts must be finite and non-negative)", self.counts[i]),
            ));
        }
        let total = self.total();
        if !total.is_finite() || total <= 0.0 {
            return Err(CoreError::invalid(field, "total count must be positive and finite"));
        }
        Ok(())
    }

    /// Proportion of the total in each slot.
    pub fn proportions(&self) -> Vec<f64> {
        let total = self.total();
        self.counts.iter().map(|c| c / total).collect()
    }
}

/// The sum of whole, non-negative counts, in eight lanes (the additions do not wait on one
/// another). Equal to the running sum `counts.iter().sum()`: below 2^53 every partial sum of
/// whole numbers is exact in any order, and a sum that reached 2^53 anywhere stays at or above
/// it (rounding is monotone), in which case the running sum is taken instead.
fn whole_total(counts: &[f64]) -> f64 {
    const LANES: usize = 8;
    let mut acc = [0.0f64; LANES];
    let chunks = counts.chunks_exact(LANES);
    let rest: f64 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for (a, c) in acc.iter_mut().zip(chunk) {
            *a += c;
        }
    }
    let total = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + rest;
    if total < 9_007_199_254_740_992.0 {
        total
    } else {
        counts.iter().sum()
    }
}

/// Checks both histograms and that they share a layout; every [`Comparison`] calls this first.
pub fn validate_pair(reference: &Histogram<'_>, current: &Histogram<'_>) -> Result<()> {
    reference.validate("reference_counts")?;
    current.validate("current_counts")?;
    if reference.counts.len() != current.counts.len() {
        return Err(CoreError::Incompatible(format!(
            "reference_counts has {} slots, current_counts has {}",
            reference.counts.len(),
            current.counts.len()
        )));
    }
    if !std::ptr::eq(reference.edges, current.edges) && reference.edges != current.edges {
        return Err(CoreError::Incompatible("reference and current histograms have different edges".into()));
    }
    Ok(())
}

/// A statistic comparing a reference (baseline) histogram with a current one.
pub trait Comparison {
    type Output;

    /// Validates both histograms ([`validate_pair`]) and computes the statistic.
    fn compare(reference: &Histogram<'_>, current: &Histogram<'_>) -> Result<Self::Output>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let e = [0.0, 1.0];
        let ok = [1.0, 2.0, 3.0];
        let short = [1.0, 2.0];
        let neg = [1.0, -2.0, 3.0];
        let nan = [1.0, f64::NAN, 3.0];
        let zero = [0.0, 0.0, 0.0];
        let check = |r: &[f64], c: &[f64]| validate_pair(&Histogram::new(&e, r), &Histogram::new(&e, c));
        assert!(check(&ok, &ok).is_ok());
        let field = |res: Result<()>| match res {
            Err(CoreError::InvalidInput { field, .. }) => field,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(field(check(&short, &ok)), "reference_counts");
        assert_eq!(field(check(&ok, &neg)), "current_counts");
        assert_eq!(field(check(&nan, &ok)), "reference_counts");
        assert_eq!(field(check(&ok, &zero)), "current_counts");
        let bad_edges = [1.0, 0.0];
        let res = validate_pair(&Histogram::new(&bad_edges, &ok), &Histogram::new(&bad_edges, &ok));
        assert_eq!(field(res), "edges");
    }

    #[test]
    fn whole_totals_equal_the_running_sum() {
        let mut state = 3u64;
        for len in [0, 1, 7, 8, 9, 1026, 4099] {
            let counts: Vec<f64> = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (state >> 40) as f64
                })
                .collect();
            assert_eq!(whole_total(&counts), counts.iter().sum::<f64>());
        }
        // Past 2^53 the running sum is used, whatever it rounds to.
        let big = [2f64.powi(53), 1.0, 1.0, 1.0, 3.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        assert_eq!(whole_total(&big), big.iter().sum::<f64>());
    }

    #[test]
    fn different_layouts_are_incompatible() {
        let a = [1.0, 2.0, 3.0];
        let b = [1.0, 2.0, 3.0, 4.0];
        let res = validate_pair(&Histogram::from_counts(&a), &Histogram::from_counts(&b));
        assert!(matches!(res, Err(CoreError::Incompatible(_))));
        let (e1, e2) = ([0.0, 1.0], [0.0, 2.0]);
        let res = validate_pair(&Histogram::new(&e1, &a), &Histogram::new(&e2, &a));
        assert!(matches!(res, Err(CoreError::Incompatible(_))));
    }
}
