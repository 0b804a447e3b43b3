//! statcore-core: the pure-Rust heart of Loopwise.
//!
//! * [`routing`] — champion/challenger routing tables with a documented, portable hash.
//! * [`accum`] — mergeable streaming accumulators (one per file, behind [`accum::Accumulator`]).
//! * [`aggregate`] — one model's window of accumulators, updated in batches; [`codec`] ships it.
//! * [`compare`] — distribution distances between binned histograms (PSI, KS, W1, JS).
//! * [`proportions`] — two-proportion tests: pooled z-test, mSPRT, sample-ratio mismatch.
//! * [`ingest`] — serialized record batches: decoded, validated, grouped, applied.
//! * [`store`] — LMDB persistence: routing table, aggregate windows, durable sample log.
//!
//! Nothing here reads a clock or a random source: time and randomness are arguments.

pub mod accum;
pub mod aggregate;
pub mod codec;
pub mod compare;
pub mod drift;
pub mod edges;
pub mod error;
pub mod ingest;
pub mod layout;
pub mod proportions;
pub mod routing;
pub mod special;
pub mod store;

pub use error::{CoreError, Result};
