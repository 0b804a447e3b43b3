//! RecordBatch decoding on hand-encoded messages (the Python tests use real protobuf output).

use std::collections::HashSet;
use std::sync::Arc;

use super::*;
use crate::aggregate::{Aggregate, Batch};
use crate::ingest::key_index::LINEAR_KEYS;
use crate::layout::Layout;
use crate::store::MAX_WINDOW_IDS_BYTES;

fn varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        out.push(if v == 0 { byte } else { byte | 0x80 });
        if v == 0 {
            return;
        }
    }
}

fn string(out: &mut Vec<u8>, field: u64, s: &[u8]) {
    varint(out, field << 3 | 2);
    varint(out, s.len() as u64);
    out.extend_from_slice(s);
}

fn packed_doubles(out: &mut Vec<u8>, field: u64, v: &[f64]) {
    varint(out, field << 3 | 2);
    varint(out, 8 * v.len() as u64);
    v.iter().for_each(|x| out.extend(x.to_le_bytes()));
}

fn message(n: usize, conf: f64) -> Vec<u8> {
    let mut m = Vec::new();
    for i in 0..n {
        string(&mut m, 1, format!("r{i}").as_bytes());
        string(&mut m, 3, b"invoice");
        string(&mut m, 4, if i % 2 == 0 { b"a" } else { b"b" });
        string(&mut m, 14, br#"{"doc_type":"invoice"}"#);
    }
    packed_doubles(&mut m, 7, &vec![conf; n]);
    for _ in 0..n {
        varint(&mut m, 8 << 3 | 1); // unpacked doubles are accepted too
        m.extend(12.5f64.to_le_bytes());
    }
    string(&mut m, 10, b"amount");
    string(&mut m, 10, b"pages");
    packed_doubles(&mut m, 11, &(0..2 * n).map(|i| i as f64).collect::<Vec<_>>());
    m
}

fn rules() -> IngestRules {
    IngestRules::new(100, 64)
}

fn known() -> HashSet<String> {
    ["invoice".to_string()].into()
}

fn refused(bytes: &[u8]) -> Rejection {
    match RecordBatch::decode(bytes, rules(), &known(), 1_000) {
        Err(r) => r,
        Ok(_) => Rejection::new(RejectReason::Malformed, "<accepted>", ""),
    }
}

#[test]
fn a_valid_batch_decodes_groups_and_becomes_samples() {
    let b = RecordBatch::decode(&message(4, 0.9), rules(), &known(), 7_500).unwrap_or_default();
    assert_eq!(b.len(), 4);
    let groups = b.groups(5_000, |_| 0);
    let summary: Vec<(String, i64, Vec<u32>)> =
        groups.iter().map(|g| (g.model_id.clone(), g.window_start_ms, g.rows.clone())).collect();
    assert_eq!(summary, [("a".into(), 5_000, vec![0, 2]), ("b".into(), 5_000, vec![1, 3])]);
    // Records older than the epoch count in the epoch's window.
    assert_eq!(b.groups(5_000, |_| 6_000)[0].window_start_ms, 6_000);
    assert_eq!(SampleRecords::len(&b), 4);
    assert_eq!(b.record(3).request_id, "r3");
    assert_eq!(b.record(3).ts_ms, 7_500);
    assert_eq!(b.record(0).prediction, br#"{"doc_type":"invoice"}"#);
    assert!(b.documents().is_empty());
}

#[test]
fn rejections_name_the_field_like_the_python_validation() {
    let r = refused(&message(4, 1.5));
    assert_eq!((r.reason, r.field.as_str()), (RejectReason::InvalidNumber, "confidence[0]"));
    assert_eq!(r.detail, "must be a number in [0, 1], got 1.5");
    assert_eq!(refused(&message(4, f64::NAN)).detail, "must be a number in [0, 1], got nan");

    let mut m = message(2, 0.5);
    string(&mut m, 2, b"doc-1"); // one document id for two records
    let r = refused(&m);
    assert_eq!(
        (r.reason, r.field.as_str(), r.detail.as_str()),
        (RejectReason::Malformed, "document_id", "has 1 values, expected 0 or 2")
    );

    let mut m = message(2, 0.5);
    string(&mut m, 1, b"r9");
    string(&mut m, 3, b"invoice");
    string(&mut m, 4, b"a");
    assert_eq!(refused(&m).field, "confidence"); // 3 records, 2 confidences
    let mut m = message(2, 0.5);
    string(&mut m, 1, b"");
    let r = refused(&m);
    assert_eq!((r.reason, r.field.as_str()), (RejectReason::EmptyId, "request_id[2]"));

    let mut m = Vec::new();
    string(&mut m, 1, b"r0");
    string(&mut m, 3, b"receipt");
    let r = refused(&m);
    assert_eq!((r.reason, r.field.as_str()), (RejectReason::UnknownModelType, "model_type[0]"));

    let mut m = message(2, 0.5);
    packed_doubles(&mut m, 11, &[f64::NAN, f64::NAN]); // 6 values for 2 x 2
    assert_eq!(refused(&m).detail, "has 6 values, expected 2 x 2");

    let mut m = message(1, 0.5);
    m.truncate(m.len() - 3);
    assert_eq!(refused(&m).reason, RejectReason::Malformed);

    let mut m = message(1, 0.5);
    string(&mut m, 15, &[0u8; 65]);
    let r = refused(&m);
    assert_eq!((r.reason, r.field.as_str()), (RejectReason::Oversized, "payload[0]"));

    let mut m = Vec::new();
    string(&mut m, 1, &[0xff, 0xfe]);
    assert_eq!(refused(&m).field, "request_id[0]");
}

#[test]
fn infinite_features_are_refused_nan_is_missing() {
    let mut m = Vec::new();
    string(&mut m, 1, b"r0");
    string(&mut m, 3, b"invoice");
    string(&mut m, 4, b"a");
    packed_doubles(&mut m, 7, &[0.5]);
    packed_doubles(&mut m, 8, &[1.0]);
    string(&mut m, 10, b"amount");
    packed_doubles(&mut m, 11, &[f64::NEG_INFINITY]);
    let r = refused(&m);
    assert_eq!((r.field.as_str(), r.reason), ("numeric[0]['amount']", RejectReason::InvalidNumber));
}

/// Records with the given request ids, model types and model ids, in protobuf's field order.
fn records(ids: &[&[u8]], model_types: &[impl AsRef<[u8]>], model_ids: &[impl AsRef<[u8]>]) -> Vec<u8> {
    let mut m = Vec::new();
    ids.iter().for_each(|id| string(&mut m, 1, id));
    model_types.iter().for_each(|t| string(&mut m, 3, t.as_ref()));
    model_ids.iter().for_each(|id| string(&mut m, 4, id.as_ref()));
    packed_doubles(&mut m, 7, &vec![0.5; ids.len()]);
    packed_doubles(&mut m, 8, &vec![1.0; ids.len()]);
    m
}

#[test]
fn invalid_utf8_inside_a_run_of_values_names_its_index() {
    let ids: Vec<&[u8]> = vec![b"r0", b"r1", "r\u{e9}2".as_bytes(), b"r3", &[b'r', 0xff], b"r5"];
    let r = refused(&records(&ids, &[b"invoice"; 6], &[b"a"; 6]));
    assert_eq!((r.reason, r.field.as_str()), (RejectReason::Malformed, "request_id[4]"));
    assert_eq!(r.detail, "is not valid UTF-8");
    // Non-ASCII UTF-8 is fine, and so is any byte in a payload.
    let mut m = records(&ids[..4], &["invoice"; 4], &["a", "\u{e9}", "a", "a"]);
    (0..4).for_each(|_| string(&mut m, 15, &[0xff, 0xfe]));
    let b = RecordBatch::decode(&m, rules(), &known(), 1_000).unwrap_or_default();
    assert_eq!(b.len(), 4);
    assert_eq!(b.groups(1_000, |_| 0)[1].model_id, "\u{e9}");
}

#[test]
fn runs_break_on_long_values_and_long_tags_without_losing_any() {
    let long = vec![b'x'; 300];
    let ids: Vec<&[u8]> = vec![b"r0", &long, b"r2", b"r3"];
    let mut m = records(&ids, &[b"invoice"; 4], &[b"a"; 4]);
    // A fifth record whose request id has a two-byte (non-minimal) tag: 0x8a 0x00 is field 1.
    m.extend([0x8a, 0x00, 2, b'r', b'4']);
    string(&mut m, 1, b"r5"); // one more after it
    string(&mut m, 3, b"invoice");
    string(&mut m, 3, b"invoice");
    string(&mut m, 4, b"b");
    string(&mut m, 4, b"b");
    packed_doubles(&mut m, 7, &[0.5, 0.5]);
    packed_doubles(&mut m, 8, &[1.0, 1.0]);
    let b = RecordBatch::decode(&m, rules(), &known(), 1_000).unwrap_or_default();
    let ids: Vec<String> = (0..b.len()).map(|i| b.record(i).request_id.to_owned()).collect();
    assert_eq!(ids[1].len(), 300);
    assert_eq!([&ids[..1], &ids[2..]].concat(), ["r0", "r2", "r3", "r4", "r5"]);
    // A value cut short inside a run is refused as before.
    let mut m = records(&[b"r0", b"r1"], &[b"invoice"; 2], &[b"a"; 2]);
    m.extend([0x0a, 5, b'r']);
    assert_eq!(refused(&m).field, "request_id");
}

#[test]
fn an_unknown_model_type_after_a_run_of_known_ones_is_refused_at_its_index() {
    let ids: Vec<&[u8]> = vec![b"r0", b"r1", b"r2", b"r3", b"r4"];
    let types: Vec<&[u8]> = vec![b"invoice", b"invoice", b"invoice", b"receipt", b"invoice"];
    let r = refused(&records(&ids, &types, &[b"a"; 5]));
    assert_eq!((r.reason, r.field.as_str()), (RejectReason::UnknownModelType, "model_type[3]"));
    assert_eq!(r.detail, "unknown model type \"receipt\"");
    // A prefix of a known type is not mistaken for it.
    let types: Vec<&[u8]> = vec![b"invoice", b"invoice", b"invoic"];
    let r = refused(&records(&ids[..3], &types, &[b"a"; 3]));
    assert_eq!((r.field.as_str(), r.detail.as_str()), ("model_type[2]", "unknown model type \"invoic\""));
}

#[test]
fn a_decoded_batch_is_logged_as_received_and_reads_back_as_samples() {
    use crate::store::{Store, StoreConfig};
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = StoreConfig { max_samples: 5, ..StoreConfig::default() };
    let open = || Store::open(dir.path(), &config).unwrap_or_else(|e| panic!("{e}"));
    let mut m = message(3, 0.25);
    string(&mut m, 2, b"d0");
    string(&mut m, 2, b"");
    string(&mut m, 2, b"d2");
    let b = RecordBatch::decode(&m, rules(), &known(), 7_000).unwrap_or_default();
    let store = open();
    assert_eq!(store.append(&b).ok(), Some(1..4));
    assert_eq!(store.request_for_document("d2").ok().flatten().as_deref(), Some("r2"));
    assert!(store.flush(7_000).is_ok());
    assert_eq!(store.attach_label("r1", b"L", true, 7_001).ok(), Some(2));
    let pulled = store.pull(0, 10).unwrap_or_default();
    let summary: Vec<_> = pulled
        .iter()
        .map(|s| {
            (s.seq, s.request_id.as_str(), s.document_id.as_str(), s.model_id.as_str(), s.ts_ms, s.confidence)
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, "r0", "d0", "a", 7_000, 0.25),
            (2, "r1", "", "b", 7_000, 0.25),
            (3, "r2", "d2", "a", 7_000, 0.25)
        ]
    );
    assert_eq!(pulled[0].prediction, br#"{"doc_type":"invoice"}"#);
    assert_eq!((pulled[1].label.as_deref(), pulled[1].human_correction), (Some(&b"L"[..]), true));
    // Eviction inside the segment, then a restart: the index is rebuilt from the stored batch.
    let again = RecordBatch::decode(&message(3, 0.5), rules(), &known(), 8_000).unwrap_or_default();
    assert!(store.append_and_flush(&again, 8_000).is_ok());
    drop(store);
    let store = open();
    assert_eq!(
        store.pull(0, 10).unwrap_or_default().iter().map(|s| s.seq).collect::<Vec<_>>(),
        [2, 3, 4, 5, 6]
    );
    assert_eq!(store.request_for_document("d2").ok().flatten().as_deref(), Some("r2"));
    assert_eq!(store.request_for_document("d0").ok().flatten(), None, "evicted");
    assert_eq!(store.attach_label("r0", b"x", false, 8_001).ok(), Some(4), "the latest r0");
}

#[test]
fn a_stored_batch_that_does_not_parse_or_has_a_ragged_column_is_a_codec_error() {
    use crate::error::CoreError;
    let m = message(2, 0.5);
    assert!(RecordBatch::decode_stored(m.clone(), 1).is_ok());
    let cut = m[..m.len() - 3].to_vec();
    assert!(matches!(RecordBatch::decode_stored(cut, 1), Err(CoreError::Codec(_))));
    let mut ragged = m.clone();
    string(&mut ragged, 1, b"r9"); // a third request id, two of everything else
    match RecordBatch::decode_stored(ragged, 1) {
        Err(CoreError::Codec(msg)) => assert!(msg.contains("model_type has 2 values for 3 records"), "{msg}"),
        other => panic!("expected a codec error, got {:?}", other.map(|b| b.len())),
    }
}

/// Groups as the plain definition reads: rows by (model type, model id, window start), in order
/// of first appearance.
fn reference_groups(b: &RecordBatch, window_ms: i64, epoch: impl Fn(&str) -> i64) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for row in 0..b.len() {
        let (mt, ts) = (b.text(b.model_type[row]), b.ts_ms[row]);
        let (aligned, first) = (ts - ts.rem_euclid(window_ms), epoch(mt));
        let start = if first != 0 && aligned <= first { first } else { aligned };
        let key = (mt, b.text(b.model_id[row]), start);
        match out.iter_mut().find(|g| (g.model_type.as_str(), g.model_id.as_str(), g.window_start_ms) == key)
        {
            Some(g) => g.rows.push(row as u32),
            None => out.push(Group {
                model_type: key.0.into(),
                model_id: key.1.into(),
                window_start_ms: start,
                rows: vec![row as u32],
            }),
        }
    }
    out
}

/// `n` records over `types` model types, `ids` model ids and a few windows, in a scrambled order.
fn scrambled(n: usize, types: usize, ids: usize) -> RecordBatch {
    let names = ["invoice", "receipt", "memo"];
    let mut m = Vec::new();
    (0..n).for_each(|i| string(&mut m, 1, format!("r{i}").as_bytes()));
    varint(&mut m, 6 << 3 | 2);
    let ts: Vec<u8> = (0..n).fold(Vec::new(), |mut out, i| {
        varint(&mut out, 10_000 + (i * 7_919 % 23) as u64 * 1_000);
        out
    });
    varint(&mut m, ts.len() as u64);
    m.extend(ts);
    (0..n).for_each(|i| string(&mut m, 3, names[i * 5 % 7 % types].as_bytes()));
    (0..n).for_each(|i| string(&mut m, 4, format!("m{}", i * 11 % 13 % ids).as_bytes()));
    packed_doubles(&mut m, 7, &vec![0.5; n]);
    packed_doubles(&mut m, 8, &vec![1.0; n]);
    let known: HashSet<String> = names.iter().map(|s| s.to_string()).collect();
    let rules = IngestRules::new(n, 64);
    RecordBatch::decode(&m, rules, &known, 1).unwrap_or_default()
}

#[test]
fn groups_of_interleaved_keys_and_of_many_keys_match_the_definition() {
    let epoch = |mt: &str| match mt {
        "receipt" => 19_000,
        "memo" => 40_000,
        _ => 0,
    };
    for (types, ids, window_ms) in [(1, 2, 60_000), (2, 3, 5_000), (3, 13, 4_000), (3, 13, 1)] {
        let b = scrambled(400, types, ids);
        assert_eq!(b.len(), 400);
        let groups = b.groups(window_ms, epoch);
        assert_eq!(groups, reference_groups(&b, window_ms, epoch), "{types} x {ids}, {window_ms} ms");
        if types == 3 {
            assert!(groups.len() > 8 * LINEAR_KEYS, "{}", groups.len());
        }
    }
}

const COUNTRIES: [&str; 3] = ["de", "fr", "us"];
const CURRENCIES: [&str; 2] = ["eur", "usd"];

/// `message(10, 0.5)` (record i: amount 2i, pages 2i + 1) with a country and a currency.
fn with_categories() -> RecordBatch {
    let mut m = message(10, 0.5);
    string(&mut m, 12, b"country");
    string(&mut m, 12, b"currency");
    for i in 0..10 {
        string(&mut m, 13, COUNTRIES[i % 3].as_bytes());
        string(&mut m, 13, CURRENCIES[i % 2].as_bytes());
    }
    RecordBatch::decode(&m, rules(), &known(), 1_000).unwrap_or_default()
}

/// The aggregate `rows` of `with_categories()` make, from the values the batch was built with.
fn expected_update(layout: &Arc<Layout>, rows: &[u32]) -> Aggregate {
    let value = |name: &str, i: usize| match name {
        "amount" => (2 * i) as f64,
        "pages" => (2 * i + 1) as f64,
        _ => f64::NAN,
    };
    let category = |name: &str, i: usize| match name {
        "country" => COUNTRIES[i % 3],
        "currency" => CURRENCIES[i % 2],
        _ => "",
    };
    let (mut numeric, mut categorical) = (Vec::new(), Vec::new());
    for &r in rows {
        numeric.extend(layout.numeric_names.iter().map(|n| value(n, r as usize)));
        let names = layout.categorical_names.iter().zip(&layout.vocabularies);
        categorical.extend(names.map(|(n, v)| v.slot(category(n, r as usize)) as u32));
    }
    let n = rows.len();
    let mut agg = Aggregate::new(layout.clone(), "invoice", "a", 0, 1).unwrap_or_else(|e| panic!("{e}"));
    let (confidence, latency, error) = (vec![0.5; n], vec![12.5; n], vec![0u8; n]);
    let batch = Batch {
        len: n,
        numeric: &numeric,
        categorical: &categorical,
        confidence: &confidence,
        latency_ms: &latency,
        error: &error,
        ..Batch::default()
    };
    agg.update(&batch).unwrap_or_else(|e| panic!("{e}"));
    agg
}

#[test]
fn updates_match_the_batch_values_for_ranges_strided_rows_and_any_layout() {
    let edges = || (0..20).map(f64::from).collect::<Vec<f64>>();
    let vocab = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let layouts = [
        // The batch's own numeric columns in order, no categorical feature.
        Layout::new(vec![("amount".into(), edges()), ("pages".into(), edges())], vec![], vec![], 10),
        // Reordered, one the batch lacks; a categorical feature the batch lacks too.
        Layout::new(
            vec![("pages".into(), edges()), ("weight".into(), edges()), ("amount".into(), edges())],
            vec![("currency".into(), vocab(&["eur"])), ("region".into(), vocab(&["eu"]))],
            vec![],
            10,
        ),
        Layout::new(vec![], vec![("country".into(), vocab(&["de", "us"]))], vec![], 10),
    ];
    let b = with_categories();
    for layout in layouts {
        let layout = Arc::new(layout.unwrap_or_else(|e| panic!("{e}")));
        let rows: [&[u32]; 6] =
            [&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], &[3, 4, 5, 6], &[0, 2, 4, 6], &[5], &[], &[7, 3]];
        for rows in rows {
            let mut agg =
                Aggregate::new(layout.clone(), "invoice", "a", 0, 1).unwrap_or_else(|e| panic!("{e}"));
            b.update(&mut agg, rows).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(agg, expected_update(&layout, rows), "rows {rows:?}");
            assert_eq!(agg.records(), rows.len() as u64);
        }
    }
}

