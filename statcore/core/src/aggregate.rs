//! One model's statistics over one time window, updated in batches and merged exactly.
//!
//! A batch is validated as a whole before any accumulator is touched, so a rejected batch leaves
//! the aggregate unchanged. Merging requires the same layout (by fingerprint) and the same model;
//! the merged window spans both inputs.

use std::sync::Arc;

use crate::accum::{
    Accumulator, BinnedCounts, CategoricalCounts, FieldCounts, LatencyHistogram, OutcomeCounts,
};
use crate::codec::{Reader, Writer};
use crate::error::{CoreError, Result};
use crate::layout::Layout;

const MAGIC: &[u8; 4] = b"LWAG";
/// Rows per block when binning a batch feature by feature (see [`Aggregate::update`]).
const ROW_BLOCK: usize = 2048;
const VERSION: u16 = 1;

/// Columns of one batch of records. Row-major matrices have one row per record.
#[derive(Clone, Copy, Default)]
pub struct Batch<'a> {
    pub len: usize,
    /// `len × numeric features`, row-major; NaN means missing (counted apart), ±inf is refused.
    pub numeric: &'a [f64],
    /// `len × categorical features`, row-major vocabulary slots (`vocabulary size` = other).
    pub categorical: &'a [u32],
    /// Prediction confidence in `[0, 1]`, one per record.
    pub confidence: &'a [f64],
    /// Latency in milliseconds, finite and `>= 0`, one per record.
    pub latency_ms: &'a [f64],
    /// 1 where the record failed (counted as an error), else 0; empty means no errors.
    pub error: &'a [u8],
    /// 1 where a label came with the record; empty means none did.
    pub labelled: &'a [u8],
    /// 1 where the primary field was right (read only where labelled).
    pub correct: &'a [u8],
    /// `len × fields` outcome flags ([`crate::accum::FieldOutcome`]), read only where labelled.
    pub field_flags: &'a [u8],
}

/// The model and window of an encoded aggregate (see [`Aggregate::peek`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowSpan {
    pub model_type: String,
    pub model_id: String,
    pub start_ms: i64,
    pub end_ms: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    layout: Arc<Layout>,
    pub model_type: String,
    pub model_id: String,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    records: u64,
    errors: u64,
    numeric: Vec<BinnedCounts>,
    categorical: Vec<CategoricalCounts>,
    confidence: BinnedCounts,
    outcomes: OutcomeCounts,
    latency: LatencyHistogram,
}

fn check_len(field: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(CoreError::invalid(field, format!("has {got} values, expected {want}")));
    }
    Ok(())
}

fn check_flags01(field: &str, v: &[u8]) -> Result<()> {
    match first_failing(v, |b| *b <= 1) {
        Some(i) => Err(CoreError::invalid(format!("{field}[{i}]"), "must be 0 or 1")),
        None => Ok(()),
    }
}

/// Index of the first value that fails `ok`. Checks chunks without an early exit, so the check
/// vectorises; only a failing chunk is searched value by value.
fn first_failing<T>(values: &[T], ok: impl Fn(&T) -> bool) -> Option<usize> {
    const CHUNK: usize = 256;
    values.chunks(CHUNK).enumerate().find_map(|(i, chunk)| {
        if chunk.iter().fold(true, |all, v| all & ok(v)) {
            None
        } else {
            chunk.iter().position(|v| !ok(v)).map(|j| i * CHUNK + j)
        }
    })
}

impl Aggregate {
    pub fn new(
        layout: Arc<Layout>,
        model_type: &str,
        model_id: &str,
        window_start_ms: i64,
        window_end_ms: i64,
    ) -> Result<Self> {
        if model_type.is_empty() {
            return Err(CoreError::invalid("model_type", "must not be empty"));
        }
        if model_id.is_empty() {
            return Err(CoreError::invalid("model_id", "must not be empty"));
        }
        if window_end_ms < window_start_ms {
            return Err(CoreError::invalid("window_end_ms", "is before window_start_ms"));
        }
        Ok(Aggregate {
            numeric: layout.numeric_edges.iter().map(|e| BinnedCounts::new(Arc::clone(e))).collect(),
            categorical: layout.vocabularies.iter().map(|v| CategoricalCounts::new(Arc::clone(v))).collect(),
            confidence: BinnedCounts::new(Arc::clone(&layout.confidence_edges)),
            outcomes: OutcomeCounts::new(layout.fields.len()),
            latency: LatencyHistogram::new(),
            layout,
            model_type: model_type.to_owned(),
            model_id: model_id.to_owned(),
            window_start_ms,
            window_end_ms,
            records: 0,
            errors: 0,
        })
    }

