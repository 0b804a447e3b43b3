//! Tests on proportions and counts: pooled two-proportion z-test, the always-valid mSPRT for the
//! difference of two proportions, and the sample-ratio-mismatch chi-square test.
//!
//! Counts are `u64`; arms are `(successes, trials)` pairs checked by [`check_arm`].

pub mod msprt;
pub mod srm;
pub mod ztest;

pub use msprt::{msprt_look, Msprt, MsprtResult, DEFAULT_TAU};
pub use srm::{srm, SrmResult};
pub use ztest::{ztest_two_proportions, Alternative, ZTestResult};

use crate::error::{CoreError, Result};

/// Checks one arm: `successes <= trials` and `trials > 0`. `arm` is `"a"` or `"b"`; fields are
/// named `count_<arm>` / `nobs_<arm>` as in the Python API.
pub fn check_arm(arm: &str, successes: u64, trials: u64) -> Result<()> {
    if trials == 0 {
        return Err(CoreError::invalid(format!("nobs_{arm}"), "must be positive"));
    }
    if successes > trials {
        return Err(CoreError::invalid(
            format!("count_{arm}"),
            format!("{successes} successes exceed {trials} trials"),
        ));
    }
    Ok(())
}
