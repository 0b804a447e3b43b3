"""Chart primitives as inline SVG strings: line chart, interval (CI) chart, event timeline.

Pure functions of their arguments; every piece of text is escaped. Each chart is an
``<svg role="img">`` with an ``aria-label`` and a ``<title>``, scaled by its ``viewBox``.

>>> svg = line_chart("PSI", [Series("a<b", (0.0, 1.0), (0.1, 0.3))], x_ticks=[(0.0, "Mon")])
>>> svg.startswith("<svg") and "a&lt;b" in svg and "<script" not in svg
True
"""

from __future__ import annotations

import html
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["PALETTE", "Series", "Interval", "Mark", "Bars", "nice_ticks", "format_tick", "line_chart",
           "interval_chart", "timeline_chart", "histogram_chart"]

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#444444")
WIDTH = 720
FONT = 12
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 60, 30, 56, 44


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _n(v: float) -> str:
    """A coordinate, short."""
    return f"{v:.1f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Series:
    """One line: ``name`` in the legend, points ``(xs[i], ys[i])``."""

    name: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    color: str = PALETTE[0]
    dashed: bool = False


@dataclass(frozen=True)
class Interval:
    """One row of an interval chart: a point estimate and its interval."""

    label: str
    estimate: float
    low: float
    high: float
    note: str = ""
    color: str = PALETTE[0]


@dataclass(frozen=True)
class Mark:
    """One event on a timeline: at ``time`` in lane ``lane``; ``tooltip`` shows on hover."""

    time: float
    lane: str
    tooltip: str
    color: str = PALETTE[0]


