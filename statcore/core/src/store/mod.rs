//! LMDB persistence (heed): the routing table, aggregate windows and the durable sample log.
//!
//! One [`Store`] is one LMDB environment (a directory) with the named databases `meta`,
//! `segments`, `labels`, `windows` and `routing` (formats in each module's docs; `samples` and
//! `by_request` are store format 1's, emptied by the migration in `migrate.rs`).
//!
//! The sample log: an append becomes segments of up to [`SEGMENT_MAX_RECORDS`] records at once
//! (a record batch as the bytes it arrived in; one LMDB value each at the flush), buffered in
//! `buffer.rs` and indexed in memory by request id and document id (`record_index.rs`); labels
//! are stored apart, keyed by seq. [`FlushWorker`] flushes a shared store on its own thread.
//!
//! Durability: every method that writes commits one LMDB write transaction with the default
//! (full) sync before it returns, except [`Store::append`], which only buffers in memory:
//! [`Store::flush`] writes everything appended so far in one transaction (group commit).
//! After a crash the store reopens in the state of its last committed transaction.
//!
//! Windows and the log: [`Store::flush_with_windows`] commits a sample-log flush, aggregate
//! windows and their high-water seq in one transaction, so the stored windows always hold
//! exactly the log's records below that seq, all of them durable; the log may run ahead (a plain
//! [`Store::flush`]), and [`Store::batches_from`] reads the batches after the high-water seq back
//! for the caller to replay into its windows at open (the sidecar's `WindowBook.replay`).
//!
//! Seqs: [`Store::append`] assigns seqs from a persisted counter that only moves forward (through
//! eviction and restarts). A seq becomes durable at the flush that writes it; the seqs of
//! samples appended but never flushed before a crash were never stored or shown to a consumer,
//! and are issued again after the restart.
//!
//! Nothing here reads the clock: `now_ms` is an argument.

mod blobs;
mod buffer;
mod env;
mod flush_worker;
mod labels;
mod migrate;
mod record_index;
mod routing;
mod sample;
mod samples;
mod segment;
mod windows;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use blobs::MAX_BLOB_NAME_BYTES;
pub use env::{MAP_GRAIN, STORE_FORMAT_VERSION};
pub use flush_worker::FlushWorker;
pub use sample::{Sample, MAX_REQUEST_ID_BYTES};
pub use samples::Bounds;
pub use segment::{SampleRecords, SampleRef, SEGMENT_MAX_RECORDS};
pub use windows::{WindowEntry, MAX_WINDOW_IDS_BYTES};

use std::ops::Range;

use std::sync::{Mutex, MutexGuard, RwLock};

use heed::{RoTxn, RwTxn};

use crate::error::{CoreError, Result};
use crate::ingest::{excerpt, RejectReason, Rejection};
use buffer::SampleBuffer;
use env::{Dbs, LmdbEnv};
use labels::Label;
use record_index::RecordIndex;

/// How a store is opened; sizes are rounded up to [`MAP_GRAIN`].
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// Initial LMDB map size in bytes (an existing larger environment keeps its size).
    pub map_size: usize,
    /// The map doubles on `MDB_MAP_FULL` up to this size; beyond it writes fail with `StoreFull`.
    pub max_map_size: usize,
    /// Most samples kept; the oldest are evicted at flush.
    pub max_samples: u64,
    /// Samples older than `now_ms - max_age_ms` are evicted at flush; `None`: no age bound.
    pub max_age_ms: Option<i64>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { map_size: 64 << 20, max_map_size: 16 << 30, max_samples: 1_000_000, max_age_ms: None }
    }
}

impl StoreConfig {
    fn validate(&self) -> Result<()> {
        if self.map_size == 0 {
            return Err(CoreError::invalid("map_size", "must be positive"));
        }
        if self.max_map_size < self.map_size {
            return Err(CoreError::invalid("max_map_size", "must be at least map_size"));
        }
        if self.max_samples == 0 {
            return Err(CoreError::invalid("max_samples", "must be positive"));
        }
        if self.max_age_ms.is_some_and(|age| age < 0) {
            return Err(CoreError::invalid("max_age_ms", "must not be negative"));
        }
        Ok(())
    }
}

