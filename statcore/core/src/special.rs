//! Special functions (normal and chi-square tails, the Kolmogorov distribution).
//!
//! Everything is written from the textbook series and continued fractions, with `libm` for
//! `erfc` and `lgamma`. Survival functions are computed directly (not as `1 - cdf`) wherever
//! the tail is the interesting part, so tiny p-values keep their relative accuracy.

use std::f64::consts::{FRAC_1_SQRT_2, PI};

/// Relative tolerance at which series and continued fractions stop.
const EPS: f64 = 1e-16;
/// Guard against division by zero in the modified Lentz algorithm.
const TINY: f64 = 1e-300;
/// Iteration cap for the incomplete gamma series / continued fraction.
const MAX_ITER: usize = 100_000;

/// Standard normal CDF `Φ(x)`, accurate in the lower tail.
pub fn norm_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x * FRAC_1_SQRT_2)
}

/// Standard normal survival function `1 − Φ(x)`, accurate in the upper tail.
pub fn norm_sf(x: f64) -> f64 {
    0.5 * libm::erfc(x * FRAC_1_SQRT_2)
}

/// Chi-square survival function `P(X > x)` for `X ~ χ²(df)`, any real `df > 0`.
/// Returns NaN for `df <= 0` or NaN input, 1 for `x <= 0`.
pub fn chi2_sf(x: f64, df: f64) -> f64 {
    if x.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    gamma_q(0.5 * df, 0.5 * x)
}

/// Regularized upper incomplete gamma `Q(a, x) = Γ(a, x) / Γ(a)` for `a > 0`.
///
/// Series for `P = 1 − Q` when `x < a + 1` (where `Q` is not small), continued fraction for
/// `Q` otherwise (where it converges fast and keeps relative accuracy in the tail).
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if x.is_nan() || a.is_nan() || a <= 0.0 {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 1.0;
    }
    if x == f64::INFINITY {
        return 0.0;
    }
    if x < a + 1.0 {
        1.0 - gamma_p_series(a, x)
    } else {
        gamma_q_continued_fraction(a, x)
    }
}

/// `ln(x^a e^{-x} / Γ(a))`, the prefactor shared by the series and the continued fraction.
fn ln_prefactor(a: f64, x: f64) -> f64 {
    a * x.ln() - x - libm::lgamma(a)
}

/// `P(a, x) = x^a e^{-x} / Γ(a) · Σ_{n≥0} x^n / (a (a+1) … (a+n))`.
fn gamma_p_series(a: f64, x: f64) -> f64 {
    let mut term = 1.0 / a;
    let mut sum = term;
    let mut denom = a;
    for _ in 0..MAX_ITER {
        denom += 1.0;
        term *= x / denom;
        sum += term;
        if term.abs() < sum.abs() * EPS {
            break;
        }
    }
    (sum * ln_prefactor(a, x).exp()).min(1.0)
}

/// `Q(a, x) = x^a e^{-x} / Γ(a) · 1 / (x + 1 − a − 1·(1−a) / (x + 3 − a − 2·(2−a) / (x + 5 − a − …)))`,
/// evaluated with the modified Lentz algorithm.
fn gamma_q_continued_fraction(a: f64, x: f64) -> f64 {
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / TINY;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..MAX_ITER {
        let i = i as f64;
        let an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if d.abs() < TINY {
            d = TINY;
        }
        c = b + an / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < EPS {
            break;
        }
    }
    (ln_prefactor(a, x).exp() * h).clamp(0.0, 1.0)
}

/// Bits of `√½`: [`ln_normal`] reduces its argument to `[√½, √2)`.
const SQRT_HALF_BITS: u64 = 0x3FE6_A09E_667F_3BCD;
/// `ln 2 = LN2_HI + LN2_LO`: the high part is `ln 2` with the low 32 mantissa bits cleared, so
/// `k · LN2_HI` is exact for every exponent `k` of a double; the low part is the rest, rounded
/// (both computed with 60-digit decimal arithmetic).
const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_0000_0000);
const LN2_LO: f64 = 4.749_325_039_031_672_6e-7;

