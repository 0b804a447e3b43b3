//! `RecordBatch`: a serialized `loopwise.v1.RecordBatch` decoded and validated in Rust, then
//! applied with one call per sample log and per aggregate window.

use std::collections::{HashMap, HashSet};

use numpy::PyArray1;
use pyo3::prelude::*;
use statcore_core::ingest::{IngestRules, RecordBatch as CoreBatch};

use crate::detach::without_gil_if;
use crate::errors::{invalid, rejected};

/// One group as Python sees it: `(model_type, model_id, window_start_ms, rows)`; the rows are
/// the core's vector, handed to numpy without a copy.
type PyGroup<'py> = (String, String, i64, Bound<'py, PyArray1<u32>>);

#[pyclass(module = "statcore._statcore", frozen)]
pub struct RecordBatch {
    pub(crate) inner: CoreBatch,
}

#[pymethods]
impl RecordBatch {
    /// Parses and validates `data`; raises `BatchRejectedError` naming the first bad field.
    /// Timestamps must lie within `[now_ms - max_age_ms, now_ms + max_future_skew_ms]`
    /// (`max_age_ms=None`: any positive timestamp).
    #[staticmethod]
    #[pyo3(signature = (
        data, *, max_batch_records, max_payload_bytes, model_types, now_ms,
        max_future_skew_ms = 300_000, max_age_ms = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn decode(
        py: Python<'_>,
        data: &[u8],
        max_batch_records: usize,
        max_payload_bytes: usize,
        model_types: HashSet<String>,
        now_ms: i64,
        max_future_skew_ms: i64,
        max_age_ms: Option<i64>,
    ) -> PyResult<Self> {
        if max_future_skew_ms < 0 || max_age_ms.is_some_and(|a| a < 0) {
            return Err(invalid("max_future_skew_ms", "skew and age must not be negative"));
        }
        let rules = IngestRules { max_batch_records, max_payload_bytes, max_future_skew_ms, max_age_ms };
        // One copy of the bytes, which the batch keeps (Python bytes are immutable). Records
        // are ~100 bytes: the GIL decision is sized by bytes / 100.
        let inner =
            without_gil_if(py, data.len() / 100, || CoreBatch::decode(data, rules, &model_types, now_ms));
        inner.map(|inner| RecordBatch { inner }).map_err(rejected)
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// `(model_type, model_id, window_start_ms, rows)` per group, in order of first appearance.
    /// A model type's epoch is the larger of `epochs[model_type]` (0 if absent) and `cut`.
    fn groups<'py>(
        &self,
        py: Python<'py>,
        window_ms: i64,
        epochs: HashMap<String, i64>,
        cut: i64,
    ) -> PyResult<Vec<PyGroup<'py>>> {
        if window_ms < 1 {
            return Err(invalid("window_ms", "must be >= 1"));
        }
        let groups = self.inner.groups(window_ms, |mt| epochs.get(mt).copied().unwrap_or(0).max(cut));
        Ok(groups
            .into_iter()
            .map(|g| (g.model_type, g.model_id, g.window_start_ms, PyArray1::from_vec(py, g.rows)))
            .collect())
    }

    /// Each record's latency in milliseconds, in record order (a copy: index it with the
    /// rows of `groups`), for the sidecar's cumulative latency histogram.
    fn latency_ms<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_slice(py, self.inner.latency_ms())
    }

    /// `(document_id, request_id)` of the records that carry a document id.
    fn documents(&self) -> Vec<(String, String)> {
        self.inner.documents().into_iter().map(|(d, r)| (d.to_owned(), r.to_owned())).collect()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RecordBatch>()
}
