use super::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;

fn layout() -> Arc<Layout> {
    Arc::new(
        Layout::new(
            vec![("amount".into(), vec![0.0, 10.0, 100.0]), ("pages".into(), vec![1.0, 2.0, 5.0])],
            vec![("lang".into(), vec!["de".into(), "en".into()])],
            vec!["total".into()],
            10,
        )
        .unwrap(),
    )
}

#[derive(Debug, Clone)]
struct Rows {
    numeric: Vec<f64>,
    categorical: Vec<u32>,
    confidence: Vec<f64>,
    latency: Vec<f64>,
    error: Vec<u8>,
    labelled: Vec<u8>,
    correct: Vec<u8>,
    flags: Vec<u8>,
}

impl Rows {
    fn batch(&self) -> Batch<'_> {
        Batch {
            len: self.confidence.len(),
            numeric: &self.numeric,
            categorical: &self.categorical,
            confidence: &self.confidence,
            latency_ms: &self.latency,
            error: &self.error,
            labelled: &self.labelled,
            correct: &self.correct,
            field_flags: &self.flags,
        }
    }
}

fn rows_strategy() -> impl Strategy<Value = Rows> {
    proptest::collection::vec(
        (
            prop_oneof![-5.0f64..200.0, Just(f64::NAN)],
            0.0f64..8.0,
            0u32..=2,
            0.0f64..=1.0,
            0.0f64..500.0,
            0u8..=1,
            0u8..=1,
            0u8..=1,
            prop::sample::select(vec![0u8, 1, 2, 4, 6]),
        ),
        0..40,
    )
    .prop_map(|v| Rows {
        numeric: v.iter().flat_map(|r| [r.0, r.1]).collect(),
        categorical: v.iter().map(|r| r.2).collect(),
        confidence: v.iter().map(|r| r.3).collect(),
        latency: v.iter().map(|r| r.4).collect(),
        error: v.iter().map(|r| r.5).collect(),
        labelled: v.iter().map(|r| r.6).collect(),
        correct: v.iter().map(|r| r.7).collect(),
        flags: v.iter().map(|r| r.8).collect(),
    })
}

fn agg(rows: &Rows, start: i64) -> Aggregate {
    let mut a = Aggregate::new(layout(), "doc", "doc_1.0.0", start, start + 60_000).unwrap();
    a.update(&rows.batch()).unwrap();
    a
}

proptest! {
    #[test]
    fn merge_is_exact_associative_commutative(x in rows_strategy(), y in rows_strategy(), z in rows_strategy()) {
        let (a, b, c) = (agg(&x, 0), agg(&y, 60_000), agg(&z, 120_000));
        let mut ab_c = a.clone(); ab_c.merge(&b).unwrap(); ab_c.merge(&c).unwrap();
        let mut bc = b.clone(); bc.merge(&c).unwrap();
        let mut a_bc = a.clone(); a_bc.merge(&bc).unwrap();
        let mut c_ba = c.clone(); let mut ba = b.clone(); ba.merge(&a).unwrap(); c_ba.merge(&ba).unwrap();
        prop_assert_eq!(&ab_c, &a_bc);
        prop_assert_eq!(&ab_c, &c_ba);
        prop_assert_eq!(ab_c.records(), (x.confidence.len() + y.confidence.len() + z.confidence.len()) as u64);
        prop_assert_eq!((ab_c.window_start_ms, ab_c.window_end_ms), (0, 180_000));
    }

    #[test]
    fn codec_round_trips(x in rows_strategy()) {
        let a = agg(&x, 5);
        let bytes = a.encode().unwrap();
        prop_assert_eq!(Aggregate::decode(&bytes, &layout()).unwrap(), a);
    }
}

#[test]
fn one_batch_equals_many_small_batches() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let rows = rows_strategy().new_tree(&mut runner).unwrap().current();
    let whole = agg(&rows, 0);
    let mut pieces = Aggregate::new(layout(), "doc", "doc_1.0.0", 0, 60_000).unwrap();
    for i in 0..rows.confidence.len() {
        let one = Batch {
            len: 1,
            numeric: &rows.numeric[2 * i..2 * i + 2],
            categorical: &rows.categorical[i..=i],
            confidence: &rows.confidence[i..=i],
            latency_ms: &rows.latency[i..=i],
            error: &rows.error[i..=i],
            labelled: &rows.labelled[i..=i],
            correct: &rows.correct[i..=i],
            field_flags: &rows.flags[i..=i],
        };
        pieces.update(&one).unwrap();
    }
    assert_eq!(pieces, whole);
}

