//! Counts of a categorical feature over a fixed vocabulary, with an "other" bucket.
//!
//! The vocabulary comes from the baseline (its most frequent categories, up to a cap), exactly
//! as numeric bin edges do. Fixing it up front is what makes `merge` exact, associative and
//! commutative: a cap applied on arrival would keep different categories in different orders.

use std::collections::HashMap;
use std::sync::Arc;

use super::Accumulator;
use crate::error::{CoreError, Result};

/// A fixed set of categories; unknown values count as "other" (the last slot).
#[derive(Debug, PartialEq)]
pub struct Vocabulary {
    names: Vec<String>,
    index: HashMap<String, usize>,
}

/// Default cap on the number of categories kept per feature.
pub const DEFAULT_CATEGORY_CAP: usize = 256;

impl Vocabulary {
    pub fn new(names: Vec<String>) -> Result<Self> {
        let mut index = HashMap::with_capacity(names.len());
        for (i, n) in names.iter().enumerate() {
            if index.insert(n.clone(), i).is_some() {
                return Err(CoreError::invalid("categories", format!("duplicate category {n:?}")));
            }
        }
        Ok(Vocabulary { names, index })
    }

    /// The `cap` most frequent values of a baseline (ties broken by name, so it is deterministic).
    pub fn from_baseline<'a>(values: impl IntoIterator<Item = &'a str>, cap: usize) -> Result<Self> {
        let mut freq: HashMap<&str, u64> = HashMap::new();
        values.into_iter().for_each(|v| *freq.entry(v).or_default() += 1);
        let mut ranked: Vec<(&str, u64)> = freq.into_iter().collect();
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        ranked.truncate(cap);
        let mut names: Vec<String> = ranked.into_iter().map(|(n, _)| n.to_owned()).collect();
        names.sort_unstable();
        Vocabulary::new(names)
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Slot of a value: its index, or `len()` ("other").
    #[inline]
    pub fn slot(&self, value: &str) -> usize {
        self.index.get(value).copied().unwrap_or(self.names.len())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct CategoricalCounts {
    vocab: Arc<Vocabulary>,
    counts: Vec<u64>,
}

impl CategoricalCounts {
    pub fn new(vocab: Arc<Vocabulary>) -> Self {
        let slots = vocab.names.len() + 1;
        CategoricalCounts { vocab, counts: vec![0; slots] }
    }

    pub fn vocabulary(&self) -> &Arc<Vocabulary> {
        &self.vocab
    }
    /// Counts per category in vocabulary order, then "other".
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Adds sparse `(slot, count)` pairs (slots already checked against this vocabulary).
    pub fn add_slots(&mut self, slots: impl IntoIterator<Item = (u32, u64)>) {
        for (i, c) in slots {
            self.counts[i as usize] += c;
        }
    }

    /// Counts a value already mapped to its slot (see [`Vocabulary::slot`]).
    #[inline]
    pub fn update_slot(&mut self, slot: usize) {
        self.counts[slot.min(self.vocab.names.len())] += 1;
    }
}

impl Accumulator for CategoricalCounts {
    type Item<'a> = &'a str;

    #[inline]
    fn update(&mut self, value: &str) {
        let s = self.vocab.slot(value);
        self.counts[s] += 1;
    }

    fn merge(&mut self, other: &Self) -> Result<()> {
        if !Arc::ptr_eq(&self.vocab, &other.vocab) && self.vocab != other.vocab {
            return Err(CoreError::Incompatible("categorical counts have different vocabularies".into()));
        }
        self.counts.iter_mut().zip(&other.counts).for_each(|(a, b)| *a += b);
        Ok(())
    }

    fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accum::check_merge_laws;
    use proptest::prelude::*;

    fn vocab() -> Arc<Vocabulary> {
        Arc::new(Vocabulary::from_baseline(["de", "en", "en", "fr", "en", "de"], 2).unwrap())
    }

    #[test]
    fn cap_keeps_most_frequent_and_other_collects_the_rest() {
        let v = vocab();
        assert_eq!(v.names(), &["de".to_owned(), "en".to_owned()]);
        let mut c = CategoricalCounts::new(v);
        c.update_many(["en", "fr", "xx", "de"]);
        assert_eq!(c.counts(), &[1, 1, 2]);
    }

    proptest! {
        #[test]
        fn contract(xs in proptest::collection::vec("[a-f]", 0..60), ys in proptest::collection::vec("[a-f]", 0..60), zs in proptest::collection::vec("[a-f]", 0..60)) {
            let h = |v: &[String]| { let mut c = CategoricalCounts::new(vocab()); c.update_many(v.iter().map(String::as_str)); c };
            let mut looped = CategoricalCounts::new(vocab());
            xs.iter().for_each(|x| looped.update(x));
            prop_assert_eq!(&looped, &h(&xs));
            let all: Vec<String> = xs.iter().chain(&ys).chain(&zs).cloned().collect();
            prop_assert_eq!(check_merge_laws(&h(&xs), &h(&ys), &h(&zs), &h(&all)), Ok(()));
        }
    }
}