    pub fn layout(&self) -> &Arc<Layout> {
        &self.layout
    }
    pub fn records(&self) -> u64 {
        self.records
    }
    pub fn errors(&self) -> u64 {
        self.errors
    }
    pub fn numeric(&self) -> &[BinnedCounts] {
        &self.numeric
    }
    pub fn categorical(&self) -> &[CategoricalCounts] {
        &self.categorical
    }
    pub fn confidence(&self) -> &BinnedCounts {
        &self.confidence
    }
    pub fn outcomes(&self) -> &OutcomeCounts {
        &self.outcomes
    }
    pub fn latency(&self) -> &LatencyHistogram {
        &self.latency
    }

    /// Checks a whole batch without touching the aggregate.
    pub fn validate(&self, b: &Batch<'_>) -> Result<()> {
        self.check_shapes(b)?;
        if let Some(i) = first_failing(b.numeric, |x| x.abs() != f64::INFINITY) {
            return Err(self.infinite_at(i));
        }
        self.check_values(b)
    }

    /// Lengths, and the error flags: what [`Aggregate::validate`] checks before the numeric
    /// values.
    fn check_shapes(&self, b: &Batch<'_>) -> Result<()> {
        let (n, l) = (b.len, &self.layout);
        check_len("numeric", b.numeric.len(), n * l.numeric_names.len())?;
        check_len("categorical", b.categorical.len(), n * l.categorical_names.len())?;
        check_len("confidence", b.confidence.len(), n)?;
        check_len("latency_ms", b.latency_ms.len(), n)?;
        if !b.error.is_empty() {
            check_len("error", b.error.len(), n)?;
            check_flags01("error", b.error)?;
        }
        Ok(())
    }

    fn infinite_at(&self, i: usize) -> CoreError {
        let names = &self.layout.numeric_names;
        CoreError::invalid(
            format!("numeric[{}][{:?}]", i / names.len(), names[i % names.len()]),
            "is infinite",
        )
    }

    /// Everything [`Aggregate::validate`] checks after the numeric values.
    fn check_values(&self, b: &Batch<'_>) -> Result<()> {
        let (n, l) = (b.len, &self.layout);
        if !l.categorical_names.is_empty() {
            let k = l.categorical_names.len();
            for (i, s) in b.categorical.iter().enumerate() {
                if *s as usize > l.vocabularies[i % k].names().len() {
                    return Err(CoreError::invalid(format!("categorical[{}]", i / k), "slot out of range"));
                }
            }
        }
        if let Some(i) = first_failing(b.confidence, |c| *c >= 0.0 && *c <= 1.0) {
            return Err(CoreError::invalid(
                format!("confidence[{i}]"),
                format!("must be a number in [0, 1], got {}", b.confidence[i]),
            ));
        }
        if let Some(i) = first_failing(b.latency_ms, |x| *x >= 0.0 && *x < f64::INFINITY) {
            LatencyHistogram::validate(&format!("latency_ms[{i}]"), b.latency_ms[i])?;
        }
        if !b.labelled.is_empty() {
            check_len("labelled", b.labelled.len(), n)?;
            check_flags01("labelled", b.labelled)?;
            self.validate_outcomes(b.correct, b.field_flags, n)?;
        }
        Ok(())
    }

    fn validate_outcomes(&self, correct: &[u8], field_flags: &[u8], n: usize) -> Result<()> {
        check_len("correct", correct.len(), n)?;
        check_flags01("correct", correct)?;
        check_len("field_flags", field_flags.len(), n * self.layout.fields.len())?;
        if let Some(i) = first_failing(field_flags, |f| OutcomeCounts::flags_valid(*f)) {
            OutcomeCounts::validate_flags(&format!("field_flags[{i}]"), field_flags[i])?;
        }
        Ok(())
    }