/// Natural logarithm of a positive, normal, finite `x`, within a few units in the last place of
/// `f64::ln`, written as straight-line arithmetic so that a loop over a slice vectorises (no
/// call, no table, no branch).
///
/// `x = 2^k · m` with `m ∈ [√½, √2)`; then `ln m = 2 artanh(s)` with `s = (m − 1)/(m + 1)`,
/// `|s| < 0.172`, summed as the series `2s (1 + s²/3 + s⁴/5 + …)` up to `s²⁰/21` (the next term
/// is below 2⁻⁵⁶ relative), and `ln x = k ln 2 + ln m`. Outside its domain (zero, negative,
/// subnormal, infinite, NaN) the result is meaningless: callers guarantee the domain.
#[inline(always)]
pub fn ln_normal(x: f64) -> f64 {
    const ONE: u64 = 0x3FF0_0000_0000_0000;
    const MANTISSA: u64 = (1 << 52) - 1;
    // Shifting the bits by 1.0 − √½ moves the exponent boundary from 1 to √½: the exponent
    // field of `u` is then `k + 1023` and its mantissa field that of `m` shifted back.
    let u = x.to_bits().wrapping_add(ONE - SQRT_HALF_BITS);
    let m = f64::from_bits((u & MANTISSA) + SQRT_HALF_BITS);
    // `k` as a double without an integer conversion (vectorises without AVX-512):
    // 2^52 + e is exact for a biased exponent e < 2^11.
    let two52 = f64::from_bits(0x4330_0000_0000_0000);
    let k = f64::from_bits((u >> 52) | 0x4330_0000_0000_0000) - (two52 + 1023.0);
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let p = z
        * (1.0 / 3.0
            + z * (1.0 / 5.0
                + z * (1.0 / 7.0
                    + z * (1.0 / 9.0
                        + z * (1.0 / 11.0
                            + z * (1.0 / 13.0
                                + z * (1.0 / 15.0
                                    + z * (1.0 / 17.0 + z * (1.0 / 19.0 + z * (1.0 / 21.0))))))))));
    // 2s + 2s·p = f − s·(f − 2p·… ): keep the large part `f` exact, as f − s·f + 2s·p.
    let ln_m = f - s * (f - 2.0 * p);
    k * LN2_HI + (ln_m + k * LN2_LO)
}

