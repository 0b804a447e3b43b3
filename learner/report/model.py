"""The weekly report's data: plain frozen dataclasses, validated, with a JSON form.

``learner report --format json`` prints ``WeeklyReportData.to_json()``; the HTML page is rendered
from the same object (``learner.report.render_html``). Times are epoch seconds (UTC).

>>> from learner.report import sample_report
>>> data = sample_report(seed=1)
>>> WeeklyReportData.from_json(data.to_json()) == data
True
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

from learner.events import EventKind

__all__ = [
    "ABDecision", "ABMethod", "ABResult", "EventKind", "FeatureDistribution", "FeatureDrift", "FieldF1",
    "ModelQuality", "TimelineEvent", "WeeklyReportData", "SCHEMA",
]

SCHEMA = "loopwise.report.v3"  # v3: features, per-field F1 timestamps, an event's previous model


class ABMethod(enum.Enum):
    """How the A/B result was computed."""

    MSPRT = "msprt"  # always-valid sequential test (what the learner decides with)
    ZTEST = "ztest"  # fixed-horizon two-proportion z-test (valid at one look only)


class ABDecision(enum.Enum):
    """What the A/B test concluded."""

    PROMOTE = "promote"
    KEEP_CHAMPION = "keep_champion"
    CONTINUE = "continue"
    BLOCKED_SRM = "blocked_srm"  # sample-ratio mismatch: no decision


def _finite(name: str, values: tuple[float, ...]) -> None:
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{name}: every value must be finite")


def _same_length(name: str, n: int, values: tuple[float, ...]) -> None:
    if len(values) != n:
        raise ValueError(f"{name}: {len(values)} values for {n} timestamps")


def _increasing(name: str, ts: tuple[float, ...]) -> None:
    _finite(name, ts)
    if any(b <= a for a, b in zip(ts, ts[1:])):
        raise ValueError(f"{name}: timestamps must increase")


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one feature over time: PSI and KS statistic of each window vs the baseline."""

    feature: str
    timestamps: tuple[float, ...]
    psi: tuple[float, ...]
    ks: tuple[float, ...]

    def __post_init__(self) -> None:
        _increasing(f"drift[{self.feature}].timestamps", self.timestamps)
        for name in ("psi", "ks"):
            values = getattr(self, name)
            _same_length(f"drift[{self.feature}].{name}", len(self.timestamps), values)
            _finite(f"drift[{self.feature}].{name}", values)
            if any(v < 0 for v in values):
                raise ValueError(f"drift[{self.feature}].{name}: must not be negative")


@dataclass(frozen=True)
class FieldF1:
    """F1 of one extraction field: one value per timestamp of its ``ModelQuality``, or per
    ``timestamps`` when given (a window without the field's F1 is left out)."""

    field: str
    values: tuple[float, ...]
    timestamps: tuple[float, ...] = ()


@dataclass(frozen=True)
class FeatureDistribution:
    """One feature over the period against the champion's reference data: shares per display
    bin (``edges`` has one more value), counts, missing values, estimated moments, drift."""

    feature: str
    edges: tuple[float, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]
    reference_count: int
    current_count: int
    reference_missing: int
    current_missing: int
    reference_mean: float
    current_mean: float
    reference_std: float
    current_std: float
    psi: float | None = None
    ks: float | None = None
    drifted: bool = False

    def __post_init__(self) -> None:
        key = f"features[{self.feature}]"
        _finite(f"{key}.edges", self.edges)
        if any(b < a for a, b in zip(self.edges, self.edges[1:])):
            raise ValueError(f"{key}.edges: must not decrease")
        for name in ("reference", "current"):
            values = getattr(self, name)
            _same_length(f"{key}.{name}", len(self.edges) - 1, values)
            _finite(f"{key}.{name}", values)
            if any(not 0.0 <= v <= 1.0 for v in values):
                raise ValueError(f"{key}.{name}: shares must lie in [0, 1]")
        if min(self.reference_count, self.current_count, self.reference_missing, self.current_missing) < 0:
            raise ValueError(f"{key}: counts must not be negative")
        _finite(key, (self.reference_mean, self.current_mean, self.reference_std, self.current_std))

    @property
    def current_missing_share(self) -> float:
        seen = self.current_count + self.current_missing
        return self.current_missing / seen if seen else 0.0


