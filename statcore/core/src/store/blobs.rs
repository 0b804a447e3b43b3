//! Named opaque blobs (e.g. the sidecar's per-model-type baselines).
//!
//! Key `blob/<name>` in the `meta` database (the prefix keeps them apart from `format` and
//! `counters`); the value is the caller's bytes, unframed.

use heed::RwTxn;

use super::env::Dbs;
use crate::error::{CoreError, Result};

const PREFIX: &[u8] = b"blob/";
/// Longest blob name in bytes (LMDB keys are at most 511 bytes).
pub const MAX_BLOB_NAME_BYTES: usize = 256;

fn key(name: &str) -> Result<Vec<u8>> {
    if name.is_empty() {
        return Err(CoreError::invalid("name", "must not be empty"));
    }
    if name.len() > MAX_BLOB_NAME_BYTES {
        return Err(CoreError::invalid("name", format!("longer than {MAX_BLOB_NAME_BYTES} bytes")));
    }
    Ok([PREFIX, name.as_bytes()].concat())
}

pub(crate) fn put(wtxn: &mut RwTxn, dbs: Dbs, name: &str, value: &[u8]) -> Result<()> {
    dbs.meta.put(wtxn, &key(name)?, value)?;
    Ok(())
}

pub(crate) fn get(rtxn: &heed::RoTxn, dbs: Dbs, name: &str) -> Result<Option<Vec<u8>>> {
    Ok(dbs.meta.get(rtxn, &key(name)?)?.map(<[u8]>::to_vec))
}

/// Every blob whose name starts with `prefix`, in name order.
pub(crate) fn with_prefix(rtxn: &heed::RoTxn, dbs: Dbs, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let start = [PREFIX, prefix.as_bytes()].concat();
    let mut out = Vec::new();
    for item in dbs.meta.prefix_iter(rtxn, &start)? {
        let (k, v) = item?;
        let name = std::str::from_utf8(&k[PREFIX.len()..])
            .map_err(|_| CoreError::Store("blob name is not UTF-8".into()))?;
        out.push((name.to_owned(), v.to_vec()));
    }
    Ok(out)
}
