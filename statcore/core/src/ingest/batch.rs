//! A decoded, validated `RecordBatch`: its columns, its groups, its samples, its updates.
//!
//! Every field is validated here, once, before anything is applied; the first problem is
//! reported, with one reason per rule: record count (`oversized`); strings UTF-8 and ids free
//! of NUL (`malformed`); request ids, model types (known: `unknown_model_type`) and model ids
//! non-empty (`empty_id`); request and document ids at most [`MAX_REQUEST_ID_BYTES`], model type
//! and model id together at most [`MAX_WINDOW_IDS_BYTES`] (the window store's key limit:
//! `oversized`); request ids unique within the batch (`duplicate_id`; the sample log refuses one
//! already logged); confidence and latency present for every record; confidence in [0, 1];
//! latency finite and >= 0 (`invalid_number`); numeric names unique and non-empty; matrix
//! shapes; no infinite feature (NaN = missing); optional columns empty or one value per record;
//! timestamps positive (`invalid_number`) and within `[now_ms - max_age_ms, now_ms +
//! max_future_skew_ms]` (`out_of_range`); no prediction or payload larger than the limit.
//! A value quoted in a detail is a bounded [`excerpt`], never a whole long value.

use std::collections::HashSet;

use foldhash::fast::FixedState;

use super::key_index::{BytesKey, KeyIndex};
use super::rejection::{excerpt, py_float, RejectReason, Rejection};
use super::wire::{doubles, varints, Wire, WireType};
use crate::error::Result;
use crate::store::{SampleRecords, SampleRef, MAX_REQUEST_ID_BYTES, MAX_WINDOW_IDS_BYTES};

type Span = (u32, u32);
type Refused<T> = std::result::Result<T, Rejection>;

/// Limits from the sidecar's configuration.
#[derive(Debug, Clone, Copy)]
pub struct IngestRules {
    pub max_batch_records: usize,
    pub max_payload_bytes: usize,
    /// How far a timestamp may lie ahead of `now_ms` (clock skew), ms.
    pub max_future_skew_ms: i64,
    /// How far a timestamp may lie behind `now_ms`, ms; `None`: any positive timestamp.
    pub max_age_ms: Option<i64>,
}

impl IngestRules {
    /// Rules with these size limits, a 5-minute future skew and no age bound.
    pub fn new(max_batch_records: usize, max_payload_bytes: usize) -> Self {
        IngestRules { max_batch_records, max_payload_bytes, max_future_skew_ms: 300_000, max_age_ms: None }
    }
}

/// Rows of one (model type, model id, window start).
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub model_type: String,
    pub model_id: String,
    pub window_start_ms: i64,
    pub rows: Vec<u32>,
}

/// The batch's bytes and where each column's values lie in them.
#[derive(Debug, Default)]
pub struct RecordBatch {
    buf: Vec<u8>,
    request_id: Vec<Span>,
    document_id: Vec<Span>,
    model_type: Vec<Span>,
    model_id: Vec<Span>,
    arm: Vec<u64>,
    ts_ms: Vec<i64>,
    confidence: Vec<f64>,
    latency_ms: Vec<f64>,
    error: Vec<u8>,
    numeric_names: Vec<Span>,
    numeric: Vec<f64>,
    categorical_names: Vec<Span>,
    categorical: Vec<Span>,
    prediction: Vec<Span>,
    payload: Vec<Span>,
    /// The timestamp given to records that carry none.
    default_ts_ms: i64,
}

const FIELD_NAMES: [&str; 16] = [
    "",
    "request_id",
    "document_id",
    "model_type",
    "model_id",
    "arm",
    "ts_ms",
    "confidence",
    "latency_ms",
    "error",
    "numeric_names",
    "numeric",
    "categorical_names",
    "categorical",
    "prediction",
    "payload",
];

fn malformed(field: &str, detail: impl Into<String>) -> Rejection {
    Rejection::new(RejectReason::Malformed, field, detail)
}

