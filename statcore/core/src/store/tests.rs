//! Behaviour tests of the store against real LMDB files in a temp dir.

use std::path::Path;

use super::*;
use crate::ingest::RejectReason;

fn config() -> StoreConfig {
    StoreConfig { map_size: 1 << 20, max_map_size: 64 << 20, max_samples: 1_000, max_age_ms: None }
}

fn open(path: &Path, config: &StoreConfig) -> Store {
    Store::open(path, config).unwrap()
}

fn sample(request_id: &str, ts_ms: i64) -> Sample {
    Sample {
        ts_ms,
        model_type: "clf".into(),
        model_id: "m1".into(),
        request_id: request_id.into(),
        document_id: "doc".into(),
        payload: format!("payload-{request_id}").into_bytes(),
        prediction: br#"{"label":"a"}"#.to_vec(),
        confidence: 0.5,
        ..Sample::default()
    }
}

fn batch(prefix: &str, n: usize, ts_ms: i64) -> Vec<Sample> {
    (0..n).map(|i| sample(&format!("{prefix}-{i}"), ts_ms)).collect()
}

#[test]
fn store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
}

#[test]
fn store_routing_round_trip_and_stale_generation() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &config());
    assert_eq!(store.get_routing().unwrap(), None);
    store.put_routing(3, b"table-3").unwrap();
    store.put_routing(3, b"table-3b").unwrap();
    let err = store.put_routing(2, b"old").unwrap_err();
    assert_eq!(err, CoreError::StaleGeneration { current: 3, offered: 2 });
    drop(store);
    let store = open(dir.path(), &config());
    assert_eq!(store.get_routing().unwrap(), Some((3, b"table-3b".to_vec())));
    store.put_routing(4, b"").unwrap();
    assert_eq!(store.get_routing().unwrap(), Some((4, vec![])));
}

#[test]
fn store_windows_round_trip_since_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &config());
    store.put_window("b", "m", 10, b"b10").unwrap();
    store.put_window("a", "m2", 20, b"a2-20").unwrap();
    store.put_window("a", "m", 30, b"a30").unwrap();
    store.put_window("a", "m", -5, b"a-5").unwrap();
    store.put_window("a", "m", 30, b"a30v2").unwrap();
    assert_eq!(store.get_window("a", "m", 30).unwrap(), Some(b"a30v2".to_vec()));
    assert_eq!(store.get_window("a", "m", 31).unwrap(), None);
    let since: Vec<_> = store.windows_since(10).unwrap();
    let keys: Vec<_> = since.iter().map(|(t, m, s, _)| (t.as_str(), m.as_str(), *s)).collect();
    assert_eq!(keys, vec![("a", "m", 30), ("a", "m2", 20), ("b", "m", 10)]);
    assert_eq!(store.delete_windows_before(20).unwrap(), 2);
    drop(store);
    let store = open(dir.path(), &config());
    assert_eq!(store.windows_since(i64::MIN).unwrap().len(), 2);
    assert!(matches!(store.get_window("a\0", "m", 0), Err(CoreError::InvalidInput { .. })));
}

#[test]
fn store_group_commit_is_durable_only_after_flush() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &config());
    let seqs = store.append(&batch("r", 500, 100)).unwrap();
    assert_eq!(seqs, 1..501);
    assert_eq!(store.stats().unwrap().pending, 500);
    assert!(store.pull(0, 10).unwrap().is_empty());
    drop(store); // never flushed: lost, and the seqs are issued again
    let store = open(dir.path(), &config());
    assert_eq!(store.append(&batch("r", 500, 100)).unwrap().start, 1);
    store.flush(200).unwrap();
    drop(store);
    let store = open(dir.path(), &config());
    let stats = store.stats().unwrap();
    assert_eq!((stats.samples, stats.oldest_seq, stats.newest_seq, stats.pending), (500, 1, 500, 0));
    assert_eq!(stats.last_flush_ms, Some(200));
    let pulled = store.pull(0, 1_000).unwrap();
    let mut expected = sample("r-7", 100);
    expected.seq = 8;
    assert_eq!(pulled[7], expected);
    assert!(stats.bytes > 500 * 50);
}