    /// Validates, then absorbs a batch. On error nothing changes.
    ///
    /// The numeric matrix, the bulk of a batch, is read once: infinite values are looked for
    /// while binning, and a refused batch takes back out what it had binned (counts are
    /// integers, so this restores them exactly). The checks run in [`Aggregate::validate`]'s
    /// order, so a batch is refused with the same error either way.
    pub fn update(&mut self, b: &Batch<'_>) -> Result<()> {
        self.check_shapes(b)?;
        self.bin_numeric(b.numeric)?;
        if let Err(e) = self.check_values(b) {
            self.unbin_numeric(b.numeric);
            return Err(e);
        }
        let n_cat = self.layout.categorical_names.len();
        if n_cat > 0 {
            for row in b.categorical.chunks_exact(n_cat) {
                for (h, s) in self.categorical.iter_mut().zip(row) {
                    h.update_slot(*s as usize);
                }
            }
        }
        self.confidence.update_column(b.confidence, 0, 1);
        self.latency.update_many(b.latency_ms.iter().copied());
        self.records += b.len as u64;
        self.errors += b.error.iter().map(|e| u64::from(*e)).sum::<u64>();
        if !b.labelled.is_empty() {
            self.absorb_outcomes(Some(b.labelled), b.correct, b.field_flags);
        }
        Ok(())
    }

    /// Bins the numeric matrix feature by feature within blocks of rows: one feature's edges,
    /// grid and counts stay in L1 while the block's rows stay in L2, instead of streaming the
    /// whole row-major matrix from memory once per feature. An infinite value refuses the
    /// batch: what was binned is taken back out.
    fn bin_numeric(&mut self, numeric: &[f64]) -> Result<()> {
        let k = self.numeric.len();
        if k == 0 {
            return Ok(());
        }
        for (i, block) in numeric.chunks(ROW_BLOCK * k).enumerate() {
            let mut infinite = false;
            for (f, h) in self.numeric.iter_mut().enumerate() {
                infinite |= h.absorb_column(block, f, k);
            }
            if infinite {
                let start = i * ROW_BLOCK * k;
                self.unbin_numeric(&numeric[..start + block.len()]);
                let at = first_failing(block, |x| x.abs() != f64::INFINITY).map_or(start, |j| start + j);
                return Err(self.infinite_at(at));
            }
        }
        Ok(())
    }

    /// Exactly undoes [`Aggregate::bin_numeric`] of the same rows.
    fn unbin_numeric(&mut self, numeric: &[f64]) {
        let k = self.numeric.len();
        if k > 0 {
            for (f, h) in self.numeric.iter_mut().enumerate() {
                h.remove_column(numeric, f, k);
            }
        }
    }

    /// Absorbs late labels (feedback) for records of this model: one `correct` flag per label and
    /// `labels × fields` outcome flags. On error nothing changes.
    pub fn update_outcomes(&mut self, correct: &[u8], field_flags: &[u8]) -> Result<()> {
        self.validate_outcomes(correct, field_flags, correct.len())?;
        self.absorb_outcomes(None, correct, field_flags);
        Ok(())
    }

    /// Sums the (validated, 0/1) flags of the labelled records, then adds the sums: the same
    /// counts as one `OutcomeCounts::update` per labelled record, without a branch per record.
    fn absorb_outcomes(&mut self, labelled: Option<&[u8]>, correct: &[u8], field_flags: &[u8]) {
        let k = self.layout.fields.len();
        let mut fields = vec![FieldCounts::default(); k];
        let (mut n, mut right) = (0u64, 0u64);
        for (i, c) in correct.iter().enumerate() {
            let l = u64::from(labelled.map_or(1, |l| l[i]));
            n += l;
            right += l & u64::from(*c);
            if k > 0 {
                for (sum, f) in fields.iter_mut().zip(&field_flags[i * k..(i + 1) * k]) {
                    let f = u64::from(*f);
                    sum.tp += l & f;
                    sum.fp += l & (f >> 1);
                    sum.fn_ += l & (f >> 2);
                }
            }
        }
        self.outcomes.add_counts(n, right, &fields);
    }