/// Whether `bytes` is UTF-8; ids and names are nearly always ASCII, checked a word at a time.
#[inline]
fn is_utf8(bytes: &[u8]) -> bool {
    bytes.is_ascii() || std::str::from_utf8(bytes).is_ok()
}

fn not_utf8(name: &str, index: usize) -> Rejection {
    malformed(&format!("{name}[{index}]"), "is not valid UTF-8")
}

/// Reads the value of a repeated string field (bytes when `utf8` is false) whose tag starts at
/// `at`, then the values of the same field right after it: encoders write a repeated field's
/// values one after another, and those with one-byte tags and lengths are taken as a run
/// ([`Wire::short_run`]) whose UTF-8 is checked in one pass when it is all ASCII.
///
/// An id (`id`: request, document, model type, model id) must not contain NUL: the window
/// store's keys separate ids with it. A run is checked in one pass too (its tags are never 0;
/// a 0 there is an empty value's length or a NUL, then told apart value by value).
fn strings(
    w: &mut Wire<'_>,
    buf: &[u8],
    at: usize,
    name: &str,
    (utf8, id): (bool, bool),
    list: &mut Vec<Span>,
) -> Refused<()> {
    let one_byte_tag = w.pos() == at + 1;
    let (start, end) =
        w.len_delimited().map_err(|e| malformed(name, format!("does not parse at byte {at}: {}", e.0)))?;
    if utf8 && !is_utf8(&buf[start..end]) {
        return Err(not_utf8(name, list.len()));
    }
    if id && buf[start..end].contains(&0) {
        return Err(has_nul(name, list.len()));
    }
    list.push(span(start, end));
    if one_byte_tag {
        let first = list.len();
        let (run_start, run_end) = w.short_run(buf[at], list);
        let run = &buf[run_start..run_end];
        if utf8 && !run.is_ascii() {
            let bad = list[first..].iter().position(|&(s, e)| !is_utf8(&buf[s as usize..e as usize]));
            if let Some(i) = bad {
                return Err(not_utf8(name, first + i));
            }
        }
        if id && run.contains(&0) {
            let bad = list[first..].iter().position(|&(s, e)| buf[s as usize..e as usize].contains(&0));
            if let Some(i) = bad {
                return Err(has_nul(name, first + i));
            }
        }
    }
    Ok(())
}

/// `numeric[row]['name']`, the name as a bounded excerpt when it is long.
fn numeric_field(row: usize, name: &str) -> String {
    if name.chars().count() <= super::EXCERPT_CHARS {
        format!("numeric[{row}]['{name}']")
    } else {
        format!("numeric[{row}][{}]", excerpt(name))
    }
}

fn has_nul(name: &str, index: usize) -> Rejection {
    malformed(&format!("{name}[{index}]"), "must not contain NUL")
}

fn span(start: usize, end: usize) -> Span {
    // Messages are far below 4 GiB (the gRPC limit is configured in MiB).
    (start as u32, end as u32)
}

impl RecordBatch {
    /// Parses and validates `bytes`; `known` holds the model types of the routing table;
    /// records without a timestamp get `now_ms`.
    pub fn decode(
        bytes: &[u8],
        rules: IngestRules,
        known: &HashSet<String>,
        now_ms: i64,
    ) -> Refused<RecordBatch> {
        RecordBatch::decode_owned(bytes.to_vec(), rules, known, now_ms)
    }

