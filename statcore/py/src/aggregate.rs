//! Layouts and aggregates: `Layout`, `Aggregate`.

use std::collections::BTreeMap;
use std::sync::Arc;

use numpy::{PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use statcore_core::accum::Accumulator;
use statcore_core::aggregate::{Aggregate as CoreAggregate, Batch};
use statcore_core::drift;
use statcore_core::layout::{Layout as CoreLayout, DEFAULT_CONFIDENCE_BINS};

use crate::detach::{without_gil, without_gil_if};
use crate::errors::{invalid, IntoPyResult};
use crate::ingest::RecordBatch;

/// Which features an aggregate tracks, with their bin edges / vocabularies, the extraction
/// fields and the confidence bins. Built from baseline data with `Layout.from_baseline`.
#[pyclass(frozen, eq, module = "statcore._statcore")]
#[derive(Clone)]
pub struct Layout {
    pub(crate) inner: Arc<CoreLayout>,
}

impl PartialEq for Layout {
    fn eq(&self, other: &Self) -> bool {
        self.inner.fingerprint() == other.inner.fingerprint()
    }
}

fn contiguous<'a, T: numpy::Element>(field: &str, a: &'a PyReadonlyArray1<'_, T>) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|_| invalid(field, "must be a C-contiguous array"))
}

impl Layout {
    fn index_of(names: &[String], kind: &str, name: &str) -> PyResult<usize> {
        names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| invalid(kind, format!("no feature named {name:?}")))
    }
}

#[pymethods]
impl Layout {
    #[new]
    #[pyo3(signature = (numeric, categorical=BTreeMap::new(), fields=Vec::new(), confidence_bins=DEFAULT_CONFIDENCE_BINS))]
    fn new(
        numeric: Vec<(String, Vec<f64>)>,
        categorical: BTreeMap<String, Vec<String>>,
        fields: Vec<String>,
        confidence_bins: usize,
    ) -> PyResult<Self> {
        let layout =
            CoreLayout::new(numeric, categorical.into_iter().collect(), fields, confidence_bins).py()?;
        Ok(Layout { inner: Arc::new(layout) })
    }

    /// Quantile edges (`bins` bins) per numeric baseline column, the `category_cap` most
    /// frequent values per categorical column. Feature order is the order given.
    #[staticmethod]
    #[pyo3(signature = (numeric, categorical=Vec::new(), fields=Vec::new(), bins=1024, category_cap=256))]
    fn from_baseline(
        py: Python<'_>,
        numeric: Vec<(String, PyReadonlyArray1<'_, f64>)>,
        categorical: Vec<(String, Vec<String>)>,
        fields: Vec<String>,
        bins: usize,
        category_cap: usize,
    ) -> PyResult<Self> {
        let cols = numeric
            .iter()
            .map(|(n, a)| Ok((n.clone(), contiguous(&format!("baseline[{n:?}]"), a)?)))
            .collect::<PyResult<Vec<_>>>()?;
        let layout = without_gil(py, || {
            let cats = categorical
                .iter()
                .map(|(n, v)| (n.clone(), v.iter().map(String::as_str).collect()))
                .collect();
            CoreLayout::from_baseline(cols, cats, fields, bins, category_cap)
        })
        .py()?;
        Ok(Layout { inner: Arc::new(layout) })
    }

    #[getter]
    fn numeric_names(&self) -> Vec<String> {
        self.inner.numeric_names.clone()
    }
    #[getter]
    fn categorical_names(&self) -> Vec<String> {
        self.inner.categorical_names.clone()
    }
    #[getter]
    fn fields(&self) -> Vec<String> {
        self.inner.fields.clone()
    }
    #[getter]
    fn fingerprint(&self) -> u64 {
        self.inner.fingerprint()
    }
    #[getter]
    fn confidence_bins(&self) -> usize {
        self.inner.confidence_bins()
    }
    /// Bin edges of a numeric feature (slot layout: underflow, bins, overflow).
    fn edges<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let i = Layout::index_of(&self.inner.numeric_names, "numeric", name)?;
        Ok(PyArray1::from_slice(py, self.inner.numeric_edges[i].as_slice()))
    }
    /// Vocabulary of a categorical feature (its counts end with one "other" slot).
    fn categories(&self, name: &str) -> PyResult<Vec<String>> {
        let i = Layout::index_of(&self.inner.categorical_names, "categorical", name)?;
        Ok(self.inner.vocabularies[i].names().to_vec())
    }
    fn encode<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.inner.encode().py()?))
    }
    #[staticmethod]
    fn decode(data: &[u8]) -> PyResult<Self> {
        Ok(Layout { inner: Arc::new(CoreLayout::decode(data).py()?) })
    }
    fn __repr__(&self) -> String {
        format!(
            "Layout(numeric={:?}, categorical={:?}, fields={:?}, fingerprint={:016x})",
            self.inner.numeric_names,
            self.inner.categorical_names,
            self.inner.fields,
            self.inner.fingerprint()
        )
    }
}

