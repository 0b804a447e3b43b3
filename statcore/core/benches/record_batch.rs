//! A sidecar record batch through the Rust ingest path: decode (parse + validate), groups, and
//! the update of one aggregate window per group. The batch is the one
//! `benchmarks/bench_sidecar_record.py` sends: 1,000 records, one model type, two model ids
//! alternating, confidence, latency, 4 numeric features and a ~40-byte JSON prediction (about
//! 113 KiB). Baseline in the same run: a plain copy of the same bytes (`to_vec`).
use std::collections::HashSet;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use statcore_core::aggregate::Aggregate;
use statcore_core::ingest::{IngestRules, RecordBatch};
use statcore_core::layout::Layout;

const RECORDS: usize = 1000;
const FEATURES: [&str; 4] = ["amount", "pages", "lines", "age_days"];

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// One length-delimited field: a string, bytes, or a packed repeated scalar.
fn field(out: &mut Vec<u8>, number: u64, value: &[u8]) {
    varint(out, number << 3 | 2);
    varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

fn packed_doubles(out: &mut Vec<u8>, number: u64, values: impl Iterator<Item = f64>) {
    let bytes: Vec<u8> = values.flat_map(f64::to_le_bytes).collect();
    field(out, number, &bytes);
}

/// `loopwise.v1.RecordBatch` as protobuf serializes it: fields in number order, scalars packed.
fn record_batch(b: usize) -> Vec<u8> {
    let mut m = Vec::new();
    (0..RECORDS).for_each(|i| field(&mut m, 1, format!("req-{b}-{i}").as_bytes()));
    (0..RECORDS).for_each(|_| field(&mut m, 3, b"invoice"));
    (0..RECORDS).for_each(|i| field(&mut m, 4, if i % 2 == 1 { b"inv-v1" } else { b"inv-v2" }));
    packed_doubles(&mut m, 7, (0..RECORDS).map(|i| (i % 100) as f64 / 100.0));
    packed_doubles(&mut m, 8, (0..RECORDS).map(|i| 5.0 + (i % 50) as f64));
    FEATURES.iter().for_each(|name| field(&mut m, 10, name.as_bytes()));
    packed_doubles(&mut m, 11, (0..RECORDS * 4).map(|k| ((k / 4 * 7 + k % 4) % 97) as f64));
    (0..RECORDS).for_each(|i| {
        let prediction = format!(r#"{{"doc_type": "invoice", "total": {}}}"#, i % 1000);
        field(&mut m, 14, prediction.as_bytes());
    });
    m
}

fn layout() -> Arc<Layout> {
    let base: Vec<f64> = (0..50_000).map(|i| ((i * 7919) % 10_007) as f64 / 100.0).collect();
    let numeric = FEATURES.iter().map(|n| (n.to_string(), base.as_slice())).collect();
    Arc::new(Layout::from_baseline(numeric, vec![], vec![], 1024, 256).unwrap())
}

fn record_batch_path(c: &mut Criterion) {
    let bytes = record_batch(7);
    let rules = IngestRules { max_age_ms: Some(7 * 86_400_000), ..IngestRules::new(10_000, 1 << 20) };
    let known: HashSet<String> = ["invoice".to_string(), "receipt".to_string()].into();
    let now_ms = 1_700_000_000_000;
    let window_ms = 60_000;
    let batch = RecordBatch::decode(&bytes, rules, &known, now_ms).unwrap();
    let groups = batch.groups(window_ms, |_| 0);
    assert_eq!(groups.len(), 2);
    let layout = layout();
    let mut agg = Aggregate::new(Arc::clone(&layout), "invoice", "inv-v1", 0, 1).unwrap();

    let mut g = c.benchmark_group("record_batch");
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.bench_function("baseline_copy_bytes", |b| b.iter(|| std::hint::black_box(&bytes).to_vec()));
    g.bench_function("decode", |b| b.iter(|| RecordBatch::decode(&bytes, rules, &known, now_ms).unwrap()));
    g.bench_function("groups", |b| b.iter(|| batch.groups(window_ms, |_| 0)));
    g.throughput(Throughput::Elements(groups[0].rows.len() as u64));
    g.bench_function("update_500", |b| b.iter(|| batch.update(&mut agg, &groups[0].rows).unwrap()));
    // All rows in one group (one model id): a range of rows.
    let all_rows: Vec<u32> = (0..RECORDS as u32).collect();
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.bench_function("update_1000_one_group", |b| b.iter(|| batch.update(&mut agg, &all_rows).unwrap()));
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.bench_function("all", |b| {
        b.iter(|| {
            let batch = RecordBatch::decode(&bytes, rules, &known, now_ms).unwrap();
            for group in batch.groups(window_ms, |_| 0) {
                batch.update(&mut agg, &group.rows).unwrap();
            }
        })
    });
    g.finish();
}

criterion_group!(benches, record_batch_path);
criterion_main!(benches);