    /// A batch the sample log stored as received (validated when it arrived): parsed, its
    /// shape checked so that reading a record cannot fail, records without a timestamp given
    /// `default_ts_ms`. Bytes that do not parse are `Codec` errors (a corrupt store).
    pub fn decode_stored(bytes: Vec<u8>, default_ts_ms: i64) -> Result<RecordBatch> {
        let corrupt =
            |detail: String| crate::error::CoreError::Codec(format!("stored record batch: {detail}"));
        let mut b = RecordBatch::parse(bytes).map_err(|r| corrupt(format!("{}: {}", r.field, r.detail)))?;
        let n = b.len();
        let required = [
            ("model_type", b.model_type.len()),
            ("model_id", b.model_id.len()),
            ("confidence", b.confidence.len()),
        ];
        let optional = [
            ("document_id", b.document_id.len()),
            ("ts_ms", b.ts_ms.len()),
            ("prediction", b.prediction.len()),
            ("payload", b.payload.len()),
        ];
        let bad = required
            .iter()
            .find(|(_, len)| *len != n)
            .or_else(|| optional.iter().find(|(_, len)| *len != 0 && *len != n));
        if let Some((name, len)) = bad {
            return Err(corrupt(format!("{name} has {len} values for {n} records")));
        }
        if b.ts_ms.is_empty() {
            b.ts_ms = vec![default_ts_ms; n];
        }
        b.default_ts_ms = default_ts_ms;
        Ok(b)
    }

    /// [`RecordBatch::decode`] of a buffer the caller hands over (the batch keeps it: no copy).
    pub fn decode_owned(
        bytes: Vec<u8>,
        rules: IngestRules,
        known: &HashSet<String>,
        now_ms: i64,
    ) -> Refused<RecordBatch> {
        let mut b = RecordBatch::parse(bytes)?;
        b.validate(rules, known, now_ms)?;
        Ok(b)
    }

    fn parse(buf: Vec<u8>) -> Refused<RecordBatch> {
        let mut b = RecordBatch::default();
        let mut arm = Vec::new();
        let mut ts = Vec::new();
        let mut err = Vec::new();
        {
            let mut w = Wire::new(&buf);
            while !w.at_end() {
                let at = w.pos();
                let (field, wire) =
                    w.tag().map_err(|e| malformed("", format!("not a RecordBatch: {}", e.0)))?;
                let name = FIELD_NAMES.get(field as usize).copied().unwrap_or("");
                let bad = |e: super::wire::WireError| {
                    malformed(name, format!("does not parse at byte {at}: {}", e.0))
                };
                match field {
                    1..=4 | 10 | 12..=15 => {
                        if wire != WireType::Len {
                            return Err(malformed(name, "must be length-delimited"));
                        }
                        let list = match field {
                            1 => &mut b.request_id,
                            2 => &mut b.document_id,
                            3 => &mut b.model_type,
                            4 => &mut b.model_id,
                            10 => &mut b.numeric_names,
                            12 => &mut b.categorical_names,
                            13 => &mut b.categorical,
                            14 => &mut b.prediction,
                            _ => &mut b.payload,
                        };
                        strings(&mut w, &buf, at, name, (field != 15, field <= 4), list)?;
                    }
                    5 => varints(&mut w, &buf, wire, &mut arm).map_err(bad)?,
                    6 => varints(&mut w, &buf, wire, &mut ts).map_err(bad)?,
                    9 => varints(&mut w, &buf, wire, &mut err).map_err(bad)?,
                    7 => doubles(&mut w, &buf, wire, &mut b.confidence).map_err(bad)?,
                    8 => doubles(&mut w, &buf, wire, &mut b.latency_ms).map_err(bad)?,
                    11 => doubles(&mut w, &buf, wire, &mut b.numeric).map_err(bad)?,
                    _ => w.skip(wire).map_err(bad)?,
                }
            }
        }
        b.arm = arm;
        b.ts_ms = ts.into_iter().map(|v| v as i64).collect();
        b.error = err.into_iter().map(|v| u8::from(v != 0)).collect();
        b.buf = buf;
        Ok(b)
    }

