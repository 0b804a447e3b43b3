"""statcore: Loopwise's streaming statistics core (compiled Rust, see ``statcore/core``).

Routing (``Router``, ``RoutingTable``, ``Route``, ``bucket``), mergeable window aggregates
(``Layout``, ``Aggregate``, ``feature_drift``), statistics (``psi``, ``ks``, ``wasserstein``,
``jensen_shannon``, ``compare_raw``, ``ztest_two_proportions``, ``Msprt``, ``srm``) and the
LMDB store (``Store``, ``Sample``). Every error is a ``StatcoreError``; bad input is also a
``ValueError``.
"""

from statcore import _statcore
from statcore._statcore import (
    BUCKETS,
    Aggregate,
    Arm,
    DriftResult,
    FeatureDrift,
    FeatureKind,
    KsResult,
    Layout,
    Msprt,
    MsprtResult,
    Route,
    Router,
    RoutingTable,
    RecordBatch,
    Sample,
    SrmResult,
    Store,
    ZTestResult,
    bucket,
    compare_raw,
    feature_drift,
    jensen_shannon,
    ks,
    psi,
    srm,
    wasserstein,
    ztest_two_proportions,
)
from statcore.errors import (
    BatchRejectedError,
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

__version__: str = _statcore.__version__

__all__ = [
    "BUCKETS",
    "Aggregate",
    "Arm",
    "BatchRejectedError",
    "CodecError",
    "DriftResult",
    "FeatureDrift",
    "FeatureKind",
    "IncompatibleError",
    "InvalidInputError",
    "KsResult",
    "Layout",
    "Msprt",
    "MsprtResult",
    "NotFoundError",
    "RecordBatch",
    "Route",
    "Router",
    "RoutingTable",
    "Sample",
    "SrmResult",
    "StaleGenerationError",
    "StatcoreError",
    "Store",
    "StoreError",
    "StoreFullError",
    "UnknownModelTypeError",
    "ZTestResult",
    "bucket",
    "compare_raw",
    "feature_drift",
    "jensen_shannon",
    "ks",
    "psi",
    "srm",
    "wasserstein",
    "ztest_two_proportions",
]
