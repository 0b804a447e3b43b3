//! The one helper through which binding code releases the GIL around pure-Rust work.
//!
//! Callers extract owned (or numpy-borrowed, `Sync`) inputs first, run the core call inside
//! `without_gil`, and convert the result back afterwards.

use pyo3::prelude::*;

pub fn without_gil<T, F>(py: Python<'_>, work: F) -> T
where
    F: Send + FnOnce() -> T,
    T: Send,
{
    py.detach(work)
}
