//! Pooled two-proportion z-test (as `statsmodels.stats.proportion.proportions_ztest` with two
//! counts and `value = 0`):
//! `z = (p̂_a − p̂_b) / sqrt(p̂ (1 − p̂) (1/n_a + 1/n_b))` with the pooled `p̂ = (x_a + x_b) / (n_a + n_b)`.
//!
//! When the pooled proportion is 0 or 1 both arms are identical (all failures or all
//! successes) and the variance vanishes; statsmodels then returns NaN, here the result is
//! `z = 0`, `p = 1` (no evidence of a difference).

use super::check_arm;
use crate::error::{CoreError, Result};
use crate::special::{norm_cdf, norm_sf};
use std::str::FromStr;

/// Alternative hypothesis about `p_a − p_b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Alternative {
    /// `p_a != p_b`.
    #[default]
    TwoSided,
    /// `p_a > p_b`.
    Larger,
    /// `p_a < p_b`.
    Smaller,
}

impl FromStr for Alternative {
    type Err = CoreError;

    /// Parses statsmodels' names: `"two-sided"`, `"larger"`, `"smaller"`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "two-sided" => Ok(Alternative::TwoSided),
            "larger" => Ok(Alternative::Larger),
            "smaller" => Ok(Alternative::Smaller),
            other => Err(CoreError::invalid(
                "alternative",
                format!("{other:?} is not one of \"two-sided\", \"larger\", \"smaller\""),
            )),
        }
    }
}

/// z statistic and p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZTestResult {
    pub statistic: f64,
    pub pvalue: f64,
}

/// Pooled z-test of `p_a = p_b` from `count_a` successes in `nobs_a` trials and likewise `b`.
pub fn ztest_two_proportions(
    count_a: u64,
    nobs_a: u64,
    count_b: u64,
    nobs_b: u64,
    alternative: Alternative,
) -> Result<ZTestResult> {
    check_arm("a", count_a, nobs_a)?;
    check_arm("b", count_b, nobs_b)?;
    let (xa, na, xb, nb) = (count_a as f64, nobs_a as f64, count_b as f64, nobs_b as f64);
    let diff = xa / na - xb / nb;
    let pooled = (xa + xb) / (na + nb);
    let var = pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb);
    if var <= 0.0 {
        return Ok(ZTestResult { statistic: 0.0, pvalue: 1.0 });
    }
    let z = diff / var.sqrt();
    let pvalue = match alternative {
        Alternative::TwoSided => 2.0 * norm_sf(z.abs()),
        Alternative::Larger => norm_sf(z),
        Alternative::Smaller => norm_cdf(z),
    };
    Ok(ZTestResult { statistic: z, pvalue })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_statsmodels() {
        // statsmodels proportions_ztest([850, 880], [1000, 1000])
        let r = ztest_two_proportions(850, 1000, 880, 1000, Alternative::TwoSided).unwrap();
        assert!((r.statistic - -1.963049807622357).abs() < 1e-12);
        assert!((r.pvalue - 0.04964038686536856).abs() < 1e-12);
        let larger = ztest_two_proportions(850, 1000, 880, 1000, Alternative::Larger).unwrap();
        let smaller = ztest_two_proportions(850, 1000, 880, 1000, Alternative::Smaller).unwrap();
        assert!((larger.pvalue + smaller.pvalue - 1.0).abs() < 1e-15);
        assert!((2.0 * smaller.pvalue - r.pvalue).abs() < 1e-15);
    }

    #[test]
    fn degenerate_and_invalid() {
        let r = ztest_two_proportions(10, 10, 5, 5, Alternative::TwoSided).unwrap();
        assert_eq!((r.statistic, r.pvalue), (0.0, 1.0));
        assert!(ztest_two_proportions(11, 10, 5, 5, Alternative::TwoSided).is_err());
        assert!(ztest_two_proportions(0, 10, 0, 0, Alternative::TwoSided).is_err());
        assert!("less".parse::<Alternative>().is_err());
        assert_eq!("larger".parse::<Alternative>().unwrap(), Alternative::Larger);
    }
}
