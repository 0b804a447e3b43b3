//! Statistics: distribution distances (PSI, KS, Wasserstein-1, Jensen–Shannon), the pooled
//! z-test, the always-valid mSPRT and the sample-ratio-mismatch test.
//!
//! Arrays come in as borrowed numpy buffers (copied only when not contiguous); work on them
//! runs without the GIL; every core error goes through [`crate::errors`].

use std::borrow::Cow;

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use statcore_core::compare::{drift_report, Comparison, Histogram, JensenShannon, Ks, Psi, Wasserstein};
use statcore_core::proportions::{self, Alternative, DEFAULT_TAU};
use statcore_core::{CoreError, Result as CoreResult};

use crate::detach::without_gil;
use crate::errors::IntoPyResult;

// The literal default of `Msprt(tau=...)` below must stay the core's documented default.
const _: () = assert!(DEFAULT_TAU == 0.05);

/// Field formatting in `__repr__` as Python would print the value.
trait PyRepr {
    fn py_repr(&self) -> String;
}

impl PyRepr for f64 {
    fn py_repr(&self) -> String {
        format!("{self:?}")
    }
}

impl PyRepr for bool {
    fn py_repr(&self) -> String {
        if *self { "True" } else { "False" }.to_string()
    }
}

impl PyRepr for u64 {
    fn py_repr(&self) -> String {
        self.to_string()
    }
}

impl PyRepr for usize {
    fn py_repr(&self) -> String {
        self.to_string()
    }
}

/// A frozen result class with read-only fields, built from the core struct of the same shape,
/// and a `__repr__` listing the fields.
macro_rules! result_class {
    ($name:ident, $pyname:literal, $core:ty, { $($field:ident: $ty:ty),* $(,)? }) => {
        #[pyclass(frozen, get_all, module = "statcore._statcore", name = $pyname)]
        pub struct $name {
            $($field: $ty,)*
        }

        impl From<$core> for $name {
            fn from(r: $core) -> Self {
                $name { $($field: r.$field,)* }
            }
        }

        #[pymethods]
        impl $name {
            fn __repr__(&self) -> String {
                let fields: Vec<String> =
                    vec![$(format!("{}={}", stringify!($field), PyRepr::py_repr(&self.$field))),*];
                format!("{}({})", $pyname, fields.join(", "))
            }
        }
    };
}

result_class!(PyKsResult, "KsResult", statcore_core::compare::KsResult, {
    statistic: f64, bound: f64, pvalue: f64, n: f64, m: f64,
});
result_class!(PyDriftResult, "DriftResult", statcore_core::compare::DriftReport, {
    psi: f64, ks_statistic: f64, ks_bound: f64, ks_pvalue: f64, wasserstein: f64,
    jensen_shannon: f64, n_edges: usize, baseline_nan: u64, current_nan: u64,
});
result_class!(PyZTestResult, "ZTestResult", proportions::ZTestResult, {
    statistic: f64, pvalue: f64,
});
result_class!(PyMsprtResult, "MsprtResult", proportions::MsprtResult, {
    estimate: f64, pvalue: f64, ci_low: f64, ci_high: f64, rejected: bool,
});
result_class!(PySrmResult, "SrmResult", proportions::SrmResult, {
    statistic: f64, pvalue: f64,
});

/// The array's buffer, borrowed when contiguous.
fn buffer<'a, T: numpy::Element + Copy>(a: &'a PyReadonlyArray1<'_, T>) -> Cow<'a, [T]> {
    match a.as_slice() {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(a.as_array().to_vec()),
    }
}

/// A non-negative integer from Python; negative values are bad input, not an overflow.
fn count(field: &str, v: i64) -> CoreResult<u64> {
    u64::try_from(v).map_err(|_| CoreError::invalid(field, format!("{v} is negative")))
}

fn counts(field: &str, v: &[i64]) -> CoreResult<Vec<u64>> {
    v.iter().map(|&x| count(field, x)).collect()
}

/// Runs a counts-only comparison without the GIL.
fn compare_counts<C: Comparison>(
    py: Python<'_>,
    reference_counts: &PyReadonlyArray1<'_, f64>,
    current_counts: &PyReadonlyArray1<'_, f64>,
) -> PyResult<C::Output>
where
    C::Output: Send,
{
    let (r, c) = (buffer(reference_counts), buffer(current_counts));
    without_gil(py, || C::compare(&Histogram::from_counts(&r), &Histogram::from_counts(&c))).py()
}

