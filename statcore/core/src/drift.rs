//! Per-feature drift of one aggregate against a reference aggregate over the same layout.
//!
//! Numeric PSI is computed over `psi_groups` groups of equal reference mass (default 10, see
//! [`crate::compare::coarsen`]), the resolution its 0.25 alarm threshold was calibrated for;
//! KS, Wasserstein and Jensen–Shannon use the fine slots. Categorical PSI uses the vocabulary
//! (merging categories would hide a shift between them).
//!
//! This is the production path: the learner merges the sidecars' windows into one aggregate and
//! compares it with the baseline's reference aggregate, slot by slot, without raw data. Numeric
//! features get PSI, KS (statistic, error bound, p-value), Wasserstein-1 and Jensen–Shannon over
//! their shared bin edges; categorical features get PSI and Jensen–Shannon over the vocabulary
//! (KS and Wasserstein need an order and are reported as NaN). NaN feature values are excluded.

use crate::aggregate::Aggregate;
use crate::compare::{
    coarsen, Comparison, Histogram, JensenShannon, Ks, Psi, Wasserstein, DEFAULT_PSI_GROUPS,
};
use crate::error::{CoreError, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureKind {
    Numeric,
    Categorical,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FeatureDrift {
    pub name: String,
    pub kind: FeatureKind,
    pub psi: f64,
    pub ks_statistic: f64,
    pub ks_bound: f64,
    pub ks_pvalue: f64,
    pub wasserstein: f64,
    pub jensen_shannon: f64,
    /// Observations (NaN excluded) in the reference and in the current aggregate.
    pub reference_n: u64,
    pub current_n: u64,
}

fn fill_f64(buffer: &mut Vec<f64>, counts: &[u64]) {
    buffer.clear();
    buffer.extend(counts.iter().map(|c| *c as f64));
}

/// Which optional statistics to compute (PSI and KS are always computed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extras {
    pub wasserstein: bool,
    pub jensen_shannon: bool,
    /// Groups of equal reference mass for PSI; 0 computes PSI over the fine slots.
    pub psi_groups: usize,
}

impl Default for Extras {
    /// Wasserstein-1 is cheap (one pass, no logarithms); Jensen–Shannon costs two logarithms
    /// per slot, so it is opt-in.
    fn default() -> Self {
        Extras { wasserstein: true, jensen_shannon: false, psi_groups: DEFAULT_PSI_GROUPS }
    }
}

/// Drift of every feature of `current` against `reference`. Both must share a layout; features
/// with no observation on either side are reported with NaN statistics (never an alarm).
/// Statistics not requested in `extras` are NaN.
pub fn feature_drift(
    reference: &Aggregate,
    current: &Aggregate,
    extras: Extras,
) -> Result<Vec<FeatureDrift>> {
    let layout = reference.layout();
    if layout.fingerprint() != current.layout().fingerprint() {
        return Err(CoreError::Incompatible(
            "reference and current aggregates have different layouts".into(),
        ));
    }
    let mut out = Vec::with_capacity(layout.numeric_names.len() + layout.categorical_names.len());
    // Two buffers reused for every feature: no allocation per feature.
    let (mut r, mut c) = (Vec::new(), Vec::new());
    for (i, name) in layout.numeric_names.iter().enumerate() {
        fill_f64(&mut r, reference.numeric()[i].counts());
        fill_f64(&mut c, current.numeric()[i].counts());
        let edges = &layout.numeric_edges[i];
        out.push(compare(
            name,
            FeatureKind::Numeric,
            Histogram::over(edges, &r),
            Histogram::over(edges, &c),
            extras,
        )?);
    }
    for (i, name) in layout.categorical_names.iter().enumerate() {
        fill_f64(&mut r, reference.categorical()[i].counts());
        fill_f64(&mut c, current.categorical()[i].counts());
        let kind = FeatureKind::Categorical;
        out.push(compare(name, kind, Histogram::from_counts(&r), Histogram::from_counts(&c), extras)?);
    }
    Ok(out)
}

fn compare(
    name: &str,
    kind: FeatureKind,
    reference: Histogram<'_>,
    current: Histogram<'_>,
    extras: Extras,
) -> Result<FeatureDrift> {
    let (reference_n, current_n) = (reference.total() as u64, current.total() as u64);
    let mut d = FeatureDrift {
        name: name.to_owned(),
        kind,
        psi: f64::NAN,
        ks_statistic: f64::NAN,
        ks_bound: f64::NAN,
        ks_pvalue: f64::NAN,
        wasserstein: f64::NAN,
        jensen_shannon: f64::NAN,
        reference_n,
        current_n,
    };
    if reference_n == 0 || current_n == 0 {
        return Ok(d);
    }
    d.psi = if extras.psi_groups == 0 || kind == FeatureKind::Categorical {
        Psi::compare(&reference, &current)?
    } else {
        let (r, c) = coarsen(reference.counts, current.counts, extras.psi_groups)?;
        Psi::compare(&Histogram::from_counts(&r), &Histogram::from_counts(&c))?
    };
    if extras.jensen_shannon {
        d.jensen_shannon = JensenShannon::compare(&reference, &current)?;
    }
    if kind == FeatureKind::Numeric {
        let ks = Ks::compare(&reference, &current)?;
        (d.ks_statistic, d.ks_bound, d.ks_pvalue) = (ks.statistic, ks.bound, ks.pvalue);
        if extras.wasserstein {
            d.wasserstein = Wasserstein::compare(&reference, &current)?;
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::aggregate::Batch;
    use crate::compare::drift_report;
    use crate::layout::Layout;

    fn agg(layout: &Arc<Layout>, xs: &[f64], cats: &[u32]) -> Aggregate {
        let mut a = Aggregate::new(Arc::clone(layout), "doc", "m", 0, 1).unwrap();
        let n = xs.len();
        let (conf, lat) = (vec![0.5; n], vec![1.0; n]);
        let b = Batch {
            len: n,
            numeric: xs,
            categorical: cats,
            confidence: &conf,
            latency_ms: &lat,
            ..Batch::default()
        };
        a.update(&b).unwrap();
        a
    }

    #[test]
    fn matches_raw_drift_report_on_the_same_edges() {
        let base: Vec<f64> = (0..5000).map(|i| (f64::from(i) * 0.37).sin() * 3.0).collect();
        let cur: Vec<f64> = base.iter().map(|x| x + 0.4).collect();
        let layout =
            Arc::new(Layout::from_baseline(vec![("x".into(), &base)], vec![], vec![], 64, 10).unwrap());
        let all = Extras { wasserstein: true, jensen_shannon: true, psi_groups: 0 };
        let d = feature_drift(&agg(&layout, &base, &[]), &agg(&layout, &cur, &[]), all).unwrap();
        let raw = drift_report(&base, &cur, 64).unwrap();
        assert_eq!(d[0].psi, raw.psi);
        assert_eq!(d[0].ks_statistic, raw.ks_statistic);
        assert_eq!(d[0].ks_pvalue, raw.ks_pvalue);
        assert_eq!(d[0].wasserstein, raw.wasserstein);
        assert_eq!(d[0].jensen_shannon, raw.jensen_shannon);
        assert_eq!((d[0].reference_n, d[0].current_n), (5000, 5000));
    }

    #[test]
    fn coarse_psi_is_not_inflated_on_small_stationary_samples() {
        let base: Vec<f64> = (0..20_000).map(|i| (f64::from(i) * 0.618).fract()).collect();
        let layout =
            Arc::new(Layout::from_baseline(vec![("x".into(), &base)], vec![], vec![], 1024, 10).unwrap());
        let small: Vec<f64> = (0..300).map(|i| (f64::from(i) * 0.377 + 0.1).fract()).collect();
        let (r, c) = (agg(&layout, &base, &[]), agg(&layout, &small, &[]));
        let fine = feature_drift(&r, &c, Extras { psi_groups: 0, ..Extras::default() }).unwrap();
        let coarse = feature_drift(&r, &c, Extras::default()).unwrap();
        assert!(fine[0].psi > 1.0, "fine-bin PSI on 300 records: {}", fine[0].psi);
        assert!(coarse[0].psi < 0.05, "decile PSI on 300 records: {}", coarse[0].psi);
    }

    #[test]
    fn categorical_and_empty_features() {
        let layout = Arc::new(
            Layout::new(
                vec![("x".into(), vec![0.0, 1.0])],
                vec![("lang".into(), vec!["de".into(), "en".into()])],
                vec![],
                10,
            )
            .unwrap(),
        );
        let r = agg(&layout, &[f64::NAN, f64::NAN], &[0, 1]);
        let c = agg(&layout, &[f64::NAN, f64::NAN], &[2, 2]);
        let d = feature_drift(&r, &c, Extras { wasserstein: false, jensen_shannon: true, psi_groups: 0 })
            .unwrap();
        assert!(d[0].psi.is_nan() && d[0].current_n == 0);
        assert_eq!(d[1].kind, FeatureKind::Categorical);
        assert!(d[1].psi > 1.0 && d[1].ks_statistic.is_nan());
    }
}
