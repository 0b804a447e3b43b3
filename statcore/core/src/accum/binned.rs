//! Counts of a numeric feature over shared bin edges (layout in [`crate::edges`]); NaN apart.

use std::sync::Arc;

use super::Accumulator;
use crate::edges::BinEdges;
use crate::error::{CoreError, Result};

/// Values binned per chunk by [`BinnedCounts::absorb_column`].
const CHUNK: usize = 64;

#[derive(Clone, Debug, PartialEq)]
pub struct BinnedCounts {
    edges: Arc<BinEdges>,
    counts: Vec<u64>,
    nan: u64,
}

impl BinnedCounts {
    pub fn new(edges: Arc<BinEdges>) -> Self {
        let slots = edges.len() + 1;
        BinnedCounts { edges, counts: vec![0; slots], nan: 0 }
    }

    pub fn edges(&self) -> &Arc<BinEdges> {
        &self.edges
    }
    /// Counts per slot: underflow, interior bins, overflow.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }
    pub fn nan(&self) -> u64 {
        self.nan
    }

    /// Absorbs column `offset` of a row-major matrix with `stride` columns (one feature of a
    /// batch): the same as `update` on each value, in one tight loop.
    pub fn update_column(&mut self, matrix: &[f64], offset: usize, stride: usize) {
        self.absorb_column(matrix, offset, stride);
    }

    /// [`BinnedCounts::update_column`] that also reports whether the column held an infinite
    /// value (counted in the underflow or overflow slot), so a caller that refuses infinities
    /// checks while it bins, and takes a refused column back out with
    /// [`BinnedCounts::remove_column`].
    pub fn absorb_column(&mut self, matrix: &[f64], offset: usize, stride: usize) -> bool {
        let probe = self.edges.probe();
        let counts = &mut self.counts[..];
        let (mut nan, mut infinite) = (0u64, false);
        let (mut xs, mut cells) = ([0.0f64; CHUNK], [0u32; CHUNK]);
        let stride = stride.max(1);
        for rows in matrix.get(offset..).unwrap_or_default().chunks(stride * CHUNK) {
            let mut len = 0;
            for (x, v) in xs.iter_mut().zip(rows.iter().step_by(stride)) {
                *x = *v;
                len += 1;
            }
            let (xs, cells) = (&xs[..len], &mut cells[..len]);
            // Straight-line work over the chunk first (vectorises): cells, NaN count,
            // infinities...
            let mut chunk_nan = 0u64;
            for (c, x) in cells.iter_mut().zip(xs) {
                *c = probe.cell(*x);
                chunk_nan += u64::from(x.is_nan());
                infinite |= x.abs() == f64::INFINITY;
            }
            nan += chunk_nan;
            // ... then one table look-up and one window comparison per value.
            if chunk_nan == 0 {
                for (c, x) in cells.iter().zip(xs) {
                    counts[probe.slot_in(*c, *x)] += 1;
                }
            } else {
                for (c, x) in cells.iter().zip(xs) {
                    if !x.is_nan() {
                        counts[probe.slot_in(*c, *x)] += 1;
                    }
                }
            }
        }
        self.nan += nan;
        infinite
    }

    /// Exactly undoes [`BinnedCounts::absorb_column`] of the same values (the counts are
    /// integers, so absorbing then removing leaves them as they were).
    pub fn remove_column(&mut self, matrix: &[f64], offset: usize, stride: usize) {
        let probe = self.edges.probe();
        let counts = &mut self.counts[..];
        for x in matrix.iter().skip(offset).step_by(stride) {
            if x.is_nan() {
                self.nan -= 1;
            } else {
                counts[probe.slot(*x)] -= 1;
            }
        }
    }

    /// Adds sparse `(slot, count)` pairs (slots already checked against this layout).
    pub fn add_slots(&mut self, slots: impl IntoIterator<Item = (u32, u64)>, nan: u64) {
        for (i, c) in slots {
            self.counts[i as usize] += c;
        }
        self.nan += nan;
    }
}

impl Accumulator for BinnedCounts {
    type Item<'a> = f64;

    #[inline]
    fn update(&mut self, x: f64) {
        if x.is_nan() {
            self.nan += 1;
        } else {
            self.counts[self.edges.slot(x)] += 1;
        }
    }

    fn merge(&mut self, other: &Self) -> Result<()> {
        if !Arc::ptr_eq(&self.edges, &other.edges) && self.edges != other.edges {
            return Err(CoreError::Incompatible("numeric histograms have different bin edges".into()));
        }
        self.counts.iter_mut().zip(&other.counts).for_each(|(a, b)| *a += b);
        self.nan += other.nan;
        Ok(())
    }

    fn count(&self) -> u64 {
        self.counts.iter().sum::<u64>() + self.nan
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accum::check_merge_laws;
    use proptest::prelude::*;

    fn edges() -> Arc<BinEdges> {
        Arc::new(BinEdges::new("e", vec![-1.0, 0.0, 0.5, 2.0]).unwrap())
    }

    proptest! {
        #[test]
        fn update_many_equals_update_loop(xs in proptest::collection::vec(prop_oneof![-3.0f64..3.0, Just(f64::NAN)], 0..200)) {
            let mut a = BinnedCounts::new(edges());
            let mut b = BinnedCounts::new(edges());
            a.update_many(xs.iter().copied());
            xs.iter().for_each(|x| b.update(*x));
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(a.count(), xs.len() as u64);
            // The same values as column 1 of a 3-column matrix.
            let matrix: Vec<f64> = xs.iter().flat_map(|x| [0.25, *x, -7.0]).collect();
            let mut c = BinnedCounts::new(edges());
            c.update_column(&matrix, 1, 3);
            prop_assert_eq!(&a, &c);
            // Removing the column again restores the histogram exactly.
            let mut d = a.clone();
            prop_assert!(!d.absorb_column(&matrix, 1, 3));
            d.remove_column(&matrix, 1, 3);
            prop_assert_eq!(&c, &d);
        }

        #[test]
        fn merge_is_associative_and_commutative(
            xs in proptest::collection::vec(-3.0f64..3.0, 0..50),
            ys in proptest::collection::vec(-3.0f64..3.0, 0..50),
            zs in proptest::collection::vec(-3.0f64..3.0, 0..50),
        ) {
            let h = |v: &[f64]| { let mut h = BinnedCounts::new(edges()); h.update_many(v.iter().copied()); h };
            let all: Vec<f64> = xs.iter().chain(&ys).chain(&zs).copied().collect();
            prop_assert_eq!(check_merge_laws(&h(&xs), &h(&ys), &h(&zs), &h(&all)), Ok(()));
        }
    }

    #[test]
    fn different_edges_refuse_to_merge() {
        let mut a = BinnedCounts::new(edges());
        let before = a.clone();
        let b = BinnedCounts::new(Arc::new(BinEdges::new("e", vec![0.0, 1.0]).unwrap()));
        assert!(matches!(a.merge(&b), Err(CoreError::Incompatible(_))));
        assert_eq!(a, before);
    }
}