    /// A string field's value. `text` is only called with spans of string fields (every field
    /// but `payload`), whose bytes `parse` checked to be UTF-8; checking again on every read
    /// (several times per record) was the largest single cost of ingest.
    #[allow(unsafe_code)]
    fn text(&self, s: Span) -> &str {
        let bytes = &self.buf[s.0 as usize..s.1 as usize];
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: see above; `buf` is never modified after `parse`, and a span lies within it.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    fn bytes(&self, s: Span) -> &[u8] {
        &self.buf[s.0 as usize..s.1 as usize]
    }

    fn key(&self, s: Span) -> BytesKey<'_> {
        BytesKey::new(&self.buf, s.0 as usize, s.1 as usize)
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.request_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.request_id.is_empty()
    }

    /// Each record's inference latency in milliseconds (validated: finite and >= 0).
    pub fn latency_ms(&self) -> &[f64] {
        &self.latency_ms
    }

    fn check_ids(&self, name: &str, ids: &[Span], n: usize) -> Refused<()> {
        if ids.len() != n {
            return Err(malformed(name, format!("has {} values, expected {n}", ids.len())));
        }
        if let Some(i) = ids.iter().position(|s| s.0 == s.1) {
            return Err(Rejection::new(RejectReason::EmptyId, format!("{name}[{i}]"), "must not be empty"));
        }
        Ok(())
    }

    /// No id in `ids` longer than `limit` bytes.
    fn check_id_lengths(&self, name: &str, ids: &[Span], limit: usize) -> Refused<()> {
        if let Some(i) = ids.iter().position(|s| (s.1 - s.0) as usize > limit) {
            let value = self.text(ids[i]);
            return Err(Rejection::new(
                RejectReason::Oversized,
                format!("{name}[{i}]"),
                format!("{} bytes exceeds the limit of {limit}: {}", value.len(), excerpt(value)),
            ));
        }
        Ok(())
    }

    /// Model type and model id of each record together fit the window store's key.
    fn check_window_ids(&self) -> Refused<()> {
        let long = |(t, m): (&Span, &Span)| (t.1 - t.0 + m.1 - m.0) as usize > MAX_WINDOW_IDS_BYTES;
        if let Some(i) = self.model_type.iter().zip(&self.model_id).position(long) {
            let (t, m) = (self.text(self.model_type[i]), self.text(self.model_id[i]));
            return Err(Rejection::new(
                RejectReason::Oversized,
                format!("model_id[{i}]"),
                format!(
                    "model type and model id are {} bytes together, over the limit of \
                     {MAX_WINDOW_IDS_BYTES}: {} / {}",
                    t.len() + m.len(),
                    excerpt(t),
                    excerpt(m)
                ),
            ));
        }
        Ok(())
    }

    /// Request ids unique within the batch (one hash set per batch).
    fn check_unique_requests(&self) -> Refused<()> {
        let mut seen: HashSet<&[u8], FixedState> =
            HashSet::with_capacity_and_hasher(self.request_id.len(), FixedState::default());
        if let Some(i) = self.request_id.iter().position(|&s| !seen.insert(self.bytes(s))) {
            let value = self.text(self.request_id[i]);
            return Err(Rejection::new(
                RejectReason::DuplicateId,
                format!("request_id[{i}]"),
                format!("{} repeats an earlier request id of the batch", excerpt(value)),
            ));
        }
        Ok(())
    }

    /// Timestamps positive and within `[now_ms - max_age_ms, now_ms + max_future_skew_ms]`.
    fn check_timestamps(&self, rules: IngestRules, now_ms: i64) -> Refused<()> {
        if let Some(i) = self.ts_ms.iter().position(|&t| t <= 0) {
            return Err(Rejection::new(
                RejectReason::InvalidNumber,
                format!("ts_ms[{i}]"),
                "must be positive Unix ms",
            ));
        }
        let latest = now_ms.saturating_add(rules.max_future_skew_ms.max(0));
        let earliest = rules.max_age_ms.map_or(1, |age| now_ms.saturating_sub(age.max(0)));
        if let Some(i) = self.ts_ms.iter().position(|&t| t < earliest || t > latest) {
            let t = self.ts_ms[i];
            let detail = if t > latest {
                format!("{t} is more than {} ms after now ({now_ms})", rules.max_future_skew_ms)
            } else {
                format!("{t} is more than {} ms before now ({now_ms})", now_ms.saturating_sub(earliest))
            };
            return Err(Rejection::new(RejectReason::OutOfRange, format!("ts_ms[{i}]"), detail));
        }
        Ok(())
    }

