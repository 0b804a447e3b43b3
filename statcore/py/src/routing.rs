//! Routing: `Route`, `RoutingTable`, `Router`, `Arm`, `bucket`.

use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use statcore_core::routing::{self as core, ModelRoute};

use crate::errors::IntoPyResult;

/// Which side of an experiment served a request.
#[pyclass(eq, eq_int, frozen, hash, module = "statcore._statcore")]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arm {
    #[pyo3(name = "CHAMPION")]
    Champion,
    #[pyo3(name = "CHALLENGER")]
    Challenger,
}

#[pymethods]
impl Arm {
    /// "champion" or "challenger" (for metric labels and wire formats).
    #[getter]
    fn value(&self) -> &'static str {
        core::Arm::from(*self).as_str()
    }
}

impl From<core::Arm> for Arm {
    fn from(a: core::Arm) -> Self {
        match a {
            core::Arm::Champion => Arm::Champion,
            core::Arm::Challenger => Arm::Challenger,
        }
    }
}

impl From<Arm> for core::Arm {
    fn from(a: Arm) -> Self {
        match a {
            Arm::Champion => core::Arm::Champion,
            Arm::Challenger => core::Arm::Challenger,
        }
    }
}

/// The route of one model type: champion, optional challenger, its share, experiment salt.
#[pyclass(frozen, eq, from_py_object, module = "statcore._statcore")]
#[derive(Clone, PartialEq)]
pub struct Route {
    inner: ModelRoute,
}

#[pymethods]
impl Route {
    #[new]
    #[pyo3(signature = (champion, challenger=None, challenger_share=0.0, salt=String::new()))]
    fn new(champion: String, challenger: Option<String>, challenger_share: f64, salt: String) -> Self {
        Route { inner: ModelRoute { champion, challenger, challenger_share, salt } }
    }
    #[getter]
    fn champion(&self) -> &str {
        &self.inner.champion
    }
    #[getter]
    fn challenger(&self) -> Option<&str> {
        self.inner.challenger.as_deref()
    }
    #[getter]
    fn challenger_share(&self) -> f64 {
        self.inner.challenger_share
    }
    #[getter]
    fn salt(&self) -> &str {
        &self.inner.salt
    }
    fn __repr__(&self) -> String {
        let r = &self.inner;
        format!(
            "Route(champion={:?}, challenger={:?}, challenger_share={}, salt={:?})",
            r.champion, r.challenger, r.challenger_share, r.salt
        )
    }
}

/// A complete, validated routing table with its generation.
#[pyclass(frozen, eq, from_py_object, module = "statcore._statcore")]
#[derive(Clone, PartialEq)]
pub struct RoutingTable {
    inner: Arc<core::RoutingTable>,
}

#[pymethods]
impl RoutingTable {
    #[new]
    fn new(generation: u64, routes: BTreeMap<String, Route>) -> PyResult<Self> {
        let routes = routes.into_iter().map(|(k, v)| (k, v.inner)).collect();
        Ok(RoutingTable { inner: Arc::new(core::RoutingTable::new(generation, routes).py()?) })
    }
    #[getter]
    fn generation(&self) -> u64 {
        self.inner.generation
    }
    #[getter]
    fn routes(&self) -> BTreeMap<String, Route> {
        self.inner.routes.iter().map(|(k, v)| (k.clone(), Route { inner: v.clone() })).collect()
    }
    fn encode<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.inner.encode().py()?))
    }
    #[staticmethod]
    fn decode(data: &[u8]) -> PyResult<Self> {
        Ok(RoutingTable { inner: Arc::new(core::RoutingTable::decode(data).py()?) })
    }
    fn __repr__(&self) -> String {
        format!(
            "RoutingTable(generation={}, model_types={:?})",
            self.inner.generation,
            self.inner.routes.keys()
        )
    }
}

/// Holds the table in force; `route` is the hot path (see the hash in the Rust docs of
/// `statcore_core::routing`). Thread-safe; `swap` replaces the table atomically.
#[pyclass(frozen, module = "statcore._statcore")]
pub struct Router {
    inner: core::Router,
    rng: AtomicU64,
}

fn key_bytes<'a>(key: &'a Bound<'_, PyAny>) -> PyResult<&'a [u8]> {
    if let Ok(s) = key.cast::<PyString>() {
        return s.to_str().map(str::as_bytes);
    }
    if let Ok(b) = key.cast::<PyBytes>() {
        return Ok(b.as_bytes());
    }
    Err(crate::errors::invalid("key", "must be str, bytes or None"))
}

impl Router {
    fn next_random(&self) -> u64 {
        // SplitMix64 over an atomic counter: lock-free, uniform, seeded per Router from the OS.
        let mut z = self.rng.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn decide_with<R>(
        &self,
        model_type: &str,
        key: Option<&Bound<'_, PyAny>>,
        then: impl FnOnce(core::Arm, &str) -> R,
    ) -> PyResult<R> {
        let table = self.inner.current();
        let (arm, id) = match key {
            Some(k) if !k.is_none() => table.decide(model_type, key_bytes(k)?),
            _ => table.decide_random(model_type, self.next_random()),
        }
        .py()?;
        Ok(then(arm, id))
    }
}

#[pymethods]
impl Router {
    #[new]
    #[pyo3(signature = (table=None))]
    fn new(table: Option<RoutingTable>) -> Self {
        let t = table.map(|t| (*t.inner).clone()).unwrap_or_else(core::RoutingTable::empty);
        Router { inner: core::Router::new(t), rng: AtomicU64::new(RandomState::new().hash_one(0x5eed_u64)) }
    }

    /// The model id that serves `key` for `model_type` (sticky); no key: a uniform random draw.
    #[pyo3(signature = (model_type, key=None))]
    fn route<'py>(
        &self,
        py: Python<'py>,
        model_type: &str,
        key: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyString>> {
        self.decide_with(model_type, key, |_, id| PyString::new(py, id))
    }

    /// Like `route`, and also which arm served it: `(model_id, Arm)`.
    #[pyo3(signature = (model_type, key=None))]
    fn decide<'py>(
        &self,
        py: Python<'py>,
        model_type: &str,
        key: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyString>, Arm)> {
        self.decide_with(model_type, key, |arm, id| (PyString::new(py, id), Arm::from(arm)))
    }

    /// Installs `table`; refuses a stale generation (`StaleGenerationError`). Returns whether the
    /// table in force changed (re-pushing the same table is a no-op).
    fn swap(&self, table: &RoutingTable) -> PyResult<bool> {
        self.inner.swap((*table.inner).clone()).py()
    }

    #[getter]
    fn table(&self) -> RoutingTable {
        RoutingTable { inner: self.inner.current() }
    }

    #[getter]
    fn generation(&self) -> u64 {
        self.inner.current().generation
    }
}

/// The bucket in `[0, 10000)` of `key` under `salt` (the portable assignment hash).
#[pyfunction]
fn bucket(salt: &str, key: &Bound<'_, PyAny>) -> PyResult<u64> {
    Ok(core::bucket(salt, key_bytes(key)?))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Arm>()?;
    m.add_class::<Route>()?;
    m.add_class::<RoutingTable>()?;
    m.add_class::<Router>()?;
    m.add_function(wrap_pyfunction!(bucket, m)?)?;
    m.add("BUCKETS", core::BUCKETS)?;
    Ok(())
}
