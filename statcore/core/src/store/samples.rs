//! The durable sample log inside one write transaction: insert a batch, attach a label, evict,
//! read a page for a consumer, and the persisted counters.
//!
//! Keys: `samples` is keyed by seq as 8 big-endian bytes (byte order = seq order);
//! `by_request` maps request_id (UTF-8) to seq (8 big-endian bytes). The latest sample with a
//! given request id owns the index entry; eviction removes an entry only if it still points at
//! the evicted seq.
//!
//! `meta/counters` value: magic `LWCT`, version `1`, `next_seq u64, cursor u64,
//! evicted_total u64, sample_bytes u64, last_flush_ms (u8 0|1 [+ i64])`.

use std::ops::Bound;

use heed::{MdbError, PutFlags, RoTxn, RwTxn};

use super::env::Dbs;
use super::sample::Sample;
use crate::codec::{Reader, Writer};
use crate::error::{CoreError, Result};

const COUNTERS_MAGIC: &[u8; 4] = b"LWCT";
const COUNTERS_VERSION: u16 = 1;
const COUNTERS_KEY: &[u8] = b"counters";

/// Persisted bookkeeping of the sample log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Counters {
    /// The next seq to issue; seqs start at 1, so 0 always means "none".
    pub next_seq: u64,
    /// The consumer's acknowledged position.
    pub cursor: u64,
    pub evicted_total: u64,
    /// Sum of the encoded sizes of the stored sample records.
    pub sample_bytes: u64,
    pub last_flush_ms: Option<i64>,
}

/// Retention bounds, enforced at every flush.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub max_samples: u64,
    pub max_age_ms: Option<i64>,
}

pub(crate) fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

fn decode_seq(bytes: &[u8]) -> Result<u64> {
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
        });
    };
    let (mut r, _) = Reader::with_header(bytes, COUNTERS_MAGIC, COUNTERS_VERSION)?;
    let counters = Counters {
        next_seq: r.u64()?,
        cursor: r.u64()?,
        evicted_total: r.u64()?,
        sample_bytes: r.u64()?,
        last_flush_ms: match r.u8()? {
            0 => None,
            1 => Some(r.i64()?),
            t => return Err(CoreError::Codec(format!("bad last_flush_ms tag {t}"))),
        },
    };
    r.finish()?;
    Ok(counters)
}

fn save_counters(wtxn: &mut RwTxn, dbs: Dbs, c: &Counters) -> Result<()> {
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
    dbs.meta.put(wtxn, COUNTERS_KEY, &w.finish())?;
    Ok(())
}

/// Writes a batch (seqs already assigned, ascending), enforces the bounds at `now_ms` and
/// updates the counters; all in the caller's transaction.
pub(crate) fn commit_batch(
    wtxn: &mut RwTxn,
    dbs: Dbs,
    batch: &[Sample],
    now_ms: i64,
    bounds: Bounds,
) -> Result<Counters> {
    let mut c = load_counters(wtxn, dbs)?;
    for sample in batch {
        let value = sample.encode()?;
        put_in_order(wtxn, dbs, &seq_key(sample.seq), &value)?;
        c.sample_bytes = c.sample_bytes.saturating_add(value.len() as u64);
        c.next_seq = c.next_seq.max(sample.seq.saturating_add(1));
    }
    // The request index in key order: neighbouring inserts touch the same pages. Equal ids stay
    // in seq order (stable sort), so the latest sample still owns its entry.
    let mut index: Vec<(&[u8], u64)> = batch.iter().map(|s| (s.request_id.as_bytes(), s.seq)).collect();
    index.sort_by(|a, b| a.0.cmp(b.0));
    for (request_id, seq) in index {
        dbs.by_request.put(wtxn, request_id, &seq_key(seq))?;
    }
    evict(wtxn, dbs, &mut c, now_ms, bounds)?;
    c.last_flush_ms = Some(now_ms);
    save_counters(wtxn, dbs, &c)?;
    Ok(c)
}

/// Stores a sample whose seq is above every stored one (seqs only grow) with `MDB_APPEND`: no
/// search from the root, and full pages instead of half-split ones. LMDB refuses a key out of
/// order rather than misplacing it; then the plain put stores it.
fn put_in_order(wtxn: &mut RwTxn, dbs: Dbs, key: &[u8], value: &[u8]) -> Result<()> {
    match dbs.samples.put_with_flags(wtxn, PutFlags::APPEND, key, value) {
        Err(heed::Error::Mdb(MdbError::KeyExist)) => dbs.samples.put(wtxn, key, value)?,
        other => other?,
    }
    Ok(())
}

