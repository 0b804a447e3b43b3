//! Why a record batch is refused: a reason (the sidecar's `RejectReason`), the field, a detail.

use std::fmt;

/// The reasons a batch can be refused for (a subset of the sidecar's `RejectReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    Oversized,
    EmptyId,
    UnknownModelType,
    Malformed,
    InvalidNumber,
}

impl RejectReason {
    /// The sidecar's name for it (`sidecar.errors.RejectReason` values).
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Oversized => "oversized",
            RejectReason::EmptyId => "empty_id",
            RejectReason::UnknownModelType => "unknown_model_type",
            RejectReason::Malformed => "malformed",
            RejectReason::InvalidNumber => "invalid_number",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub reason: RejectReason,
    pub field: String,
    pub detail: String,
}

impl Rejection {
    pub fn new(reason: RejectReason, field: impl Into<String>, detail: impl Into<String>) -> Self {
        Rejection { reason, field: field.into(), detail: detail.into() }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} {}", self.reason.as_str(), self.field, self.detail)
    }
}

/// A float as Python's `repr` writes it (`nan`, `inf`, `1.5`, `2.0`), for details that must
/// read the same as the Python validation's.
pub(crate) fn py_float(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{v:?}")
    }
}