/// One model's statistics over one window: feature histograms, confidence, outcomes, latency.
#[pyclass(module = "statcore._statcore")]
#[derive(Clone)]
pub struct Aggregate {
    pub(crate) inner: CoreAggregate,
}

/// Flags accepted as uint8 or bool arrays; returned as owned bytes.
fn flags(field: &str, a: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<u8>> {
    let Some(a) = a.filter(|a| !a.is_none()) else { return Ok(Vec::new()) };
    if let Ok(v) = a.extract::<PyReadonlyArray1<'_, u8>>() {
        return Ok(contiguous(field, &v)?.to_vec());
    }
    if let Ok(v) = a.extract::<PyReadonlyArray1<'_, bool>>() {
        return Ok(contiguous(field, &v)?.iter().map(|b| u8::from(*b)).collect());
    }
    Err(invalid(field, "must be a 1-D uint8 or bool array"))
}

#[pymethods]
impl Aggregate {
    #[new]
    fn new(
        layout: &Layout,
        model_type: &str,
        model_id: &str,
        window_start_ms: i64,
        window_end_ms: i64,
    ) -> PyResult<Self> {
        let inner = CoreAggregate::new(
            Arc::clone(&layout.inner),
            model_type,
            model_id,
            window_start_ms,
            window_end_ms,
        )
        .py()?;
        Ok(Aggregate { inner })
    }

    /// Absorbs one batch (validated as a whole first; on error nothing changes).
    ///
    /// `numeric` is `n × len(layout.numeric_names)` float64 (NaN = missing); `categorical` maps
    /// every categorical feature to `n` strings; `field_flags` is `n × len(layout.fields)` uint8.
    #[pyo3(signature = (*, confidence, latency_ms, numeric=None, categorical=None, error=None, labelled=None, correct=None, field_flags=None))]
    #[allow(clippy::too_many_arguments)]
    fn update(
        &mut self,
        py: Python<'_>,
        confidence: PyReadonlyArray1<'_, f64>,
        latency_ms: PyReadonlyArray1<'_, f64>,
        numeric: Option<PyReadonlyArray2<'_, f64>>,
        categorical: Option<BTreeMap<String, Vec<String>>>,
        error: Option<&Bound<'_, PyAny>>,
        labelled: Option<&Bound<'_, PyAny>>,
        correct: Option<&Bound<'_, PyAny>>,
        field_flags: Option<PyReadonlyArray2<'_, u8>>,
    ) -> PyResult<()> {
        let layout = Arc::clone(self.inner.layout());
        let n = confidence.len();
        let numeric_slice: &[f64] = match &numeric {
            Some(a) => {
                let shape = a.shape();
                if shape[1] != layout.numeric_names.len() {
                    return Err(invalid(
                        "numeric",
                        format!("has {} columns, layout has {}", shape[1], layout.numeric_names.len()),
                    ));
                }
                a.as_slice().map_err(|_| invalid("numeric", "must be a C-contiguous 2-D array"))?
            }
            None if layout.numeric_names.is_empty() => &[],
            None => return Err(invalid("numeric", "is required: the layout has numeric features")),
        };
        let cat_slots = categorical_slots(&layout, categorical, n)?;
        let (error, labelled, correct) =
            (flags("error", error)?, flags("labelled", labelled)?, flags("correct", correct)?);
        let ff: &[u8] = match &field_flags {
            Some(a) => {
                a.as_slice().map_err(|_| invalid("field_flags", "must be a C-contiguous 2-D array"))?
            }
            None => &[],
        };
        let batch = Batch {
            len: n,
            numeric: numeric_slice,
            categorical: &cat_slots,
            confidence: contiguous("confidence", &confidence)?,
            latency_ms: contiguous("latency_ms", &latency_ms)?,
            error: &error,
            labelled: &labelled,
            correct: &correct,
            field_flags: ff,
        };
        let inner = &mut self.inner;
        without_gil(py, || inner.update(&batch)).py()
    }

