//! `statcore._statcore`: the thin PyO3 binding over `statcore-core`.
//!
//! Each file converts types for one area and registers its classes and functions; errors are
//! converted in one place ([`errors`]); GIL release goes through [`detach::without_gil`].

mod aggregate;
mod detach;
mod errors;
mod ingest;
mod routing;
mod stats;
mod store;

use pyo3::prelude::*;

#[pymodule]
fn _statcore(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    routing::register(m)?;
    aggregate::register(m)?;
    stats::register(m)?;
    store::register(m)?;
    ingest::register(m)?;
    Ok(())
}
