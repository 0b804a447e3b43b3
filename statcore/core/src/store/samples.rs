//! The durable sample log inside one transaction: commit segments and labels, evict, look a
//! record up, read a page for a consumer, and the persisted counters.
//!
//! `segments` is keyed by the segment's first seq (8 big-endian bytes: byte order = seq order;
//! format in `segment.rs`); `labels` by seq (`labels.rs`). Seqs are contiguous: the live log
//! is `first_live..next_seq`. Eviction moves `first_live` forward (exactly `max_samples` stay)
//! and deletes a segment once all of its records are below it, so the oldest segment may still
//! hold evicted records, which are never read.
//!
//! `meta/counters` value: magic `LWCT`, version `2`, `next_seq u64, cursor u64,
//! evicted_total u64, sample_bytes u64, last_flush_ms (u8 0|1 [+ i64]), first_live u64`
//! (version 1, written by store format 1, lacks `first_live`).

use std::ops::{Bound, ControlFlow};

use heed::{MdbError, PutFlags, RoTxn, RwTxn};

use super::env::Dbs;
use super::labels::{self, Label};
use super::sample::Sample;
use super::segment::{self, SampleRef};
use crate::codec::{Reader, Writer};
use crate::error::{CoreError, Result};

const COUNTERS_MAGIC: &[u8; 4] = b"LWCT";
const COUNTERS_VERSION: u16 = 2;
const COUNTERS_KEY: &[u8] = b"counters";

/// Persisted bookkeeping of the sample log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Counters {
    /// The next seq to issue; seqs start at 1, so 0 always means "none".
    pub next_seq: u64,
    /// The consumer's acknowledged position.
    pub cursor: u64,
    pub evicted_total: u64,
    /// Bytes of the stored segments and labels.
    pub sample_bytes: u64,
    pub last_flush_ms: Option<i64>,
    /// The oldest live seq (`next_seq` when the log is empty).
    pub first_live: u64,
}

impl Counters {
    pub fn live(&self) -> u64 {
        self.next_seq.saturating_sub(self.first_live)
    }
}

/// Retention bounds, enforced at every flush.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub max_samples: u64,
    pub max_age_ms: Option<i64>,
}

/// A segment appended but not yet committed.
#[derive(Debug, Clone)]
pub(crate) struct PendingSegment {
    pub first_seq: u64,
    pub count: u64,
    pub bytes: Vec<u8>,
}

pub(crate) fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

pub(crate) fn decode_seq(bytes: &[u8]) -> Result<u64> {
    let b: [u8; 8] = bytes.try_into().map_err(|_| CoreError::Codec("malformed seq".into()))?;
    Ok(u64::from_be_bytes(b))
}

pub(crate) fn load_counters(rtxn: &RoTxn, dbs: Dbs) -> Result<Counters> {
    let Some(bytes) = dbs.meta.get(rtxn, COUNTERS_KEY)? else {
        return Ok(Counters {
            next_seq: 1,
            cursor: 0,
            evicted_total: 0,
            sample_bytes: 0,
            last_flush_ms: None,
            first_live: 1,
        });
    };
    let (mut r, version) = Reader::with_header(bytes, COUNTERS_MAGIC, COUNTERS_VERSION)?;
    let mut counters = Counters {
        next_seq: r.u64()?,
        cursor: r.u64()?,
        evicted_total: r.u64()?,
        sample_bytes: r.u64()?,
        last_flush_ms: match r.u8()? {
            0 => None,
            1 => Some(r.i64()?),
            t => return Err(CoreError::Codec(format!("bad last_flush_ms tag {t}"))),
        },
        first_live: 1,
    };
    if version >= 2 {
        counters.first_live = r.u64()?;
    }
    r.finish()?;
    Ok(counters)
}

pub(crate) fn save_counters(wtxn: &mut RwTxn, dbs: Dbs, c: &Counters) -> Result<()> {
    let mut w = Writer::with_header(COUNTERS_MAGIC, COUNTERS_VERSION);
    w.u64(c.next_seq);
    w.u64(c.cursor);
    w.u64(c.evicted_total);
    w.u64(c.sample_bytes);
    match c.last_flush_ms {
        Some(ms) => {
            w.u8(1);
            w.i64(ms);
        }
        None => w.u8(0),
    }
    w.u64(c.first_live);
    dbs.meta.put(wtxn, COUNTERS_KEY, &w.finish())?;
    Ok(())
}