#[test]
fn store_rejected_batch_buffers_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &config());
    let mut bad = batch("r", 3, 0);
    bad[2].confidence = f64::NAN;
    assert!(
        matches!(store.append(&bad), Err(CoreError::InvalidInput { field, .. }) if field == "confidence")
    );
    let mut bad = batch("r", 3, 0);
    bad[1].request_id.clear();
    assert!(
        matches!(store.append(&bad), Err(CoreError::InvalidInput { field, .. }) if field == "request_id")
    );
    assert_eq!(store.pending(), 0);
    assert_eq!(store.append(&batch("r", 1, 0)).unwrap(), 1..2);
}

#[test]
fn store_pull_ack_cursor_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &config());
    store.append_and_flush(&batch("r", 10, 0), 0).unwrap();
    assert_eq!(store.cursor().unwrap(), 0);
    let page = store.pull(store.cursor().unwrap(), 4).unwrap();
    assert_eq!(page.iter().map(|s| s.seq).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    store.ack(4).unwrap();
    store.ack(2).unwrap(); // redelivered ack: no-op
    assert!(matches!(store.ack(11), Err(CoreError::InvalidInput { .. })));
    drop(store);
    let store = open(dir.path(), &config());
    assert_eq!(store.cursor().unwrap(), 4);
    let page = store.pull(store.cursor().unwrap(), 100).unwrap();
    assert_eq!(page.first().map(|s| s.seq), Some(5));
    assert_eq!(page.len(), 6);
}

#[test]
fn store_attach_label_stored_pending_and_missing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &config());
    store.append_and_flush(&batch("r", 3, 0), 0).unwrap();
    assert_eq!(store.attach_label("r-1", b"yes", true, 5).unwrap(), 2);
    store.append(&vec![sample("p", 6)]).unwrap();
    assert_eq!(store.attach_label("p", b"no", false, 7).unwrap(), 4);
    assert_eq!(store.pending(), 0);
    assert!(matches!(store.attach_label("nope", b"x", false, 8), Err(CoreError::NotFound(_))));
    drop(store);
    let store = open(dir.path(), &config());
    let all = store.pull(0, 10).unwrap();
    assert_eq!((all[1].label.as_deref(), all[1].human_correction), (Some(&b"yes"[..]), true));
    assert_eq!(all[3].label.as_deref(), Some(&b"no"[..]));
    assert_eq!(all[0].label, None);
}

#[test]
fn store_evicts_by_count_oldest_first_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig { max_samples: 5, ..config() };
    let store = open(dir.path(), &cfg);
    store.append_and_flush(&batch("a", 4, 0), 0).unwrap();
    store.append_and_flush(&batch("b", 4, 0), 0).unwrap();
    let stats = store.stats().unwrap();
    assert_eq!((stats.samples, stats.oldest_seq, stats.newest_seq, stats.evicted_total), (5, 4, 8, 3));
    assert!(matches!(store.attach_label("a-0", b"x", false, 0), Err(CoreError::NotFound(_))));
    assert_eq!(store.attach_label("a-3", b"x", false, 0).unwrap(), 4);
    drop(store);
    // seqs keep rising after eviction and restart
    let store = open(dir.path(), &cfg);
    assert_eq!(store.append_and_flush(&batch("c", 1, 0), 0).unwrap(), 9..10);
    assert_eq!(store.stats().unwrap().evicted_total, 4);
}

#[test]
fn store_evicts_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig { max_age_ms: Some(1_000), ..config() };
    let store = open(dir.path(), &cfg);
    store.append_and_flush(&batch("old", 3, 0), 500).unwrap();
    store.append_and_flush(&batch("new", 2, 1_500), 1_000).unwrap();
    assert_eq!(store.stats().unwrap().samples, 5);
    store.flush(2_000).unwrap(); // cutoff 1000: the three at ts 0 go
    let stats = store.stats().unwrap();
    assert_eq!((stats.samples, stats.oldest_seq, stats.evicted_total), (2, 4, 3));
    store.flush(10_000).unwrap();
    let stats = store.stats().unwrap();
    assert_eq!((stats.samples, stats.oldest_seq, stats.newest_seq, stats.evicted_total), (0, 0, 0, 5));
    assert_eq!(stats.bytes, 0);
    drop(store);
    let store = open(dir.path(), &cfg);
    assert_eq!(store.append(&batch("x", 1, 0)).unwrap(), 6..7);
}