/// Population Stability Index of two count vectors over the same slots (underflow, bins,
/// overflow): ``sum((a - e) * ln(a / e))`` with ``e``, ``a`` the reference and current
/// proportions.
///
/// Empty-slot rule: every proportion is floored at 1e-4 (``max(p, 1e-4)``) before the sum, so a
/// slot empty on both sides contributes 0 and one empty on a single side a finite amount.
///
/// >>> import numpy as np
/// >>> round(psi(np.array([20.0, 30.0, 50.0]), np.array([25.0, 25.0, 50.0])), 6)
/// 0.020273
#[pyfunction]
fn psi(
    py: Python<'_>,
    reference_counts: PyReadonlyArray1<'_, f64>,
    current_counts: PyReadonlyArray1<'_, f64>,
) -> PyResult<f64> {
    compare_counts::<Psi>(py, &reference_counts, &current_counts)
}

/// Two-sample Kolmogorov-Smirnov statistic from binned counts: ``statistic`` is the largest
/// CDF difference at the edges, ``statistic + bound`` an upper bound on the raw-sample
/// statistic, ``pvalue`` the asymptotic ``kolmogorov(sqrt(n*m/(n+m)) * statistic)``.
///
/// >>> import numpy as np
/// >>> ks(np.array([5.0, 0.0]), np.array([0.0, 5.0])).statistic
/// 1.0
#[pyfunction]
fn ks(
    py: Python<'_>,
    reference_counts: PyReadonlyArray1<'_, f64>,
    current_counts: PyReadonlyArray1<'_, f64>,
) -> PyResult<PyKsResult> {
    compare_counts::<Ks>(py, &reference_counts, &current_counts).map(Into::into)
}

/// Jensen-Shannon distance (base 2, in [0, 1]) between two count vectors, as
/// ``scipy.spatial.distance.jensenshannon(p, q, base=2)``.
///
/// >>> import numpy as np
/// >>> jensen_shannon(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
/// 1.0
#[pyfunction]
fn jensen_shannon(
    py: Python<'_>,
    reference_counts: PyReadonlyArray1<'_, f64>,
    current_counts: PyReadonlyArray1<'_, f64>,
) -> PyResult<f64> {
    compare_counts::<JensenShannon>(py, &reference_counts, &current_counts)
}

/// Wasserstein-1 distance between two histograms over ``edges`` (``len(edges) + 1`` slots),
/// with mass uniform inside each interior bin and underflow/overflow mass placed on the
/// outermost edges.
///
/// >>> import numpy as np
/// >>> wasserstein(np.array([0.0, 1.0, 2.0]), np.array([0.0, 4.0, 0.0, 0.0]), np.array([0.0, 0.0, 4.0, 0.0]))
/// 1.0
#[pyfunction]
fn wasserstein(
    py: Python<'_>,
    edges: PyReadonlyArray1<'_, f64>,
    reference_counts: PyReadonlyArray1<'_, f64>,
    current_counts: PyReadonlyArray1<'_, f64>,
) -> PyResult<f64> {
    let (e, r, c) = (buffer(&edges), buffer(&reference_counts), buffer(&current_counts));
    without_gil(py, || Wasserstein::compare(&Histogram::new(&e, &r), &Histogram::new(&e, &c))).py()
}

/// Bins ``baseline`` and ``current`` on ``bins`` quantile edges of the baseline (NaN skipped
/// and counted) and returns PSI, KS (statistic, bound, p-value), Wasserstein-1 and
/// Jensen-Shannon.
///
/// >>> import numpy as np
/// >>> x = np.linspace(0.0, 1.0, 1001)
/// >>> compare_raw(x, x, bins=16).psi
/// 0.0
#[pyfunction]
#[pyo3(signature = (baseline, current, bins = 1024))]
fn compare_raw(
    py: Python<'_>,
    baseline: PyReadonlyArray1<'_, f64>,
    current: PyReadonlyArray1<'_, f64>,
    bins: i64,
) -> PyResult<PyDriftResult> {
    let bins = usize::try_from(count("bins", bins).py()?)
        .map_err(|_| CoreError::invalid("bins", "too large"))
        .py()?;
    let (b, c) = (buffer(&baseline), buffer(&current));
    without_gil(py, || drift_report(&b, &c, bins)).py().map(Into::into)
}

/// Pooled two-proportion z-test of ``p_a == p_b`` (as statsmodels' ``proportions_ztest``);
/// ``alternative`` is ``"two-sided"``, ``"larger"`` (p_a > p_b) or ``"smaller"``. When both
/// arms are all successes or all failures the result is ``statistic=0, pvalue=1``.
///
/// >>> r = ztest_two_proportions(850, 1000, 880, 1000)
/// >>> round(r.statistic, 4), round(r.pvalue, 4)
/// (-1.963, 0.0496)
#[pyfunction]
#[pyo3(signature = (count_a, nobs_a, count_b, nobs_b, alternative = "two-sided"))]
fn ztest_two_proportions(
    count_a: i64,
    nobs_a: i64,
    count_b: i64,
    nobs_b: i64,
    alternative: &str,
) -> PyResult<PyZTestResult> {
    let alternative: Alternative = alternative.parse().py()?;
    proportions::ztest_two_proportions(
        count("count_a", count_a).py()?,
        count("nobs_a", nobs_a).py()?,
        count("count_b", count_b).py()?,
        count("nobs_b", nobs_b).py()?,
        alternative,
    )
    .py()
    .map(Into::into)
}