mod stored_bytes_never_panic {
    use super::*;
    use crate::store::SampleRecords;
    use proptest::prelude::*;

    proptest! {
        /// A stored batch read back from a damaged store (bytes flipped, cut short) is a
        /// `Codec` error or a batch whose every record reads: never a panic in the sidecar.
        #[test]
        fn damaged_stored_batches_are_refused_or_read_whole(
            flips in proptest::collection::vec((0usize..4096, any::<u8>()), 0..6),
            cut in 0usize..4096,
        ) {
            let mut m = message(5, 0.5);
            string(&mut m, 2, b"doc");
            for _ in 0..4 {
                string(&mut m, 2, b"");
            }
            for (at, byte) in flips {
                let at = at % m.len();
                m[at] ^= byte;
            }
            m.truncate(cut.max(1).min(m.len()));
            if let Ok(b) = RecordBatch::decode_stored(m, 1) {
                for i in 0..SampleRecords::len(&b) {
                    let r = b.record(i);
                    prop_assert!(r.request_id.len() <= 4096);
                }
            }
        }
    }
}

/// `varints` of field `field`, packed.
fn packed_varints(out: &mut Vec<u8>, field: u64, v: &[u64]) {
    let mut inner = Vec::new();
    v.iter().for_each(|&x| varint(&mut inner, x));
    string(out, field, &inner);
}