@dataclass(frozen=True)
class ModelQuality:
    """Accuracy and per-field F1 of one model version over time (ratios in [0, 1])."""

    model_id: str
    timestamps: tuple[float, ...]
    accuracy: tuple[float, ...]
    f1: tuple[FieldF1, ...] = ()

    def __post_init__(self) -> None:
        _increasing(f"quality[{self.model_id}].timestamps", self.timestamps)
        series = [("accuracy", self.accuracy, self.timestamps)] + [
            (f"f1.{f.field}", f.values, f.timestamps or self.timestamps) for f in self.f1]
        for name, values, timestamps in series:
            key = f"quality[{self.model_id}].{name}"
            _increasing(key, timestamps)
            _same_length(key, len(timestamps), values)
            _finite(key, values)
            if any(not 0.0 <= v <= 1.0 for v in values):
                raise ValueError(f"{key}: ratios must lie in [0, 1]")


@dataclass(frozen=True)
class ABResult:
    """A champion/challenger comparison: challenger minus champion accuracy, with its CI."""

    champion_id: str
    challenger_id: str
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    samples_champion: int
    samples_challenger: int
    method: ABMethod
    decision: ABDecision

    def __post_init__(self) -> None:
        key = f"ab[{self.champion_id} vs {self.challenger_id}]"
        _finite(key, (self.estimate, self.ci_low, self.ci_high, self.p_value))
        if not self.ci_low <= self.estimate <= self.ci_high:
            raise ValueError(f"{key}: need ci_low <= estimate <= ci_high")
        if not 0.0 <= self.p_value <= 1.0:
            raise ValueError(f"{key}: p_value must lie in [0, 1]")
        if self.samples_champion < 0 or self.samples_challenger < 0:
            raise ValueError(f"{key}: sample counts must not be negative")


@dataclass(frozen=True)
class TimelineEvent:
    """One promotion, rollback, retrain or drift alarm."""

    time: float
    kind: EventKind
    model_id: str
    reason: str
    #: a promotion's replaced champion, a rollback's rolled-back one ("" if none)
    previous_model_id: str = ""


@dataclass(frozen=True)
class WeeklyReportData:
    """Everything the weekly report shows, for one model type and one period."""

    model_type: str
    period_start: float
    period_end: float
    drift_threshold: float
    drift: tuple[FeatureDrift, ...] = ()
    quality: tuple[ModelQuality, ...] = ()
    ab_results: tuple[ABResult, ...] = ()
    events: tuple[TimelineEvent, ...] = ()
    features: tuple[FeatureDistribution, ...] = ()

    def __post_init__(self) -> None:
        _finite("period", (self.period_start, self.period_end, self.drift_threshold))
        if self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")
        if self.drift_threshold <= 0:
            raise ValueError("drift_threshold must be positive")
        _finite("events.time", tuple(e.time for e in self.events))

    def to_json(self, *, indent: int | None = 2) -> str:
        """The JSON form (strict JSON: no NaN), tagged with ``SCHEMA``."""
        body = {"schema": SCHEMA, **_encode(self)}
        return json.dumps(body, indent=indent, allow_nan=False, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> WeeklyReportData:
        """Parse ``to_json()`` output; unknown keys, kinds or schemas raise ``ValueError``."""
        raw = json.loads(text)
        if not isinstance(raw, dict) or raw.pop("schema", None) != SCHEMA:
            raise ValueError(f"not a {SCHEMA} document")
        result = _decode(cls, raw, "report")
        assert isinstance(result, cls)
        return result


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    return value


def _decode(hint: Any, raw: Any, where: str) -> Any:
    """Build ``hint`` (a dataclass, enum, tuple[X, ...] or scalar type) from parsed JSON."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):  # ``X | None``
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return None if raw is None else _decode(inner, raw, where)
    if origin is tuple:
        if not isinstance(raw, list):
            raise ValueError(f"{where}: expected a list")
        (item, _ellipsis) = typing.get_args(hint)
        return tuple(_decode(item, v, f"{where}[{i}]") for i, v in enumerate(raw))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: expected an object")
        hints = typing.get_type_hints(hint)
        names = {f.name for f in dataclasses.fields(hint)}
        unknown = sorted(set(raw) - names)
        if unknown:
            raise ValueError(f"{where}: unknown keys {unknown}")
        return hint(**{k: _decode(hints[k], v, f"{where}.{k}") for k, v in raw.items()})
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(raw)
        except ValueError:
            known = ", ".join(str(m.value) for m in hint)
            raise ValueError(f"{where}: unknown {hint.__name__} {raw!r} (known: {known})") from None
    if hint is float and isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    if hint in (int, str, bool) and type(raw) is hint:
        return raw
    raise ValueError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {raw!r}")
