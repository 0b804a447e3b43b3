//! Sample-log segments: the records of one appended batch (at most [`SEGMENT_MAX_RECORDS`]) in
//! one LMDB value, written once and never rewritten (labels live apart, in `labels.rs`).
//!
//! Value format (little-endian, [`crate::codec`]): magic `LWSG`, a version that names the kind,
//! `first_seq u64, count u32`, then
//! * version `1`, rows: `count` records of `ts_ms i64, confidence f64, model_type str,
//!   model_id str, request_id str, document_id str, payload bytes, prediction bytes`;
//! * version `2`, wire: `default_ts_ms i64` and the serialized `loopwise.v1.RecordBatch` the
//!   records arrived in, as received (the timestamp of records that carry none is
//!   `default_ts_ms`; it was validated at ingest, so reading it back only parses it).
//!
//! Record `i` has seq `first_seq + i`. One value per batch instead of one per record: an append
//! is one copy into one buffer (a wire segment copies the batch's bytes as they are) and a
//! flush is one `put` per segment, which is what lets the sidecar log every record at the rate
//! its data plane receives them.

use std::ops::Range;

use super::sample::{Sample, MAX_REQUEST_ID_BYTES};
use crate::codec::{Reader, Writer};
use crate::error::{CoreError, Result};

use std::ops::ControlFlow;

const MAGIC: &[u8; 4] = b"LWSG";
const ROWS: u16 = 1;
const WIRE: u16 = 2;

/// Most records in one rows segment; a larger append is split. Bounds the work of reading one
/// record (a segment is read from its start). A wire segment holds one whole record batch as
/// received (at most the sidecar's `max_batch_records`).
pub const SEGMENT_MAX_RECORDS: usize = 1024;

/// One record as the sample log sees it, borrowed from its source (a decoded record batch, a
/// [`Sample`] or a stored segment).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleRef<'a> {
    pub ts_ms: i64,
    pub confidence: f64,
    pub model_type: &'a str,
    pub model_id: &'a str,
    pub request_id: &'a str,
    pub document_id: &'a str,
    pub payload: &'a [u8],
    pub prediction: &'a [u8],
}

impl SampleRef<'_> {
    /// Checks what the store relies on; the error names the offending field.
    pub fn validate(&self) -> Result<()> {
        if self.request_id.is_empty() {
            return Err(CoreError::invalid("request_id", "must not be empty"));
        }
        if self.request_id.len() > MAX_REQUEST_ID_BYTES {
            return Err(CoreError::invalid(
                "request_id",
                format!("{} bytes exceeds the limit of {MAX_REQUEST_ID_BYTES}", self.request_id.len()),
            ));
        }
        if !self.confidence.is_finite() {
            return Err(CoreError::invalid("confidence", format!("must be finite, got {}", self.confidence)));
        }
        Ok(())
    }

    /// An owned sample with `seq` and an optional `(label, human_correction)`.
    pub fn to_sample(&self, seq: u64, label: Option<(Vec<u8>, bool)>) -> Sample {
        let (label, human_correction) = match label {
            Some((l, h)) => (Some(l), h),
            None => (None, false),
        };
        Sample {
            seq,
            ts_ms: self.ts_ms,
            model_type: self.model_type.to_owned(),
            model_id: self.model_id.to_owned(),
            request_id: self.request_id.to_owned(),
            document_id: self.document_id.to_owned(),
            payload: self.payload.to_vec(),
            prediction: self.prediction.to_vec(),
            confidence: self.confidence,
            label,
            human_correction,
        }
    }

    /// Bytes this record takes in a segment.
    fn encoded_len(&self) -> usize {
        16 + 6 * 4
            + self.model_type.len()
            + self.model_id.len()
            + self.request_id.len()
            + self.document_id.len()
            + self.payload.len()
            + self.prediction.len()
    }
}

/// Anything the sample log can append: records addressed by index.
pub trait SampleRecords {
    fn len(&self) -> usize;
    /// Record `i` (`i < len()`).
    fn record(&self, i: usize) -> SampleRef<'_>;
    /// The records as one serialized `loopwise.v1.RecordBatch` and the timestamp of those that
    /// carry none, when they can be stored as received (a wire segment).
    fn wire(&self) -> Option<(&[u8], i64)> {
        None
    }
    /// The label and human-correction flag record `i` arrives with, if any (stored apart).
    fn label(&self, _i: usize) -> Option<(&[u8], bool)> {
        None
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SampleRecords for [Sample] {
    fn len(&self) -> usize {
        <[Sample]>::len(self)
    }
    fn record(&self, i: usize) -> SampleRef<'_> {
        let s = &self[i];
        SampleRef {
            ts_ms: s.ts_ms,
            confidence: s.confidence,
            model_type: &s.model_type,
            model_id: &s.model_id,
            request_id: &s.request_id,
            document_id: &s.document_id,
            payload: &s.payload,
            prediction: &s.prediction,
        }
    }
    fn label(&self, i: usize) -> Option<(&[u8], bool)> {
        self[i].label.as_deref().map(|l| (l, self[i].human_correction))
    }
}

impl<'a> SampleRecords for [SampleRef<'a>] {
    fn len(&self) -> usize {
        <[SampleRef<'a>]>::len(self)
    }
    fn record(&self, i: usize) -> SampleRef<'_> {
        self[i]
    }
}

