//! Batch ingest into an aggregate: 10 numeric features (1,024 quantile bins each), confidence,
//! latency and a label per record.
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use statcore_core::aggregate::{Aggregate, Batch};
use statcore_core::layout::Layout;

fn lcg(state: &mut u64) -> f64 {
    *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

fn normalish(state: &mut u64) -> f64 {
    (0..4).map(|_| lcg(state)).sum::<f64>() - 2.0
}

fn ingest(c: &mut Criterion) {
    let mut s = 42u64;
    let base: Vec<Vec<f64>> = (0..10).map(|_| (0..50_000).map(|_| normalish(&mut s)).collect()).collect();
    let layout = Arc::new(
        Layout::from_baseline(
            base.iter().enumerate().map(|(j, v)| (format!("f{j}"), v.as_slice())).collect(),
            vec![],
            vec!["total".into()],
            1024,
            256,
        )
        .unwrap(),
    );
    let mut g = c.benchmark_group("aggregate");
    // 1,000 records stay in cache; 1,000,000 (80 MB of features) stream from memory, like the
    // Python benchmark's single call.
    for n in [1000usize, 1_000_000] {
        let numeric: Vec<f64> = (0..n * 10).map(|_| normalish(&mut s)).collect();
        let confidence: Vec<f64> = (0..n).map(|_| lcg(&mut s)).collect();
        let latency: Vec<f64> = (0..n).map(|_| 1.0 + 100.0 * lcg(&mut s)).collect();
        let ones = vec![1u8; n];
        let correct: Vec<u8> = (0..n).map(|_| u8::from(lcg(&mut s) < 0.85)).collect();
        let batch = Batch {
            len: n,
            numeric: &numeric,
            categorical: &[],
            confidence: &confidence,
            latency_ms: &latency,
            error: &[],
            labelled: &ones,
            correct: &correct,
            field_flags: &ones,
        };
        g.throughput(Throughput::Elements(n as u64));
        g.sample_size(if n > 100_000 { 10 } else { 100 });
        g.bench_function(format!("update_batch_{n}x10"), |b| {
            b.iter_batched_ref(
                || Aggregate::new(Arc::clone(&layout), "doc", "doc_1", 0, 1).unwrap(),
                |agg| agg.update(&batch).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    g.sample_size(100);
    let n = 1000;
    let numeric: Vec<f64> = (0..n * 10).map(|_| normalish(&mut s)).collect();
    let (confidence, latency, ones) = (vec![0.5; n], vec![2.0; n], vec![1u8; n]);
    let batch = Batch {
        len: n,
        numeric: &numeric,
        confidence: &confidence,
        latency_ms: &latency,
        labelled: &ones,
        correct: &ones,
        field_flags: &ones,
        ..Batch::default()
    };
    let mut one = Aggregate::new(Arc::clone(&layout), "doc", "doc_1", 0, 1).unwrap();
    one.update(&batch).unwrap();
    let blobs: Vec<Vec<u8>> = (0..100).map(|_| one.encode().unwrap()).collect();
    g.throughput(Throughput::Elements(100));
    g.bench_function("decode_merge_100", |b| {
        b.iter(|| {
            let mut acc = Aggregate::decode(&blobs[0], &layout).unwrap();
            for blob in &blobs[1..] {
                acc.merge(&Aggregate::decode(blob, &layout).unwrap()).unwrap();
            }
            acc
        })
    });
    g.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