    /// The first of `types` not in `known`. Runs of one model type are the norm, so a value equal
    /// to the last one found known is not looked up again.
    fn first_unknown(&self, types: &[Span], known: &HashSet<String>) -> Option<usize> {
        let mut last_known = None;
        types.iter().position(|&s| {
            let value = Some(self.key(s));
            if last_known == value {
                return false;
            }
            let found = known.contains(self.text(s));
            if found {
                last_known = value;
            }
            !found
        })
    }

    fn validate(&mut self, rules: IngestRules, known: &HashSet<String>, now_ms: i64) -> Refused<()> {
        let n = self.len();
        if n > rules.max_batch_records {
            return Err(Rejection::new(
                RejectReason::Oversized,
                "request_id",
                format!("{n} records exceed max_batch_records={}", rules.max_batch_records),
            ));
        }
        self.check_ids("request_id", &self.request_id, n)?;
        self.check_id_lengths("request_id", &self.request_id, MAX_REQUEST_ID_BYTES)?;
        self.check_ids("model_type", &self.model_type, n)?;
        if let Some(i) = self.first_unknown(&self.model_type, known) {
            let name = self.text(self.model_type[i]);
            return Err(Rejection::new(
                RejectReason::UnknownModelType,
                format!("model_type[{i}]"),
                format!("unknown model type {}", excerpt(name)),
            ));
        }
        self.check_ids("model_id", &self.model_id, n)?;
        self.check_window_ids()?;
        self.check_unique_requests()?;
        for (name, len) in [("confidence", self.confidence.len()), ("latency_ms", self.latency_ms.len())] {
            if len != n {
                return Err(malformed(name, format!("has {len} values, expected {n}")));
            }
        }
        if let Some(i) = self.confidence.iter().position(|&c| !(0.0..=1.0).contains(&c)) {
            return Err(Rejection::new(
                RejectReason::InvalidNumber,
                format!("confidence[{i}]"),
                format!("must be a number in [0, 1], got {}", py_float(self.confidence[i])),
            ));
        }
        if let Some(i) = self.latency_ms.iter().position(|&l| !(l.is_finite() && l >= 0.0)) {
            return Err(Rejection::new(
                RejectReason::InvalidNumber,
                format!("latency_ms[{i}]"),
                format!("must be finite and >= 0, got {}", py_float(self.latency_ms[i])),
            ));
        }
        let mut seen = HashSet::new();
        if !self.numeric_names.iter().all(|&s| !self.text(s).is_empty() && seen.insert(self.text(s))) {
            return Err(malformed("numeric_names", "must be unique and non-empty"));
        }
        let k = self.numeric_names.len();
        if self.numeric.len() != n * k {
            return Err(malformed(
                "numeric",
                format!("has {} values, expected {n} x {k}", self.numeric.len()),
            ));
        }
        if let Some(i) = self.numeric.iter().position(|v| v.is_infinite()) {
            let (row, col) = (i / k, i % k);
            return Err(Rejection::new(
                RejectReason::InvalidNumber,
                numeric_field(row, self.text(self.numeric_names[col])),
                "must be finite (NaN marks a missing value)",
            ));
        }
        let kc = self.categorical_names.len();
        if self.categorical.len() != n * kc {
            return Err(malformed(
                "categorical",
                format!("has {} values, expected {n} x {kc}", self.categorical.len()),
            ));
        }
        for (name, len) in [
            ("document_id", self.document_id.len()),
            ("arm", self.arm.len()),
            ("ts_ms", self.ts_ms.len()),
            ("error", self.error.len()),
            ("prediction", self.prediction.len()),
            ("payload", self.payload.len()),
        ] {
            if len != 0 && len != n {
                return Err(malformed(name, format!("has {len} values, expected 0 or {n}")));
            }
        }
        self.check_id_lengths("document_id", &self.document_id, MAX_REQUEST_ID_BYTES)?;
        if self.ts_ms.is_empty() {
            self.ts_ms = vec![now_ms; n];
            self.default_ts_ms = now_ms;
        }
        self.check_timestamps(rules, now_ms)?;
        if self.error.is_empty() {
            self.error = vec![0; n];
        }
        let limit = rules.max_payload_bytes;
        for (name, col) in [("prediction", &self.prediction), ("payload", &self.payload)] {
            if let Some(i) = col.iter().position(|s| (s.1 - s.0) as usize > limit) {
                return Err(Rejection::new(
                    RejectReason::Oversized,
                    format!("{name}[{i}]"),
                    format!("larger than {limit} bytes"),
                ));
            }
        }
        Ok(())
    }

