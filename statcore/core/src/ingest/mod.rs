//! Record batches straight from the wire: one crossing from Python per batch.
//!
//! [`RecordBatch::decode`] parses a serialized `loopwise.v1.RecordBatch` (no protobuf library:
//! [`wire`]) and validates it as a whole with the sidecar's rules, in the sidecar's order, so a
//! refused batch names the same field as the Python validation it replaces; [`RecordBatch::groups`]
//! splits it by (model type, model id, window); [`RecordBatch::update`] feeds an aggregate
//! window, and as [`crate::store::SampleRecords`] the batch goes to the sample log as received
//! ([`RecordBatch::decode_stored`] reads it back).

mod batch;
mod fuzz_check;
mod key_index;
mod rejection;
pub mod wire;

pub use batch::{Group, IngestRules, RecordBatch};
pub use fuzz_check::{fuzz_check, FUZZ_NOW_MS};
pub use rejection::{excerpt, RejectReason, Rejection, EXCERPT_CHARS};
