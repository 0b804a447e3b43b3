//! `Store` and `Sample`: the Python face of the LMDB store in `statcore_core::store`.
//!
//! `Store` holds the core store (which is `Send + Sync` and locks inside: an append never waits
//! for a flush's sync) behind a `RwLock` that only `close` takes exclusively; every call
//! releases the GIL before touching the store.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use statcore_core::store::{FlushWorker, Sample as CoreSample, Store as CoreStore, StoreConfig, StoreStats};
use statcore_core::CoreError;

use numpy::PyReadonlyArray1;

use crate::detach::{without_gil, without_gil_if};
use crate::errors::{invalid, IntoPyResult};
use crate::ingest::RecordBatch;

const DEFAULT_MAP_SIZE: i64 = 64 << 20;
const DEFAULT_MAX_MAP_SIZE: i64 = 16 << 30;
const DEFAULT_MAX_SAMPLES: i64 = 1_000_000;

/// A Python int that must not be negative, with the field named in the error.
fn non_negative(field: &str, v: i64) -> statcore_core::Result<u64> {
    u64::try_from(v).map_err(|_| CoreError::invalid(field, format!("must not be negative, got {v}")))
}

/// A seq from Python: any int in `[0, 2^64)` (a protobuf `uint64` reaches 2^64 - 1; an `i64`
/// parameter made values from 2^63 on an `OverflowError`); anything else is `InvalidInputError`.
fn seq_arg(field: &str, v: &Bound<'_, PyAny>) -> PyResult<u64> {
    v.extract::<u64>()
        .map_err(|_| invalid(field, format!("must be an integer in [0, 2**64), got {}", short_repr(v))))
}

/// `repr(v)`, cut to a bounded excerpt.
fn short_repr(v: &Bound<'_, PyAny>) -> String {
    let text = v.repr().map(|r| r.to_string()).unwrap_or_else(|_| "?".into());
    statcore_core::ingest::excerpt(&text)
}

fn to_usize(field: &str, v: i64) -> statcore_core::Result<usize> {
    usize::try_from(non_negative(field, v)?).map_err(|_| CoreError::invalid(field, "too large"))
}

/// One record of the durable sample log (immutable; `seq` is 0 until the store assigns one).
#[pyclass(module = "statcore._statcore", name = "Sample", frozen)]
pub struct PySample {
    inner: CoreSample,
}

#[pymethods]
impl PySample {
    #[new]
    #[pyo3(signature = (
        *, request_id, ts_ms, prediction, confidence, payload = &[][..], model_type = String::new(),
        model_id = String::new(), document_id = String::new(), label = None,
        human_correction = false
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        request_id: String,
        ts_ms: i64,
        prediction: &[u8],
        confidence: f64,
        payload: &[u8],
        model_type: String,
        model_id: String,
        document_id: String,
        label: Option<&[u8]>,
        human_correction: bool,
    ) -> PyResult<Self> {
        let inner = CoreSample {
            seq: 0,
            ts_ms,
            model_type,
            model_id,
            request_id,
            document_id,
            payload: payload.to_vec(),
            prediction: prediction.to_vec(),
            confidence,
            label: label.map(<[u8]>::to_vec),
            human_correction,
        };
        inner.validate().py()?;
        Ok(PySample { inner })
    }

    #[getter]
    fn seq(&self) -> u64 {
        self.inner.seq
    }
    #[getter]
    fn ts_ms(&self) -> i64 {
        self.inner.ts_ms
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
    fn request_id(&self) -> &str {
        &self.inner.request_id
    }
    #[getter]
    fn document_id(&self) -> &str {
        &self.inner.document_id
    }
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.payload)
    }
    #[getter]
    fn prediction<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.prediction)
    }
    #[getter]
    fn confidence(&self) -> f64 {
        self.inner.confidence
    }
    #[getter]
    fn label<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.inner.label.as_deref().map(|l| PyBytes::new(py, l))
    }
    #[getter]
    fn human_correction(&self) -> bool {
        self.inner.human_correction
    }

    fn __repr__(&self) -> String {
        let s = &self.inner;
        format!(
            "Sample(seq={}, ts_ms={}, model_type={:?}, model_id={:?}, request_id={:?}, \
             confidence={}, labelled={})",
            s.seq,
            s.ts_ms,
            s.model_type,
            s.model_id,
            s.request_id,
            s.confidence,
            if s.label.is_some() { "True" } else { "False" }
        )
    }
}