#[test]
fn store_grows_the_map_when_full() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig { map_size: MAP_GRAIN, max_map_size: 64 << 20, ..config() };
    let store = open(dir.path(), &cfg);
    let mut big = batch("r", 1_000, 0);
    big.iter_mut().for_each(|s| s.payload = vec![7; 1_000]);
    store.append(&big).unwrap();
    store.flush(0).unwrap();
    let stats = store.stats().unwrap();
    assert_eq!((stats.samples, stats.pending), (1_000, 0));
    assert!(stats.map_size > MAP_GRAIN as u64);
    drop(store);
    let store = open(dir.path(), &cfg);
    assert_eq!(store.pull(999, 10).unwrap()[0].payload, vec![7; 1_000]);
}

#[test]
fn store_full_at_max_keeps_the_batch_buffered() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig { map_size: MAP_GRAIN, max_map_size: 4 * MAP_GRAIN, ..config() };
    let store = open(dir.path(), &cfg);
    store.put_window("t", "m", 0, &vec![1; 200_000]).unwrap();
    let big: Vec<Sample> =
        batch("r", 100, 0).into_iter().map(|s| Sample { payload: vec![2; 500], ..s }).collect();
    store.append(&big).unwrap();
    assert!(matches!(store.flush(0), Err(CoreError::StoreFull(_))));
    assert_eq!(store.pending(), 100);
    assert_eq!(store.stats().unwrap().samples, 0);
    assert_eq!(store.stats().unwrap().map_size, 4 * MAP_GRAIN as u64);
    assert_eq!(store.delete_windows_before(1).unwrap(), 1); // frees room
                                                            // LMDB reuses pages freed by commit N from commit N+2 on (the previous snapshot stays
                                                            // intact for crash recovery), so one more commit happens before the retry.
    store.put_routing(1, b"r").unwrap();
    store.flush(0).unwrap();
    assert_eq!(store.stats().unwrap().samples, 100);
    assert_eq!(store.pending(), 0);
}

#[test]
fn store_refuses_a_future_format_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &config());
    drop(store);
    {
        let (mut env, _) = env::LmdbEnv::open(dir.path(), 1 << 20, 1 << 20).unwrap();
        env::write_format_version(&mut env, STORE_FORMAT_VERSION + 1).unwrap();
    }
    match Store::open(dir.path(), &config()) {
        Err(CoreError::Store(msg)) => assert!(msg.contains("newer than this build"), "{msg}"),
        other => panic!("expected a format error, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn store_refuses_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let bad = StoreConfig { max_map_size: 1, ..config() };
    assert!(matches!(Store::open(dir.path(), &bad), Err(CoreError::InvalidInput { .. })));
}

#[test]
fn store_blobs_round_trip_survive_reopen_and_stay_apart_from_counters() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path(), &config());
        assert_eq!(s.get_blob("baseline/a").unwrap(), None);
        s.put_blob("baseline/a", b"one").unwrap();
        s.put_blob("baseline/b", b"two").unwrap();
        s.put_blob("other", b"x").unwrap();
        s.put_blob("baseline/a", b"uno").unwrap();
        s.append_and_flush(&batch("r", 3, 1), 1).unwrap();
        assert!(s.put_blob("", b"x").is_err());
        assert!(s.put_blob(&"n".repeat(MAX_BLOB_NAME_BYTES + 1), b"x").is_err());
    }
    let s = open(dir.path(), &config());
    assert_eq!(s.get_blob("baseline/a").unwrap().as_deref(), Some(&b"uno"[..]));
    let listed = s.blobs_with_prefix("baseline/").unwrap();
    assert_eq!(listed, vec![("baseline/a".into(), b"uno".to_vec()), ("baseline/b".into(), b"two".to_vec())]);
    assert_eq!(s.stats().unwrap().samples, 3);
}