/// Evicts oldest-first while the log holds more than `max_samples`, or while the oldest sample
/// is older than `now_ms - max_age_ms`. Age eviction walks from the oldest seq and stops at the
/// first sample within the bound (samples are appended in roughly time order). The evicted
/// samples are a prefix of the log, deleted as one range; only their timestamps and request
/// ids are read.
fn evict(wtxn: &mut RwTxn, dbs: Dbs, c: &mut Counters, now_ms: i64, bounds: Bounds) -> Result<()> {
    let count = dbs.samples.len(wtxn)?;
    let over = count.saturating_sub(bounds.max_samples);
    let cutoff = bounds.max_age_ms.map(|age| now_ms.saturating_sub(age));
    if over == 0 && cutoff.is_none() {
        return Ok(());
    }
    let mut doomed: Vec<(u64, String)> = Vec::new();
    let mut bytes = 0u64;
    for item in dbs.samples.iter(wtxn)? {
        let (key, value) = item?;
        let (ts_ms, request_id) = Sample::peek_ts_and_request_id(value)?;
        let too_old = cutoff.is_some_and(|cut| ts_ms < cut);
        if (doomed.len() as u64) >= over && !too_old {
            break;
        }
        doomed.push((decode_seq(key)?, request_id.to_owned()));
        bytes = bytes.saturating_add(value.len() as u64);
    }
    let Some((last, _)) = doomed.last() else { return Ok(()) };
    let last = seq_key(*last);
    let range = (Bound::Unbounded, Bound::Included(&last[..]));
    dbs.samples.delete_range(wtxn, &range)?;
    doomed.sort_by(|a, b| a.1.cmp(&b.1)); // key order, as at insert
    for (seq, request_id) in &doomed {
        let indexed = dbs.by_request.get(wtxn, request_id.as_bytes())?.map(decode_seq).transpose()?;
        if indexed == Some(*seq) {
            dbs.by_request.delete(wtxn, request_id.as_bytes())?;
        }
    }
    c.sample_bytes = c.sample_bytes.saturating_sub(bytes);
    c.evicted_total = c.evicted_total.saturating_add(doomed.len() as u64);
    Ok(())
}

/// Sets the label of the stored sample that owns `request_id`; returns its seq.
pub(crate) fn attach_label(
    wtxn: &mut RwTxn,
    dbs: Dbs,
    request_id: &str,
    label: &[u8],
    human_correction: bool,
) -> Result<u64> {
    let not_found = || CoreError::NotFound(format!("no stored sample with request_id {request_id:?}"));
    let seq = dbs.by_request.get(wtxn, request_id.as_bytes())?.ok_or_else(not_found)?;
    let seq = decode_seq(seq)?;
    let old = dbs.samples.get(wtxn, &seq_key(seq))?.ok_or_else(not_found)?;
    let old_len = old.len() as u64;
    let mut sample = Sample::decode(old)?;
    sample.label = Some(label.to_vec());
    sample.human_correction = human_correction;
    let value = sample.encode()?;
    dbs.samples.put(wtxn, &seq_key(seq), &value)?;
    let mut c = load_counters(wtxn, dbs)?;
    c.sample_bytes = c.sample_bytes.saturating_sub(old_len).saturating_add(value.len() as u64);
    save_counters(wtxn, dbs, &c)?;
    Ok(seq)
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

/// Up to `limit` stored samples with seq > `after_seq`, in seq order.
pub(crate) fn pull(rtxn: &RoTxn, dbs: Dbs, after_seq: u64, limit: usize) -> Result<Vec<Sample>> {
    let start = seq_key(after_seq);
    let range = (Bound::Excluded(&start[..]), Bound::Unbounded);
    dbs.samples.range(rtxn, &range)?.take(limit).map(|item| Sample::decode(item?.1)).collect()
}

/// `(document_id, request_id)` of the newest stored samples that carry a document id, at most
/// `limit`, oldest first (what a restarted sidecar needs to join feedback keyed by document).
pub(crate) fn documents(rtxn: &RoTxn, dbs: Dbs, limit: usize) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for item in dbs.samples.rev_iter(rtxn)? {
        if out.len() >= limit {
            break;
        }
        let sample = Sample::decode(item?.1)?;
        if !sample.document_id.is_empty() {
            out.push((sample.document_id, sample.request_id));
        }
    }
    out.reverse();
    Ok(out)
}

/// (count, oldest seq, newest seq) of the stored samples; seqs are 0 when the log is empty.
pub(crate) fn extent(rtxn: &RoTxn, dbs: Dbs) -> Result<(u64, u64, u64)> {
    let count = dbs.samples.len(rtxn)?;
    let first = dbs.samples.first(rtxn)?.map(|(k, _)| decode_seq(k)).transpose()?;
    let last = dbs.samples.last(rtxn)?.map(|(k, _)| decode_seq(k)).transpose()?;
    Ok((count, first.unwrap_or(0), last.unwrap_or(0)))
}
