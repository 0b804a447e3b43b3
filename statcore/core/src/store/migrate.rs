//! Store format 1 -> 2, in one write transaction when a format-1 store is opened.
//!
//! Format 1 kept one LMDB value per sample (`samples`, labels inside) and a request index in
//! LMDB (`by_request`). Format 2 keeps segments (`segment.rs`), labels apart (`labels.rs`) and
//! the request index in memory. The migration re-encodes the stored samples as segments of
//! contiguous seqs, moves their labels, empties the two old databases and writes counters
//! version 2 and format 2; a crash before its commit leaves the format-1 store as it was.

use heed::RwTxn;

use super::env::{write_format, Dbs};
use super::labels::{self, Label};
use super::sample::Sample;
use super::samples::{load_counters, save_counters, seq_key};
use super::segment::{self, SEGMENT_MAX_RECORDS};
use crate::error::Result;

pub(crate) fn v1_to_v2(wtxn: &mut RwTxn, dbs: Dbs) -> Result<()> {
    let mut c = load_counters(wtxn, dbs)?;
    let mut stored: Vec<Sample> = Vec::new();
    for item in dbs.samples.iter(wtxn)? {
        stored.push(Sample::decode(item?.1)?);
    }
    let mut bytes = 0u64;
    let mut start = 0;
    while start < stored.len() {
        // A run of contiguous seqs, at most one segment long.
        let mut end = start + 1;
        while end < stored.len()
            && end - start < SEGMENT_MAX_RECORDS
            && stored[end].seq == stored[end - 1].seq + 1
        {
            end += 1;
        }
        let value = segment::encode(stored[start].seq, &stored[..], start..end)?;
        dbs.segments.put(wtxn, &seq_key(stored[start].seq), &value)?;
        bytes += value.len() as u64;
        start = end;
    }
    for s in &stored {
        if let Some(label) = &s.label {
            let label = Label { label: label.clone(), human_correction: s.human_correction };
            bytes = bytes.saturating_add_signed(labels::put(wtxn, dbs, s.seq, &label)?);
        }
    }
    c.first_live = stored.first().map_or(c.next_seq, |s| s.seq);
    c.next_seq = c.next_seq.max(stored.last().map_or(0, |s| s.seq + 1));
    c.sample_bytes = bytes;
    dbs.samples.clear(wtxn)?;
    dbs.by_request.clear(wtxn)?;
    save_counters(wtxn, dbs, &c)?;
    write_format(wtxn, dbs.meta)
}
