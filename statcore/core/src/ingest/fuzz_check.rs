//! The promises of the wire parser, checked on arbitrary bytes: what the `cargo fuzz` target
//! (`statcore/fuzz`) and the crate's proptest smoke run both call.
//!
//! For any input: decoding never panics; a refusal names a field and quotes at most a bounded
//! excerpt of any value; an accepted batch keeps every rule ingest relies on (ids non-empty,
//! free of NUL and within the store's key limits, request ids unique, timestamps in range), its
//! groups cover every row exactly once, it updates an aggregate with exactly its records, and it
//! reads back from the sample log (`decode_stored`) record for record. The stored-batch decoder
//! on the same bytes never panics either.

use std::collections::HashSet;
use std::sync::Arc;

use super::{IngestRules, RecordBatch};
use crate::aggregate::Aggregate;
use crate::layout::Layout;
use crate::store::{SampleRecords, MAX_REQUEST_ID_BYTES, MAX_WINDOW_IDS_BYTES};

/// The clock the check decodes at (any fixed value: time is an argument).
pub const FUZZ_NOW_MS: i64 = 1_800_000_000_000;

fn rules() -> IngestRules {
    IngestRules { max_age_ms: Some(7 * 86_400_000), ..IngestRules::new(10_000, 1 << 20) }
}

/// Checks every promise on `data`; `Err` describes the first one broken.
pub fn fuzz_check(data: &[u8]) -> Result<(), String> {
    let known: HashSet<String> = ["invoice".to_string(), "receipt".to_string()].into();
    if let Ok(stored) = RecordBatch::decode_stored(data.to_vec(), FUZZ_NOW_MS) {
        (0..SampleRecords::len(&stored)).for_each(|i| {
            std::hint::black_box(stored.record(i));
        });
    }
    let batch = match RecordBatch::decode(data, rules(), &known, FUZZ_NOW_MS) {
        Err(r) if r.detail.len() > 1024 || r.field.len() > 1024 => {
            return Err(format!(
                "unbounded refusal: field {} bytes, detail {} bytes",
                r.field.len(),
                r.detail.len()
            ))
        }
        Err(_) => return Ok(()),
        Ok(b) => b,
    };
    check_records(&batch)?;
    check_groups_and_update(&batch)?;
    check_read_back(&batch)
}

fn check_records(b: &RecordBatch) -> Result<(), String> {
    let rules = rules();
    let mut seen = HashSet::new();
    for i in 0..SampleRecords::len(b) {
        let r = b.record(i);
        let ids = [r.request_id, r.document_id, r.model_type, r.model_id];
        if r.request_id.is_empty() || r.model_type.is_empty() || r.model_id.is_empty() {
            return Err(format!("record {i}: an empty required id"));
        }
        if ids.iter().any(|id| id.contains('\0')) {
            return Err(format!("record {i}: an id with NUL"));
        }
        if r.request_id.len() > MAX_REQUEST_ID_BYTES || r.document_id.len() > MAX_REQUEST_ID_BYTES {
            return Err(format!("record {i}: an id over {MAX_REQUEST_ID_BYTES} bytes"));
        }
        if r.model_type.len() + r.model_id.len() > MAX_WINDOW_IDS_BYTES {
            return Err(format!("record {i}: model type + id over {MAX_WINDOW_IDS_BYTES} bytes"));
        }
        if !seen.insert(r.request_id) {
            return Err(format!("record {i}: request id repeated"));
        }
        let (earliest, latest) =
            (FUZZ_NOW_MS - rules.max_age_ms.unwrap_or(0), FUZZ_NOW_MS + rules.max_future_skew_ms);
        if !(earliest..=latest).contains(&r.ts_ms) {
            return Err(format!("record {i}: ts_ms {} out of range", r.ts_ms));
        }
        if !(0.0..=1.0).contains(&r.confidence) {
            return Err(format!("record {i}: confidence {}", r.confidence));
        }
    }
    Ok(())
}

fn check_groups_and_update(b: &RecordBatch) -> Result<(), String> {
    let n = SampleRecords::len(b);
    let mut covered = vec![0u8; n];
    let base: Vec<f64> = (0..100).map(f64::from).collect();
    let layout = Layout::from_baseline(vec![("amount".into(), &base[..])], vec![], vec![], 16, 8)
        .map_err(|e| format!("layout: {e}"))?;
    let layout = Arc::new(layout);
    for g in b.groups(60_000, |_| 0) {
        let mut agg = Aggregate::new(
            Arc::clone(&layout),
            &g.model_type,
            &g.model_id,
            g.window_start_ms,
            g.window_start_ms + 60_000,
        )
        .map_err(|e| format!("aggregate for a group: {e}"))?;
        for &row in &g.rows {
            let r = b.record(row as usize);
            if (r.model_type, r.model_id) != (g.model_type.as_str(), g.model_id.as_str()) {
                return Err(format!("row {row} in the wrong group"));
            }
            covered[row as usize] += 1;
        }
        b.update(&mut agg, &g.rows).map_err(|e| format!("update of an accepted batch: {e}"))?;
        if agg.records() != g.rows.len() as u64 {
            return Err(format!("{} records in the aggregate, {} rows", agg.records(), g.rows.len()));
        }
    }
    match covered.iter().position(|&c| c != 1) {
        Some(row) => Err(format!("row {row} in {} groups", covered[row])),
        None => Ok(()),
    }
}

fn check_read_back(b: &RecordBatch) -> Result<(), String> {
    let Some((wire, default_ts_ms)) = b.wire() else { return Ok(()) };
    let back =
        RecordBatch::decode_stored(wire.to_vec(), default_ts_ms).map_err(|e| format!("read back: {e}"))?;
    if SampleRecords::len(&back) != SampleRecords::len(b) {
        return Err("read back: another record count".into());
    }
    match (0..SampleRecords::len(b)).find(|&i| back.record(i) != b.record(i)) {
        Some(i) => Err(format!("read back: record {i} differs")),
        None => Ok(()),
    }
}