    /// Rows by (model type, model id, window start), in order of first appearance. A record's
    /// window is its timestamp aligned to `window_ms`, but never before `epoch(model_type)`
    /// (records older than the epoch count in the epoch's window).
    pub fn groups(&self, window_ms: i64, epoch: impl Fn(&str) -> i64) -> Vec<Group> {
        let window_ms = window_ms.max(1);
        // Model types and groups by number (a handful per batch: see `KeyIndex`); the last
        // window found is reused while timestamps stay in it.
        let (mut types, mut epochs) = (KeyIndex::new(), Vec::new());
        let mut index = KeyIndex::new();
        let mut out: Vec<Group> = Vec::new();
        let mut aligned = 0i64;
        for row in 0..self.len() {
            let (mt, mid) = (self.model_type[row], self.model_id[row]);
            let (t, new_type) = types.get_or_insert(self.key(mt));
            if new_type {
                epochs.push(epoch(self.text(mt)));
            }
            let ts = self.ts_ms[row];
            if !ts.checked_sub(aligned).is_some_and(|d| (0..window_ms).contains(&d)) {
                aligned = ts - ts.rem_euclid(window_ms);
            }
            let first = epochs[t];
            let start = if first != 0 && aligned <= first { first } else { aligned };
            let (g, new_group) = index.get_or_insert((t, start, self.key(mid)));
            if new_group {
                out.push(Group {
                    model_type: self.text(mt).to_owned(),
                    model_id: self.text(mid).to_owned(),
                    window_start_ms: start,
                    rows: Vec::new(),
                });
            }
            out[g].rows.push(row as u32);
        }
        out
    }

    /// `(document_id, request_id)` of the records that carry a document id.
    pub fn documents(&self) -> Vec<(&str, &str)> {
        self.document_id
            .iter()
            .zip(&self.request_id)
            .map(|(&d, &r)| (self.text(d), self.text(r)))
            .filter(|(d, _)| !d.is_empty())
            .collect()
    }
}

/// The records as sample-log entries (prediction `{}` when absent).
impl SampleRecords for RecordBatch {
    fn len(&self) -> usize {
        self.request_id.len()
    }

    fn record(&self, i: usize) -> SampleRef<'_> {
        let text = |col: &[Span]| col.get(i).map_or("", |&s| self.text(s));
        SampleRef {
            ts_ms: self.ts_ms[i],
            confidence: self.confidence[i],
            model_type: self.text(self.model_type[i]),
            model_id: self.text(self.model_id[i]),
            request_id: self.text(self.request_id[i]),
            document_id: text(&self.document_id),
            payload: self.payload.get(i).map_or(&[][..], |&s| self.bytes(s)),
            prediction: self.prediction.get(i).map_or(&b"{}"[..], |&s| self.bytes(s)),
        }
    }

    fn wire(&self) -> Option<(&[u8], i64)> {
        Some((&self.buf, self.default_ts_ms))
    }
}

#[path = "update.rs"]
mod update;

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
