//! The in-memory record index: request id -> seq, and document id -> seq, of the latest sample
//! carrying each (what `Feedback` joins through).
//!
//! One small index per segment: the hashes of its request ids (and document ids), each with
//! the record's offset in the low bits (54 bits of hash left), sorted. Building it is a sort of at most
//! [`super::SEGMENT_MAX_RECORDS`] entries that stays in cache, so appending costs a few ns per
//! record instead of a random access into one large map; a lookup binary-searches the segments
//! newest first (about 10 probes per segment: tens of µs for 200,000 live samples, small next
//! to a `Feedback` RPC). A lookup confirms the id against the record it found, so a hash
//! collision (odds about n²/2⁵⁵ for n live ids: 10⁻⁶ at 200,000) reads as "not found" for the older of the two
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

/// Bits of a key that hold the record's offset in its segment (the rest: the id's hash).
const OFFSET_BITS: u32 = (super::SEGMENT_MAX_RECORDS - 1).count_ones();
const OFFSET_MASK: u64 = (1 << OFFSET_BITS) - 1;

/// `hash & !OFFSET_MASK | offset`, sorted: one 8-byte key per record, equal hashes in offset
/// order.
type Keys = Box<[u64]>;

fn key(id: &str, offset: usize) -> u64 {
    id_hash(id.as_bytes()) & !OFFSET_MASK | offset as u64
}

struct SegmentIndex {
    first_seq: u64,
    end_seq: u64,
    requests: Keys,
    documents: Keys,
}

/// The latest offset whose id hashes like `hash` in `keys`.
fn latest(keys: &Keys, hash: u64) -> Option<u64> {
    let hash = hash & !OFFSET_MASK;
    let end = keys.partition_point(|&k| k & !OFFSET_MASK <= hash);
    (end > 0 && keys[end - 1] & !OFFSET_MASK == hash).then(|| keys[end - 1] & OFFSET_MASK)
}

const _: () = assert!(super::SEGMENT_MAX_RECORDS.is_power_of_two());

#[derive(Default)]
pub(crate) struct RecordIndex {
    segments: VecDeque<SegmentIndex>,
}

impl RecordIndex {
    /// Indexes a segment whose records (in seq order, from `first_seq`) have these
    /// `(request_id, document_id)`; segments are added in seq order.
    pub fn add_segment<'a>(&mut self, first_seq: u64, ids: impl Iterator<Item = (&'a str, &'a str)>) {
        let mut requests = Vec::new();
        let mut documents = Vec::new();
        for (offset, (request_id, document_id)) in ids.enumerate() {
            requests.push(key(request_id, offset));
            if !document_id.is_empty() {
                documents.push(key(document_id, offset));
            }
        }
        let end_seq = first_seq + requests.len() as u64;
        requests.sort_unstable();
        documents.sort_unstable();
        self.segments.push_back(SegmentIndex {
            first_seq,
            end_seq,
            requests: requests.into_boxed_slice(),
            documents: documents.into_boxed_slice(),
        });
    }

    fn find(&self, hash: u64, keys: impl Fn(&SegmentIndex) -> &Keys) -> Option<u64> {
        self.segments.iter().rev().find_map(|s| latest(keys(s), hash).map(|o| s.first_seq + o))
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
