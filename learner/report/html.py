"""The weekly report as ONE self-contained HTML page: inline CSS, inline SVG charts, no scripts,
no external references (no CDN, no web fonts), every piece of data escaped.

>>> from learner.report import sample_report
>>> page = render_html(sample_report())
>>> page.count("<svg") >= 5 and "https://" not in page
True
"""

from __future__ import annotations

import datetime as dt
import html
import os
import pathlib
import tempfile
from collections.abc import Sequence

from learner.report.model import (
    ABDecision, ABResult, EventKind, FeatureDistribution, ModelQuality, TimelineEvent,
    WeeklyReportData,
)
from learner.report.svg import (
    PALETTE, Bars, Interval, Mark, Series, histogram_chart, interval_chart, line_chart,
    timeline_chart,
)

__all__ = ["render_html", "write_report"]

_DAY = 86_400.0
_SMALL, _WIDE = (540, 270), 1100  # chart sizes (px): two per row, one per row
_EVENT_STYLE = {  # lane label and colour per kind, in lane order
    EventKind.DRIFT: ("Drift alarm", "#E69F00"),
    EventKind.RETRAINING: ("Retrain", "#0072B2"),
    EventKind.PROMOTION: ("Promotion", "#009E73"),
    EventKind.ROLLBACK: ("Rollback", "#D55E00"),
}
_DECISION_TEXT = {
    ABDecision.PROMOTE: "promote the challenger",
    ABDecision.KEEP_CHAMPION: "keep the champion",
    ABDecision.CONTINUE: "keep collecting (no decision yet)",
    ABDecision.BLOCKED_SRM: "blocked: sample-ratio mismatch",
}
_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; margin: 0; background: #f3f4f6; color: #111827; line-height: 1.45; }
main { max-width: 1180px; margin: 0 auto; padding: 24px; }
header h1 { margin: 0 0 4px; font-size: 1.6rem; }
header p { margin: 0; color: #4b5563; }
section { background: #fff; border-radius: 8px; padding: 16px 20px; margin: 18px 0;
          box-shadow: 0 1px 2px rgba(0,0,0,.06); }
h2 { font-size: 1.2rem; margin: 0 0 10px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 12px;
         margin-top: 18px; }
.card { background: #fff; border-radius: 8px; padding: 12px 16px; box-shadow: 0 1px 2px rgba(0,0,0,.06); }
.card .value { font-size: 1.6rem; font-weight: 650; }
.card .label { color: #4b5563; font-size: .9rem; }
.card.alert .value { color: #b91c1c; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 8px 20px; }
svg.chart { width: 100%; height: auto; display: block; font-family: inherit; margin: 6px 0; }
svg .axis-label { fill: #4b5563; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; margin-top: 8px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #e5e7eb; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
.kind { font-weight: 600; }
p.note { color: #4b5563; font-size: .9rem; margin: 6px 0 0; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _when(ts: float, fmt: str = "%a %d %b %H:%M") -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime(fmt)


_TICK_STEPS_S = (60, 300, 600, 900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600)


def _time_ticks(start: float, end: float, most: int = 8) -> list[tuple[float, str]]:
    """Ticks at round times: days (``Sat 28``) for a week, hours or minutes (``14:30``) for a
    shorter period, at most ``most`` of them.

    >>> [label for _, label in _time_ticks(0.0, 7 * _DAY)][:3]
    ['Thu 01', 'Fri 02', 'Sat 03']
    >>> [label for _, label in _time_ticks(3600.0, 3600.0 + 150)]
    ['01:00', '01:01', '01:02']
    """
    step = next((s for s in _TICK_STEPS_S if (end - start) / s <= most), None)
    if step is None:  # a day or more
        step, fmt = _DAY * max(1, int(-(-(end - start) // (_DAY * most)))), "%a %d"
    else:
        fmt = "%H:%M"
    first = -(-start // step) * step
    count = int((end - first) // step) + 1
    return [(first + i * step, _when(first + i * step, fmt)) for i in range(max(count, 0))]


def _pct(v: float, signed: bool = False) -> str:
    return f"{v * 100:+.1f} pts" if signed else f"{v * 100:.1f} %"


def _cards(data: WeeklyReportData) -> str:
    alarmed = [d.feature for d in data.drift if d.psi and max(d.psi) > data.drift_threshold]
    count = {k: sum(e.kind is k for e in data.events) for k in EventKind}
    drifted = [f for f in data.features if f.drifted]
    share = (f"{len(drifted)} of {len(data.features)}" if data.features else "–")
    cards = [
        (share, "features drifted now (share of drifted features)", bool(drifted)),
        (str(len(alarmed)), "features over the drift threshold this week", bool(alarmed)),
        (str(count[EventKind.RETRAINING]), "retrains", False),
        (str(count[EventKind.PROMOTION]), "promotions", False),
        (str(count[EventKind.ROLLBACK]), "rollbacks", count[EventKind.ROLLBACK] > 0),
        (str(len(data.ab_results)), "A/B tests", False),
    ]
    body = "".join(f'<div class="card{" alert" if alert else ""}"><div class="value">{_e(v)}</div>'
                   f'<div class="label">{_e(label)}</div></div>' for v, label, alert in cards)
    return f'<div class="cards" aria-label="Summary">{body}</div>'


def _drift_section(data: WeeklyReportData, ticks: list[tuple[float, str]]) -> str:
    charts = []
    for d in data.drift:
        peak = max(d.psi, default=0.0)
        charts.append(line_chart(
            f"Drift of {d.feature}", [
                Series("PSI", d.timestamps, d.psi, PALETTE[0]),
                Series("KS statistic", d.timestamps, d.ks, PALETTE[4], dashed=True),
            ],
            x_ticks=ticks, x_range=(data.period_start, data.period_end),
            thresholds=[(data.drift_threshold, f"alarm PSI {data.drift_threshold:g}")],
            x_label="time (UTC)", y_label="PSI / KS", size=_SMALL,
            description=f"PSI and KS statistic of {d.feature} per window against the baseline; "
                        f"peak PSI {peak:.3f}, alarm threshold {data.drift_threshold:g}."))
    if not charts:
        return _section("drift", "Drift per feature", "<p>No drift statistics this week.</p>")
    note = ('<p class="note">PSI and KS statistic of each drift check against the baseline. '
            "The dashed red line is the PSI alarm threshold.</p>")
    return _section("drift", "Drift per feature", f'{note}<div class="grid">{"".join(charts)}</div>')


_MARKED = (EventKind.DRIFT, EventKind.PROMOTION, EventKind.ROLLBACK)


def _event_marks(data: WeeklyReportData) -> list[Mark]:
    """Drift alarms, promotions and rollbacks as markers on the quality charts."""
    return [Mark(e.time, _EVENT_STYLE[e.kind][0],
                 f"{_when(e.time)} {_EVENT_STYLE[e.kind][0]}: {_model_cell(e)} ({e.reason})",
                 _EVENT_STYLE[e.kind][1]) for e in data.events if e.kind in _MARKED]


def _quality_section(data: WeeklyReportData, ticks: list[tuple[float, str]]) -> str:
    colors = {q.model_id: PALETTE[i % len(PALETTE)] for i, q in enumerate(data.quality)}
    span = (data.period_start, data.period_end)
    marks = _event_marks(data)
    charts = [line_chart(
        "Accuracy per model", [Series(q.model_id, q.timestamps, q.accuracy, colors[q.model_id])
                               for q in data.quality],
        x_ticks=ticks, x_range=span, y_range=_ratio_range(data.quality, None),
        x_label="time (UTC)", y_label="accuracy", size=_SMALL, markers=marks,
        description="Accuracy on the primary field per model version over the week, with drift "
                    "alarms, promotions and rollbacks marked.")]
    fields = sorted({f.field for q in data.quality for f in q.f1})
    for name in fields:
        series = [Series(q.model_id, f.timestamps or q.timestamps, f.values, colors[q.model_id])
                  for q in data.quality for f in q.f1 if f.field == name]
        charts.append(line_chart(
            f"F1 of {name} per model", series, x_ticks=ticks, x_range=span,
            y_range=_ratio_range(data.quality, name), x_label="time (UTC)", y_label="F1",
            size=_SMALL, markers=marks,
            description=f"F1 of the {name} field per model version over the week."))
    if not data.quality:
        return _section("quality", "Accuracy and F1", "<p>No quality measurements this week.</p>")
    return _section("quality", "Accuracy and F1 per model", f'<div class="grid">{"".join(charts)}</div>')


def _ratio_range(quality: Sequence[ModelQuality], field: str | None) -> tuple[float, float]:
    values = [v for q in quality for v in
              (q.accuracy if field is None else
               [x for f in q.f1 if f.field == field for x in f.values])]
    if not values:
        return (0.0, 1.0)
    return (max(0.0, min(values) - 0.02), min(1.0, max(values) + 0.02))


def _ab_section(results: Sequence[ABResult]) -> str:
    if not results:
        return _section("ab", "A/B tests", "<p>No A/B test ran this week.</p>")
    rows = [Interval(f"{r.challenger_id} vs {r.champion_id}", r.estimate, r.ci_low, r.ci_high,
                     f"{_pct(r.estimate, True)} [{_pct(r.ci_low, True)}, {_pct(r.ci_high, True)}]",
                     PALETTE[2] if r.decision is ABDecision.PROMOTE else PALETTE[0])
            for r in results]
    chart = interval_chart(
        "Challenger minus champion accuracy, with confidence interval", rows,
        x_label="accuracy difference (challenger − champion)",
        description="Point estimate and confidence interval of each A/B test; an interval "
                    "entirely right of zero means the challenger is better.", width=_WIDE)
    head = ("<tr><th>Champion</th><th>Challenger</th><th class=num>Estimate</th>"
            "<th class=num>CI</th><th class=num>p-value</th><th class=num>Samples "
            "(champion / challenger)</th><th>Method</th><th>Decision</th></tr>")
    body = "".join(
        f"<tr><td>{_e(r.champion_id)}</td><td>{_e(r.challenger_id)}</td>"
        f"<td class=num>{_pct(r.estimate, True)}</td>"
        f"<td class=num>[{_pct(r.ci_low, True)}, {_pct(r.ci_high, True)}]</td>"
        f"<td class=num>{r.p_value:.3g}</td>"
        f"<td class=num>{r.samples_champion:,} / {r.samples_challenger:,}</td>"
        f"<td>{_e(r.method.value)}</td><td>{_e(_DECISION_TEXT[r.decision])}</td></tr>"
        for r in results)
    return _section("ab", "A/B tests", f"{chart}<table>{head}{body}</table>")


def _timeline_section(data: WeeklyReportData, ticks: list[tuple[float, str]]) -> str:
    events: Sequence[TimelineEvent] = sorted((e for e in data.events if e.kind in _EVENT_STYLE),
                                             key=lambda e: e.time)  # the timeline's four lanes
    lanes = [label for label, _ in _EVENT_STYLE.values()]
    marks = [Mark(e.time, _EVENT_STYLE[e.kind][0],
                  f"{_when(e.time)} {_EVENT_STYLE[e.kind][0]}: {e.model_id} ({e.reason})",
                  _EVENT_STYLE[e.kind][1]) for e in events]
    chart = timeline_chart(
        "Promotions, rollbacks, retrains and drift alarms", marks, lanes,
        x_range=(data.period_start, data.period_end), x_ticks=ticks, x_label="time (UTC)",
        description=f"{len(events)} events over the week, one row per kind.", width=_WIDE)
    rows = "".join(
        f'<tr><td>{_e(_when(e.time))}</td><td class="kind" style="color:{_EVENT_STYLE[e.kind][1]}">'
        f"{_e(_EVENT_STYLE[e.kind][0])}</td><td>{_e(_model_cell(e))}</td><td>{_e(e.reason)}</td></tr>"
        for e in events) or '<tr><td colspan="4">No events this week.</td></tr>'
    table = f"<table><tr><th>Time (UTC)</th><th>Event</th><th>Model</th><th>Reason</th></tr>{rows}</table>"
    return _section("timeline", "Timeline", chart + table)


def _model_cell(e: TimelineEvent) -> str:
    """A rollback names both models (``from → to``), a promotion the champion it replaced."""
    if e.kind is EventKind.ROLLBACK and e.previous_model_id:
        return f"{e.previous_model_id} → {e.model_id}"
    if e.kind is EventKind.PROMOTION and e.previous_model_id:
        return f"{e.model_id} (replaced {e.previous_model_id})"
    return e.model_id or "–"


def _num(v: float) -> str:
    return f"{v:.4g}".replace("-", "\u2212")


def _features_section(data: WeeklyReportData) -> str:
    """Per feature: reference vs current distribution, and the statistics table."""
    if not data.features:
        return _section("features", "Reference vs current, per feature",
                        "<p>No baseline: the learner has no reference data for the champion.</p>")
    charts = [histogram_chart(
        f"{f.feature}: reference vs this period", f.edges,
        [Bars("reference", f.reference, PALETTE[6]),
         Bars("current", f.current, PALETTE[1] if f.drifted else PALETTE[0])],
        x_label=f"{f.feature} (bins of equal reference mass)", size=_SMALL,
        description=f"Share of values per bin: reference {f.reference_count:,} values, this period "
                    f"{f.current_count:,}; PSI {'n/a' if f.psi is None else f'{f.psi:.3f}'}.")
        for f in data.features]
    head = ("<tr><th>Feature</th><th>Type</th><th>Drift</th><th class=num>PSI</th><th class=num>KS</th>"
            "<th class=num>Mean (ref → current)</th><th class=num>Std (ref → current)</th>"
            "<th class=num>Values (ref / current)</th></tr>")
    body = "".join(
        f"<tr><td>{_e(f.feature)}</td><td>numeric</td><td>{'DRIFTED' if f.drifted else 'no'}</td>"
        f"<td class=num>{'–' if f.psi is None else f'{f.psi:.3f}'}</td>"
        f"<td class=num>{'–' if f.ks is None else f'{f.ks:.3f}'}</td>"
        f"<td class=num>{_num(f.reference_mean)} → {_num(f.current_mean)}</td>"
        f"<td class=num>{_num(f.reference_std)} → {_num(f.current_std)}</td>"
        f"<td class=num>{f.reference_count:,} / {f.current_count:,}</td></tr>" for f in data.features)
    drifted = sum(f.drifted for f in data.features)
    note = (f'<p class="note">{drifted} of {len(data.features)} features drifted '
            f"({drifted / len(data.features):.0%}) at the last drift check (drift score: PSI over "
            f"ten groups of equal reference mass, alarm above {data.drift_threshold:g}; KS alongside). "
            "Distributions are the champion's reference data against the sidecars' merged windows "
            "of the period.</p>")
    table = f'<table class="stats">{head}{body}</table>'
    return _section("features", "Reference vs current, per feature",
                    f'{note}{table}<div class="grid">{"".join(charts)}</div>')


def _data_quality_section(data: WeeklyReportData) -> str:
    if not data.features:
        return ""
    head = ("<tr><th>Feature</th><th class=num>Values this period</th><th class=num>Missing</th>"
            "<th class=num>Missing share</th><th class=num>Missing share (reference)</th></tr>")

    def ref_share(f: FeatureDistribution) -> float:
        seen = f.reference_count + f.reference_missing
        return f.reference_missing / seen if seen else 0.0

    body = "".join(
        f"<tr><td>{_e(f.feature)}</td><td class=num>{f.current_count + f.current_missing:,}</td>"
        f"<td class=num>{f.current_missing:,}</td><td class=num>{_pct(f.current_missing_share)}</td>"
        f"<td class=num>{_pct(ref_share(f))}</td></tr>" for f in data.features)
    return _section("data-quality", "Data quality", f'<table class="quality">{head}{body}</table>')


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}" aria-labelledby="{anchor}-h"><h2 id="{anchor}-h">{_e(title)}</h2>{body}</section>'


def render_html(data: WeeklyReportData) -> str:
    """The report page: summary, drift, reference vs current per feature, data quality,
    accuracy/F1, A/B results, timeline."""
    ticks = _time_ticks(data.period_start, data.period_end)
    period = f"{_when(data.period_start, '%d %b %Y')} – {_when(data.period_end, '%d %b %Y')}"
    title = f"Loopwise weekly report: {data.model_type}, {period}"
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>", "<main>",
        f"<header><h1>Weekly report: {_e(data.model_type)}</h1>"
        f"<p>{_e(period)} (UTC) · drift alarm at PSI &gt; {data.drift_threshold:g}</p></header>",
        _cards(data),
        _drift_section(data, ticks), _features_section(data), _data_quality_section(data),
        _quality_section(data, ticks), _ab_section(data.ab_results),
        _timeline_section(data, ticks),
        "</main>", "</body>", "</html>",
    ]
    return "\n".join(parts) + "\n"


def write_report(data: WeeklyReportData, path: str | os.PathLike[str]) -> pathlib.Path:
    """Render ``data`` and write it to ``path`` atomically (a temporary file, then rename)."""
    target = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(render_html(data))
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    return target
