//! Special functions (normal and chi-square tails, the Kolmogorov distribution).
//!
//! (Owned by the statistics work.)
