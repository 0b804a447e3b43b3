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
    /// A request id repeated within the batch or already in the sample log.
    DuplicateId,
    /// A timestamp outside the accepted range (too old, or too far in the future).
    OutOfRange,
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
            RejectReason::DuplicateId => "duplicate_id",
            RejectReason::OutOfRange => "out_of_range",
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

/// Longest excerpt of a value quoted in an error (characters); longer values are cut.
pub const EXCERPT_CHARS: usize = 64;

/// A value as quoted in an error message: in full (Debug-quoted) up to [`EXCERPT_CHARS`]
/// characters, else its first [`EXCERPT_CHARS`] characters, `…` and its length in bytes —
/// never the whole of a long value (a 2 MiB id echoed back overflows gRPC's metadata).
pub fn excerpt(value: &str) -> String {
    match value.char_indices().nth(EXCERPT_CHARS) {
        None => format!("{value:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes)", &value[..cut], value.len()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_quotes_short_values_whole_and_cuts_long_ones_on_a_char_boundary() {
        assert_eq!(excerpt("abc"), "\"abc\"");
        assert_eq!(excerpt("a\0b"), "\"a\\0b\"");
        let long = "é".repeat(1 << 20);
        let e = excerpt(&long);
        assert!(e.len() < 200, "{}", e.len());
        assert!(e.ends_with(&format!("… ({} bytes)", long.len())));
        assert_eq!(excerpt(&"x".repeat(EXCERPT_CHARS)), format!("{:?}", "x".repeat(EXCERPT_CHARS)));
    }
}