#[test]
fn store_latest_sample_owns_a_repeated_request_id_through_flush_and_eviction() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig { max_samples: 3, ..config() };
    let store = open(dir.path(), &cfg);
    // One flush holds "x" twice (seqs 1 and 3): the index must point at 3.
    store.append_and_flush(&vec![sample("x", 0), sample("z", 0), sample("x", 0), sample("y", 0)], 0).unwrap();
    assert_eq!(store.stats().unwrap().oldest_seq, 2); // seq 1 evicted, its stale id not removed
    assert_eq!(store.attach_label("x", b"l", false, 0).unwrap(), 3);
    assert_eq!(store.attach_label("z", b"l", false, 0).unwrap(), 2);
}

#[test]
fn store_large_appends_split_into_segments_and_pull_crosses_them_with_labels() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig { max_samples: 10_000, ..config() };
    let store = open(dir.path(), &cfg);
    let n = 2 * SEGMENT_MAX_RECORDS + 7;
    assert_eq!(store.append(&batch("r", n, 0)).unwrap(), 1..n as u64 + 1);
    store.flush(0).unwrap();
    let edge = SEGMENT_MAX_RECORDS as u64; // the last record of the first segment
    assert_eq!(store.attach_label(&format!("r-{}", edge - 1), b"a", false, 0).unwrap(), edge);
    assert_eq!(store.attach_label(&format!("r-{edge}"), b"b", true, 0).unwrap(), edge + 1);
    let page = store.pull(edge - 2, 3).unwrap();
    assert_eq!(page.iter().map(|s| s.seq).collect::<Vec<_>>(), vec![edge - 1, edge, edge + 1]);
    assert_eq!(
        page.iter().map(|s| s.label.as_deref()).collect::<Vec<_>>(),
        vec![None, Some(&b"a"[..]), Some(&b"b"[..])]
    );
    assert!(page[2].human_correction && !page[1].human_correction);
    let all = store.pull(0, usize::MAX).unwrap();
    assert_eq!(all.len(), n);
    assert!(all.iter().enumerate().all(|(i, s)| s.seq == i as u64 + 1 && s.request_id == format!("r-{i}")));
}

#[test]
fn store_eviction_is_exact_inside_a_segment_and_frees_whole_segments() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig { max_samples: 6, ..config() };
    let store = open(dir.path(), &cfg);
    store.append_and_flush(&batch("a", 4, 0), 0).unwrap(); // seqs 1-4, one segment
    store.attach_label("a-3", b"x", false, 0).unwrap();
    let before = store.stats().unwrap().bytes;
    store.append_and_flush(&batch("b", 4, 0), 0).unwrap(); // seqs 5-8: 1 and 2 evicted
    let stats = store.stats().unwrap();
    assert_eq!((stats.samples, stats.oldest_seq, stats.evicted_total), (6, 3, 2));
    assert!(stats.bytes > before, "the first segment still holds live records");
    assert!(matches!(store.attach_label("a-1", b"x", false, 0), Err(CoreError::NotFound(_))));
    assert_eq!(store.pull(0, 100).unwrap().first().map(|s| s.seq), Some(3));
    store.append_and_flush(&batch("c", 3, 0), 0).unwrap(); // seqs 9-11: 3-5 evicted
    let stats = store.stats().unwrap();
    assert_eq!((stats.samples, stats.oldest_seq, stats.evicted_total), (6, 6, 5));
    let page = store.pull(0, 100).unwrap();
    assert_eq!(page.iter().map(|s| s.seq).collect::<Vec<_>>(), (6..12).collect::<Vec<_>>());
    assert!(page.iter().all(|s| s.label.is_none()), "the label of evicted seq 4 went with it");
    assert!(stats.bytes < before + 700, "the first segment and its label were deleted");
}