    /// Absorbs `rows` of a decoded record batch, features matched to this layout by name.
    fn update_batch(
        &mut self,
        py: Python<'_>,
        batch: &RecordBatch,
        rows: PyReadonlyArray1<'_, u32>,
    ) -> PyResult<()> {
        let rows = rows.as_slice().map_err(|_| invalid("rows", "must be C-contiguous"))?;
        if let Some(&r) = rows.iter().find(|&&r| r as usize >= batch.inner.len()) {
            return Err(invalid("rows", format!("row {r} is outside a batch of {}", batch.inner.len())));
        }
        let (inner, core) = (&mut self.inner, &batch.inner);
        without_gil_if(py, rows.len(), || core.update(inner, rows)).py()
    }

    /// Absorbs late labels for this model: `correct` (n) and `field_flags` (n × fields).
    #[pyo3(signature = (correct, field_flags=None))]
    fn update_outcomes(
        &mut self,
        correct: &Bound<'_, PyAny>,
        field_flags: Option<PyReadonlyArray2<'_, u8>>,
    ) -> PyResult<()> {
        let correct = flags("correct", Some(correct))?;
        let ff: Vec<u8> = match &field_flags {
            Some(a) => a.as_slice().map_err(|_| invalid("field_flags", "must be C-contiguous"))?.to_vec(),
            None => Vec::new(),
        };
        self.inner.update_outcomes(&correct, &ff).py()
    }

    /// Adds `other` (same layout and model) into this aggregate.
    fn merge(&mut self, other: &Aggregate) -> PyResult<()> {
        self.inner.merge(&other.inner).py()
    }

    /// Merges encoded bytes (same layout and model) into this aggregate without building
    /// another one; on any error this aggregate is unchanged.
    fn merge_bytes(&mut self, data: &[u8]) -> PyResult<()> {
        self.inner.merge_encoded(data).py()
    }

    /// `(model_type, model_id, window_start_ms, window_end_ms)` of encoded bytes, checked
    /// completely against `layout` without building the aggregate.
    #[staticmethod]
    fn peek(data: &[u8], layout: &Layout) -> PyResult<(String, String, i64, i64)> {
        let span = CoreAggregate::peek(data, &layout.inner).py()?;
        Ok((span.model_type, span.model_id, span.start_ms, span.end_ms))
    }

    /// Decodes and merges many encoded aggregates in one call, without the GIL.
    #[staticmethod]
    fn merge_encoded(
        py: Python<'_>,
        layout: &Layout,
        blobs: Vec<Bound<'_, PyBytes>>,
    ) -> PyResult<Option<Aggregate>> {
        let layout = Arc::clone(&layout.inner);
        // Borrow the bytes (immutable, kept alive by `blobs`) instead of copying them.
        let blobs: Vec<&[u8]> = blobs.iter().map(|b| b.as_bytes()).collect();
        let merged = without_gil(py, || -> statcore_core::Result<Option<CoreAggregate>> {
            let Some((first, rest)) = blobs.split_first() else { return Ok(None) };
            let mut acc = CoreAggregate::decode(first, &layout)?;
            for b in rest {
                acc.merge_encoded(b)?;
            }
            Ok(Some(acc))
        })
        .py()?;
        Ok(merged.map(|inner| Aggregate { inner }))
    }