@dataclass(frozen=True)
class Bars:
    """One distribution of a histogram chart: a share per bin."""

    name: str
    shares: tuple[float, ...]
    color: str = PALETTE[0]


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[lo, hi]`` (steps of 1, 2 or 5 times a power of ten).

    >>> nice_ticks(0.0, 0.43)
    [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    """
    if not hi > lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(1, count)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    return [round(i * step, 12) for i in range(first, last + 1)]


def format_tick(value: float, ticks: Sequence[float]) -> str:
    """``value`` with as many decimals as the tick step needs (``0.25`` not ``0.250000001``)."""
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0
    return f"{value:.{decimals}f}".replace("-", "\u2212")


class _Frame:
    """Maps data coordinates to the plot area of a chart of ``size`` (width, height) pixels."""

    def __init__(self, size: tuple[int, int], x_range: tuple[float, float],
                 y_range: tuple[float, float], left: int = _MARGIN_LEFT,
                 top: int = _MARGIN_TOP) -> None:
        self.width, height = size
        self.left, self.top = left, top
        self.right, self.bottom = self.width - _MARGIN_RIGHT, height - _MARGIN_BOTTOM
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range

    def x(self, v: float) -> float:
        return self.left + (v - self.x0) / ((self.x1 - self.x0) or 1.0) * (self.right - self.left)

    def y(self, v: float) -> float:
        return self.bottom - (v - self.y0) / ((self.y1 - self.y0) or 1.0) * (self.bottom - self.top)


def _open(title: str, size: tuple[int, int], description: str) -> list[str]:
    return [
        f'<svg viewBox="0 0 {size[0]} {size[1]}" role="img" '
        f'class="chart" aria-label="{_e(title)}" font-size="{FONT}">',
        f"<title>{_e(title)}</title>",
        f"<desc>{_e(description)}</desc>",
        f'<text x="{_MARGIN_LEFT}" y="20" class="chart-title" font-weight="600" '
        f'font-size="{FONT + 2}">{_e(title)}</text>',
    ]


def _legend_rows(entries: Sequence[tuple[str, str, bool]], width: int) -> int:
    """How many rows ``_legend`` takes (the same wrapping)."""
    rows, x = 1, float(_MARGIN_LEFT)
    for label, _, _ in entries:
        item = 34 + 7 * len(label)
        if x + item > width - _MARGIN_RIGHT and x > _MARGIN_LEFT:
            rows, x = rows + 1, float(_MARGIN_LEFT)
        x += item
    return rows


def _legend(entries: Sequence[tuple[str, str, bool]], width: int, y: float = 38) -> list[str]:
    """Swatches in a row: ``(label, color, dashed)``; wraps onto more rows."""
    out, x = ['<g class="legend">'], float(_MARGIN_LEFT)
    for label, color, dashed in entries:
        item = 34 + 7 * len(label)
        if x + item > width - _MARGIN_RIGHT and x > _MARGIN_LEFT:
            x, y = float(_MARGIN_LEFT), y + 16
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        out.append(f'<line x1="{_n(x)}" y1="{_n(y - 4)}" x2="{_n(x + 22)}" y2="{_n(y - 4)}" '
                   f'stroke="{color}" stroke-width="2.5"{dash}/>')
        out.append(f'<text x="{_n(x + 27)}" y="{_n(y)}">{_e(label)}</text>')
        x += item
    out.append("</g>")
    return out


def _axes(f: _Frame, x_ticks: Sequence[tuple[float, str]], y_ticks: Sequence[float],
          x_label: str, y_label: str) -> list[str]:
    out = ['<g class="axes" stroke="#d0d4da">']
    for v in y_ticks:
        y = _n(f.y(v))
        out.append(f'<line x1="{f.left}" y1="{y}" x2="{f.right}" y2="{y}"/>')
    for v, _label in x_ticks:
        x = _n(f.x(v))
        out.append(f'<line x1="{x}" y1="{f.top}" x2="{x}" y2="{f.bottom}" stroke-dasharray="2 3"/>')
    out.append(f'<line x1="{f.left}" y1="{f.bottom}" x2="{f.right}" y2="{f.bottom}" '
               'stroke="#6b7280"/></g>')
    out.append('<g class="ticks" fill="#374151">')
    for v in y_ticks:
        out.append(f'<text x="{f.left - 6}" y="{_n(f.y(v) + 4)}" text-anchor="end">'
                   f"{_e(format_tick(v, y_ticks))}</text>")
    for v, label in x_ticks:
        out.append(f'<text x="{_n(f.x(v))}" y="{f.bottom + 16}" text-anchor="middle">'
                   f"{_e(label)}</text>")
    out.append("</g>")
    if x_label:
        out.append(f'<text x="{_n((f.left + f.right) / 2)}" y="{f.bottom + 34}" '
                   f'text-anchor="middle" class="axis-label">{_e(x_label)}</text>')
    if y_label:
        cy = _n((f.top + f.bottom) / 2)
        out.append(f'<text x="14" y="{cy}" text-anchor="middle" class="axis-label" '
                   f'transform="rotate(-90 14 {cy})">{_e(y_label)}</text>')
    return out


def _runs(xs: Sequence[float], ys: Sequence[float]) -> list[list[tuple[float, float]]]:
    """Points split where a gap is over 2.5 times the usual spacing (the model did not serve)."""
    if len(xs) < 3:
        return [list(zip(xs, ys))] if xs else []
    usual = statistics.median(b - a for a, b in zip(xs, xs[1:]))
    runs: list[list[tuple[float, float]]] = [[(xs[0], ys[0])]]
    for (a, _), (b, y) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        if b - a > 2.5 * usual:
            runs.append([])
        runs[-1].append((b, y))
    return runs


def line_chart(title: str, series: Sequence[Series], *, x_ticks: Sequence[tuple[float, str]],
               x_range: tuple[float, float] | None = None,
               y_range: tuple[float, float] | None = None,
               thresholds: Sequence[tuple[float, str]] = (), x_label: str = "",
               y_label: str = "", description: str = "", size: tuple[int, int] = (WIDTH, 280),
               markers: Sequence[Mark] = (),
               ) -> str:
    """Lines over a shared x axis, with optional horizontal threshold lines (dashed, named in
    the legend: a label inside the plot would cross the lines) and event markers (vertical
    lines with a hover title, one legend entry per kind)."""
    xs = [x for s in series for x in s.xs] or [0.0, 1.0]
    ys = [y for s in series for y in s.ys] + [t for t, _ in thresholds] or [0.0, 1.0]
    x0, x1 = x_range or (min(xs), max(xs))
    y_ticks = nice_ticks(*(y_range or (min(0.0, min(ys)), max(ys))))
    legend = [(s.name, s.color, s.dashed) for s in series]
    legend += [(label, "#b91c1c", True) for _, label in thresholds]
    legend += list({(m.lane, m.color, True): None for m in markers if x0 <= m.time <= x1})
    # a legend of more than two rows pushes the plot down rather than overlapping it
    top = _MARGIN_TOP + 16 * max(0, _legend_rows(legend, size[0]) - 2)
    f = _Frame(size, (x0, x1), (y_ticks[0], y_ticks[-1]), top=top)
    out = _open(title, size, description or title)
    out += _axes(f, [(v, lab) for v, lab in x_ticks if x0 <= v <= x1], y_ticks, x_label, y_label)
    for value, label in thresholds:
        y = _n(f.y(value))
        out.append(f'<g class="threshold"><title>{_e(label)}</title>'
                   f'<line x1="{f.left}" y1="{y}" x2="{f.right}" y2="{y}" '
                   'stroke="#b91c1c" stroke-width="1.5" stroke-dasharray="6 4"/></g>')
    for m in markers:
        if not x0 <= m.time <= x1:
            continue
        x = _n(f.x(m.time))
        out.append(f'<g class="marker"><title>{_e(m.tooltip)}</title>'
                   f'<line x1="{x}" y1="{f.top}" x2="{x}" y2="{f.bottom}" stroke="{m.color}" '
                   'stroke-width="1.5" stroke-dasharray="2 2"/>'
                   f'<circle cx="{x}" cy="{f.top}" r="4" fill="{m.color}"/></g>')
    for s in series:
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        for run in _runs(s.xs, s.ys):
            points = " ".join(f"{_n(f.x(x))},{_n(f.y(y))}" for x, y in run)
            out.append(f'<polyline class="series" fill="none" stroke="{s.color}" '
                       f'stroke-width="2" stroke-linejoin="round"{dash} points="{points}">'
                       f"<title>{_e(s.name)}</title></polyline>")
    out += _legend(legend, size[0])
    out.append("</svg>")
    return "\n".join(out)


def interval_chart(title: str, rows: Sequence[Interval], *, x_label: str,
                   description: str = "", width: int = WIDTH) -> str:
    """One row per estimate: a point, its interval and a vertical zero line."""
    label_width = 20 + 7 * max([len(r.label) for r in rows] + [10])
    size = (width, _MARGIN_TOP + 36 * max(1, len(rows)) + _MARGIN_BOTTOM)
    lo = min([0.0] + [r.low for r in rows])
    hi = max([0.0] + [r.high for r in rows])
    ticks = nice_ticks(lo, hi, 6)
    f = _Frame(size, (ticks[0], ticks[-1]), (0.0, 1.0), left=label_width, top=_MARGIN_TOP)
    out = _open(title, size, description or title)
    out += _axes(f, [(t, format_tick(t, ticks)) for t in ticks], [], x_label, "")
    zero = _n(f.x(0.0))
    out.append(f'<line class="zero" x1="{zero}" y1="{f.top - 8}" x2="{zero}" y2="{f.bottom}" '
               'stroke="#111827" stroke-width="1.5"/>')
    for i, r in enumerate(rows):
        y = f.top + 18 + 36 * i
        x_lo, x_hi, x_est = _n(f.x(r.low)), _n(f.x(r.high)), _n(f.x(r.estimate))
        out.append(f'<g class="interval"><title>{_e(r.label)}: {_e(r.note)}</title>'
                   f'<text x="{label_width - 10}" y="{y + 4}" text-anchor="end">{_e(r.label)}</text>'
                   f'<line x1="{x_lo}" y1="{y}" x2="{x_hi}" y2="{y}" stroke="{r.color}" '
                   'stroke-width="3"/>'
                   f'<line x1="{x_lo}" y1="{y - 7}" x2="{x_lo}" y2="{y + 7}" stroke="{r.color}" '
                   'stroke-width="2"/>'
                   f'<line x1="{x_hi}" y1="{y - 7}" x2="{x_hi}" y2="{y + 7}" stroke="{r.color}" '
                   'stroke-width="2"/>'
                   f'<circle cx="{x_est}" cy="{y}" r="5.5" fill="{r.color}" stroke="#fff"/></g>')
    out.append(f'<text x="{zero}" y="{f.top - 12}" text-anchor="middle" fill="#111827">'
               "no difference</text>")
    out.append("</svg>")
    return "\n".join(out)


_SHAPES = ("circle", "diamond", "triangle", "square")


def _marker(shape: str, x: float, y: float, color: str) -> str:
    if shape == "circle":
        return f'<circle cx="{_n(x)}" cy="{_n(y)}" r="7" fill="{color}" stroke="#fff"/>'
    if shape == "square":
        return (f'<rect x="{_n(x - 6)}" y="{_n(y - 6)}" width="12" height="12" fill="{color}" '
                'stroke="#fff"/>')
    pts = ([(x, y - 8), (x + 8, y), (x, y + 8), (x - 8, y)] if shape == "diamond"
           else [(x, y - 8), (x + 8, y + 6), (x - 8, y + 6)])
    points = " ".join(f"{_n(a)},{_n(b)}" for a, b in pts)
    return f'<polygon points="{points}" fill="{color}" stroke="#fff"/>'


def timeline_chart(title: str, marks: Sequence[Mark], lanes: Sequence[str], *,
                   x_range: tuple[float, float], x_ticks: Sequence[tuple[float, str]],
                   x_label: str = "", description: str = "", width: int = WIDTH) -> str:
    """Events as markers on a time axis, one lane (row, shape) per kind."""
    lane_height = 34
    size = (width, _MARGIN_TOP - 16 + lane_height * max(1, len(lanes)) + _MARGIN_BOTTOM)
    f = _Frame(size, x_range, (0.0, 1.0), left=120, top=_MARGIN_TOP - 16)
    out = _open(title, size, description or title)
    out += _axes(f, x_ticks, [], x_label, "")
    shape = {lane: _SHAPES[i % len(_SHAPES)] for i, lane in enumerate(lanes)}
    for i, lane in enumerate(lanes):
        y = f.top + lane_height * i + lane_height / 2
        out.append(f'<text x="{f.left - 10}" y="{_n(y + 4)}" text-anchor="end">{_e(lane)}</text>'
                   f'<line x1="{f.left}" y1="{_n(y)}" x2="{f.right}" y2="{_n(y)}" '
                   'stroke="#e5e7eb"/>')
    for m in marks:
        y = f.top + lane_height * lanes.index(m.lane) + lane_height / 2
        out.append(f'<g class="event"><title>{_e(m.tooltip)}</title>'
                   f"{_marker(shape[m.lane], f.x(m.time), y, m.color)}</g>")
    out.append("</svg>")
    return "\n".join(out)


def histogram_chart(title: str, edges: Sequence[float], bars: Sequence[Bars], *, x_label: str = "",
                    description: str = "", size: tuple[int, int] = (WIDTH, 260)) -> str:
    """Distributions side by side per bin (bins of equal width on screen, labelled with their
    lower edges): ``len(edges) == len(shares) + 1``."""
    n = max(1, len(edges) - 1)
    peak = max([v for b in bars for v in b.shares] + [0.01])
    y_ticks = nice_ticks(0.0, peak, 4)
    f = _Frame(size, (0.0, float(n)), (0.0, y_ticks[-1]))
    every = max(1, n // 6)
    ticks = [(float(i), f"{edges[i]:.3g}".replace("-", "\u2212")) for i in range(0, n + 1, every)]
    out = _open(title, size, description or title)
    out += _axes(f, ticks, y_ticks, x_label, "share")
    width = (f.right - f.left) / n / (len(bars) + 0.5)
    for j, b in enumerate(bars):
        for i, v in enumerate(b.shares):
            x = f.x(float(i)) + width * (0.25 + j)
            y = f.y(v)
            out.append(f'<rect class="bar" x="{_n(x)}" y="{_n(y)}" width="{_n(width)}" '
                       f'height="{_n(f.bottom - y)}" fill="{b.color}">'
                       f"<title>{_e(b.name)}: {v * 100:.1f} % in [{edges[i]:.4g}, {edges[i + 1]:.4g})"
                       "</title></rect>")
    out += _legend([(b.name, b.color, False) for b in bars], size[0])
    out.append("</svg>")
    return "\n".join(out)
