"""Type stubs for the compiled ``statcore._statcore`` module (checked with mypy.stubtest)."""

from __future__ import annotations

import os
import pathlib
import types
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

__version__: str

# ---- routing (routing.rs) ----

# ---- aggregates (aggregate.rs) ----

# ---- statistics (stats.rs) ----

# ---- store (store.rs) ----

from typing import final  # noqa: E402

@final
class Sample:
    """One record of the durable sample log; ``seq`` is 0 until a store assigns one."""

    def __new__(
        cls,
        *,
        request_id: str,
        ts_ms: int,
        prediction: bytes,
        confidence: float,
        payload: bytes = ...,
        model_type: str = ...,
        model_id: str = ...,
        document_id: str = ...,
        label: bytes | None = None,
        human_correction: bool = False,
    ) -> Sample: ...
    @property
    def seq(self) -> int: ...
    @property
    def ts_ms(self) -> int: ...
    @property
    def model_type(self) -> str: ...
    @property
    def model_id(self) -> str: ...
    @property
    def request_id(self) -> str: ...
    @property
    def document_id(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def prediction(self) -> bytes: ...
    @property
    def confidence(self) -> float: ...
    @property
    def label(self) -> bytes | None: ...
    @property
    def human_correction(self) -> bool: ...

@final
class Store:
    """An LMDB-backed store (one directory): routing blob, aggregate windows, sample log."""

    def __new__(
        cls,
        path: str | os.PathLike[str],
        *,
        map_size: int = 67108864,
        max_map_size: int = 17179869184,
        max_samples: int = 1000000,
        max_age_ms: int | None = None,
    ) -> Store: ...
    @property
    def path(self) -> pathlib.Path: ...
    def append(self, samples: Sequence[Sample]) -> list[int]: ...
    def flush(self, now_ms: int) -> None: ...
    def append_and_flush(self, samples: Sequence[Sample], now_ms: int) -> list[int]: ...
    def attach_label(
        self, request_id: str, label: bytes, human_correction: bool, ts_ms: int
    ) -> int: ...
    def pull(self, after_seq: int, limit: int) -> list[Sample]: ...
    def ack(self, seq: int) -> None: ...
    def cursor(self) -> int: ...
    def put_routing(self, generation: int, blob: bytes) -> None: ...
    def get_routing(self) -> tuple[int, bytes] | None: ...
    def put_window(
        self, model_type: str, model_id: str, window_start_ms: int, data: bytes
    ) -> None: ...
    def get_window(self, model_type: str, model_id: str, window_start_ms: int) -> bytes | None: ...
    def windows_since(self, since_ms: int) -> list[tuple[str, str, int, bytes]]: ...
    def delete_windows_before(self, before_ms: int) -> int: ...
    def stats(self) -> dict[str, int]: ...
    def close(self) -> None: ...
    def __enter__(self) -> Store: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> bool: ...