#[test]
fn store_record_index_is_rebuilt_at_open_and_finds_documents() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &config());
    let mut first = batch("a", 3, 0);
    first[1].document_id = "doc-a1".into();
    store.append_and_flush(&first, 0).unwrap();
    let mut second = sample("b-0", 1);
    second.document_id = "doc-b0".into();
    store.append(&vec![second]).unwrap(); // never flushed: lost at the "crash" below
    assert_eq!(store.request_for_document("doc-b0").unwrap().as_deref(), Some("b-0"));
    assert_eq!(store.request_for_document("doc-a1").unwrap().as_deref(), Some("a-1"));
    assert_eq!(store.request_for_document("nope").unwrap(), None);
    assert_eq!(store.request_for_document("").unwrap(), None);
    drop(store);
    let store = open(dir.path(), &config());
    assert_eq!(store.request_for_document("doc-a1").unwrap().as_deref(), Some("a-1"));
    assert_eq!(store.request_for_document("doc-b0").unwrap(), None);
    assert!(matches!(store.attach_label("b-0", b"x", false, 2), Err(CoreError::NotFound(_))));
    assert_eq!(store.attach_label("a-2", b"y", false, 2).unwrap(), 3);
    // seq 4 is issued again to a new sample, which owns its own ids only.
    assert_eq!(store.append(&batch("c", 1, 3)).unwrap(), 4..5);
    assert_eq!(store.attach_label("c-0", b"z", false, 4).unwrap(), 4);
}

/// Writes a store the way format 1 did: one `LWSP` value per sample, the request index in
/// LMDB, counters version 1.
fn write_format_1_store(path: &Path, samples: &[Sample], next_seq: u64) {
    use crate::codec::Writer;
    let (mut env, _) = env::LmdbEnv::open(path, 1 << 20, 1 << 20).unwrap();
    env.write(|wtxn, dbs| {
        for s in samples {
            dbs.samples.put(wtxn, &s.seq.to_be_bytes(), &s.encode()?)?;
            dbs.by_request.put(wtxn, s.request_id.as_bytes(), &s.seq.to_be_bytes())?;
        }
        let mut w = Writer::with_header(b"LWCT", 1);
        for v in [next_seq, 2, 0, 0] {
            w.u64(v);
        }
        w.u8(0);
        dbs.meta.put(wtxn, b"counters", &w.finish())?;
        Ok(())
    })
    .unwrap();
    env::write_format_version(&mut env, 1).unwrap();
}

#[test]
fn store_migrates_a_format_1_store_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut old: Vec<Sample> = batch("r", 5, 7).into_iter().collect();
    for (i, s) in old.iter_mut().enumerate() {
        s.seq = 3 + i as u64; // seqs 1-2 were evicted before
    }
    old[1].label = Some(b"lbl".to_vec());
    old[1].human_correction = true;
    write_format_1_store(dir.path(), &old, 8);
    let store = open(dir.path(), &config());
    assert_eq!(store.pull(0, 100).unwrap(), old);
    let stats = store.stats().unwrap();
    assert_eq!((stats.samples, stats.oldest_seq, stats.newest_seq, stats.cursor), (5, 3, 7, 2));
    assert_eq!(store.attach_label("r-4", b"late", false, 9).unwrap(), 7);
    assert_eq!(store.append(&batch("n", 1, 9)).unwrap(), 8..9);
    store.flush(9).unwrap();
    drop(store);
    let (env, version) = env::LmdbEnv::open(dir.path(), 1 << 20, 1 << 20).unwrap();
    assert_eq!(version, STORE_FORMAT_VERSION);
    let old_left = env.read(|rtxn, dbs| Ok(dbs.samples.len(rtxn)? + dbs.by_request.len(rtxn)?)).unwrap();
    assert_eq!(old_left, 0);
    drop(env);
    let store = open(dir.path(), &config());
    let all = store.pull(0, 100).unwrap();
    assert_eq!(all.len(), 6);
    assert_eq!(all[4].label.as_deref(), Some(&b"late"[..]));
}

#[test]
fn store_samples_appended_with_labels_keep_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &config());
    let mut samples = batch("r", 3, 0);
    samples[1].label = Some(b"L".to_vec());
    samples[1].human_correction = true;
    store.append_and_flush(&samples, 0).unwrap();
    drop(store);
    let store = open(dir.path(), &config());
    let all = store.pull(0, 10).unwrap();
    assert_eq!(all.iter().map(|s| s.label.is_some()).collect::<Vec<_>>(), [false, true, false]);
    assert!(all[1].human_correction);
    assert_eq!(all[1], Sample { seq: 2, ..samples[1].clone() });
}