/// Sample-ratio-mismatch chi-square test of the counts per arm against the expected shares
/// (normalised), as ``scipy.stats.chisquare(observed, f_exp)``.
///
/// >>> r = srm([5050, 4950], [0.5, 0.5])
/// >>> r.statistic, round(r.pvalue, 4)
/// (1.0, 0.3173)
#[pyfunction]
fn srm(observed: Vec<i64>, expected_shares: Vec<f64>) -> PyResult<PySrmResult> {
    let observed = counts("observed", &observed).py()?;
    proportions::srm(&observed, &expected_shares).py().map(Into::into)
}

/// Always-valid sequential test of ``p_b - p_a = 0`` (normal-mixture mSPRT, Johari et al. 2017).
///
/// Feed cumulative counts at each look; the p-value is the running minimum of ``1 / Lambda``
/// and the interval the running intersection of ``{theta0 : Lambda(theta0) < 1 / alpha}``, so
/// stopping at any look keeps the error rate at most ``alpha``. ``tau`` (default 0.05) is the
/// standard deviation of the mixing distribution over effect sizes: choose it near the effect
/// worth detecting (5 percentage points for accuracy-like metrics).
///
/// >>> t = Msprt(alpha=0.05)
/// >>> t.update(800, 1000, 900, 1000).rejected
/// True
#[pyclass(module = "statcore._statcore", name = "Msprt")]
pub struct PyMsprt {
    inner: proportions::Msprt,
}

#[pymethods]
impl PyMsprt {
    #[new]
    #[pyo3(signature = (alpha = 0.05, tau = 0.05))] // literal so that `__text_signature__` shows it
    fn new(alpha: f64, tau: f64) -> PyResult<Self> {
        Ok(PyMsprt { inner: proportions::Msprt::try_new(alpha, tau).py()? })
    }

    #[getter]
    fn alpha(&self) -> f64 {
        self.inner.alpha()
    }

    #[getter]
    fn tau(&self) -> f64 {
        self.inner.tau()
    }

    #[getter]
    fn looks(&self) -> u64 {
        self.inner.looks()
    }

    fn update(&mut self, count_a: i64, nobs_a: i64, count_b: i64, nobs_b: i64) -> PyResult<PyMsprtResult> {
        self.inner
            .update(
                count("count_a", count_a).py()?,
                count("nobs_a", nobs_a).py()?,
                count("count_b", count_b).py()?,
                count("nobs_b", nobs_b).py()?,
            )
            .py()
            .map(Into::into)
    }

    /// One look per element of the (cumulative) count arrays; returns the running p-values.
    fn update_many<'py>(
        &mut self,
        py: Python<'py>,
        count_a: PyReadonlyArray1<'py, i64>,
        nobs_a: PyReadonlyArray1<'py, i64>,
        count_b: PyReadonlyArray1<'py, i64>,
        nobs_b: PyReadonlyArray1<'py, i64>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let ca = counts("count_a", &buffer(&count_a)).py()?;
        let na = counts("nobs_a", &buffer(&nobs_a)).py()?;
        let cb = counts("count_b", &buffer(&count_b)).py()?;
        let nb = counts("nobs_b", &buffer(&nobs_b)).py()?;
        let inner = &mut self.inner;
        let results = without_gil(py, || inner.update_many(&ca, &na, &cb, &nb)).py()?;
        Ok(PyArray1::from_vec(py, results.iter().map(|r| r.pvalue).collect()))
    }

    fn __repr__(&self) -> String {
        format!(
            "Msprt(alpha={:?}, tau={:?}, looks={})",
            self.inner.alpha(),
            self.inner.tau(),
            self.inner.looks()
        )
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyKsResult>()?;
    m.add_class::<PyDriftResult>()?;
    m.add_class::<PyZTestResult>()?;
    m.add_class::<PyMsprtResult>()?;
    m.add_class::<PySrmResult>()?;
    m.add_class::<PyMsprt>()?;
    m.add_function(wrap_pyfunction!(psi, m)?)?;
    m.add_function(wrap_pyfunction!(ks, m)?)?;
    m.add_function(wrap_pyfunction!(jensen_shannon, m)?)?;
    m.add_function(wrap_pyfunction!(wasserstein, m)?)?;
    m.add_function(wrap_pyfunction!(compare_raw, m)?)?;
    m.add_function(wrap_pyfunction!(ztest_two_proportions, m)?)?;
    m.add_function(wrap_pyfunction!(srm, m)?)?;
    Ok(())
}