/// Writes the pending segments (ascending, contiguous seqs) and labels, enforces the bounds at
/// `now_ms` and updates the counters; all in the caller's transaction.
pub(crate) fn commit(
    wtxn: &mut RwTxn,
    dbs: Dbs,
    segments: &[std::sync::Arc<PendingSegment>],
    pending_labels: &[(u64, Label)],
    now_ms: i64,
    bounds: Bounds,
) -> Result<Counters> {
    let mut c = load_counters(wtxn, dbs)?;
    for seg in segments {
        put_in_order(wtxn, dbs, &seq_key(seg.first_seq), &seg.bytes)?;
        c.sample_bytes = c.sample_bytes.saturating_add(seg.bytes.len() as u64);
        c.next_seq = c.next_seq.max(seg.first_seq.saturating_add(seg.count));
    }
    for (seq, label) in pending_labels {
        let delta = labels::put(wtxn, dbs, *seq, label)?;
        c.sample_bytes = c.sample_bytes.saturating_add_signed(delta);
    }
    evict(wtxn, dbs, &mut c, now_ms, bounds)?;
    c.last_flush_ms = Some(now_ms);
    save_counters(wtxn, dbs, &c)?;
    Ok(c)
}

/// Stores a segment whose key is above every stored one (seqs only grow) with `MDB_APPEND`: no
/// search from the root. LMDB refuses a key out of order rather than misplacing it; then the
/// plain put stores it.
fn put_in_order(wtxn: &mut RwTxn, dbs: Dbs, key: &[u8], value: &[u8]) -> Result<()> {
    match dbs.segments.put_with_flags(wtxn, PutFlags::APPEND, key, value) {
        Err(heed::Error::Mdb(MdbError::KeyExist)) => dbs.segments.put(wtxn, key, value)?,
        other => other?,
    }
    Ok(())
}

/// Evicts oldest-first while more than `max_samples` are live, or while the oldest live sample
/// is older than `now_ms - max_age_ms` (walking from the oldest, stopping at the first sample
/// within the bound: samples arrive in roughly time order). Then deletes the segments and
/// labels that hold only evicted records.
fn evict(wtxn: &mut RwTxn, dbs: Dbs, c: &mut Counters, now_ms: i64, bounds: Bounds) -> Result<()> {
    let mut first_live = c.first_live.max(c.next_seq.saturating_sub(bounds.max_samples));
    if let Some(cut) = bounds.max_age_ms.map(|age| now_ms.saturating_sub(age)) {
        first_live = first_young(wtxn, dbs, first_live, c.next_seq, cut)?;
    }
    if first_live <= c.first_live {
        return Ok(());
    }
    c.evicted_total = c.evicted_total.saturating_add(first_live - c.first_live);
    c.first_live = first_live;
    let mut last_doomed = None;
    let mut bytes = 0u64;
    for item in dbs.segments.iter(wtxn)? {
        let (key, value) = item?;
        let (first, count) = segment::header(value)?;
        if first.saturating_add(count) > first_live {
            break;
        }
        last_doomed = Some(decode_seq(key)?);
        bytes = bytes.saturating_add(value.len() as u64);
    }
    if let Some(last) = last_doomed {
        let last = seq_key(last);
        dbs.segments.delete_range(wtxn, &(Bound::Unbounded, Bound::Included(&last[..])))?;
    }
    bytes = bytes.saturating_add(labels::delete_below(wtxn, dbs, first_live)?);
    c.sample_bytes = c.sample_bytes.saturating_sub(bytes);
    Ok(())
}

/// The first seq in `from..next_seq` whose timestamp is not before `cut` (`next_seq` if none).
fn first_young(rtxn: &RoTxn, dbs: Dbs, from: u64, next_seq: u64, cut: i64) -> Result<u64> {
    for item in segments_from(rtxn, dbs, from)? {
        let mut young = None;
        segment::visit(item?.1, |seq, r| {
            if seq >= from && r.ts_ms >= cut {
                young = Some(seq);
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        })?;
        if let Some(seq) = young {
            return Ok(seq);
        }
    }
    Ok(next_seq)
}

type SegmentIter<'t> = heed::RoRange<'t, heed::types::Bytes, heed::types::Bytes>;

/// The stored segments from the one holding `seq` on, in seq order.
fn segments_from<'t>(rtxn: &'t RoTxn, dbs: Dbs, seq: u64) -> Result<SegmentIter<'t>> {
    let key = seq_key(seq);
    let start = match dbs.segments.get_lower_than_or_equal_to(rtxn, &key)? {
        Some((k, _)) => decode_seq(k)?,
        None => seq,
    };
    let start = seq_key(start);
    Ok(dbs.segments.range(rtxn, &(Bound::Included(&start[..]), Bound::Unbounded))?)
}

