//! A decoded batch's rows into an aggregate window: the columns the aggregate takes, picked at
//! the rows and matched to its layout by name. Rows that are one range (a batch with a single
//! group) are handed over as slices of the batch, without a copy.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use super::{RecordBatch, Span};
use crate::aggregate::{Aggregate, Batch};
use crate::error::Result;

/// `rows` as a range of rows, when they are consecutive and increasing.
fn as_range(rows: &[u32]) -> Option<Range<usize>> {
    let first = *rows.first()? as usize;
    rows.iter().zip(first..).all(|(&r, i)| r as usize == i).then(|| first..first + rows.len())
}

/// `column` at `rows`; borrowed when the rows are the range `range`.
fn pick<'a, T: Copy>(column: &'a [T], rows: &[u32], range: &Option<Range<usize>>) -> Cow<'a, [T]>
where
    [T]: ToOwned<Owned = Vec<T>>,
{
    match range {
        Some(r) => Cow::Borrowed(&column[r.clone()]),
        None => Cow::Owned(rows.iter().map(|&r| column[r as usize]).collect()),
    }
}

impl RecordBatch {
    /// Updates `agg` with `rows`: features matched to its layout by name (a layout feature the
    /// batch lacks is missing: NaN, or the "other" category; batch features outside the layout
    /// are ignored).
    pub fn update(&self, agg: &mut Aggregate, rows: &[u32]) -> Result<()> {
        let layout = Arc::clone(agg.layout());
        let range = as_range(rows);
        let numeric =
            self.pick_numeric(rows, &range, &self.columns(&self.numeric_names, &layout.numeric_names));
        let categorical = self.categorical_slots(rows, &layout);
        agg.update(&Batch {
            len: rows.len(),
            numeric: &numeric,
            categorical: &categorical,
            confidence: &pick(&self.confidence, rows, &range),
            latency_ms: &pick(&self.latency_ms, rows, &range),
            error: &pick(&self.error, rows, &range),
            labelled: &[],
            correct: &[],
            field_flags: &[],
        })
    }

    /// For each of `wanted`, its column among `names`, if the batch has it.
    fn columns(&self, names: &[Span], wanted: &[String]) -> Vec<Option<usize>> {
        wanted.iter().map(|w| names.iter().position(|&s| self.text(s) == w)).collect()
    }

    /// The numeric matrix at `rows` in the layout's columns `cols`; when those are the batch's
    /// own columns in order (the norm), whole rows are copied, or borrowed for a range.
    fn pick_numeric(
        &self,
        rows: &[u32],
        range: &Option<Range<usize>>,
        cols: &[Option<usize>],
    ) -> Cow<'_, [f64]> {
        let k = self.numeric_names.len();
        let same = cols.len() == k && cols.iter().enumerate().all(|(i, c)| *c == Some(i));
        match range {
            Some(r) if same => return Cow::Borrowed(&self.numeric[r.start * k..r.end * k]),
            _ => {}
        }
        let mut out = Vec::with_capacity(rows.len() * cols.len());
        for &r in rows {
            let row = &self.numeric[r as usize * k..(r as usize + 1) * k];
            if same {
                out.extend_from_slice(row);
            } else {
                out.extend(cols.iter().map(|c| c.map_or(f64::NAN, |j| row[j])));
            }
        }
        Cow::Owned(out)
    }

    /// The vocabulary slots of the categorical features at `rows` (none when the layout has no
    /// categorical feature).
    fn categorical_slots(&self, rows: &[u32], layout: &crate::layout::Layout) -> Vec<u32> {
        if layout.categorical_names.is_empty() {
            return Vec::new();
        }
        let cols = self.columns(&self.categorical_names, &layout.categorical_names);
        let kc = self.categorical_names.len();
        let mut out = Vec::with_capacity(rows.len() * cols.len());
        for &r in rows {
            out.extend(cols.iter().zip(&layout.vocabularies).map(|(c, vocab)| {
                let value = c.map_or("", |j| self.text(self.categorical[r as usize * kc + j]));
                vocab.slot(value) as u32
            }));
        }
        out
    }
}
