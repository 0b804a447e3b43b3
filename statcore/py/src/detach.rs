//! The one place binding code releases the GIL around pure-Rust work.
//!
//! Callers extract owned (or numpy-borrowed, `Sync`) inputs first, run the core call inside
//! `without_gil` (or `without_gil_if`), and convert the result back afterwards.

use pyo3::prelude::*;

/// Records below which per-batch work (decode, aggregate update, sample-log append) keeps the
/// GIL. Releasing it costs two thread switches whenever another thread waits for it (the gRPC
/// server's poller usually does), ~5-10 µs each on a busy core: more than the work of a batch
/// of this size, so small batches run in place and large ones let other threads run.
pub const DETACH_MIN_RECORDS: usize = 10_000;

pub fn without_gil<T, F>(py: Python<'_>, work: F) -> T
where
    F: Send + FnOnce() -> T,
    T: Send,
{
    py.detach(work)
}

/// `without_gil` for work over `records` records when there are at least
/// [`DETACH_MIN_RECORDS`]; below that, `work` runs with the GIL held.
pub fn without_gil_if<T, F>(py: Python<'_>, records: usize, work: F) -> T
where
    F: Send + FnOnce() -> T,
    T: Send,
{
    if records >= DETACH_MIN_RECORDS {
        py.detach(work)
    } else {
        work()
    }
}
