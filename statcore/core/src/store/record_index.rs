//! The in-memory record index: request id -> seq, and document id -> seq, of the latest sample
//! carrying each (what `Feedback` joins through).
//!
//! One small hash table per segment (open addressing, at most half full, 8 bytes per slot: the
//! id's hash with the record's offset in the low bits, 53 bits of hash left). Building it
//! stays in cache (at most [`super::SEGMENT_MAX_RECORDS`] records), so appending costs a few ns
//! per record instead of a random access into one large map; a lookup probes the segments
//! newest first (one or two probes each: a few µs for 200,000 live samples, small next to a
//! `Feedback` RPC). A lookup confirms the id against the record it found, so a hash
//! collision (odds about n²/2⁵⁴ for n live ids: 2·10⁻⁶ at 200,000) reads as "not found" for the older of the two
//! ids, never as another request's sample. The index is rebuilt from the stored segments when a
//! store opens (samples appended but not flushed before a crash were never acknowledged as
//! durable); a segment's index is dropped when the segment is evicted.

use std::collections::VecDeque;

/// A 64-bit hash of an id: 8-byte words folded by multiply-rotate, then a finalizer that
/// spreads every input bit over the whole word (ids differ in their last characters).
pub(crate) fn id_hash(id: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = (id.len() as u64).wrapping_mul(K);
    let mut words = id.chunks_exact(8);
    for w in &mut words {
        let v = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
        h = (h ^ v).wrapping_mul(K).rotate_left(29);
    }
    let mut tail = [0u8; 8];
    let rest = words.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    h ^= h >> 32;
    h = h.wrapping_mul(0xd6e8_feb8_6659_fd93);
    h ^= h >> 32;
    h
}

/// Bits of a slot that hold the record's offset + 1 (0: an empty slot); the rest hold the id's
/// hash.
const OFFSET_BITS: u32 = (super::SEGMENT_MAX_RECORDS).trailing_zeros() + 1;
const OFFSET_MASK: u64 = (1 << OFFSET_BITS) - 1;

const _: () = assert!(super::SEGMENT_MAX_RECORDS.is_power_of_two());

/// An open-addressing table (linear probing, at most half full) from hashed id to the latest
/// offset in one segment: `hash & !OFFSET_MASK | (offset + 1)` per slot.
struct Table {
    slots: Box<[u64]>,
}

impl Table {
    fn build(keys: impl ExactSizeIterator<Item = (u64, usize)>) -> Table {
        let capacity = (2 * keys.len()).next_power_of_two().max(2);
        let mut slots = vec![0u64; capacity].into_boxed_slice();
        let mask = capacity - 1;
        for (hash, offset) in keys {
            let tag = hash & !OFFSET_MASK;
            let mut at = (hash as usize) & mask;
            // Later records overwrite earlier ones with the same id: the latest wins.
            while slots[at] != 0 && slots[at] & !OFFSET_MASK != tag {
                at = (at + 1) & mask;
            }
            slots[at] = tag | (offset as u64 + 1);
        }
        Table { slots }
    }

    fn get(&self, hash: u64) -> Option<u64> {
        let mask = self.slots.len() - 1;
        let tag = hash & !OFFSET_MASK;
        let mut at = (hash as usize) & mask;
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                return None;
            }
            if slot & !OFFSET_MASK == tag {
                return Some((slot & OFFSET_MASK) - 1);
            }
            at = (at + 1) & mask;
        }
    }
}

struct SegmentIndex {
    first_seq: u64,
    end_seq: u64,
    requests: Table,
    documents: Table,
}

#[derive(Default)]
pub(crate) struct RecordIndex {
    segments: VecDeque<SegmentIndex>,
}

impl RecordIndex {
    /// Indexes a segment whose records (in seq order, from `first_seq`) have these
    /// `(request_id, document_id)`; segments are added in seq order.
    pub fn add_segment<'a>(
        &mut self,
        first_seq: u64,
        ids: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
    ) {
        let n = ids.len();
        let mut documents = Vec::new();
        let mut requests = Vec::with_capacity(n);
        for (offset, (request_id, document_id)) in ids.enumerate() {
            requests.push((id_hash(request_id.as_bytes()), offset));
            if !document_id.is_empty() {
                documents.push((id_hash(document_id.as_bytes()), offset));
            }
        }
        self.segments.push_back(SegmentIndex {
            first_seq,
            end_seq: first_seq + n as u64,
            requests: Table::build(requests.into_iter()),
            documents: Table::build(documents.into_iter()),
        });
    }

    fn find(&self, hash: u64, table: impl Fn(&SegmentIndex) -> &Table) -> Option<u64> {
        self.segments.iter().rev().find_map(|s| table(s).get(hash).map(|o| s.first_seq + o))
    }

    /// The seq of the latest sample whose request id hashes like `request_id` (to be
    /// confirmed against the record).
    pub fn request(&self, request_id: &str) -> Option<u64> {
        self.find(id_hash(request_id.as_bytes()), |s| &s.requests)
    }

    pub fn document(&self, document_id: &str) -> Option<u64> {
        self.find(id_hash(document_id.as_bytes()), |s| &s.documents)
    }

    /// Drops the segments whose records all lie below `first_live`.
    pub fn prune(&mut self, first_live: u64) {
        while self.segments.front().is_some_and(|s| s.end_seq <= first_live) {
            self.segments.pop_front();
        }
    }

    #[cfg(test)]
    pub fn segments(&self) -> usize {
        self.segments.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn store_index_hash_has_no_collisions_on_a_million_similar_ids() {
        let hashes: HashSet<u64> =
            (0..1_000_000).map(|i| id_hash(format!("req-{}-{}", i / 1000, i % 1000).as_bytes())).collect();
        assert_eq!(hashes.len(), 1_000_000);
        assert_ne!(id_hash(b""), id_hash(b"\0"));
        assert_ne!(id_hash(b"abcdefgh"), id_hash(b"abcdefgh\0"));
    }

    #[test]
    fn store_index_latest_wins_across_and_within_segments_and_prune_drops_old_segments() {
        let mut ix = RecordIndex::default();
        ix.add_segment(1, [("r1", "d1"), ("r2", ""), ("r1", "")].into_iter());
        assert_eq!(ix.request("r1"), Some(3));
        ix.add_segment(4, [("r2", "d2")].into_iter());
        assert_eq!(ix.request("r2"), Some(4));
        assert_eq!(ix.document("d1"), Some(1));
        assert_eq!(ix.document("d2"), Some(4));
        assert_eq!(ix.document(""), None);
        assert_eq!(ix.request("nope"), None);
        ix.prune(3);
        assert_eq!(ix.segments(), 2, "seq 3 is still live");
        ix.prune(4);
        assert_eq!(ix.segments(), 1);
        assert_eq!(ix.request("r1"), None);
        assert_eq!(ix.request("r2"), Some(4));
    }
}