#[test]
fn bad_batches_leave_the_aggregate_unchanged() {
    let good = Rows {
        numeric: vec![1.0, 2.0, 3.0, 4.0],
        categorical: vec![0, 2],
        confidence: vec![0.5, 0.9],
        latency: vec![10.0, 20.0],
        error: vec![],
        labelled: vec![],
        correct: vec![],
        flags: vec![],
    };
    let mut a = agg(&good, 0);
    let before = a.clone();
    let cases: Vec<(Box<dyn Fn(&mut Rows)>, &str)> = vec![
        (Box::new(|r| r.numeric[3] = f64::INFINITY), "numeric[1]"),
        (Box::new(|r| r.confidence[1] = f64::NAN), "confidence[1]"),
        (Box::new(|r| r.confidence[0] = 1.5), "confidence[0]"),
        (Box::new(|r| r.latency[1] = -1.0), "latency_ms[1]"),
        (Box::new(|r| r.latency.pop().map(|_| ()).unwrap_or(())), "latency_ms"),
        (Box::new(|r| r.categorical[1] = 3), "categorical[1]"),
        (Box::new(|r| r.error = vec![0, 2]), "error[1]"),
        (
            Box::new(|r| {
                r.labelled = vec![1, 1];
                r.correct = vec![1, 0];
                r.flags = vec![1, 3];
            }),
            "field_flags[1]",
        ),
    ];
    for (mutate, field) in cases {
        let mut bad = Rows {
            numeric: good.numeric.clone(),
            categorical: good.categorical.clone(),
            confidence: good.confidence.clone(),
            latency: good.latency.clone(),
            error: vec![],
            labelled: vec![],
            correct: vec![],
            flags: vec![],
        };
        mutate(&mut bad);
        match a.update(&bad.batch()) {
            Err(CoreError::InvalidInput { field: f, .. }) => assert!(f.starts_with(field), "{f} vs {field}"),
            other => panic!("expected InvalidInput for {field}, got {other:?}"),
        }
        assert_eq!(a, before);
    }
    assert!(a.update_outcomes(&[1, 0], &[1]).is_err());
    assert_eq!(a, before);
}

#[test]
fn merge_refuses_other_models_and_layouts_and_decode_refuses_garbage() {
    let rows = Rows {
        numeric: vec![],
        categorical: vec![],
        confidence: vec![],
        latency: vec![],
        error: vec![],
        labelled: vec![],
        correct: vec![],
        flags: vec![],
    };
    let mut a = agg(&rows, 0);
    let b = Aggregate::new(layout(), "doc", "doc_2.0.0", 0, 1).unwrap();
    assert!(matches!(a.merge(&b), Err(CoreError::Incompatible(_))));
    let other_layout = Arc::new(Layout::new(vec![], vec![], vec![], 10).unwrap());
    let c = Aggregate::new(Arc::clone(&other_layout), "doc", "doc_1.0.0", 0, 1).unwrap();
    assert!(matches!(a.merge(&c), Err(CoreError::Incompatible(_))));
    let bytes = a.encode().unwrap();
    assert!(matches!(Aggregate::decode(&bytes, &other_layout), Err(CoreError::Incompatible(_))));
    for cut in [0, 3, 10, bytes.len() - 1] {
        assert!(Aggregate::decode(&bytes[..cut], &layout()).is_err());
    }
}

#[test]
fn late_outcomes_update_accuracy_and_f1() {
    let rows = Rows {
        numeric: vec![],
        categorical: vec![],
        confidence: vec![],
        latency: vec![],
        error: vec![],
        labelled: vec![],
        correct: vec![],
        flags: vec![],
    };
    let mut a = agg(&rows, 0);
    a.update_outcomes(&[1, 1, 0, 1], &[1, 1, 6, 4]).unwrap();
    assert_eq!(a.outcomes().accuracy(), Some(0.75));
    let f = a.outcomes().fields()[0];
    assert_eq!((f.tp, f.fp, f.fn_), (2, 1, 2));
}

proptest! {
    #[test]
    fn merging_bytes_equals_merging_decoded(x in rows_strategy(), y in rows_strategy()) {
        let (a, b) = (agg(&x, 0), agg(&y, 60_000));
        let mut via_bytes = a.clone();
        via_bytes.merge_encoded(&b.encode().unwrap()).unwrap();
        let mut via_decode = a.clone();
        via_decode.merge(&Aggregate::decode(&b.encode().unwrap(), &layout()).unwrap()).unwrap();
        prop_assert_eq!(&via_bytes, &via_decode);
    }
}

#[test]
fn merging_bad_bytes_changes_nothing() {
    let rows = Rows {
        numeric: vec![1.0, 2.0],
        categorical: vec![1],
        confidence: vec![0.4],
        latency: vec![3.0],
        error: vec![],
        labelled: vec![],
        correct: vec![],
        flags: vec![],
    };
    let mut a = agg(&rows, 0);
    let before = a.clone();
    let bytes = agg(&rows, 60_000).encode().unwrap();
    for cut in [5, bytes.len() / 2, bytes.len() - 1] {
        assert!(a.merge_encoded(&bytes[..cut]).is_err());
        assert_eq!(a, before);
    }
    let other = Aggregate::new(layout(), "doc", "doc_9.9.9", 0, 1).unwrap();
    assert!(matches!(a.merge_encoded(&other.encode().unwrap()), Err(CoreError::Incompatible(_))));
}

