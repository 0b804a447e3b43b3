//! The LMDB environment: open (with the store-format check), named databases, read and write
//! transactions, and map growth.
//!
//! Growth policy: a write that hits `MDB_MAP_FULL` is aborted, the map is doubled (rounded up to
//! [`MAP_GRAIN`], capped at `max_map_size`) and the whole transaction is run again from the
//! caller's data, which is still in memory. At the cap the write fails with
//! [`CoreError::StoreFull`] and nothing is lost from the caller's buffers.

use std::path::Path;

use heed::types::Bytes;
use heed::{CommitOrAbort, Database, Env, EnvOpenOptions, MdbError, RoTxn, RwTxn, WithoutTls};

use crate::codec::{Reader, Writer};
use crate::error::{CoreError, Result};

/// Map sizes are kept a multiple of this (a multiple of every common OS page size).
pub const MAP_GRAIN: usize = 64 * 1024;

/// The on-disk layout version written to `meta/format`; a store written by a newer build is refused.
pub const STORE_FORMAT_VERSION: u16 = 2;
const FORMAT_MAGIC: &[u8; 4] = b"LWST";
const FORMAT_KEY: &[u8] = b"format";

pub(crate) type Db = Database<'static, Bytes, Bytes>;

/// The named databases of one store environment.
#[derive(Clone, Copy)]
pub(crate) struct Dbs {
    /// `format` (store-format version) and `counters` (see `samples.rs`).
    pub meta: Db,
    /// Format 1 only (emptied by the migration to format 2): seq (u64 big-endian) -> sample.
    pub samples: Db,
    /// Format 1 only (emptied by the migration): request_id (UTF-8) -> seq (u64 big-endian).
    pub by_request: Db,
    /// first seq (u64 big-endian) -> segment of sample records (see `segment.rs`).
    pub segments: Db,
    /// seq (u64 big-endian) -> label (see `labels.rs`).
    pub labels: Db,
    /// (model_type, model_id, window_start_ms) key -> window record (see `windows.rs`).
    pub windows: Db,
    /// `table` -> routing record (see `routing.rs`).
    pub routing: Db,
}

impl From<heed::Error> for CoreError {
    fn from(e: heed::Error) -> Self {
        match e {
            heed::Error::Mdb(MdbError::MapFull) => CoreError::StoreFull("LMDB map is full".into()),
            e => CoreError::Store(e.to_string()),
        }
    }
}

pub(crate) struct LmdbEnv {
    env: Env<WithoutTls>,
    dbs: Dbs,
    max_map_size: usize,
}

impl LmdbEnv {
    /// Opens (creating if needed) the environment in directory `path`; also returns the store
    /// format version found on disk (a new store is written with the current one).
    pub fn open(path: &Path, map_size: usize, max_map_size: usize) -> Result<(LmdbEnv, u16)> {
        std::fs::create_dir_all(path)
            .map_err(|e| CoreError::Store(format!("cannot create {}: {e}", path.display())))?;
        let env = open_env(path, map_size)?;
        let wtxn = env.write_txn()?;
        let mut version = STORE_FORMAT_VERSION;
        let dbs = env
            .create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_> {
                let meta: Database<Bytes, Bytes> = opener.create_database(wtxn, Some("meta"))?;
                version = check_or_write_format(meta, wtxn, path)?;
                let samples = opener.create_database(wtxn, Some("samples"))?;
                let by_request = opener.create_database(wtxn, Some("by_request"))?;
                let windows = opener.create_database(wtxn, Some("windows"))?;
                let routing = opener.create_database(wtxn, Some("routing"))?;
                let segments = opener.create_database(wtxn, Some("segments"))?;
                let labels = opener.create_database(wtxn, Some("labels"))?;
                Ok(CommitOrAbort::<_, ()>::Commit((
                    meta, samples, by_request, windows, routing, segments, labels,
                )))
            })?
            .unwrap_commit();
        let (meta, samples, by_request, windows, routing, segments, labels) = dbs;
        let dbs = Dbs { meta, samples, by_request, windows, routing, segments, labels };
        Ok((LmdbEnv { env, dbs, max_map_size }, version))
    }

    pub fn map_size(&self) -> usize {
        self.env.info().map_size
    }

    pub fn read<T>(&self, f: impl FnOnce(&RoTxn, Dbs) -> Result<T>) -> Result<T> {
        let rtxn = self.env.read_txn()?;
        f(&rtxn, self.dbs)
    }

    /// Runs `f` in a write transaction and commits it durably (default sync flags), growing the
    /// map and re-running `f` on `MDB_MAP_FULL`. `f` must be safe to run again from scratch.
    pub fn write<T>(&mut self, mut f: impl FnMut(&mut RwTxn, Dbs) -> Result<T>) -> Result<T> {
        loop {
            let attempt = (|| {
                let mut wtxn = self.env.write_txn()?;
                let out = f(&mut wtxn, self.dbs)?;
                wtxn.commit()?;
                Ok(out)
            })();
            match attempt {
                Err(CoreError::StoreFull(_)) => self.grow()?,
                other => return other,
            }
        }
    }

    /// Doubles the map (capped at `max_map_size`), or fails with `StoreFull` at the cap.
    #[allow(unsafe_code)]
    fn grow(&mut self) -> Result<()> {
        let current = self.map_size();
        if current >= self.max_map_size {
            return Err(CoreError::StoreFull(format!(
                "LMDB map is full at its maximum size of {} bytes (max_map_size)",
                self.max_map_size
            )));
        }
        let next = round_up(current.saturating_mul(2)).min(self.max_map_size);
        // SAFETY: LMDB allows mdb_env_set_mapsize while no transaction of this process is active.
        // Every transaction of this environment lives inside one `LmdbEnv` method call; `grow`
        // takes `&mut self` and runs after the failed transaction was dropped (aborted).
        unsafe { self.env.resize(next) }?;
        Ok(())
    }
}

