//! Fixed-work sample-log loop for `perf stat` or CPU timing: appends and flushes `rounds` ×
//! 100,000 samples shaped like `bench_sidecar_record.py`'s into a store bounded at 200,000
//! (so every flush after the second also evicts 100,000):
//! `cargo run --release --example sample_log_loop -- 10`.
use statcore_core::store::{Sample, Store, StoreConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(10);
    let dir = std::env::temp_dir().join(format!("sample_log_loop-{}", std::process::id()));
    let config = StoreConfig { max_samples: 200_000, ..StoreConfig::default() };
    let store = Store::open(&dir, &config)?;
    let (mut append_s, mut flush_s) = (0.0, 0.0);
    for round in 0..rounds {
        let batch: Vec<Sample> = (0..100_000)
            .map(|i| Sample {
                ts_ms: 1_800_000_000_000 + i,
                model_type: "invoice".into(),
                model_id: if i % 2 == 1 { "inv-v1".into() } else { "inv-v2".into() },
                request_id: format!("req-{round}-{i}"),
                prediction: format!("{{\"doc_type\": \"invoice\", \"total\": {}}}", i % 1000).into_bytes(),
                confidence: (i % 100) as f64 / 100.0,
                ..Sample::default()
            })
            .collect();
        let t0 = std::time::Instant::now();
        store.append(&batch)?;
        let t1 = std::time::Instant::now();
        store.flush(1_800_000_000_000)?;
        append_s += (t1 - t0).as_secs_f64();
        flush_s += t1.elapsed().as_secs_f64();
    }
    let n = (rounds * 100_000) as f64;
    println!("append {:.0} ns/sample, flush {:.0} ns/sample", append_s / n * 1e9, flush_s / n * 1e9);
    drop(store);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
