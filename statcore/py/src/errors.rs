//! The one conversion point from `CoreError` to typed Python exceptions.
//!
//! The exception classes live in Python (`statcore/errors.py`) so that they can inherit from
//! both `StatcoreError` and the matching builtin (`ValueError`, `OSError`).

use pyo3::prelude::*;
use statcore_core::CoreError;

pyo3::import_exception!(statcore.errors, InvalidInputError);
pyo3::import_exception!(statcore.errors, UnknownModelTypeError);
pyo3::import_exception!(statcore.errors, StaleGenerationError);
pyo3::import_exception!(statcore.errors, IncompatibleError);
pyo3::import_exception!(statcore.errors, CodecError);
pyo3::import_exception!(statcore.errors, NotFoundError);
pyo3::import_exception!(statcore.errors, StoreFullError);
pyo3::import_exception!(statcore.errors, StoreError);
pyo3::import_exception!(statcore.errors, BatchRejectedError);

pub fn to_py(err: CoreError) -> PyErr {
    let msg = err.to_string();
    match err {
        CoreError::InvalidInput { .. } => InvalidInputError::new_err(msg),
        CoreError::UnknownModelType(_) => UnknownModelTypeError::new_err(msg),
        CoreError::StaleGeneration { .. } => StaleGenerationError::new_err(msg),
        CoreError::Incompatible(_) => IncompatibleError::new_err(msg),
        CoreError::Codec(_) => CodecError::new_err(msg),
        CoreError::NotFound(_) => NotFoundError::new_err(msg),
        CoreError::StoreFull(_) => StoreFullError::new_err(msg),
        CoreError::Store(_) => StoreError::new_err(msg),
        CoreError::Rejected(r) => rejected(r),
    }
}

/// `?`-friendly conversion for binding code: `core_call().map_err(to_py)?` reads as `.py()?`.
pub trait IntoPyResult<T> {
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for statcore_core::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

/// A binding-level input error (wrong type, non-contiguous array), raised as `InvalidInputError`.
pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> PyErr {
    to_py(CoreError::invalid(field, reason))
}

/// A refused record batch, raised as `BatchRejectedError(reason, field, detail)`.
pub fn rejected(r: statcore_core::ingest::Rejection) -> PyErr {
    BatchRejectedError::new_err((r.reason.as_str(), r.field, r.detail))
}