    fn encode<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.inner.encode().py()?))
    }
    #[staticmethod]
    fn decode(data: &[u8], layout: &Layout) -> PyResult<Self> {
        Ok(Aggregate { inner: CoreAggregate::decode(data, &layout.inner).py()? })
    }
    fn copy(&self) -> Self {
        self.clone()
    }

    #[getter]
    fn layout(&self) -> Layout {
        Layout { inner: Arc::clone(self.inner.layout()) }
    }
    #[getter]
    fn model_type(&self) -> &str {
        &self.inner.model_type
    }
    #[getter]
    fn model_id(&self) -> &str {
        &self.inner.model_id
    }
    #[getter]
    fn window_start_ms(&self) -> i64 {
        self.inner.window_start_ms
    }
    #[getter]
    fn window_end_ms(&self) -> i64 {
        self.inner.window_end_ms
    }
    #[getter]
    fn records(&self) -> u64 {
        self.inner.records()
    }
    #[getter]
    fn errors(&self) -> u64 {
        self.inner.errors()
    }
    #[getter]
    fn labelled(&self) -> u64 {
        self.inner.outcomes().labelled()
    }
    #[getter]
    fn correct(&self) -> u64 {
        self.inner.outcomes().correct()
    }
    /// Accuracy on the primary field, `None` without labels.
    #[getter]
    fn accuracy(&self) -> Option<f64> {
        self.inner.outcomes().accuracy()
    }
    /// Per extraction field: `(tp, fp, fn)`.
    fn field_counts(&self) -> BTreeMap<String, (u64, u64, u64)> {
        let l = self.inner.layout();
        l.fields
            .iter()
            .cloned()
            .zip(self.inner.outcomes().fields().iter().map(|f| (f.tp, f.fp, f.fn_)))
            .collect()
    }
    /// Per extraction field F1 (`None` for a field never seen).
    fn f1(&self) -> BTreeMap<String, Option<f64>> {
        let l = self.inner.layout();
        l.fields.iter().cloned().zip(self.inner.outcomes().fields().iter().map(|f| f.f1())).collect()
    }
    /// Counts per slot of a numeric feature (underflow, bins, overflow), NaN excluded.
    fn numeric_counts<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyArray1<u64>>> {
        let i = Layout::index_of(&self.inner.layout().numeric_names, "numeric", name)?;
        Ok(PyArray1::from_slice(py, self.inner.numeric()[i].counts()))
    }
    fn numeric_nan(&self, name: &str) -> PyResult<u64> {
        let i = Layout::index_of(&self.inner.layout().numeric_names, "numeric", name)?;
        Ok(self.inner.numeric()[i].nan())
    }
    /// Counts per category of a categorical feature, in vocabulary order, then "other".
    fn categorical_counts<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyArray1<u64>>> {
        let i = Layout::index_of(&self.inner.layout().categorical_names, "categorical", name)?;
        Ok(PyArray1::from_slice(py, self.inner.categorical()[i].counts()))
    }
    /// Counts per confidence slot (uniform bins over [0, 1]; exactly 1.0 is the last slot).
    fn confidence_counts<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u64>> {
        PyArray1::from_slice(py, self.inner.confidence().counts())
    }
    #[getter]
    fn latency_count(&self) -> u64 {
        self.inner.latency().count()
    }
    #[getter]
    fn latency_mean_ms(&self) -> Option<f64> {
        self.inner.latency().mean()
    }
    /// Latency quantiles in ms (numpy's linear rule, ≤ 0.5 % relative error); `None` if empty.
    fn latency_quantiles(&self, qs: Vec<f64>) -> PyResult<Vec<Option<f64>>> {
        qs.iter().map(|q| self.inner.latency().quantile(*q).py()).collect()
    }
    fn __eq__(&self, other: &Aggregate) -> bool {
        self.inner == other.inner
    }
    fn __repr__(&self) -> String {
        format!(
            "Aggregate(model_type={:?}, model_id={:?}, window=[{}, {}], records={})",
            self.inner.model_type,
            self.inner.model_id,
            self.inner.window_start_ms,
            self.inner.window_end_ms,
            self.inner.records()
        )
    }
}