fn decode_at(m: &[u8], rules: IngestRules, now_ms: i64) -> std::result::Result<RecordBatch, Rejection> {
    RecordBatch::decode(m, rules, &known(), now_ms)
}

#[test]
fn a_nul_in_any_id_is_refused_at_its_index_inside_and_outside_a_run() {
    let ids: Vec<&[u8]> = vec![b"r0", b"r1", b"r\x002"];
    let r = refused(&records(&ids, &[b"invoice"; 3], &[b"a"; 3]));
    assert_eq!(
        (r.reason, r.field.as_str(), r.detail.as_str()),
        (RejectReason::Malformed, "request_id[2]", "must not contain NUL")
    );
    let r = refused(&records(&ids[..2], &[b"invoice"; 2], &[&b"a"[..], b"b\0"]));
    assert_eq!(r.field, "model_id[1]");
    let mut m = records(&ids[..2], &[b"invoice"; 2], &[b"a"; 2]);
    string(&mut m, 2, b"");
    string(&mut m, 2, b"d\x001");
    assert_eq!(refused(&m).field, "document_id[1]");
    // An empty document id (a 0 length byte in the run) is not a NUL; a NUL in a payload is fine.
    let mut m = records(&ids[..2], &[b"invoice"; 2], &[b"a"; 2]);
    string(&mut m, 2, b"");
    string(&mut m, 2, b"d1");
    (0..2).for_each(|_| string(&mut m, 15, b"\0\0"));
    assert_eq!(RecordBatch::decode(&m, rules(), &known(), 1_000).map(|b| b.len()), Ok(2));
}

