//! One error enum for the core crate. The binding maps each variant to a typed Python exception
//! in exactly one place (`statcore/py/src/errors.rs`).

use thiserror::Error;

pub type Result<T> = std::result::Result<T, CoreError>;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum CoreError {
    /// Bad input from a caller: NaN/inf, negative latency, mismatched lengths, empty ids...
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: String, reason: String },

    /// A model type that the routing table or the aggregate does not know.
    /// (A long name is quoted as a bounded excerpt.)
    #[error("unknown model type {}", crate::ingest::excerpt(.0))]
    UnknownModelType(String),

    /// A routing table whose generation is lower than the one in force.
    #[error("stale routing generation {offered}: generation {current} is in force")]
    StaleGeneration { current: u64, offered: u64 },

    /// Two aggregates (or histograms) that cannot be merged or compared: different edges/layouts.
    #[error("incompatible: {0}")]
    Incompatible(String),

    /// Bytes that do not decode: wrong magic, unsupported version, truncated or corrupt payload.
    #[error("codec: {0}")]
    Codec(String),

    /// A record looked up by key that is not stored (e.g. a request id with no sample).
    #[error("not found: {0}")]
    NotFound(String),

    /// The LMDB map is full and may not grow further (max_map_size reached).
    #[error("store full: {0}")]
    StoreFull(String),

    /// A record batch refused as a whole by a rule checked against the store (a request id
    /// already in the sample log); carries the same reason, field and detail as the decoder's.
    #[error("{0}")]
    Rejected(crate::ingest::Rejection),

    /// Any other storage failure (I/O, LMDB).
    #[error("store: {0}")]
    Store(String),
}

impl CoreError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        CoreError::InvalidInput { field: field.into(), reason: reason.into() }
    }
}
