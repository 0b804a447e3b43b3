//! The sample log's in-memory side: records appended but not yet committed (encoded segments
//! and labels), seq assignment, and the record index over everything appended.
//!
//! A flush commits a snapshot of the pending segments (shared `Arc`s, no copy) while appends
//! go on, and drops exactly that prefix once the commit succeeded; until then the snapshot's
//! records stay visible here (for feedback), and after a failed commit they stay pending.

use std::ops::Range;
use std::sync::Arc;

use super::labels::Label;
use super::record_index::RecordIndex;
use super::samples::PendingSegment;
use super::segment::{self, SampleRecords, SampleRef, SEGMENT_MAX_RECORDS};
use crate::error::Result;

/// What one flush commits.
pub(crate) struct Snapshot {
    pub segments: Vec<Arc<PendingSegment>>,
    pub labels: Vec<(u64, Label)>,
}

/// Segment buffers kept for reuse after their flush (fresh ~100 KiB allocations page-fault on
/// every append; this bounds what stays resident to about this many segments).
const SPARE_BUFFERS: usize = 64;

pub(crate) struct SampleBuffer {
    pending: Vec<Arc<PendingSegment>>,
    spare: Vec<Vec<u8>>,
    labels: Vec<(u64, Label)>,
    /// The next seq to assign (the pending segments run up to it).
    next_seq: u64,
    /// The first seq not yet committed (where the pending segments start).
    flushed_next: u64,
    pub index: RecordIndex,
}

impl SampleBuffer {
    pub fn new(next_seq: u64, index: RecordIndex) -> Self {
        SampleBuffer {
            pending: Vec::new(),
            spare: Vec::new(),
            labels: Vec::new(),
            next_seq,
            flushed_next: next_seq,
            index,
        }
    }

    /// Validates every record, then encodes, indexes and buffers them; returns their seqs.
    pub fn append<R: SampleRecords + ?Sized>(&mut self, records: &R) -> Result<Range<u64>> {
        let n = records.len();
        // A batch from the wire is one segment whatever its size (bounded by the sidecar's
        // `max_batch_records`): it keeps every column, which is what lets the windows be
        // replayed from the log after a crash.
        if let Some((wire, default_ts_ms)) = records.wire().filter(|_| n >= 1 && u32::try_from(n).is_ok()) {
            return self.append_wire(records, wire, default_ts_ms);
        }
        let rows: Vec<SampleRef<'_>> = (0..n).map(|i| records.record(i)).collect();
        rows.iter().try_for_each(SampleRef::validate)?;
        let first = self.next_seq;
        let mut segments = Vec::with_capacity(rows.len().div_ceil(SEGMENT_MAX_RECORDS));
        for (k, chunk) in rows.chunks(SEGMENT_MAX_RECORDS).enumerate() {
            let first_seq = first + (k * SEGMENT_MAX_RECORDS) as u64;
            let spare = self.spare.pop().unwrap_or_default();
            let bytes = segment::encode_into(spare, first_seq, chunk, 0..chunk.len())?;
            segments.push(Arc::new(PendingSegment { first_seq, count: chunk.len() as u64, bytes }));
        }
        for (seg, chunk) in segments.iter().zip(rows.chunks(SEGMENT_MAX_RECORDS)) {
            self.index.add_segment(seg.first_seq, chunk.iter().map(|r| (r.request_id, r.document_id)));
        }
        self.pending.extend(segments);
        for i in 0..rows.len() {
            if let Some((label, human_correction)) = records.label(i) {
                self.labels.push((first + i as u64, Label { label: label.to_vec(), human_correction }));
            }
        }
        self.next_seq = first + rows.len() as u64;
        Ok(first..self.next_seq)
    }

    /// `append` of records that arrived as one serialized batch: stored as received.
    fn append_wire<R: SampleRecords + ?Sized>(
        &mut self,
        records: &R,
        wire: &[u8],
        default_ts_ms: i64,
    ) -> Result<Range<u64>> {
        let n = records.len();
        (0..n).try_for_each(|i| records.record(i).validate())?;
        let first_seq = self.next_seq;
        let spare = self.spare.pop().unwrap_or_default();
        let bytes = segment::encode_wire_into(spare, first_seq, n, default_ts_ms, wire)?;
        self.index.add_segment(
            first_seq,
            (0..n).map(|i| {
                let r = records.record(i);
                (r.request_id, r.document_id)
            }),
        );
        self.pending.push(Arc::new(PendingSegment { first_seq, count: n as u64, bytes }));
        self.next_seq = first_seq + n as u64;
        Ok(first_seq..self.next_seq)
    }

    pub fn label(&mut self, seq: u64, label: Label) {
        self.labels.push((seq, label));
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot { segments: self.pending.clone(), labels: self.labels.clone() }
    }

    /// `snapshot` is durable: drops it from the buffer (keeping some segment buffers for
    /// reuse); the log now ends before `next_seq` and starts at `first_live`.
    pub fn committed(&mut self, snapshot: Snapshot, next_seq: u64, first_live: u64) {
        let (segments, labels) = (snapshot.segments.len(), snapshot.labels.len());
        drop(snapshot);
        for seg in self.pending.drain(..segments) {
            if let (Ok(seg), true) = (Arc::try_unwrap(seg), self.spare.len() < SPARE_BUFFERS) {
                self.spare.push(seg.bytes);
            }
        }
        self.labels.drain(..labels);
        if self.pending.is_empty() {
            // Fresh lists: the old ones (the largest backlog) go back to the system.
            self.pending = Vec::new();
            self.labels = Vec::new();
        }
        self.flushed_next = next_seq;
        self.index.prune(first_live);
    }

    /// Whether `seq` has not been committed yet.
    pub fn is_pending(&self, seq: u64) -> bool {
        seq >= self.flushed_next
    }

    /// `f(record)` for the buffered record `seq`, if it is still pending.
    pub fn with_record<T>(&self, seq: u64, f: impl FnOnce(SampleRef<'_>) -> T) -> Result<Option<T>> {
        let at = self.pending.partition_point(|s| s.first_seq + s.count <= seq);
        match self.pending.get(at) {
            Some(seg) if seg.first_seq <= seq => segment::with_record(&seg.bytes, seq, f),
            _ => Ok(None),
        }
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Records appended but not yet committed.
    pub fn len(&self) -> u64 {
        self.next_seq - self.flushed_next
    }
}