#[test]
fn store_appends_labels_and_flushes_from_many_threads_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &StoreConfig { max_samples: 100_000, ..config() });
    std::thread::scope(|scope| {
        for t in 0..3 {
            let store = &store;
            scope.spawn(move || {
                for i in 0..100 {
                    store.append(&batch(&format!("t{t}-{i}"), 7, i)).unwrap();
                    if i % 10 == 0 {
                        store.attach_label(&format!("t{t}-{i}-3"), b"L", true, i).unwrap();
                    }
                }
            });
        }
        scope.spawn(|| {
            for i in 0..50 {
                store.flush(i).unwrap();
            }
        });
    });
    store.flush(100).unwrap();
    let all = store.pull(0, usize::MAX).unwrap();
    assert_eq!(all.len(), 3 * 100 * 7);
    assert!(all.iter().enumerate().all(|(i, s)| s.seq == i as u64 + 1));
    assert_eq!(all.iter().filter(|s| s.label.is_some()).count(), 3 * 10);
    assert_eq!(store.stats().unwrap().pending, 0);
}

#[test]
fn store_flush_worker_flushes_in_the_background_and_reports_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(open(dir.path(), &config()));
    let mut worker = FlushWorker::spawn(std::sync::Arc::clone(&store)).unwrap();
    store.append(&batch("r", 10, 0)).unwrap();
    worker.request(5).unwrap();
    worker.request(6).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.pending() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    worker.stop(); // joins after the queued flushes
    let stats = store.stats().unwrap();
    assert_eq!((stats.samples, stats.pending), (10, 0));
    assert_eq!(stats.last_flush_ms, Some(6));
    assert!(worker.request(7).is_err(), "stopped");

    // A flush that fails (the map is full at its cap) is reported by the next request.
    let dir = tempfile::tempdir().unwrap();
    let cfg = StoreConfig { map_size: MAP_GRAIN, max_map_size: 2 * MAP_GRAIN, ..config() };
    let store = std::sync::Arc::new(open(dir.path(), &cfg));
    let mut worker = FlushWorker::spawn(std::sync::Arc::clone(&store)).unwrap();
    let big: Vec<Sample> =
        batch("r", 100, 0).into_iter().map(|s| Sample { payload: vec![2; 5_000], ..s }).collect();
    store.append(&big).unwrap();
    worker.request(1).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let reported = loop {
        std::thread::sleep(std::time::Duration::from_millis(5));
        match worker.request(2) {
            Err(e) => break Some(e),
            Ok(()) if std::time::Instant::now() > deadline => break None,
            Ok(()) => {}
        }
    };
    assert!(matches!(reported, Some(CoreError::StoreFull(_))), "{reported:?}");
    worker.stop();
    assert_eq!(store.pending(), 100, "kept for a retry");
}

#[test]
fn store_append_new_refuses_a_request_id_already_in_the_log_pending_or_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &config());
    store.append_new(&batch("a", 3, 0)).unwrap();
    let dup_pending = vec![sample("b-0", 0), sample("a-1", 0)];
    let err = store.append_new(&dup_pending).unwrap_err();
    let CoreError::Rejected(r) = err else { panic!("{err:?}") };
    assert_eq!((r.reason, r.field.as_str()), (RejectReason::DuplicateId, "request_id[1]"));
    assert!(r.detail.contains("\"a-1\"") && r.detail.contains("seq 2"), "{}", r.detail);
    assert_eq!(store.stats().unwrap().pending, 3, "nothing of the refused batch was buffered");
    store.flush(0).unwrap();
    assert!(matches!(store.append_new(&vec![sample("a-2", 0)]), Err(CoreError::Rejected(_))));
    assert_eq!(store.append_new(&batch("b", 2, 0)).unwrap(), 4..6);
    store.flush(0).unwrap();
    drop(store);
    let store = open(dir.path(), &config());
    assert!(matches!(store.append_new(&vec![sample("a-0", 0)]), Err(CoreError::Rejected(_))));
    assert_eq!(store.find_request("b-1").unwrap(), Some(5));
    assert_eq!(store.find_request("b-9").unwrap(), None);
}