    /// Adds `other` into `self` (same layout and model); the window becomes the union span.
    pub fn merge(&mut self, other: &Aggregate) -> Result<()> {
        if self.layout.fingerprint() != other.layout.fingerprint() {
            return Err(CoreError::Incompatible("aggregates have different layouts".into()));
        }
        if self.model_type != other.model_type || self.model_id != other.model_id {
            return Err(CoreError::Incompatible(format!(
                "cannot merge {}/{} into {}/{}",
                other.model_type, other.model_id, self.model_type, self.model_id
            )));
        }
        // Layouts are equal, so every part below merges without error: no partial merge.
        for (a, b) in self.numeric.iter_mut().zip(&other.numeric) {
            a.merge(b)?;
        }
        for (a, b) in self.categorical.iter_mut().zip(&other.categorical) {
            a.merge(b)?;
        }
        self.confidence.merge(&other.confidence)?;
        self.outcomes.merge(&other.outcomes)?;
        self.latency.merge(&other.latency)?;
        self.records += other.records;
        self.errors += other.errors;
        self.window_start_ms = self.window_start_ms.min(other.window_start_ms);
        self.window_end_ms = self.window_end_ms.max(other.window_end_ms);
        Ok(())
    }

    /// Versioned binary form: header, layout fingerprint, identity, then sparse counts.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut w = Writer::with_header(MAGIC, VERSION);
        w.u64(self.layout.fingerprint());
        w.str(&self.model_type)?;
        w.str(&self.model_id)?;
        w.i64(self.window_start_ms);
        w.i64(self.window_end_ms);
        w.u64(self.records);
        w.u64(self.errors);
        for h in &self.numeric {
            write_sparse(&mut w, h.counts())?;
            w.u64(h.nan());
        }
        for h in &self.categorical {
            write_sparse(&mut w, h.counts())?;
        }
        write_sparse(&mut w, self.confidence.counts())?;
        w.u64(self.outcomes.labelled());
        w.u64(self.outcomes.correct());
        for f in self.outcomes.fields() {
            w.u64(f.tp);
            w.u64(f.fp);
            w.u64(f.fn_);
        }
        let (sparse, _total, sum_ns, min, max) = self.latency.to_parts();
        w.len(sparse.len())?;
        for (s, c) in sparse {
            w.u32(s);
            w.u64(c);
        }
        w.u64((sum_ns >> 64) as u64);
        w.u64(sum_ns as u64);
        w.f64(min);
        w.f64(max);
        Ok(w.finish())
    }

    /// Decodes bytes produced by [`Aggregate::encode`] over the same `layout`.
    pub fn decode(bytes: &[u8], layout: &Arc<Layout>) -> Result<Self> {
        let d = Decoded::parse(bytes, layout)?;
        let mut agg = Aggregate::new(Arc::clone(layout), d.model_type, d.model_id, d.start, d.end)
            .map_err(|e| CoreError::Codec(e.to_string()))?;
        agg.absorb(&d);
        Ok(agg)
    }

    /// Which model and window encoded bytes hold, checked completely against `layout` (as
    /// [`Aggregate::decode`] would) without building the aggregate: what a collector needs to
    /// file a window before it merges the bytes with [`Aggregate::merge_encoded`].
    pub fn peek(bytes: &[u8], layout: &Layout) -> Result<WindowSpan> {
        let d = Decoded::parse(bytes, layout)?;
        Ok(WindowSpan {
            model_type: d.model_type.to_owned(),
            model_id: d.model_id.to_owned(),
            start_ms: d.start,
            end_ms: d.end,
        })
    }

    /// Merges encoded bytes straight into `self` without building an intermediate aggregate:
    /// only the non-empty slots are touched, so merging many small windows is cheap. The bytes
    /// are parsed and checked completely first; on any error `self` is unchanged.
    pub fn merge_encoded(&mut self, bytes: &[u8]) -> Result<()> {
        let d = Decoded::parse(bytes, &self.layout)?;
        if d.model_type != self.model_type || d.model_id != self.model_id {
            return Err(CoreError::Incompatible(format!(
                "cannot merge {}/{} into {}/{}",
                d.model_type, d.model_id, self.model_type, self.model_id
            )));
        }
        self.absorb(&d);
        Ok(())
    }

    fn absorb(&mut self, d: &Decoded<'_>) {
        self.records += d.records;
        self.errors += d.errors;
        for (h, (slots, nan)) in self.numeric.iter_mut().zip(&d.numeric) {
            h.add_slots(slots.pairs(), *nan);
        }
        for (h, slots) in self.categorical.iter_mut().zip(&d.categorical) {
            h.add_slots(slots.pairs());
        }
        self.confidence.add_slots(d.confidence.pairs(), 0);
        self.outcomes.add_counts(d.labelled, d.correct, &d.fields);
        self.latency.add_parts(d.latency.pairs(), d.sum_ns, d.min_ms, d.max_ms);
        self.window_start_ms = self.window_start_ms.min(d.start);
        self.window_end_ms = self.window_end_ms.max(d.end);
    }
}

