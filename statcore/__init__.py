"""statcore: Loopwise's streaming statistics core (compiled Rust, see ``statcore/core``)."""

from statcore import _statcore
from statcore.errors import (
    CodecError,
    IncompatibleError,
    InvalidInputError,
    NotFoundError,
    StaleGenerationError,
    StatcoreError,
    StoreError,
    StoreFullError,
    UnknownModelTypeError,
)
from statcore._statcore import Sample, Store

from statcore._statcore import (
    DriftResult,
    KsResult,
    Msprt,
    MsprtResult,
    SrmResult,
    ZTestResult,
    compare_raw,
    jensen_shannon,
    ks,
    psi,
    srm,
    wasserstein,
    ztest_two_proportions,
)

__version__: str = _statcore.__version__

__all__ = [
    "CodecError",
    "IncompatibleError",
    "InvalidInputError",
    "NotFoundError",
    "Sample",
    "StaleGenerationError",
    "StatcoreError",
    "Store",
    "StoreError",
    "StoreFullError",
    "UnknownModelTypeError",
    "DriftResult",
    "KsResult",
    "Msprt",
    "MsprtResult",
    "SrmResult",
    "ZTestResult",
    "compare_raw",
    "jensen_shannon",
    "ks",
    "psi",
    "srm",
    "wasserstein",
    "ztest_two_proportions",
]
