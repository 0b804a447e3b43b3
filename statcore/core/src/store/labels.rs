//! Labels of stored samples, apart from their segments (a late label is one small write).
//!
//! `labels` is keyed by seq (8 big-endian bytes); value format: magic `LWLB`, version `1`,
//! `human_correction u8, label bytes`.

use std::ops::Bound;

use heed::{RoTxn, RwTxn};

use super::env::Dbs;
use super::samples::seq_key;
use crate::codec::{Reader, Writer};
use crate::error::{CoreError, Result};

const MAGIC: &[u8; 4] = b"LWLB";
const VERSION: u16 = 1;

/// A label and whether it is a human correction.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Label {
    pub label: Vec<u8>,
    pub human_correction: bool,
}

impl Label {
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut w = Writer::with_header(MAGIC, VERSION);
        w.u8(u8::from(self.human_correction));
        w.bytes(&self.label)?;
        Ok(w.finish())
    }

    pub fn decode(buf: &[u8]) -> Result<Label> {
        let (mut r, _) = Reader::with_header(buf, MAGIC, VERSION)?;
        let human_correction = match r.u8()? {
            0 => false,
            1 => true,
            b => return Err(CoreError::Codec(format!("bad bool byte {b}"))),
        };
        let label = r.bytes()?.to_vec();
        r.finish()?;
        Ok(Label { label, human_correction })
    }
}

/// Stores the label of `seq`; returns the change in stored bytes.
pub(crate) fn put(wtxn: &mut RwTxn, dbs: Dbs, seq: u64, label: &Label) -> Result<i64> {
    let key = seq_key(seq);
    let old = dbs.labels.get(wtxn, &key)?.map_or(0, <[u8]>::len);
    let value = label.encode()?;
    dbs.labels.put(wtxn, &key, &value)?;
    Ok(value.len() as i64 - old as i64)
}

/// The labels of seqs in `from..=to`, in seq order.
pub(crate) fn range(rtxn: &RoTxn, dbs: Dbs, from: u64, to: u64) -> Result<Vec<(u64, Label)>> {
    let (lo, hi) = (seq_key(from), seq_key(to));
    let bounds = (Bound::Included(&lo[..]), Bound::Included(&hi[..]));
    dbs.labels
        .range(rtxn, &bounds)?
        .map(|item| {
            let (k, v) = item?;
            Ok((super::samples::decode_seq(k)?, Label::decode(v)?))
        })
        .collect()
}

/// Deletes the labels of seqs below `first_live`; returns the bytes they took.
pub(crate) fn delete_below(wtxn: &mut RwTxn, dbs: Dbs, first_live: u64) -> Result<u64> {
    let hi = seq_key(first_live);
    let bounds = (Bound::Unbounded, Bound::Excluded(&hi[..]));
    let mut bytes = 0u64;
    for item in dbs.labels.range(wtxn, &bounds)? {
        bytes = bytes.saturating_add(item?.1.len() as u64);
    }
    if bytes > 0 {
        dbs.labels.delete_range(wtxn, &bounds)?;
    }
    Ok(bytes)
}
