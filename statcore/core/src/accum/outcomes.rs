//! Labelled outcomes: labelled and correct counts on the primary field, and per extraction
//! field true positives, false positives and false negatives (for precision, recall, F1).

use super::Accumulator;
use crate::error::{CoreError, Result};

/// Per-field outcome of one labelled record, as bit flags: a wrong extracted value is both a
/// false positive and a false negative (`FP | FN`).
pub struct FieldOutcome;

impl FieldOutcome {
    pub const NONE: u8 = 0;
    pub const TP: u8 = 1;
    pub const FP: u8 = 2;
    pub const FN: u8 = 4;
    pub const ALL: u8 = 7;
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FieldCounts {
    pub tp: u64,
    pub fp: u64,
    pub fn_: u64,
}

impl FieldCounts {
    /// F1 = 2·TP / (2·TP + FP + FN); `None` when the field was never seen.
    pub fn f1(&self) -> Option<f64> {
        let denom = 2 * self.tp + self.fp + self.fn_;
        (denom > 0).then(|| 2.0 * self.tp as f64 / denom as f64)
    }
}

/// One labelled record: whether the primary field was right, and its per-field flags.
#[derive(Clone, Copy, Debug)]
pub struct Outcome<'a> {
    pub correct: bool,
    pub fields: &'a [u8],
}

#[derive(Clone, Debug, PartialEq)]
pub struct OutcomeCounts {
    labelled: u64,
    correct: u64,
    fields: Vec<FieldCounts>,
}

impl OutcomeCounts {
    pub fn new(n_fields: usize) -> Self {
        OutcomeCounts { labelled: 0, correct: 0, fields: vec![FieldCounts::default(); n_fields] }
    }

    /// Adds decoded counts (`fields` has one entry per tracked field).
    pub fn add_counts(&mut self, labelled: u64, correct: u64, fields: &[FieldCounts]) {
        self.labelled += labelled;
        self.correct += correct;
        for (a, b) in self.fields.iter_mut().zip(fields) {
            a.tp += b.tp;
            a.fp += b.fp;
            a.fn_ += b.fn_;
        }
    }

    /// A true positive excludes FP and FN; anything above the three bits is invalid.
    #[inline]
    pub fn flags_valid(flags: u8) -> bool {
        flags <= FieldOutcome::ALL && (flags & FieldOutcome::TP == 0 || flags == FieldOutcome::TP)
    }

    pub fn validate_flags(field: &str, flags: u8) -> Result<()> {
        if !Self::flags_valid(flags) {
            return Err(CoreError::invalid(field, format!("invalid field outcome flags {flags}")));
        }
        Ok(())
    }

    pub fn labelled(&self) -> u64 {
        self.labelled
    }
    pub fn correct(&self) -> u64 {
        self.correct
    }
    pub fn fields(&self) -> &[FieldCounts] {
        &self.fields
    }
    pub fn accuracy(&self) -> Option<f64> {
        (self.labelled > 0).then(|| self.correct as f64 / self.labelled as f64)
    }
}

impl Accumulator for OutcomeCounts {
    type Item<'a> = Outcome<'a>;

    /// `fields.len()` must equal the number of fields (checked by the caller's validation).
    #[inline]
    fn update(&mut self, o: Outcome<'_>) {
        self.labelled += 1;
        self.correct += u64::from(o.correct);
        for (c, &f) in self.fields.iter_mut().zip(o.fields) {
            c.tp += u64::from(f & FieldOutcome::TP != 0);
            c.fp += u64::from(f & FieldOutcome::FP != 0);
            c.fn_ += u64::from(f & FieldOutcome::FN != 0);
        }
    }

    fn merge(&mut self, other: &Self) -> Result<()> {
        if self.fields.len() != other.fields.len() {
            return Err(CoreError::Incompatible("outcome counts track different fields".into()));
        }
        self.add_counts(other.labelled, other.correct, &other.fields);
        Ok(())
    }

    fn count(&self) -> u64 {
        self.labelled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accum::check_merge_laws;
    use proptest::prelude::*;

    fn build(rows: &[(bool, [u8; 2])]) -> OutcomeCounts {
        let mut o = OutcomeCounts::new(2);
        o.update_many(rows.iter().map(|(c, f)| Outcome { correct: *c, fields: f }));
        o
    }

    #[test]
    fn f1_and_accuracy() {
        let o = build(&[(true, [1, 1]), (false, [6, 4]), (true, [1, 0])]);
        assert_eq!(o.accuracy(), Some(2.0 / 3.0));
        let f = o.fields()[0];
        assert_eq!((f.tp, f.fp, f.fn_), (2, 1, 1));
        assert_eq!(f.f1(), Some(4.0 / 6.0));
        assert!(OutcomeCounts::validate_flags("f", 3).is_err());
        assert!(OutcomeCounts::validate_flags("f", 6).is_ok());
    }

    proptest! {
        #[test]
        fn contract(rows in proptest::collection::vec((any::<bool>(), prop::sample::select(vec![0u8, 1, 2, 4, 6]), prop::sample::select(vec![0u8, 1, 2, 4, 6])), 0..90)) {
            let rows: Vec<(bool, [u8; 2])> = rows.into_iter().map(|(c, a, b)| (c, [a, b])).collect();
            let third = rows.len() / 3;
            let (a, b, c) = (build(&rows[..third]), build(&rows[third..2 * third]), build(&rows[2 * third..]));
            let mut looped = OutcomeCounts::new(2);
            rows.iter().for_each(|(c, f)| looped.update(Outcome { correct: *c, fields: f }));
            prop_assert_eq!(&looped, &build(&rows));
            prop_assert_eq!(check_merge_laws(&a, &b, &c, &looped), Ok(()));
        }
    }
}