/// A snapshot of the store's counts.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreStats {
    pub samples: u64,
    /// Bytes of the stored segments and labels (a segment counts whole until all of its
    /// records are evicted).
    pub bytes: u64,
    /// 0 when the log is empty (seqs start at 1).
    pub oldest_seq: u64,
    pub newest_seq: u64,
    pub next_seq: u64,
    pub cursor: u64,
    pub evicted_total: u64,
    /// Appended but not yet flushed.
    pub pending: u64,
    pub map_size: u64,
    pub last_flush_ms: Option<i64>,
}

/// One LMDB-backed store; every method takes `&self` and the store is `Send + Sync`.
///
/// Locks: `env` (read-write lock: LMDB transactions; writers, including map growth, exclusive)
/// and `buffer` (the pending samples), always taken in that order. An append takes only
/// `buffer`, so ingest never waits for a flush's commit and sync.
pub struct Store {
    env: RwLock<LmdbEnv>,
    buffer: Mutex<SampleBuffer>,
    bounds: Bounds,
}

fn poisoned<T>(_: T) -> CoreError {
    CoreError::Store("store lock poisoned (a thread panicked while holding it)".into())
}

impl Store {
    /// Opens (creating if needed) the store in directory `path`, migrating a store-format-1
    /// store, and rebuilds the in-memory record index from the stored samples. Refuses a store
    /// written with a newer store-format version.
    pub fn open(path: &Path, config: &StoreConfig) -> Result<Store> {
        config.validate()?;
        let map_size = env::round_up(config.map_size);
        let max_map_size = env::round_up(config.max_map_size);
        let (mut env, version) = LmdbEnv::open(path, map_size, max_map_size)?;
        if version < STORE_FORMAT_VERSION {
            env.write(migrate::v1_to_v2)?;
        }
        let mut index = RecordIndex::default();
        let next_seq = env.read(|rtxn, dbs| {
            samples::scan_segments(rtxn, dbs, |first_seq, records| {
                index.add_segment(first_seq, records.iter().map(|(r, d)| (r.as_str(), d.as_str())));
            })?;
            let c = samples::load_counters(rtxn, dbs)?;
            Ok((c.next_seq, c.first_live))
        })?;
        // The oldest segment may still hold evicted records: the index ignores them from here.
        let (next_seq, first_live) = next_seq;
        index.prune(first_live);
        let bounds = Bounds { max_samples: config.max_samples, max_age_ms: config.max_age_ms };
        Ok(Store { env: RwLock::new(env), buffer: Mutex::new(SampleBuffer::new(next_seq, index)), bounds })
    }

    fn read<T>(&self, f: impl FnOnce(&RoTxn, Dbs) -> Result<T>) -> Result<T> {
        self.env.read().map_err(poisoned)?.read(f)
    }

    fn write<T>(&self, f: impl FnMut(&mut RwTxn, Dbs) -> Result<T>) -> Result<T> {
        self.env.write().map_err(poisoned)?.write(f)
    }

