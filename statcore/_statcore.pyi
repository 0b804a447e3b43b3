"""Type stubs for the compiled ``statcore._statcore`` module (checked with mypy.stubtest)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__version__: str

# ---- routing (routing.rs) ----

# ---- aggregates (aggregate.rs) ----

# ---- statistics (stats.rs) ----

from collections.abc import Sequence
from typing import Literal, final

@final
class KsResult:
    @property
    def statistic(self) -> float: ...
    @property
    def bound(self) -> float: ...
    @property
    def pvalue(self) -> float: ...
    @property
    def n(self) -> float: ...
    @property
    def m(self) -> float: ...

@final
class DriftResult:
    @property
    def psi(self) -> float: ...
    @property
    def ks_statistic(self) -> float: ...
    @property
    def ks_bound(self) -> float: ...
    @property
    def ks_pvalue(self) -> float: ...
    @property
    def wasserstein(self) -> float: ...
    @property
    def jensen_shannon(self) -> float: ...
    @property
    def n_edges(self) -> int: ...
    @property
    def baseline_nan(self) -> int: ...
    @property
    def current_nan(self) -> int: ...

@final
class ZTestResult:
    @property
    def statistic(self) -> float: ...
    @property
    def pvalue(self) -> float: ...

@final
class MsprtResult:
    @property
    def estimate(self) -> float: ...
    @property
    def pvalue(self) -> float: ...
    @property
    def ci_low(self) -> float: ...
    @property
    def ci_high(self) -> float: ...
    @property
    def rejected(self) -> bool: ...

@final
class SrmResult:
    @property
    def statistic(self) -> float: ...
    @property
    def pvalue(self) -> float: ...

@final
class Msprt:
    def __new__(cls, alpha: float = 0.05, tau: float = 0.05) -> Msprt: ...
    @property
    def alpha(self) -> float: ...
    @property
    def tau(self) -> float: ...
    @property
    def looks(self) -> int: ...
    def update(self, count_a: int, nobs_a: int, count_b: int, nobs_b: int) -> MsprtResult: ...
    def update_many(
        self,
        count_a: NDArray[np.int64],
        nobs_a: NDArray[np.int64],
        count_b: NDArray[np.int64],
        nobs_b: NDArray[np.int64],
    ) -> NDArray[np.float64]: ...

def psi(reference_counts: NDArray[np.float64], current_counts: NDArray[np.float64]) -> float: ...
def ks(reference_counts: NDArray[np.float64], current_counts: NDArray[np.float64]) -> KsResult: ...
def jensen_shannon(
    reference_counts: NDArray[np.float64], current_counts: NDArray[np.float64]
) -> float: ...
def wasserstein(
    edges: NDArray[np.float64],
    reference_counts: NDArray[np.float64],
    current_counts: NDArray[np.float64],
) -> float: ...
def compare_raw(
    baseline: NDArray[np.float64], current: NDArray[np.float64], bins: int = 1024
) -> DriftResult: ...
def ztest_two_proportions(
    count_a: int,
    nobs_a: int,
    count_b: int,
    nobs_b: int,
    alternative: Literal["two-sided", "larger", "smaller"] = "two-sided",
) -> ZTestResult: ...
def srm(
    observed: Sequence[int] | NDArray[np.int64],
    expected_shares: Sequence[float] | NDArray[np.float64],
) -> SrmResult: ...

# ---- store (store.rs) ----