#[test]
fn ids_longer_than_the_stores_keys_allow_are_refused_with_a_bounded_excerpt() {
    let long_id = vec![b'x'; crate::store::MAX_REQUEST_ID_BYTES + 1];
    let r = refused(&records(&[b"r0", &long_id], &[b"invoice"; 2], &[b"a"; 2]));
    assert_eq!((r.reason, r.field.as_str()), (RejectReason::Oversized, "request_id[1]"));
    assert!(r.detail.len() < 200 && r.detail.contains("481 bytes"), "{}", r.detail);
    // Model type + model id: exactly the window store's limit passes, one byte more does not.
    let fits = vec![b'm'; MAX_WINDOW_IDS_BYTES - "invoice".len()];
    let over = vec![b'm'; fits.len() + 1];
    let ok = records(&[b"r0"], &[b"invoice"], &[&fits]);
    assert_eq!(RecordBatch::decode(&ok, rules(), &known(), 1_000).map(|b| b.len()), Ok(1));
    let r = refused(&records(&[b"r0", b"r1"], &[b"invoice"; 2], &[&fits[..], &over[..]]));
    assert_eq!((r.reason, r.field.as_str()), (RejectReason::Oversized, "model_id[1]"));
    // Each accepted pair makes a window key the store takes.
    let key = crate::store::Store::open(
        tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")).path(),
        &Default::default(),
    )
    .and_then(|s| s.put_window("invoice", std::str::from_utf8(&fits).unwrap_or(""), 0, b"w"));
    assert_eq!(key, Ok(()));
    // A 2 MiB unknown model type is quoted as an excerpt, not echoed.
    let huge = vec![b't'; 2 << 20];
    let r = refused(&records(&[b"r0"], &[&huge], &[b"a"]));
    assert!(r.reason == RejectReason::UnknownModelType && r.detail.len() < 200, "{}", r.detail.len());
}