/// `f(record)` for the live stored record `seq`, if there is one.
pub(crate) fn with_record<T>(
    rtxn: &RoTxn,
    dbs: Dbs,
    c: &Counters,
    seq: u64,
    f: impl FnOnce(SampleRef<'_>) -> T,
) -> Result<Option<T>> {
    if seq < c.first_live || seq >= c.next_seq {
        return Ok(None);
    }
    let Some((_, value)) = dbs.segments.get_lower_than_or_equal_to(rtxn, &seq_key(seq))? else {
        return Ok(None);
    };
    segment::with_record(value, seq, f)
}

/// Labels the live stored sample `seq` if its request id is `request_id`; `NotFound` otherwise.
pub(crate) fn attach_label(
    wtxn: &mut RwTxn,
    dbs: Dbs,
    seq: u64,
    request_id: &str,
    label: &Label,
) -> Result<()> {
    let mut c = load_counters(wtxn, dbs)?;
    let owns = with_record(wtxn, dbs, &c, seq, |r| r.request_id == request_id)?.unwrap_or(false);
    if !owns {
        return Err(CoreError::NotFound(format!(
            "no stored sample with request_id {}",
            crate::ingest::excerpt(request_id)
        )));
    }
    let delta = labels::put(wtxn, dbs, seq, label)?;
    c.sample_bytes = c.sample_bytes.saturating_add_signed(delta);
    save_counters(wtxn, dbs, &c)
}

/// Persists the consumer position. Acks at or below the cursor are no-ops (redelivery);
/// acking a seq that was never flushed is refused.
pub(crate) fn ack(wtxn: &mut RwTxn, dbs: Dbs, seq: u64) -> Result<()> {
    let mut c = load_counters(wtxn, dbs)?;
    if seq >= c.next_seq {
        return Err(CoreError::invalid(
            "seq",
            format!("{seq} was never flushed (last flushed seq is {})", c.next_seq - 1),
        ));
    }
    if seq > c.cursor {
        c.cursor = seq;
        save_counters(wtxn, dbs, &c)?;
    }
    Ok(())
}

/// Up to `limit` live stored samples with seq > `after_seq`, in seq order, labels attached.
pub(crate) fn pull(rtxn: &RoTxn, dbs: Dbs, after_seq: u64, limit: usize) -> Result<Vec<Sample>> {
    let c = load_counters(rtxn, dbs)?;
    let start = after_seq.saturating_add(1).max(c.first_live);
    let mut out: Vec<Sample> = Vec::new();
    if limit == 0 || start >= c.next_seq {
        return Ok(out);
    }
    for item in segments_from(rtxn, dbs, start)? {
        segment::visit(item?.1, |seq, r| {
            if seq >= start {
                out.push(r.to_sample(seq, None));
            }
            if out.len() >= limit {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        })?;
        if out.len() >= limit {
            break;
        }
    }
    if let (Some(first), Some(last)) = (out.first().map(|s| s.seq), out.last().map(|s| s.seq)) {
        for (seq, label) in labels::range(rtxn, dbs, first, last)? {
            let sample = &mut out[(seq - first) as usize];
            sample.label = Some(label.label);
            sample.human_correction = label.human_correction;
        }
    }
    Ok(out)
}

/// Calls `f(first_seq, ids)` for every stored segment that holds a live record, in seq order,
/// with the `(request_id, document_id)` of its records from `first_seq` on (evicted ones
/// included).
pub(crate) fn scan_segments(
    rtxn: &RoTxn,
    dbs: Dbs,
    mut f: impl FnMut(u64, &[(String, String)]),
) -> Result<()> {
    let c = load_counters(rtxn, dbs)?;
    let mut ids = Vec::new();
    for item in segments_from(rtxn, dbs, c.first_live)? {
        let value = item?.1;
        ids.clear();
        segment::visit(value, |_, r| {
            ids.push((r.request_id.to_owned(), r.document_id.to_owned()));
            ControlFlow::Continue(())
        })?;
        f(segment::header(value)?.0, &ids);
    }
    Ok(())
}

/// The record batches of the stored wire segments that hold live records at or after `seq`, in
/// seq order, up to `limit` segments, each with its first seq (rows segments are skipped: see
/// [`segment::wire_batch`]).
pub(crate) fn batches_from(
    rtxn: &RoTxn,
    dbs: Dbs,
    seq: u64,
    limit: usize,
) -> Result<Vec<(u64, crate::ingest::RecordBatch)>> {
    let c = load_counters(rtxn, dbs)?;
    let start = seq.max(c.first_live);
    let mut out = Vec::new();
    if start >= c.next_seq {
        return Ok(out);
    }
    for item in segments_from(rtxn, dbs, start)? {
        if out.len() >= limit {
            break;
        }
        let value = item?.1;
        let (first, count) = segment::header(value)?;
        if first.saturating_add(count) <= start {
            continue;
        }
        if let Some(batch) = segment::wire_batch(value)? {
            out.push(batch);
        }
    }
    Ok(out)
}
