//! Drift of 50 numeric features (1,024 quantile bins each) from two aggregates of 100,000
//! records: fine-bin PSI + KS with p-values (the issue #2 claim), and the alarm-grade call.
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use statcore_core::aggregate::{Aggregate, Batch};
use statcore_core::drift::{feature_drift, Extras};
use statcore_core::layout::Layout;

const FEATURES: usize = 50;
const ROWS: usize = 100_000;

fn lcg(state: &mut u64) -> f64 {
    *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

fn normalish(state: &mut u64) -> f64 {
    (0..4).map(|_| lcg(state)).sum::<f64>() - 2.0
}

fn aggregate(layout: &Arc<Layout>, numeric: &[f64]) -> Aggregate {
    let (conf, lat) = (vec![0.5; ROWS], vec![1.0; ROWS]);
    let mut a = Aggregate::new(Arc::clone(layout), "doc", "m", 0, 1).unwrap();
    let b = Batch { len: ROWS, numeric, confidence: &conf, latency_ms: &lat, ..Batch::default() };
    a.update(&b).unwrap();
    a
}

fn drift(c: &mut Criterion) {
    let mut s = 7u64;
    let base: Vec<Vec<f64>> = (0..FEATURES).map(|_| (0..ROWS).map(|_| normalish(&mut s)).collect()).collect();
    let layout = Arc::new(
        Layout::from_baseline(
            base.iter().enumerate().map(|(j, v)| (format!("f{j}"), v.as_slice())).collect(),
            vec![],
            vec![],
            1024,
            256,
        )
        .unwrap(),
    );
    let reference: Vec<f64> = (0..ROWS).flat_map(|i| base.iter().map(move |col| col[i])).collect();
    let current: Vec<f64> = reference.iter().map(|x| x * 1.05 + 0.02 + 0.05 * normalish(&mut s)).collect();
    let (r, cur) = (aggregate(&layout, &reference), aggregate(&layout, &current));
    let mut g = c.benchmark_group("drift");
    g.throughput(Throughput::Elements(FEATURES as u64));
    let fine = Extras { wasserstein: false, jensen_shannon: false, psi_groups: 0 };
    g.bench_function("psi_ks_fine_50", |b| b.iter(|| feature_drift(&r, &cur, fine).unwrap()));
    let alarm = Extras { wasserstein: false, ..Extras::default() };
    g.bench_function("psi10_ks_50", |b| b.iter(|| feature_drift(&r, &cur, alarm).unwrap()));
    g.finish();
}

criterion_group!(benches, drift);
criterion_main!(benches);
