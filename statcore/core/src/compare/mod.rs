//! Distances between two binned distributions over the same bins, one per file behind
//! [`Comparison`]: PSI, Kolmogorov–Smirnov, Wasserstein-1, Jensen–Shannon.
//!
//! (Owned by the statistics work; see each file.)