    fn buffer(&self) -> Result<MutexGuard<'_, SampleBuffer>> {
        self.buffer.lock().map_err(poisoned)
    }

    // ---- routing table ----

    /// Stores the routing blob; a generation lower than the stored one is `StaleGeneration`.
    pub fn put_routing(&self, generation: u64, blob: &[u8]) -> Result<()> {
        self.write(|wtxn, dbs| routing::put(wtxn, dbs, generation, blob))
    }

    pub fn get_routing(&self) -> Result<Option<(u64, Vec<u8>)>> {
        self.read(routing::get)
    }

    // ---- named blobs ----

    /// Stores `value` under `name` (durable on return; replaces an existing blob).
    pub fn put_blob(&self, name: &str, value: &[u8]) -> Result<()> {
        self.write(|wtxn, dbs| blobs::put(wtxn, dbs, name, value))
    }

    pub fn get_blob(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.read(|rtxn, dbs| blobs::get(rtxn, dbs, name))
    }

    /// Every blob whose name starts with `prefix`, in name order.
    pub fn blobs_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.read(|rtxn, dbs| blobs::with_prefix(rtxn, dbs, prefix))
    }

    // ---- aggregate windows ----

    pub fn put_window(&self, model_type: &str, model_id: &str, start_ms: i64, bytes: &[u8]) -> Result<()> {
        let key = windows::encode_key(model_type, model_id, start_ms)?;
        self.write(|wtxn, dbs| windows::put(wtxn, dbs, &key, bytes))
    }

    /// Stores several windows in one transaction (one sync): `(model_type, model_id, start_ms,
    /// bytes)` each.
    pub fn put_windows(&self, entries: &[WindowEntry]) -> Result<()> {
        let keys = entries
            .iter()
            .map(|(model_type, model_id, start_ms, _)| windows::encode_key(model_type, model_id, *start_ms))
            .collect::<Result<Vec<_>>>()?;
        if keys.is_empty() {
            return Ok(());
        }
        self.write(|wtxn, dbs| {
            keys.iter()
                .zip(entries)
                .try_for_each(|(key, (_, _, _, bytes))| windows::put(wtxn, dbs, key, bytes))
        })
    }

    pub fn get_window(&self, model_type: &str, model_id: &str, start_ms: i64) -> Result<Option<Vec<u8>>> {
        let key = windows::encode_key(model_type, model_id, start_ms)?;
        self.read(|rtxn, dbs| windows::get(rtxn, dbs, &key))
    }

    /// Every window (all models) with `start >= since_ms`, in (model_type, model_id, start)
    /// order. Scans all windows.
    pub fn windows_since(&self, since_ms: i64) -> Result<Vec<WindowEntry>> {
        self.read(|rtxn, dbs| windows::since(rtxn, dbs, since_ms))
    }

    /// Deletes every window with `start < before_ms`; returns how many. Scans all windows.
    pub fn delete_windows_before(&self, before_ms: i64) -> Result<u64> {
        self.write(|wtxn, dbs| windows::delete_before(wtxn, dbs, before_ms))
    }

    // ---- sample log ----

    /// Validates every record, then encodes them into pending segments and returns the seqs
    /// assigned. Nothing from a rejected batch is buffered. Not durable until [`Store::flush`].
    pub fn append<R: SampleRecords + ?Sized>(&self, records: &R) -> Result<Range<u64>> {
        self.buffer()?.append(records)
    }

    /// [`Store::append`] of records whose request ids are new to the log (the contract of a
    /// sidecar's record batches): a request id that a live sample (stored or buffered) already
    /// carries refuses the whole batch with a [`RejectReason::DuplicateId`] rejection. The
    /// common case costs one hash-table probe per record; only a hash match reads a record
    /// back, and only then does the append wait for a running flush.
    pub fn append_new<R: SampleRecords + ?Sized>(&self, records: &R) -> Result<Range<u64>> {
        {
            let mut buffer = self.buffer()?;
            if !(0..records.len()).any(|i| buffer.index.may_hold_request(records.record(i).request_id)) {
                return buffer.append(records);
            }
        }
        // Confirm against the records themselves, the locks taken in their order.
        let env = self.env.read().map_err(poisoned)?;
        let mut buffer = self.buffer()?;
        for i in 0..records.len() {
            let id = records.record(i).request_id;
            if let Some(seq) = locate_request(&env, &buffer, id)? {
                return Err(CoreError::Rejected(Rejection::new(
                    RejectReason::DuplicateId,
                    format!("request_id[{i}]"),
                    format!("{} is already in the sample log (seq {seq})", excerpt(id)),
                )));
            }
        }
        buffer.append(records)
    }

    /// Makes everything appended (and labelled) so far durable in one write transaction, then
    /// enforces the bounds at `now_ms`. Appends go on meanwhile (they join the next flush). On
    /// error (e.g. `StoreFull`) the samples stay buffered for a retry.
    pub fn flush(&self, now_ms: i64) -> Result<()> {
        let mut env = self.env.write().map_err(poisoned)?;
        self.flush_locked(&mut env, now_ms)
    }

    fn flush_locked(&self, env: &mut LmdbEnv, now_ms: i64) -> Result<()> {
        self.flush_locked_with(env, now_ms, |_, _| Ok(()))
    }

    /// The flush, with `extra` run in the same write transaction (after the samples).
    fn flush_locked_with(
        &self,
        env: &mut LmdbEnv,
        now_ms: i64,
        mut extra: impl FnMut(&mut RwTxn, Dbs) -> Result<()>,
    ) -> Result<()> {
        let snapshot = self.buffer()?.snapshot();
        let bounds = self.bounds;
        let c = env.write(|wtxn, dbs| {
            let c = samples::commit(wtxn, dbs, &snapshot.segments, &snapshot.labels, now_ms, bounds)?;
            extra(wtxn, dbs)?;
            Ok(c)
        })?;
        self.buffer()?.committed(snapshot, c.next_seq, c.first_live);
        Ok(())
    }

    /// [`Store::flush`] and the aggregate windows `entries` with their high-water seq, in ONE
    /// write transaction: after any crash the stored windows hold exactly the log's records below
    /// `high_water` (the caller captures the windows and [`Store::next_seq`] together, with no
    /// append half-applied), and every record below it is in the log, since the flush commits
    /// everything appended before it started. Records from `high_water` on are replayed into the
    /// windows from the log at open ([`Store::batches_from`]). Keys are checked first: a bad one
    /// commits nothing.
    pub fn flush_with_windows(&self, now_ms: i64, entries: &[WindowEntry], high_water: u64) -> Result<()> {
        let keys = entries
            .iter()
            .map(|(model_type, model_id, start_ms, _)| windows::encode_key(model_type, model_id, *start_ms))
            .collect::<Result<Vec<_>>>()?;
        let mut env = self.env.write().map_err(poisoned)?;
        self.flush_locked_with(&mut env, now_ms, |wtxn, dbs| {
            for (key, (_, _, _, bytes)) in keys.iter().zip(entries) {
                windows::put(wtxn, dbs, key, bytes)?;
            }
            windows::put_high_water(wtxn, dbs, high_water)
        })
    }

    /// The high-water seq stored with the windows by [`Store::flush_with_windows`] (`None`
    /// before the first).
    pub fn windows_high_water(&self) -> Result<Option<u64>> {
        self.read(windows::high_water)
    }

    /// The record batches of up to `limit` stored segments holding live records at or after
    /// `seq`, each with its first seq, in seq order (what the windows are replayed from; rows
    /// segments, written by [`Store::append`] of samples, are skipped).
    pub fn batches_from(&self, seq: u64, limit: usize) -> Result<Vec<(u64, crate::ingest::RecordBatch)>> {
        self.read(|rtxn, dbs| samples::batches_from(rtxn, dbs, seq, limit))
    }

    /// The seq the next appended record gets.
    pub fn next_seq(&self) -> Result<u64> {
        Ok(self.buffer()?.next_seq())
    }

    pub fn append_and_flush<R: SampleRecords + ?Sized>(
        &self,
        records: &R,
        now_ms: i64,
    ) -> Result<Range<u64>> {
        let seqs = self.append(records)?;
        self.flush(now_ms)?;
        Ok(seqs)
    }

    /// Labels the latest sample with `request_id` and returns its seq; durable on return. If that
    /// sample is still buffered, the buffer is flushed with `now_ms = ts_ms` (if that flush
    /// fails, the label stays buffered with the sample and is written by the next flush).
    pub fn attach_label(
        &self,
        request_id: &str,
        label: &[u8],
        human_correction: bool,
        ts_ms: i64,
    ) -> Result<u64> {
        if request_id.is_empty() {
            return Err(CoreError::invalid("request_id", "must not be empty"));
        }
        let not_found =
            || CoreError::NotFound(format!("no stored sample with request_id {}", excerpt(request_id)));
        let label = Label { label: label.to_vec(), human_correction };
        // The writer lock first: no flush runs meanwhile, so "pending" stays pending.
        let mut env = self.env.write().map_err(poisoned)?;
        let (seq, pending) = {
            let mut buffer = self.buffer()?;
            let seq = locate_request(&env, &buffer, request_id)?.ok_or_else(not_found)?;
            let pending = buffer.is_pending(seq);
            if pending {
                buffer.label(seq, label.clone());
            }
            (seq, pending)
        };
        if pending {
            self.flush_locked(&mut env, ts_ms)?;
        } else {
            env.write(|wtxn, dbs| samples::attach_label(wtxn, dbs, seq, request_id, &label))?;
        }
        Ok(seq)
    }

    /// The request id of the latest sample (stored or buffered) with `document_id`.
    pub fn request_for_document(&self, document_id: &str) -> Result<Option<String>> {
        let env = self.env.read().map_err(poisoned)?;
        let buffer = self.buffer()?;
        let confirm = |seq| {
            Ok(with_live_record(&env, &buffer, seq, |r| r.document_id == document_id)?.unwrap_or(false))
        };
        let Some(seq) = buffer.index.document(document_id, confirm)? else {
            return Ok(None);
        };
        with_live_record(&env, &buffer, seq, |r| r.request_id.to_owned())
    }

    /// The seq of the latest live sample (stored or buffered) with `request_id`.
    pub fn find_request(&self, request_id: &str) -> Result<Option<u64>> {
        let env = self.env.read().map_err(poisoned)?;
        let buffer = self.buffer()?;
        locate_request(&env, &buffer, request_id)
    }

    /// Up to `limit` stored (flushed) samples with seq > `after_seq`, in seq order.
    pub fn pull(&self, after_seq: u64, limit: usize) -> Result<Vec<Sample>> {
        self.read(|rtxn, dbs| samples::pull(rtxn, dbs, after_seq, limit))
    }

    /// Persists the consumer's acknowledged position (durable on return). Acks at or below the
    /// cursor are no-ops; acking a seq that was never flushed is `InvalidInput`.
    pub fn ack(&self, seq: u64) -> Result<()> {
        self.write(|wtxn, dbs| samples::ack(wtxn, dbs, seq))
    }

    /// The consumer's acknowledged position (0 before the first ack).
    pub fn cursor(&self) -> Result<u64> {
        Ok(self.read(samples::load_counters)?.cursor)
    }

    /// Records appended but not yet flushed.
    pub fn pending(&self) -> usize {
        self.buffer().map_or(0, |b| b.len() as usize)
    }

    pub fn stats(&self) -> Result<StoreStats> {
        let env = self.env.read().map_err(poisoned)?;
        let c = env.read(samples::load_counters)?;
        let (next_seq, pending) = {
            let buffer = self.buffer()?;
            (buffer.next_seq(), buffer.len())
        };
        let live = c.live();
        Ok(StoreStats {
            samples: live,
            bytes: c.sample_bytes,
            oldest_seq: if live > 0 { c.first_live } else { 0 },
            newest_seq: if live > 0 { c.next_seq - 1 } else { 0 },
            next_seq,
            cursor: c.cursor,
            evicted_total: c.evicted_total,
            pending,
            map_size: env.map_size() as u64,
            last_flush_ms: c.last_flush_ms,
        })
    }
}

/// `f(record)` for the live record `seq`, buffered or stored (`None`: not live).
fn with_live_record<T>(
    env: &LmdbEnv,
    buffer: &SampleBuffer,
    seq: u64,
    f: impl FnOnce(SampleRef<'_>) -> T,
) -> Result<Option<T>> {
    if buffer.is_pending(seq) {
        return buffer.with_record(seq, f);
    }
    env.read(|rtxn, dbs| {
        let c = samples::load_counters(rtxn, dbs)?;
        samples::with_record(rtxn, dbs, &c, seq, f)
    })
}

/// The latest live sample with `request_id`, each hash match confirmed by reading its id back.
fn locate_request(env: &LmdbEnv, buffer: &SampleBuffer, request_id: &str) -> Result<Option<u64>> {
    let confirm =
        |seq| Ok(with_live_record(env, buffer, seq, |r| r.request_id == request_id)?.unwrap_or(false));
    buffer.index.request(request_id, confirm)
}
