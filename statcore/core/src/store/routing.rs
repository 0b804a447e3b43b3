//! The routing table: one opaque blob plus its generation.
//!
//! Key `table` in the `routing` database; value: magic `LWRT`, version `1`, `generation u64`,
//! `blob bytes`. A lower generation than the stored one is refused with
//! [`CoreError::StaleGeneration`]; an equal one replaces the blob (idempotent re-publish).

use heed::RwTxn;

use super::env::Dbs;
use crate::codec::{Reader, Writer};
use crate::error::{CoreError, Result};

const MAGIC: &[u8; 4] = b"LWRT";
const VERSION: u16 = 1;
const KEY: &[u8] = b"table";

pub(crate) fn get(rtxn: &heed::RoTxn, dbs: Dbs) -> Result<Option<(u64, Vec<u8>)>> {
    dbs.routing.get(rtxn, KEY)?.map(decode).transpose()
}

pub(crate) fn put(wtxn: &mut RwTxn, dbs: Dbs, generation: u64, blob: &[u8]) -> Result<()> {
    if let Some((current, _)) = get(wtxn, dbs)? {
        if generation < current {
            return Err(CoreError::StaleGeneration { current, offered: generation });
        }
    }
    let mut w = Writer::with_header(MAGIC, VERSION);
    w.u64(generation);
    w.bytes(blob)?;
    dbs.routing.put(wtxn, KEY, &w.finish())?;
    Ok(())
}

fn decode(bytes: &[u8]) -> Result<(u64, Vec<u8>)> {
    let (mut r, _) = Reader::with_header(bytes, MAGIC, VERSION)?;
    let generation = r.u64()?;
    let blob = r.bytes()?.to_vec();
    r.finish()?;
    Ok((generation, blob))
}