/// Maps `{feature: [n strings]}` to row-major vocabulary slots (one pass, GIL held: the
/// strings are Python objects).
fn categorical_slots(
    layout: &CoreLayout,
    categorical: Option<BTreeMap<String, Vec<String>>>,
    n: usize,
) -> PyResult<Vec<u32>> {
    let k = layout.categorical_names.len();
    if k == 0 {
        return match categorical {
            Some(c) if !c.is_empty() => Err(invalid("categorical", "the layout has no categorical features")),
            _ => Ok(Vec::new()),
        };
    }
    let mut columns = categorical
        .ok_or_else(|| invalid("categorical", "is required: the layout has categorical features"))?;
    let mut slots = vec![0u32; n * k];
    for (j, name) in layout.categorical_names.iter().enumerate() {
        let col =
            columns.remove(name).ok_or_else(|| invalid(format!("categorical[{name:?}]"), "is missing"))?;
        if col.len() != n {
            return Err(invalid(
                format!("categorical[{name:?}]"),
                format!("has {} values, expected {n}", col.len()),
            ));
        }
        let vocab = &layout.vocabularies[j];
        for (i, v) in col.iter().enumerate() {
            slots[i * k + j] = vocab.slot(v) as u32;
        }
    }
    if let Some(extra) = columns.keys().next() {
        return Err(invalid(format!("categorical[{extra:?}]"), "is not in the layout"));
    }
    Ok(slots)
}

/// Numeric (ordered, binned) or categorical (vocabulary) feature.
#[pyclass(eq, eq_int, frozen, hash, module = "statcore._statcore")]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeatureKind {
    #[pyo3(name = "NUMERIC")]
    Numeric,
    #[pyo3(name = "CATEGORICAL")]
    Categorical,
}

/// Drift of one feature against the reference (NaN where a statistic does not apply or a side
/// has no observations).
#[pyclass(frozen, get_all, module = "statcore._statcore")]
pub struct FeatureDrift {
    name: String,
    kind: FeatureKind,
    psi: f64,
    ks_statistic: f64,
    ks_bound: f64,
    ks_pvalue: f64,
    wasserstein: f64,
    jensen_shannon: f64,
    reference_n: u64,
    current_n: u64,
}

#[pymethods]
impl FeatureDrift {
    fn __repr__(&self) -> String {
        format!(
            "FeatureDrift(name={:?}, psi={:.6}, ks_statistic={:.6}, ks_pvalue={:.3e}, n={}/{})",
            self.name, self.psi, self.ks_statistic, self.ks_pvalue, self.reference_n, self.current_n
        )
    }
}

impl From<drift::FeatureDrift> for FeatureDrift {
    fn from(d: drift::FeatureDrift) -> Self {
        let kind = match d.kind {
            drift::FeatureKind::Numeric => FeatureKind::Numeric,
            drift::FeatureKind::Categorical => FeatureKind::Categorical,
        };
        FeatureDrift {
            name: d.name,
            kind,
            psi: d.psi,
            ks_statistic: d.ks_statistic,
            ks_bound: d.ks_bound,
            ks_pvalue: d.ks_pvalue,
            wasserstein: d.wasserstein,
            jensen_shannon: d.jensen_shannon,
            reference_n: d.reference_n,
            current_n: d.current_n,
        }
    }
}

/// Per-feature drift of `current` against `reference` (same layout), from their histograms:
/// numeric features in layout order, then categorical ones. PSI and KS always; Wasserstein-1
/// (default on) and Jensen–Shannon (default off: two logarithms per slot) on request. PSI is
/// computed over ``psi_groups`` groups of equal reference mass (default 10, the resolution its
/// 0.25 threshold is calibrated for; fine-bin PSI is inflated on small samples); 0 = fine slots.
#[pyfunction]
#[pyo3(signature = (reference, current, *, wasserstein=true, jensen_shannon=false, psi_groups=10))]
fn feature_drift(
    py: Python<'_>,
    reference: &Aggregate,
    current: &Aggregate,
    wasserstein: bool,
    jensen_shannon: bool,
    psi_groups: usize,
) -> PyResult<Vec<FeatureDrift>> {
    let (r, c) = (&reference.inner, &current.inner);
    let extras = drift::Extras { wasserstein, jensen_shannon, psi_groups };
    let out = without_gil(py, || drift::feature_drift(r, c, extras)).py()?;
    Ok(out.into_iter().map(FeatureDrift::from).collect())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Layout>()?;
    m.add_class::<Aggregate>()?;
    m.add_class::<FeatureKind>()?;
    m.add_class::<FeatureDrift>()?;
    m.add_function(wrap_pyfunction!(feature_drift, m)?)?;
    Ok(())
}
