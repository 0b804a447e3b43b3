//! LMDB persistence (heed): the routing table, aggregate windows and the durable sample log.
//!
//! One [`Store`] is one LMDB environment (a directory) with the named databases `meta`,
//! `samples`, `by_request`, `windows` and `routing` (formats in each module's docs).
//!
//! Durability: every method that writes commits one LMDB write transaction with the default
//! (full) sync before it returns, except [`Store::append`], which only buffers in memory:
//! [`Store::flush`] writes everything appended so far in one transaction (group commit).
//! After a crash the store reopens in the state of its last committed transaction.
//!
//! Seqs: [`Store::append`] assigns seqs from a persisted counter that only moves forward (through
//! eviction and restarts). A seq becomes durable at the flush that writes it; the seqs of
//! samples appended but never flushed before a crash were never stored or shown to a consumer,
//! and are issued again after the restart.
//!
//! Nothing here reads the clock: `now_ms` is an argument.

mod blobs;
mod env;
mod routing;
mod sample;
mod samples;
mod windows;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use blobs::MAX_BLOB_NAME_BYTES;
pub use env::{MAP_GRAIN, STORE_FORMAT_VERSION};
pub use sample::{Sample, MAX_REQUEST_ID_BYTES};
pub use samples::Bounds;
pub use windows::WindowEntry;

use crate::error::{CoreError, Result};
use env::LmdbEnv;

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
    /// Encoded size of the stored sample records.
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

/// One LMDB-backed store. Reads take `&self`, writes `&mut self`; wrap it in a `Mutex` to share.
pub struct Store {
    env: LmdbEnv,
    bounds: Bounds,
    pending: Vec<Sample>,
    next_seq: u64,
}

impl Store {
    /// Opens (creating if needed) the store in directory `path`. Refuses a store written with a
    /// newer store-format version.
    pub fn open(path: &Path, config: &StoreConfig) -> Result<Store> {
        config.validate()?;
        let map_size = env::round_up(config.map_size);
        let max_map_size = env::round_up(config.max_map_size);
        let env = LmdbEnv::open(path, map_size, max_map_size)?;
        let next_seq = env.read(samples::load_counters)?.next_seq;
        let bounds = Bounds { max_samples: config.max_samples, max_age_ms: config.max_age_ms };
        Ok(Store { env, bounds, pending: Vec::new(), next_seq })
    }

    // ---- routing table ----

    /// Stores the routing blob; a generation lower than the stored one is `StaleGeneration`.
    pub fn put_routing(&mut self, generation: u64, blob: &[u8]) -> Result<()> {
        self.env.write(|wtxn, dbs| routing::put(wtxn, dbs, generation, blob))
    }

    pub fn get_routing(&self) -> Result<Option<(u64, Vec<u8>)>> {
        self.env.read(routing::get)
    }

    // ---- named blobs ----

    /// Stores `value` under `name` (durable on return; replaces an existing blob).
    pub fn put_blob(&mut self, name: &str, value: &[u8]) -> Result<()> {
        self.env.write(|wtxn, dbs| blobs::put(wtxn, dbs, name, value))
    }

    pub fn get_blob(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.env.read(|rtxn, dbs| blobs::get(rtxn, dbs, name))
    }