/// An LMDB-backed store (one directory): routing blob, aggregate windows, durable sample log.
#[pyclass(module = "statcore._statcore", name = "Store", frozen)]
pub struct PyStore {
    inner: RwLock<Option<Arc<CoreStore>>>,
    /// Started by the first `flush_in_background`.
    worker: Mutex<Option<FlushWorker>>,
    path: PathBuf,
}

impl PyStore {
    /// Runs `f` on the open store with the GIL released.
    fn with<T, F>(&self, py: Python<'_>, f: F) -> PyResult<T>
    where
        T: Send,
        F: Send + FnOnce(&CoreStore) -> statcore_core::Result<T>,
    {
        without_gil(py, || self.run(f)).py()
    }

    /// Runs `f` (work over `records` records that never waits on I/O or a flush) on the open
    /// store, releasing the GIL only for large batches (`without_gil_if`).
    fn with_records<T, F>(&self, py: Python<'_>, records: usize, f: F) -> PyResult<T>
    where
        T: Send,
        F: Send + FnOnce(&CoreStore) -> statcore_core::Result<T>,
    {
        without_gil_if(py, records, || self.run(f)).py()
    }

    fn run<T>(&self, f: impl FnOnce(&CoreStore) -> statcore_core::Result<T>) -> statcore_core::Result<T> {
        let guard = self.inner.read().map_err(|_| CoreError::Store("store lock poisoned".into()))?;
        let store = guard.as_ref().ok_or_else(|| CoreError::Store("store is closed".into()))?;
        f(store)
    }
}

fn samples_from(batch: &[Bound<'_, PySample>]) -> Vec<CoreSample> {
    batch.iter().map(|s| s.get().inner.clone()).collect()
}

fn samples_to(samples: Vec<CoreSample>) -> Vec<PySample> {
    samples.into_iter().map(|inner| PySample { inner }).collect()
}

fn stats_dict<'py>(py: Python<'py>, s: &StoreStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (key, value) in [
        ("samples", s.samples),
        ("bytes", s.bytes),
        ("oldest_seq", s.oldest_seq),
        ("newest_seq", s.newest_seq),
        ("next_seq", s.next_seq),
        ("cursor", s.cursor),
        ("evicted_total", s.evicted_total),
        ("pending", s.pending),
        ("map_size", s.map_size),
    ] {
        d.set_item(key, value)?;
    }
    if let Some(ms) = s.last_flush_ms {
        d.set_item("last_flush_ms", ms)?;
    }
    Ok(d)
}

#[pymethods]
impl PyStore {
    #[new]
    #[pyo3(signature = (
        path, *, map_size = DEFAULT_MAP_SIZE, max_map_size = DEFAULT_MAX_MAP_SIZE,
        max_samples = DEFAULT_MAX_SAMPLES, max_age_ms = None
    ), text_signature = "(path, *, map_size=67108864, max_map_size=17179869184, \
                          max_samples=1000000, max_age_ms=None)")]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        map_size: i64,
        max_map_size: i64,
        max_samples: i64,
        max_age_ms: Option<i64>,
    ) -> PyResult<Self> {
        let config = StoreConfig {
            map_size: to_usize("map_size", map_size).py()?,
            max_map_size: to_usize("max_map_size", max_map_size).py()?,
            max_samples: non_negative("max_samples", max_samples).py()?,
            max_age_ms,
        };
        let store = without_gil(py, || CoreStore::open(&path, &config)).py()?;
        Ok(PyStore { inner: RwLock::new(Some(Arc::new(store))), worker: Mutex::new(None), path })
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Buffers the batch (validated as a whole first) and returns the assigned seqs.
    fn append(&self, py: Python<'_>, samples: Vec<Bound<'_, PySample>>) -> PyResult<Vec<u64>> {
        let batch = samples_from(&samples);
        self.with(py, |s| s.append(&batch)).map(Iterator::collect)
    }

    /// Makes everything appended so far durable (one synced LMDB transaction).
    fn flush(&self, py: Python<'_>, now_ms: i64) -> PyResult<()> {
        self.with(py, |s| s.flush(now_ms))
    }

    fn append_and_flush(
        &self,
        py: Python<'_>,
        samples: Vec<Bound<'_, PySample>>,
        now_ms: i64,
    ) -> PyResult<Vec<u64>> {
        let batch = samples_from(&samples);
        self.with(py, |s| s.append_and_flush(&batch, now_ms)).map(Iterator::collect)
    }

    fn attach_label(
        &self,
        py: Python<'_>,
        request_id: &str,
        label: &[u8],
        human_correction: bool,
        ts_ms: i64,
    ) -> PyResult<u64> {
        self.with(py, |s| s.attach_label(request_id, label, human_correction, ts_ms))
    }

    fn pull(&self, py: Python<'_>, after_seq: &Bound<'_, PyAny>, limit: i64) -> PyResult<Vec<PySample>> {
        let after = seq_arg("after_seq", after_seq)?;
        let limit = to_usize("limit", limit).py()?;
        self.with(py, |s| s.pull(after, limit)).map(samples_to)
    }

    /// Appends every record of `batch` to the sample log (durable at the next flush); returns
    /// the first seq assigned. A request id already in the log refuses the whole batch
    /// (`BatchRejectedError`, reason `duplicate_id`).
    fn append_batch(&self, py: Python<'_>, batch: &RecordBatch) -> PyResult<u64> {
        let inner = &batch.inner;
        let seqs = self.with_records(py, inner.len(), |s| s.append_new(inner))?;
        Ok(if seqs.is_empty() { 0 } else { seqs.start })
    }

    /// Records appended but not yet flushed.
    fn pending(&self, py: Python<'_>) -> PyResult<usize> {
        self.with_records(py, 0, |s| Ok(s.pending()))
    }

    /// The seq of the latest sample (stored or buffered) with `request_id`, or None. Read-only:
    /// the lookup `attach_label` makes, without labelling.
    fn find_request(&self, py: Python<'_>, request_id: &str) -> PyResult<Option<u64>> {
        self.with(py, |s| s.find_request(request_id))
    }

    /// The request id of the latest sample (stored or buffered) with `document_id`, or None.
    fn request_for_document(&self, py: Python<'_>, document_id: &str) -> PyResult<Option<String>> {
        self.with(py, |s| s.request_for_document(document_id))
    }

    fn ack(&self, py: Python<'_>, seq: &Bound<'_, PyAny>) -> PyResult<()> {
        let seq = seq_arg("seq", seq)?;
        self.with(py, |s| s.ack(seq))
    }

    fn cursor(&self, py: Python<'_>) -> PyResult<u64> {
        self.with(py, |s| s.cursor())
    }

    fn put_routing(&self, py: Python<'_>, generation: i64, blob: &[u8]) -> PyResult<()> {
        let generation = non_negative("generation", generation).py()?;
        self.with(py, |s| s.put_routing(generation, blob))
    }

    fn get_routing<'py>(&self, py: Python<'py>) -> PyResult<Option<(u64, Bound<'py, PyBytes>)>> {
        let routing = self.with(py, |s| s.get_routing())?;
        Ok(routing.map(|(generation, blob)| (generation, PyBytes::new(py, &blob))))
    }

    /// Buffers one sample per row of the columns (one crossing per batch; validated as a whole
    /// first, nothing buffered on error). Returns the seq of the first row (seqs are
    /// consecutive). Optional columns: `None` or empty means empty for every row.
    #[pyo3(signature = (
        *, request_id, ts_ms, prediction, confidence, model_type, model_id,
        document_id = None, payload = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn append_columns(
        &self,
        py: Python<'_>,
        request_id: Vec<String>,
        ts_ms: PyReadonlyArray1<'_, i64>,
        prediction: Vec<String>,
        confidence: PyReadonlyArray1<'_, f64>,
        model_type: Vec<String>,
        model_id: Vec<String>,
        document_id: Option<Vec<String>>,
        payload: Option<Vec<Bound<'_, PyBytes>>>,
    ) -> PyResult<u64> {
        let n = request_id.len();
        let ts = ts_ms.as_slice().map_err(|_| invalid("ts_ms", "must be C-contiguous"))?;
        let conf = confidence.as_slice().map_err(|_| invalid("confidence", "must be C-contiguous"))?;
        let document_id = document_id.unwrap_or_default();
        let payload = payload.unwrap_or_default();
        for (name, len, optional) in [
            ("ts_ms", ts.len(), false),
            ("prediction", prediction.len(), false),
            ("confidence", conf.len(), false),
            ("model_type", model_type.len(), false),
            ("model_id", model_id.len(), false),
            ("document_id", document_id.len(), true),
            ("payload", payload.len(), true),
        ] {
            if len != n && !(optional && len == 0) {
                return Err(invalid(name, format!("has {len} values, expected {n}")));
            }
        }
        let mut document_id = document_id.into_iter();
        let mut payload = payload.iter();
        let batch: Vec<CoreSample> = request_id
            .into_iter()
            .zip(prediction)
            .zip(model_type.into_iter().zip(model_id))
            .enumerate()
            .map(|(i, ((request_id, prediction), (model_type, model_id)))| CoreSample {
                seq: 0,
                ts_ms: ts[i],
                model_type,
                model_id,
                request_id,
                document_id: document_id.next().unwrap_or_default(),
                payload: payload.next().map(|b| b.as_bytes().to_vec()).unwrap_or_default(),
                prediction: prediction.into_bytes(),
                confidence: conf[i],
                label: None,
                human_correction: false,
            })
            .collect();
        let seqs = self.with(py, |s| s.append(&batch))?;
        Ok(if seqs.is_empty() { 0 } else { seqs.start })
    }

    fn put_blob(&self, py: Python<'_>, name: &str, value: &[u8]) -> PyResult<()> {
        self.with(py, |s| s.put_blob(name, value))
    }

    fn get_blob<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let blob = self.with(py, |s| s.get_blob(name))?;
        Ok(blob.map(|b| PyBytes::new(py, &b)))
    }

    #[allow(clippy::type_complexity)]
    fn blobs_with_prefix<'py>(
        &self,
        py: Python<'py>,
        prefix: &str,
    ) -> PyResult<Vec<(String, Bound<'py, PyBytes>)>> {
        let blobs = self.with(py, |s| s.blobs_with_prefix(prefix))?;
        Ok(blobs.into_iter().map(|(n, b)| (n, PyBytes::new(py, &b))).collect())
    }

    fn put_window(
        &self,
        py: Python<'_>,
        model_type: &str,
        model_id: &str,
        window_start_ms: i64,
        data: &[u8],
    ) -> PyResult<()> {
        self.with(py, |s| s.put_window(model_type, model_id, window_start_ms, data))
    }

    /// Flushes the sample log and stores `(model_type, model_id, window_start_ms, data)`
    /// windows with their high-water seq, all in ONE synced transaction (see the module doc of
    /// `statcore_core::store`): the windows then hold exactly the log's records below
    /// `high_water`.
    fn flush_with_windows(
        &self,
        py: Python<'_>,
        now_ms: i64,
        windows: Vec<(String, String, i64, Vec<u8>)>,
        high_water: u64,
    ) -> PyResult<()> {
        self.with(py, |s| s.flush_with_windows(now_ms, &windows, high_water))
    }

    /// The high-water seq stored with the windows by `flush_with_windows` (None before it).
    fn windows_high_water(&self, py: Python<'_>) -> PyResult<Option<u64>> {
        self.with(py, |s| s.windows_high_water())
    }

    /// `(first_seq, batch)` of up to `limit` stored record batches holding live records at or
    /// after `seq`, in seq order (what the windows are replayed from after a crash).
    fn batches_from(&self, py: Python<'_>, seq: u64, limit: usize) -> PyResult<Vec<(u64, RecordBatch)>> {
        let batches = self.with(py, |s| s.batches_from(seq, limit))?;
        Ok(batches.into_iter().map(|(first, inner)| (first, RecordBatch { inner })).collect())
    }

    /// The seq the next appended record gets.
    fn next_seq(&self, py: Python<'_>) -> PyResult<u64> {
        self.with_records(py, 0, |s| s.next_seq())
    }

    /// Stores `(model_type, model_id, window_start_ms, data)` windows in one transaction.
    fn put_windows(&self, py: Python<'_>, windows: Vec<(String, String, i64, Vec<u8>)>) -> PyResult<()> {
        self.with(py, |s| s.put_windows(&windows))
    }

    fn get_window<'py>(
        &self,
        py: Python<'py>,
        model_type: &str,
        model_id: &str,
        window_start_ms: i64,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let window = self.with(py, |s| s.get_window(model_type, model_id, window_start_ms))?;
        Ok(window.map(|w| PyBytes::new(py, &w)))
    }

    /// Every window (all models) with start >= since_ms, in (model_type, model_id, start)
    /// order. Scans all stored windows.
    #[allow(clippy::type_complexity)]
    fn windows_since<'py>(
        &self,
        py: Python<'py>,
        since_ms: i64,
    ) -> PyResult<Vec<(String, String, i64, Bound<'py, PyBytes>)>> {
        let windows = self.with(py, |s| s.windows_since(since_ms))?;
        Ok(windows.into_iter().map(|(t, m, start, w)| (t, m, start, PyBytes::new(py, &w))).collect())
    }

    fn delete_windows_before(&self, py: Python<'_>, before_ms: i64) -> PyResult<u64> {
        self.with(py, |s| s.delete_windows_before(before_ms))
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.with(py, |s| s.stats())?;
        stats_dict(py, &stats)
    }

    /// Closes the LMDB environment. Samples appended but not flushed are dropped. Idempotent.
    /// Asks a background thread (started on first use) to flush at `now_ms` and returns at
    /// once: the caller never waits for the commit and sync. Raises the error of the previous
    /// background flush if it failed (the samples stay buffered for a retry).
    fn flush_in_background(&self, now_ms: i64) -> PyResult<()> {
        let poisoned = || CoreError::Store("store lock poisoned".into());
        let mut worker = self.worker.lock().map_err(|_| poisoned()).py()?;
        if worker.is_none() {
            let guard = self.inner.read().map_err(|_| poisoned()).py()?;
            let store = guard.as_ref().ok_or_else(|| CoreError::Store("store is closed".into())).py()?;
            *worker = Some(FlushWorker::spawn(Arc::clone(store)).py()?);
        }
        worker.as_ref().map_or(Ok(()), |w| w.request(now_ms)).py()
    }

    /// Finishes background flushes, then closes the LMDB environment.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        without_gil(py, || {
            let poisoned = || CoreError::Store("store lock poisoned".into());
            let worker = self.worker.lock().map_err(|_| poisoned())?.take();
            if let Some(mut worker) = worker {
                worker.stop();
            }
            let mut guard = self.inner.write().map_err(|_| poisoned())?;
            guard.take();
            Ok(())
        })
        .py()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySample>()?;
    m.add_class::<PyStore>()?;
    Ok(())
}