#[test]
fn a_request_id_repeated_within_the_batch_is_refused_at_its_second_index() {
    let ids: Vec<&[u8]> = vec![b"r0", b"r1", b"r2", b"r1"];
    let r = refused(&records(&ids, &[b"invoice"; 4], &[b"a"; 4]));
    assert_eq!((r.reason, r.field.as_str()), (RejectReason::DuplicateId, "request_id[3]"));
    assert!(r.detail.contains("\"r1\""), "{}", r.detail);
}

#[test]
fn timestamps_must_lie_within_the_age_and_the_future_skew_of_now() {
    let now = 1_800_000_000_000i64;
    let rules = IngestRules { max_future_skew_ms: 60_000, max_age_ms: Some(3_600_000), ..rules() };
    let with_ts = |ts: &[u64]| {
        let ids: Vec<String> = (0..ts.len()).map(|i| format!("r{i}")).collect();
        let ids: Vec<&[u8]> = ids.iter().map(|s| s.as_bytes()).collect();
        let mut m = records(&ids, &vec![b"invoice"; ts.len()], &vec![b"a"; ts.len()]);
        packed_varints(&mut m, 6, ts);
        m
    };
    let n = now as u64;
    let edges = with_ts(&[n - 3_600_000, n, n + 60_000]);
    assert_eq!(decode_at(&edges, rules, now).map(|b| b.len()), Ok(3));
    for (ts, reason, detail) in [
        (n + 60_001, RejectReason::OutOfRange, "after now"),
        (n - 3_600_001, RejectReason::OutOfRange, "before now"),
        ((1u64 << 63) - 1, RejectReason::OutOfRange, "after now"),
        (1u64 << 63, RejectReason::InvalidNumber, "positive"), // i64::MIN on the wire
        (u64::MAX, RejectReason::InvalidNumber, "positive"),   // -1
    ] {
        let r = decode_at(&with_ts(&[n, ts]), rules, now).err().unwrap_or_else(|| panic!("{ts} accepted"));
        assert_eq!((r.reason, r.field.as_str()), (reason, "ts_ms[1]"), "{ts}");
        assert!(r.detail.contains(detail), "{ts}: {}", r.detail);
    }
    // Without an age bound any positive timestamp in the past passes; the year 3000 does not.
    let open = IngestRules { max_age_ms: None, ..rules };
    assert!(decode_at(&with_ts(&[1]), open, now).is_ok());
    assert!(decode_at(&with_ts(&[32_503_680_000_000]), open, now).is_err());
}