/// Rounds a byte count up to a multiple of [`MAP_GRAIN`].
pub fn round_up(n: usize) -> usize {
    n.div_ceil(MAP_GRAIN).saturating_mul(MAP_GRAIN)
}

#[allow(unsafe_code)]
fn open_env(path: &Path, map_size: usize) -> Result<Env<WithoutTls>> {
    let mut options = EnvOpenOptions::new().read_txn_without_tls();
    options.map_size(map_size).max_dbs(8);
    // SAFETY: the files are only modified through LMDB (which locks them); we use default, safe
    // flags (full sync, locking) and never open the same directory twice in one process (heed
    // refuses that with `EnvAlreadyOpened`).
    let env = unsafe { options.open(path) }.map_err(|e| match e {
        heed::Error::EnvAlreadyOpened => {
            CoreError::Store(format!("{} is already open in this process", path.display()))
        }
        e => CoreError::Store(format!("cannot open LMDB environment {}: {e}", path.display())),
    })?;
    Ok(env)
}

/// Records the current store format version (a new store, or the end of a migration).
pub(crate) fn write_format(wtxn: &mut RwTxn, meta: Database<Bytes, Bytes>) -> Result<()> {
    let bytes = Writer::with_header(FORMAT_MAGIC, STORE_FORMAT_VERSION).finish();
    meta.put(wtxn, FORMAT_KEY, &bytes)?;
    Ok(())
}

fn check_or_write_format(meta: Database<Bytes, Bytes>, wtxn: &mut RwTxn, path: &Path) -> Result<u16> {
    match meta.get(wtxn, FORMAT_KEY)? {
        None => {
            write_format(wtxn, meta)?;
            Ok(STORE_FORMAT_VERSION)
        }
        Some(bytes) => {
            let (r, version) = Reader::with_header(bytes, FORMAT_MAGIC, u16::MAX)?;
            r.finish()?;
            if version > STORE_FORMAT_VERSION {
                return Err(CoreError::Store(format!(
                    "{} holds store format version {version}, newer than this build supports \
                     ({STORE_FORMAT_VERSION}); upgrade statcore to open it",
                    path.display()
                )));
            }
            Ok(version)
        }
    }
}

#[cfg(test)]
pub(crate) fn write_format_version(env: &mut LmdbEnv, version: u16) -> Result<()> {
    env.write(|wtxn, dbs| {
        let bytes = Writer::with_header(FORMAT_MAGIC, version).finish();
        dbs.meta.put(wtxn, FORMAT_KEY, &bytes)?;
        Ok(())
    })
}