/// An encoded aggregate parsed and checked against a layout, kept sparse (non-empty slots).
struct Decoded<'a> {
    model_type: &'a str,
    model_id: &'a str,
    start: i64,
    end: i64,
    records: u64,
    errors: u64,
    numeric: Vec<(SparseRun<'a>, u64)>,
    categorical: Vec<SparseRun<'a>>,
    confidence: SparseRun<'a>,
    labelled: u64,
    correct: u64,
    fields: Vec<FieldCounts>,
    latency: SparseRun<'a>,
    sum_ns: u128,
    min_ms: f64,
    max_ms: f64,
}

impl<'a> Decoded<'a> {
    fn parse(bytes: &'a [u8], layout: &Layout) -> Result<Self> {
        let (mut r, _) = Reader::with_header(bytes, MAGIC, VERSION)?;
        let fp = r.u64()?;
        if fp != layout.fingerprint() {
            return Err(CoreError::Incompatible(format!(
                "aggregate was built over layout {fp:016x}, not {:016x}",
                layout.fingerprint()
            )));
        }
        let (model_type, model_id) = (r.str()?, r.str()?);
        let (start, end, records, errors) = (r.i64()?, r.i64()?, r.u64()?, r.u64()?);
        let mut numeric = Vec::with_capacity(layout.numeric_edges.len());
        for e in &layout.numeric_edges {
            let slots = read_sparse(&mut r, e.len() + 1)?;
            numeric.push((slots, r.u64()?));
        }
        let categorical = layout
            .vocabularies
            .iter()
            .map(|v| read_sparse(&mut r, v.names().len() + 1))
            .collect::<Result<Vec<_>>>()?;
        let confidence = read_sparse(&mut r, layout.confidence_edges.len() + 1)?;
        let (labelled, correct) = (r.u64()?, r.u64()?);
        if correct > labelled {
            return Err(CoreError::Codec("more correct than labelled outcomes".into()));
        }
        let fields = (0..layout.fields.len())
            .map(|_| Ok(FieldCounts { tp: r.u64()?, fp: r.u64()?, fn_: r.u64()? }))
            .collect::<Result<Vec<_>>>()?;
        let latency = read_sparse(&mut r, LatencyHistogram::SLOTS)?;
        let sum_ns = (u128::from(r.u64()?) << 64) | u128::from(r.u64()?);
        let (min_ms, max_ms) = (r.f64()?, r.f64()?);
        r.finish()?;
        Ok(Decoded {
            model_type,
            model_id,
            start,
            end,
            records,
            errors,
            numeric,
            categorical,
            confidence,
            labelled,
            correct,
            fields,
            latency,
            sum_ns,
            min_ms,
            max_ms,
        })
    }
}

fn write_sparse(w: &mut Writer, counts: &[u64]) -> Result<()> {
    let nz = counts.iter().filter(|c| **c > 0).count();
    w.len(nz)?;
    for (i, c) in counts.iter().enumerate().filter(|(_, c)| **c > 0) {
        w.u32(i as u32);
        w.u64(*c);
    }
    Ok(())
}

/// The encoded `(u32 slot, u64 count)` pairs of one histogram, checked once and then read
/// again in place (no allocation per histogram when merging many windows).
#[derive(Clone, Copy)]
struct SparseRun<'a> {
    bytes: &'a [u8],
}

impl<'a> SparseRun<'a> {
    fn pairs(&self) -> impl Iterator<Item = (u32, u64)> + 'a {
        self.bytes.chunks_exact(12).map(|p| {
            let mut slot = [0u8; 4];
            let mut count = [0u8; 8];
            slot.copy_from_slice(&p[..4]);
            count.copy_from_slice(&p[4..]);
            (u32::from_le_bytes(slot), u64::from_le_bytes(count))
        })
    }
}

fn read_sparse<'a>(r: &mut Reader<'a>, slots: usize) -> Result<SparseRun<'a>> {
    let n = r.len(12)?;
    let run = SparseRun { bytes: r.take(n * 12)? };
    if let Some((i, _)) = run.pairs().find(|(i, _)| *i as usize >= slots) {
        return Err(CoreError::Codec(format!("slot {i} out of range (< {slots})")));
    }
    Ok(run)
}

#[cfg(test)]
#[path = "aggregate_tests.rs"]
mod tests;
