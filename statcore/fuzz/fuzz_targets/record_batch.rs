//! Any bytes as a serialized `loopwise.v1.RecordBatch`: decoding never panics, and a batch that
//! is accepted keeps every promise ingest relies on (`statcore_core::ingest::fuzz_check`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = statcore_core::ingest::fuzz_check(data) {
        panic!("{broken}");
    }
});
