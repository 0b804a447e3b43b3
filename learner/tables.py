"""Readable cells for the admin CLI's tables: times in UTC ISO 8601, durations, metrics that are
shortened at a field boundary, never mid-word.

>>> utc_iso(1_800_000_000.25)
'2027-01-15T08:00:00Z'
>>> duration(42.4), duration(3_725), duration(90_061)
('42s', '1h 2m 5s', '1d 1h 1m')
>>> metrics_cell({"accuracy": 0.91234567, "f1": 0.9, "name": "a long free text value"}, width=30)
'accuracy=0.9123 f1=0.9 …'
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["table", "utc_iso", "duration", "metrics_cell"]


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """Left-aligned columns, one header row and a rule."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def utc_iso(at: float) -> str:
    """Unix seconds as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def duration(seconds: float) -> str:
    """A duration as its two or three largest units (``42s``, ``1h 2m 5s``, ``1d 1h 1m``)."""
    left = int(round(max(0.0, seconds)))
    parts: list[str] = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, left = divmod(left, size)
        if count or (parts and len(parts) < 3):
            parts.append(f"{count}{unit}")
    parts = parts[:3]
    while len(parts) > 1 and parts[-1][0] == "0":
        parts.pop()
    return " ".join(parts) or "0s"


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def metrics_cell(metrics: Mapping[str, Any] | None, width: int = 60) -> str:
    """``key=value`` pairs in order, as many whole pairs as fit in ``width``; ``…`` when some
    were left out (``models show ID`` prints them all)."""
    pairs = [f"{k}={_scalar(v)}" for k, v in (metrics or {}).items()]
    shown: list[str] = []
    for i, pair in enumerate(pairs):
        rest = "" if i == len(pairs) - 1 else " …"
        if len(" ".join([*shown, pair])) + len(rest) > width:
            return " ".join([*shown, "…"])
        shown.append(pair)
    return " ".join(shown)
