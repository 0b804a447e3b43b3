//! Aggregate windows: (model_type, model_id, window_start_ms) -> opaque aggregate bytes.
//!
//! Key: `model_type` UTF-8, `0x00`, `model_id` UTF-8, `0x00`, `window_start_ms` as 8 big-endian
//! bytes with the sign bit flipped. Ids may not contain NUL, so LMDB's byte order is exactly
//! (model_type, model_id, start) order, negative starts included. Value: magic `LWWN`,
//! version `1`, `bytes`.
//!
//! [`since`] and [`delete_before`] filter on the start over all models, so they scan the whole
//! database (windows are few: models x retained windows).

use heed::{RoTxn, RwTxn};

use super::env::Dbs;
use crate::codec::{Reader, Writer};
use crate::error::{CoreError, Result};

const MAGIC: &[u8; 4] = b"LWWN";
const VERSION: u16 = 1;
/// Both ids together, so the key stays under LMDB's 511-byte limit.
pub const MAX_WINDOW_IDS_BYTES: usize = 480;

/// `meta` key of the windows' high-water seq: the stored windows hold exactly the log's records
/// below it (see [`super::Store::flush_with_windows`]).
const HIGH_WATER_KEY: &[u8] = b"windows_high_water";

/// One stored window: (model_type, model_id, window_start_ms, aggregate bytes).
pub type WindowEntry = (String, String, i64, Vec<u8>);

pub(crate) fn encode_key(model_type: &str, model_id: &str, start_ms: i64) -> Result<Vec<u8>> {
    for (field, id) in [("model_type", model_type), ("model_id", model_id)] {
        if id.as_bytes().contains(&0) {
            return Err(CoreError::invalid(field, "must not contain NUL"));
        }
    }
    if model_type.len() + model_id.len() > MAX_WINDOW_IDS_BYTES {
        return Err(CoreError::invalid(
            "model_id",
            format!("ids exceed {MAX_WINDOW_IDS_BYTES} bytes together"),
        ));
    }
    let mut key = Vec::with_capacity(model_type.len() + model_id.len() + 10);
    key.extend_from_slice(model_type.as_bytes());
    key.push(0);
    key.extend_from_slice(model_id.as_bytes());
    key.push(0);
    key.extend_from_slice(&((start_ms as u64) ^ (1 << 63)).to_be_bytes());
    Ok(key)
}

fn decode_key(key: &[u8]) -> Result<(String, String, i64)> {
    let bad = || CoreError::Codec("malformed window key".into());
    let (ids, start) = key.split_at_checked(key.len().checked_sub(8).ok_or_else(bad)?).ok_or_else(bad)?;
    let mut parts = ids.split(|b| *b == 0);
    let (Some(model_type), Some(model_id), Some([]), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| bad());
    let start: [u8; 8] = start.try_into().map_err(|_| bad())?;
    Ok((text(model_type)?, text(model_id)?, (u64::from_be_bytes(start) ^ (1 << 63)) as i64))
}

fn encode_value(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut w = Writer::with_header(MAGIC, VERSION);
    w.bytes(bytes)?;
    Ok(w.finish())
}

fn decode_value(buf: &[u8]) -> Result<Vec<u8>> {
    let (mut r, _) = Reader::with_header(buf, MAGIC, VERSION)?;
    let bytes = r.bytes()?.to_vec();
    r.finish()?;
    Ok(bytes)
}

pub(crate) fn put(wtxn: &mut RwTxn, dbs: Dbs, key: &[u8], bytes: &[u8]) -> Result<()> {
    dbs.windows.put(wtxn, key, &encode_value(bytes)?)?;
    Ok(())
}

pub(crate) fn put_high_water(wtxn: &mut RwTxn, dbs: Dbs, seq: u64) -> Result<()> {
    dbs.meta.put(wtxn, HIGH_WATER_KEY, &seq.to_be_bytes())?;
    Ok(())
}

pub(crate) fn high_water(rtxn: &RoTxn, dbs: Dbs) -> Result<Option<u64>> {
    dbs.meta.get(rtxn, HIGH_WATER_KEY)?.map(super::samples::decode_seq).transpose()
}

pub(crate) fn get(rtxn: &RoTxn, dbs: Dbs, key: &[u8]) -> Result<Option<Vec<u8>>> {
    dbs.windows.get(rtxn, key)?.map(decode_value).transpose()
}

/// Every window with `start >= since_ms`, in key order (full scan).
pub(crate) fn since(rtxn: &RoTxn, dbs: Dbs, since_ms: i64) -> Result<Vec<WindowEntry>> {
    let mut out = Vec::new();
    for item in dbs.windows.iter(rtxn)? {
        let (key, value) = item?;
        let (model_type, model_id, start) = decode_key(key)?;
        if start >= since_ms {
            out.push((model_type, model_id, start, decode_value(value)?));
        }
    }
    Ok(out)
}

/// Deletes every window with `start < before_ms` (full scan); returns how many were deleted.
pub(crate) fn delete_before(wtxn: &mut RwTxn, dbs: Dbs, before_ms: i64) -> Result<u64> {
    let mut doomed = Vec::new();
    for item in dbs.windows.iter(wtxn)? {
        let (key, _) = item?;
        if decode_key(key)?.2 < before_ms {
            doomed.push(key.to_vec());
        }
    }
    for key in &doomed {
        dbs.windows.delete(wtxn, key)?;
    }
    Ok(doomed.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_window_key_order_matches_tuple_order() {
        let tuples = [
            ("a", "", -5i64),
            ("a", "", 3),
            ("a", "x", i64::MIN),
            ("a", "x", 0),
            ("a", "xy", -1),
            ("ab", "", 0),
            ("b", "a", i64::MAX),
        ];
        let keys: Vec<_> = tuples.iter().map(|(t, m, s)| encode_key(t, m, *s).unwrap()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        for ((t, m, s), k) in tuples.iter().zip(&keys) {
            assert_eq!(decode_key(k).unwrap(), (t.to_string(), m.to_string(), *s));
        }
        assert!(encode_key("a\0b", "m", 0).is_err());
    }
}
