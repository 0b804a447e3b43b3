//! Tests on proportions and counts: pooled two-proportion z-test, the always-valid mSPRT for the
//! difference of two proportions, and the sample-ratio-mismatch chi-square test.
//!
//! (Owned by the statistics work; see each file.)