    /// Every blob whose name starts with `prefix`, in name order.
    pub fn blobs_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.env.read(|rtxn, dbs| blobs::with_prefix(rtxn, dbs, prefix))
    }

    // ---- aggregate windows ----

    pub fn put_window(
        &mut self,
        model_type: &str,
        model_id: &str,
        start_ms: i64,
        bytes: &[u8],
    ) -> Result<()> {
        let key = windows::encode_key(model_type, model_id, start_ms)?;
        self.env.write(|wtxn, dbs| windows::put(wtxn, dbs, &key, bytes))
    }

    pub fn get_window(&self, model_type: &str, model_id: &str, start_ms: i64) -> Result<Option<Vec<u8>>> {
        let key = windows::encode_key(model_type, model_id, start_ms)?;
        self.env.read(|rtxn, dbs| windows::get(rtxn, dbs, &key))
    }

    /// Every window (all models) with `start >= since_ms`, in (model_type, model_id, start)
    /// order. Scans all windows.
    pub fn windows_since(&self, since_ms: i64) -> Result<Vec<WindowEntry>> {
        self.env.read(|rtxn, dbs| windows::since(rtxn, dbs, since_ms))
    }

    /// Deletes every window with `start < before_ms`; returns how many. Scans all windows.
    pub fn delete_windows_before(&mut self, before_ms: i64) -> Result<u64> {
        self.env.write(|wtxn, dbs| windows::delete_before(wtxn, dbs, before_ms))
    }

    // ---- sample log ----

    /// Validates the whole batch, then buffers it and returns the assigned seqs. Nothing from a
    /// rejected batch is buffered. Not durable until [`Store::flush`].
    pub fn append(&mut self, batch: Vec<Sample>) -> Result<Vec<u64>> {
        batch.iter().try_for_each(Sample::validate)?;
        let mut seqs = Vec::with_capacity(batch.len());
        for mut sample in batch {
            sample.seq = self.next_seq;
            self.next_seq = self.next_seq.saturating_add(1);
            seqs.push(sample.seq);
            self.pending.push(sample);
        }
        Ok(seqs)
    }

    /// Makes everything appended so far durable in one write transaction, then enforces the
    /// bounds at `now_ms`. On error (e.g. `StoreFull`) the samples stay buffered for a retry.
    pub fn flush(&mut self, now_ms: i64) -> Result<()> {
        let (bounds, pending) = (self.bounds, &self.pending);
        self.env.write(|wtxn, dbs| samples::commit_batch(wtxn, dbs, pending, now_ms, bounds))?;
        // A fresh buffer, not `clear()`: the old one (~200 bytes per sample of the largest
        // backlog) goes back to the system instead of staying resident between flushes.
        self.pending = Vec::new();
        Ok(())
    }

    pub fn append_and_flush(&mut self, batch: Vec<Sample>, now_ms: i64) -> Result<Vec<u64>> {
        let seqs = self.append(batch)?;
        self.flush(now_ms)?;
        Ok(seqs)
    }

    /// Labels the latest sample with `request_id` and returns its seq; durable on return. If that
    /// sample is still buffered, the buffer is flushed with `now_ms = ts_ms` (if that flush
    /// fails, the label stays on the buffered sample and is written by the next flush).
    pub fn attach_label(
        &mut self,
        request_id: &str,
        label: &[u8],
        human_correction: bool,
        ts_ms: i64,
    ) -> Result<u64> {
        if request_id.is_empty() {
            return Err(CoreError::invalid("request_id", "must not be empty"));
        }
        if let Some(sample) = self.pending.iter_mut().rev().find(|s| s.request_id == request_id) {
            sample.label = Some(label.to_vec());
            sample.human_correction = human_correction;
            let seq = sample.seq;
            self.flush(ts_ms)?;
            return Ok(seq);
        }
        self.env.write(|wtxn, dbs| samples::attach_label(wtxn, dbs, request_id, label, human_correction))
    }

    /// Up to `limit` stored (flushed) samples with seq > `after_seq`, in seq order.
    pub fn pull(&self, after_seq: u64, limit: usize) -> Result<Vec<Sample>> {
        self.env.read(|rtxn, dbs| samples::pull(rtxn, dbs, after_seq, limit))
    }

    /// `(document_id, request_id)` of the newest samples with a document id (at most `limit`,
    /// buffered ones included), oldest first.
    pub fn documents(&self, limit: usize) -> Result<Vec<(String, String)>> {
        let mut out = self.env.read(|rtxn, dbs| samples::documents(rtxn, dbs, limit))?;
        out.extend(
            self.pending
                .iter()
                .filter(|s| !s.document_id.is_empty())
                .map(|s| (s.document_id.clone(), s.request_id.clone())),
        );
        let excess = out.len().saturating_sub(limit);
        out.drain(..excess);
        Ok(out)
    }

    /// Persists the consumer's acknowledged position (durable on return). Acks at or below the
    /// cursor are no-ops; acking a seq that was never flushed is `InvalidInput`.
    pub fn ack(&mut self, seq: u64) -> Result<()> {
        self.env.write(|wtxn, dbs| samples::ack(wtxn, dbs, seq))
    }

    /// The consumer's acknowledged position (0 before the first ack).
    pub fn cursor(&self) -> Result<u64> {
        Ok(self.env.read(samples::load_counters)?.cursor)
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    pub fn stats(&self) -> Result<StoreStats> {
        let (c, (count, oldest, newest)) = self
            .env
            .read(|rtxn, dbs| Ok((samples::load_counters(rtxn, dbs)?, samples::extent(rtxn, dbs)?)))?;
        Ok(StoreStats {
            samples: count,
            bytes: c.sample_bytes,
            oldest_seq: oldest,
            newest_seq: newest,
            next_seq: self.next_seq,
            cursor: c.cursor,
            evicted_total: c.evicted_total,
            pending: self.pending.len() as u64,
            map_size: self.env.map_size() as u64,
            last_flush_ms: c.last_flush_ms,
        })
    }
}