/// The fuzz target's checks (`statcore/fuzz`, `cargo fuzz run record_batch`) as a short smoke
/// run inside `cargo test`: on the seed corpus, random bytes and mutated valid batches.
mod wire_fuzz_smoke {
    use super::*;
    use crate::ingest::{fuzz_check, FUZZ_NOW_MS};
    use proptest::prelude::*;

    /// A valid batch at the fuzz check's clock, with every optional column.
    fn seed(n: usize) -> Vec<u8> {
        let mut m = message(n, 0.25);
        (0..n).for_each(|i| string(&mut m, 2, if i % 2 == 0 { b"" } else { b"doc" }));
        packed_varints(&mut m, 6, &vec![FUZZ_NOW_MS as u64 - 5; n]);
        packed_varints(&mut m, 9, &vec![1; n]);
        (0..n).for_each(|_| string(&mut m, 15, b"\x00payload"));
        m
    }

    #[test]
    fn the_seed_inputs_keep_every_promise() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/record_batch");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(fuzz_check(&bytes), Ok(()), "{}", path.display());
            seen += 1;
        }
        assert!(seen >= 3, "{seen} seed files");
        assert!(RecordBatch::decode(&seed(4), IngestRules::new(10, 64), &known(), FUZZ_NOW_MS).is_ok());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn random_bytes_keep_every_promise(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            prop_assert_eq!(fuzz_check(&data), Ok(()));
        }

        #[test]
        fn mutated_valid_batches_keep_every_promise(
            n in 1usize..12,
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
            inserts in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
            cut in any::<usize>(),
        ) {
            let mut m = seed(n);
            for (at, byte) in flips {
                let at = at % m.len();
                m[at] ^= byte;
            }
            for (at, byte) in inserts {
                let at = at % (m.len() + 1);
                m.insert(at, byte);
            }
            m.truncate(cut % (m.len() + 1) + m.len() / 2);
            prop_assert_eq!(fuzz_check(&m), Ok(()));
        }
    }
}
