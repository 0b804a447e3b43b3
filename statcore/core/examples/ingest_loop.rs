//! Fixed-work ingest loop for `perf stat` (cycle counts are immune to other processes' load):
//! `cargo run --release --example ingest_loop -- 2000` ingests 2,000 batches of 1,000 records.
use std::sync::Arc;

use statcore_core::aggregate::{Aggregate, Batch};
use statcore_core::layout::Layout;

fn lcg(state: &mut u64) -> f64 {
    *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let batches: usize = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(2000);
    let mut s = 7u64;
    let normal = |s: &mut u64| (0..4).map(|_| lcg(s)).sum::<f64>() - 2.0;
    let base: Vec<Vec<f64>> = (0..10).map(|_| (0..50_000).map(|_| normal(&mut s)).collect()).collect();
    let cols = base.iter().enumerate().map(|(j, v)| (format!("f{j}"), v.as_slice())).collect();
    let layout = Arc::new(Layout::from_baseline(cols, vec![], vec!["total".into()], 1024, 256)?);
    let n = 1000;
    let numeric: Vec<f64> = (0..n * 10).map(|_| normal(&mut s)).collect();
    let confidence: Vec<f64> = (0..n).map(|_| lcg(&mut s)).collect();
    let latency: Vec<f64> = (0..n).map(|_| 1.0 + 100.0 * lcg(&mut s)).collect();
    let ones = vec![1u8; n];
    let batch = Batch {
        len: n,
        numeric: &numeric,
        categorical: &[],
        confidence: &confidence,
        latency_ms: &latency,
        error: &[],
        labelled: &ones,
        correct: &ones,
        field_flags: &ones,
    };
    let mut agg = Aggregate::new(layout, "doc", "doc_1", 0, 1)?;
    let t = std::time::Instant::now();
    for _ in 0..batches {
        agg.update(&batch)?;
    }
    let ns = t.elapsed().as_nanos() as f64 / (batches * n) as f64;
    println!("{} records, {ns:.1} ns/record (wall clock)", agg.records());
    Ok(())
}