/// The issue's colliding pairs (equal under the former hand-written hash) are both labelled
/// and found by document id, before and after a restart.
#[test]
fn store_labels_and_finds_both_ids_of_the_formerly_colliding_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &config());
    let pairs = [("r11-b121-106", "Dr1-b191s2-4"), ("r11-b129-109", "Dr1-b199s2-9")];
    for (r, d) in pairs {
        let mut s = sample(r, 0);
        s.document_id = d.into();
        store.append_and_flush(&vec![s], 0).unwrap();
    }
    for (seq, (r, d)) in [(1, pairs[0]), (2, pairs[1])] {
        assert_eq!(store.attach_label(r, b"x", false, 0).unwrap(), seq);
        assert_eq!(store.request_for_document(d).unwrap().as_deref(), Some(r));
    }
    drop(store);
    let store = open(dir.path(), &config());
    for (seq, (r, d)) in [(1, pairs[0]), (2, pairs[1])] {
        assert_eq!(store.attach_label(r, b"y", true, 0).unwrap(), seq);
        assert_eq!(store.request_for_document(d).unwrap().as_deref(), Some(r));
    }
}

#[test]
fn store_flush_with_windows_commits_windows_high_water_and_samples_together() {
    use crate::ingest::{IngestRules, RecordBatch};
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), &config());
    assert_eq!(store.windows_high_water().unwrap(), None);
    let wire = |prefix: &str, n: usize| {
        let mut m = Vec::new();
        let mut field = |number: u8, value: &[u8]| {
            m.push(number << 3 | 2);
            let mut len = value.len();
            while len >= 0x80 {
                m.push((len as u8) | 0x80);
                len >>= 7;
            }
            m.push(len as u8);
            m.extend_from_slice(value);
        };
        for i in 0..n {
            field(1, format!("{prefix}{i}").as_bytes());
            field(3, b"clf");
            field(4, b"m1");
        }
        let doubles: Vec<u8> = (0..n).flat_map(|_| 0.5f64.to_le_bytes()).collect();
        field(7, &doubles);
        field(8, &doubles);
        let known = ["clf".to_string()].into();
        RecordBatch::decode(&m, IngestRules::new(5_000, 64), &known, 77).unwrap()
    };
    store.append_new(&wire("a", 3)).unwrap();
    let hw = store.next_seq().unwrap();
    store.append_new(&wire("b", 2)).unwrap();
    store.flush_with_windows(10, &[("clf".into(), "m1".into(), 0, b"w".to_vec())], hw).unwrap();
    assert_eq!(store.stats().unwrap().pending, 0, "the samples went with the windows");
    // A bad key commits nothing, samples included.
    store.append_new(&wire("c", 1)).unwrap();
    assert!(store.flush_with_windows(11, &[("clf".into(), "m\0".into(), 0, vec![])], 7).is_err());
    assert_eq!(store.stats().unwrap().pending, 1);
    drop(store);
    let store = open(dir.path(), &config());
    assert_eq!(store.windows_high_water().unwrap(), Some(4));
    assert_eq!(store.get_window("clf", "m1", 0).unwrap(), Some(b"w".to_vec()));
    let after: Vec<(u64, usize, String)> = store
        .batches_from(4, 10)
        .unwrap()
        .into_iter()
        .map(|(first, b)| (first, b.len(), b.record(0).request_id.to_owned()))
        .collect();
    assert_eq!(after, vec![(4, 2, "b0".to_string())]);
    assert_eq!(store.batches_from(1, 1).unwrap().len(), 1);
    assert_eq!(store.batches_from(6, 10).unwrap().len(), 0);
    // A wire batch of more than SEGMENT_MAX_RECORDS records stays one segment, all columns kept.
    store.append_new(&wire("big", 1500)).unwrap();
    store.flush(12).unwrap();
    let big = store.batches_from(6, 10).unwrap();
    assert_eq!(big.iter().map(|(f, b)| (*f, b.len())).collect::<Vec<_>>(), vec![(6, 1500)]);
    assert_eq!(store.find_request("big1499").unwrap(), Some(1505));
}