#[test]
fn batches_spanning_several_row_blocks_equal_row_by_row_updates() {
    let n = 2 * super::ROW_BLOCK + 17;
    let numeric: Vec<f64> = (0..2 * n).map(|i| ((i * 7919) % 251) as f64 - 5.0).collect();
    let categorical: Vec<u32> = (0..n).map(|i| (i % 3) as u32).collect();
    let confidence: Vec<f64> = (0..n).map(|i| (i % 100) as f64 / 100.0).collect();
    let latency: Vec<f64> = (0..n).map(|i| (i % 37) as f64).collect();
    let whole_rows = Rows {
        numeric,
        categorical,
        confidence,
        latency,
        error: vec![],
        labelled: vec![],
        correct: vec![],
        flags: vec![],
    };
    let whole = agg(&whole_rows, 0);
    let mut rows = Aggregate::new(layout(), "doc", "doc_1.0.0", 0, 60_000).unwrap();
    for i in 0..n {
        let one = Batch {
            len: 1,
            numeric: &whole_rows.numeric[2 * i..2 * i + 2],
            categorical: &whole_rows.categorical[i..=i],
            confidence: &whole_rows.confidence[i..=i],
            latency_ms: &whole_rows.latency[i..=i],
            ..Batch::default()
        };
        rows.update(&one).unwrap();
    }
    assert_eq!(rows, whole);
    assert_eq!(whole.numeric()[1].count(), n as u64);
}

#[test]
fn refused_batches_spanning_several_row_blocks_leave_the_aggregate_unchanged() {
    let n = 2 * super::ROW_BLOCK + 17;
    let numeric: Vec<f64> =
        (0..2 * n).map(|i| if i % 13 == 0 { f64::NAN } else { ((i * 7919) % 251) as f64 - 5.0 }).collect();
    let rows = Rows {
        numeric,
        categorical: (0..n).map(|i| (i % 3) as u32).collect(),
        confidence: vec![0.25; n],
        latency: vec![3.0; n],
        error: vec![],
        labelled: vec![],
        correct: vec![],
        flags: vec![],
    };
    let mut a = agg(&rows, 0);
    let before = a.clone();
    type Mutation = Box<dyn Fn(&mut Rows)>;
    let cases: Vec<(Mutation, String)> = vec![
        (Box::new(move |r| r.numeric[2 * n - 1] = f64::INFINITY), format!("numeric[{}][\"pages\"]", n - 1)),
        (Box::new(|r| r.numeric[6] = f64::NEG_INFINITY), "numeric[3][\"amount\"]".into()),
        (
            Box::new(|r| {
                r.numeric[2 * super::ROW_BLOCK + 1] = f64::INFINITY;
                r.numeric[2 * super::ROW_BLOCK + 3] = f64::INFINITY;
            }),
            format!("numeric[{}][\"pages\"]", super::ROW_BLOCK),
        ),
        (Box::new(move |r| r.confidence[n - 1] = 2.0), format!("confidence[{}]", n - 1)),
        (Box::new(move |r| r.categorical[n - 2] = 7), format!("categorical[{}]", n - 2)),
    ];
    for (mutate, field) in cases {
        let mut bad = rows.clone();
        mutate(&mut bad);
        assert!(a.validate(&bad.batch()).is_err());
        match a.update(&bad.batch()) {
            Err(CoreError::InvalidInput { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected InvalidInput for {field}, got {other:?}"),
        }
        assert_eq!(a, before);
    }
}

proptest! {
    #[test]
    fn batch_outcomes_equal_one_update_per_labelled_record(x in rows_strategy()) {
        let mut want = crate::accum::OutcomeCounts::new(1);
        for i in 0..x.correct.len() {
            if x.labelled[i] == 1 {
                want.update(crate::accum::Outcome { correct: x.correct[i] == 1, fields: &x.flags[i..=i] });
            }
        }
        let a = agg(&x, 0);
        prop_assert_eq!(a.outcomes(), &want);
    }
}

#[test]
fn peek_names_the_window_and_checks_the_bytes() {
    let mut a = Aggregate::new(layout(), "clf", "clf_1.0.0", 60_000, 120_000).unwrap();
    a.update_outcomes(&[1, 0, 1], &[0, 0, 0]).unwrap();
    let bytes = a.encode().unwrap();
    let span = Aggregate::peek(&bytes, &layout()).unwrap();
    let want = WindowSpan {
        model_type: "clf".into(),
        model_id: "clf_1.0.0".into(),
        start_ms: 60_000,
        end_ms: 120_000,
    };
    assert_eq!(span, want);
    for cut in [5, bytes.len() / 2, bytes.len() - 1] {
        assert!(Aggregate::peek(&bytes[..cut], &layout()).is_err());
    }
    let other = Layout::new(vec![("amount".into(), vec![0.0, 1.0])], vec![], vec![], 10).unwrap();
    assert!(matches!(Aggregate::peek(&bytes, &other), Err(CoreError::Incompatible(_))));
}