impl SampleRecords for Vec<Sample> {
    fn len(&self) -> usize {
        <[Sample]>::len(self)
    }
    fn record(&self, i: usize) -> SampleRef<'_> {
        self.as_slice().record(i)
    }
    fn label(&self, i: usize) -> Option<(&[u8], bool)> {
        self.as_slice().label(i)
    }
}

/// Encodes `rows` of `records` as one segment whose first record gets `first_seq`.
pub(crate) fn encode<R: SampleRecords + ?Sized>(
    first_seq: u64,
    records: &R,
    rows: Range<usize>,
) -> Result<Vec<u8>> {
    encode_into(Vec::new(), first_seq, records, rows)
}

/// `encode`, into `buf` (its allocation reused).
pub(crate) fn encode_into<R: SampleRecords + ?Sized>(
    buf: Vec<u8>,
    first_seq: u64,
    records: &R,
    rows: Range<usize>,
) -> Result<Vec<u8>> {
    let size: usize = rows.clone().map(|i| records.record(i).encoded_len()).sum();
    let mut w = Writer::with_header_in(buf, MAGIC, ROWS);
    w.reserve(12 + size);
    w.u64(first_seq);
    w.len(rows.len())?;
    for i in rows {
        let r = records.record(i);
        w.i64(r.ts_ms);
        w.f64(r.confidence);
        w.str(r.model_type)?;
        w.str(r.model_id)?;
        w.str(r.request_id)?;
        w.str(r.document_id)?;
        w.bytes(r.payload)?;
        w.bytes(r.prediction)?;
    }
    Ok(w.finish())
}

/// A wire segment of `count` records, into `buf` (its allocation reused).
pub(crate) fn encode_wire_into(
    buf: Vec<u8>,
    first_seq: u64,
    count: usize,
    default_ts_ms: i64,
    wire: &[u8],
) -> Result<Vec<u8>> {
    let mut w = Writer::with_header_in(buf, MAGIC, WIRE);
    w.reserve(20 + wire.len());
    w.u64(first_seq);
    w.len(count)?;
    w.i64(default_ts_ms);
    w.raw(wire);
    Ok(w.finish())
}

/// `(first_seq, count)` of an encoded segment.
pub(crate) fn header(buf: &[u8]) -> Result<(u64, u64)> {
    let (mut r, _) = Reader::with_header(buf, MAGIC, WIRE)?;
    Ok((r.u64()?, u64::from(r.u32()?)))
}