/// Survival function of the Kolmogorov distribution, `Q(z) = P(K > z)` with
/// `K = sup |B(t)|` of a Brownian bridge: the limit law of `sqrt(n) · D_n`
/// (same function as `scipy.special.kolmogorov`).
///
/// For `z >= 1` the alternating series `2 Σ_{k≥1} (−1)^{k−1} e^{−2k²z²}`; below, the
/// complementary theta-function form `1 − sqrt(2π)/z Σ_{k≥1} e^{−(2k−1)²π²/(8z²)}`, both of
/// which converge in a handful of terms on their side of the switch.
pub fn kolmogorov_sf(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    if z <= 0.0 {
        return 1.0;
    }
    if z < 1.0 {
        let scale = -PI * PI / (8.0 * z * z);
        let mut sum = 0.0;
        for k in 1..=64u32 {
            let odd = f64::from(2 * k - 1);
            let term = (scale * odd * odd).exp();
            sum += term;
            if term <= sum * EPS {
                break;
            }
        }
        (1.0 - (2.0 * PI).sqrt() / z * sum).clamp(0.0, 1.0)
    } else {
        let mut sum = 0.0;
        let mut sign = 1.0;
        for k in 1..=64u32 {
            let k = f64::from(k);
            let term = (-2.0 * k * k * z * z).exp();
            sum += sign * term;
            if term <= sum.abs() * EPS {
                break;
            }
            sign = -sign;
        }
        (2.0 * sum).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rtol: f64) -> bool {
        (a - b).abs() <= rtol * b.abs().max(f64::MIN_POSITIVE)
    }

    #[test]
    fn normal_tails_match_reference_values() {
        // scipy.stats.norm.sf
        assert!(close(norm_sf(0.0), 0.5, 1e-15));
        assert!(close(norm_sf(1.959963984540054), 0.025, 1e-13));
        assert!(close(norm_sf(10.0), 7.61985302416047e-24, 1e-12));
        assert!(close(norm_cdf(-10.0), 7.61985302416047e-24, 1e-12));
        assert!(close(norm_cdf(1.0), 0.8413447460685429, 1e-14));
    }

    #[test]
    fn chi2_sf_matches_reference_values() {
        // scipy.stats.chi2.sf(x, df)
        let cases = [
            (3.841458820694124, 1.0, 0.04999999999999989),
            (1.0, 1.0, 0.31731050786291115),
            (0.5, 2.0, 0.7788007830714049),
            (10.0, 3.0, 0.01856613546304325),
            (100.0, 3.0, 1.5541594313896026e-21),
            (2.0, 10.0, 0.9963401531726563),
            (55.0, 50.0, 0.29101030065964806),
            (0.1, 0.5, 0.48344467916953426),
        ];
        for (x, df, want) in cases {
            let got = chi2_sf(x, df);
            assert!(close(got, want, 1e-11), "chi2_sf({x}, {df}) = {got}, want {want}");
        }
        assert_eq!(chi2_sf(0.0, 3.0), 1.0);
        assert_eq!(chi2_sf(f64::INFINITY, 3.0), 0.0);
        assert!(chi2_sf(1.0, 0.0).is_nan());
        // df = 2: closed form exp(-x/2).
        for x in [0.01, 0.7, 3.0, 25.0, 300.0] {
            assert!(close(chi2_sf(x, 2.0), (-x / 2.0).exp(), 1e-13));
        }
    }

    #[test]
    fn kolmogorov_matches_reference_values() {
        // scipy.special.kolmogorov
        let cases = [
            (0.2, 0.999999999999495),
            (0.5, 0.9639452436648751),
            (0.8, 0.5441424115741981),
            (1.0, 0.26999967167735456),
            (1.3580986393225507, 0.049999999999999975),
            (2.0, 0.0006709252557796953),
            (3.0, 3.045995948942526e-08),
        ];
        for (z, want) in cases {
            let got = kolmogorov_sf(z);
            assert!((got - want).abs() < 1e-12, "Q({z}) = {got}, want {want}");
        }
        assert_eq!(kolmogorov_sf(0.0), 1.0);
        assert_eq!(kolmogorov_sf(-1.0), 1.0);
        assert_eq!(kolmogorov_sf(40.0), 0.0);
    }

    /// Error of `ln_normal(x)` in units of the last place of the correctly rounded-ish `ln x`.
    fn ulps(x: f64) -> f64 {
        let want = x.ln();
        let got = ln_normal(x);
        let ulp = f64::from_bits(want.abs().max(f64::MIN_POSITIVE).to_bits() + 1) - want.abs();
        (got - want).abs() / ulp
    }

    #[test]
    fn ln_split_of_two_is_exact_enough() {
        assert_eq!(LN2_HI.to_bits() & 0xFFFF_FFFF, 0);
        assert_eq!(LN2_HI + LN2_LO, std::f64::consts::LN_2);
    }

    #[test]
    fn ln_normal_matches_std_ln() {
        assert_eq!(ln_normal(1.0), 0.0);
        for k in -1022..=1023 {
            let x = 2f64.powi(k);
            assert!(ulps(x) <= 1.0, "x = 2^{k}: {} vs {}", ln_normal(x), x.ln());
        }
        let specials = [f64::MIN_POSITIVE, f64::MAX, 1e-4, 1e4, 0.5, 2.0, std::f64::consts::SQRT_2];
        let near_one = (1..2000).flat_map(|i| {
            let d = f64::from(i) * 1e-5;
            [1.0 + d, 1.0 - d, 1.0 + d * 1e-8, 1.0 - d * 1e-8]
        });
        let mut worst = 0.0f64;
        let mut state = 1u64;
        let random = (0..200_000).map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            // log-uniform over [1e-6, 1e6] (PSI ratios lie in [1e-4, 1e4])
            10f64.powf((state >> 11) as f64 / (1u64 << 53) as f64 * 12.0 - 6.0)
        });
        for x in specials.into_iter().chain(near_one).chain(random) {
            let sqrt_half = f64::from_bits(SQRT_HALF_BITS);
            for y in [x, sqrt_half, sqrt_half * 2.0, f64::from_bits(SQRT_HALF_BITS - 1)] {
                worst = worst.max(ulps(y));
                // Absolute error: what the PSI sums feel.
                assert!(
                    (ln_normal(y) - y.ln()).abs() <= 4.0 * f64::EPSILON * y.ln().abs().max(0.5),
                    "x = {y}"
                );
            }
        }
        assert!(worst <= 1.0, "worst error {worst} ulps");
    }

    #[test]
    fn kolmogorov_is_continuous_at_the_switch() {
        let below = kolmogorov_sf(1.0 - 1e-12);
        let above = kolmogorov_sf(1.0);
        assert!((below - above).abs() < 1e-11);
    }
}