/// Calls `f(seq, record)` for the records of an encoded segment, in seq order, until it breaks.
pub(crate) fn visit(buf: &[u8], mut f: impl FnMut(u64, SampleRef<'_>) -> ControlFlow<()>) -> Result<()> {
    let (mut r, version) = Reader::with_header(buf, MAGIC, WIRE)?;
    let first_seq = r.u64()?;
    let count = r.u32()? as usize;
    if version == ROWS {
        for item in SegmentRecords::new(buf)? {
            let (seq, record) = item?;
            if f(seq, record).is_break() {
                break;
            }
        }
        return Ok(());
    }
    let default_ts_ms = r.i64()?;
    let batch = crate::ingest::RecordBatch::decode_stored(r.rest().to_vec(), default_ts_ms)?;
    if batch.len() != count {
        return Err(CoreError::Codec(format!(
            "segment holds {} records, its header says {count}",
            batch.len()
        )));
    }
    for i in 0..count {
        if f(first_seq + i as u64, batch.record(i)).is_break() {
            break;
        }
    }
    Ok(())
}

/// The record batch a wire segment holds and its first seq; `None` for a rows segment (which
/// keeps only what the sample log needs, not the batch's statistics columns).
pub(crate) fn wire_batch(buf: &[u8]) -> Result<Option<(u64, crate::ingest::RecordBatch)>> {
    let (mut r, version) = Reader::with_header(buf, MAGIC, WIRE)?;
    if version == ROWS {
        return Ok(None);
    }
    let first_seq = r.u64()?;
    let count = r.u32()? as usize;
    let default_ts_ms = r.i64()?;
    let batch = crate::ingest::RecordBatch::decode_stored(r.rest().to_vec(), default_ts_ms)?;
    if batch.len() != count {
        return Err(CoreError::Codec(format!(
            "segment holds {} records, its header says {count}",
            batch.len()
        )));
    }
    Ok(Some((first_seq, batch)))
}

/// `f(record)` for record `seq` of an encoded segment; `None` if the segment does not hold it.
pub(crate) fn with_record<T>(buf: &[u8], seq: u64, f: impl FnOnce(SampleRef<'_>) -> T) -> Result<Option<T>> {
    let mut f = Some(f);
    let mut out = None;
    visit(buf, |s, record| {
        if s != seq {
            return ControlFlow::Continue(());
        }
        out = f.take().map(|f| f(record));
        ControlFlow::Break(())
    })?;
    Ok(out)
}

/// The records of one encoded segment, in seq order, as `(seq, record)`.
struct SegmentRecords<'a> {
    reader: Reader<'a>,
    seq: u64,
    left: u64,
}

impl<'a> SegmentRecords<'a> {
    pub fn new(buf: &'a [u8]) -> Result<Self> {
        let (mut reader, version) = Reader::with_header(buf, MAGIC, ROWS)?;
        debug_assert_eq!(version, ROWS);
        let seq = reader.u64()?;
        let left = u64::from(reader.u32()?);
        Ok(SegmentRecords { reader, seq, left })
    }

    fn read(&mut self) -> Result<SampleRef<'a>> {
        let r = &mut self.reader;
        Ok(SampleRef {
            ts_ms: r.i64()?,
            confidence: r.f64()?,
            model_type: r.str()?,
            model_id: r.str()?,
            request_id: r.str()?,
            document_id: r.str()?,
            payload: r.bytes()?,
            prediction: r.bytes()?,
        })
    }
}

impl<'a> Iterator for SegmentRecords<'a> {
    type Item = Result<(u64, SampleRef<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let seq = self.seq;
        self.seq += 1;
        Some(self.read().map(|r| (seq, r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(n: usize) -> Vec<Sample> {
        (0..n)
            .map(|i| Sample {
                ts_ms: 1_000 + i as i64,
                model_type: "clf".into(),
                model_id: format!("m{}", i % 2),
                request_id: format!("r{i}"),
                document_id: if i % 3 == 0 { format!("d{i}") } else { String::new() },
                payload: vec![i as u8; i],
                prediction: format!("{{\"label\":{i}}}").into_bytes(),
                confidence: i as f64 / n as f64,
                ..Sample::default()
            })
            .collect()
    }

    #[test]
    fn store_segment_round_trip_header_find_and_corruption() {
        let s = samples(5);
        let buf = encode(41, s.as_slice(), 1..5).unwrap();
        assert_eq!(header(&buf).unwrap(), (41, 4));
        let back: Vec<(u64, Sample)> = SegmentRecords::new(&buf)
            .unwrap()
            .map(|item| item.map(|(seq, r)| (seq, r.to_sample(seq, None))))
            .collect::<Result<_>>()
            .unwrap();
        let want: Vec<(u64, Sample)> =
            (1..5).map(|i| (40 + i as u64, Sample { seq: 40 + i as u64, ..s[i].clone() })).collect();
        assert_eq!(back, want);
        assert_eq!(with_record(&buf, 43, |r| r.request_id.to_owned()).unwrap().as_deref(), Some("r3"));
        assert_eq!(with_record(&buf, 45, |_| ()).unwrap(), None);
        for cut in 14..buf.len() {
            let all: Result<Vec<_>> = SegmentRecords::new(&buf[..cut]).and_then(|it| it.collect());
            assert!(matches!(all, Err(CoreError::Codec(_))), "cut at {cut}");
        }
    }

    #[test]
    fn store_segment_record_validation_names_the_field() {
        let s = samples(1);
        let mut r = s.as_slice().record(0);
        assert!(r.validate().is_ok());
        r.request_id = "";
        assert!(matches!(r.validate(), Err(CoreError::InvalidInput { field, .. }) if field == "request_id"));
        let long = "x".repeat(MAX_REQUEST_ID_BYTES + 1);
        r.request_id = &long;
        assert!(r.validate().is_err());
        r.request_id = "ok";
        r.confidence = f64::NAN;
        assert!(matches!(r.validate(), Err(CoreError::InvalidInput { field, .. }) if field == "confidence"));
    }
}
