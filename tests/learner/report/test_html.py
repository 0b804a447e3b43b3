"""The HTML page: self-contained, escaped, every chart present and labelled."""

from __future__ import annotations

import dataclasses
import pathlib
import re
import subprocess
import sys

from learner.report import (
    ABDecision, ABMethod, ABResult, EventKind, TimelineEvent, WeeklyReportData, render_html,
    sample_report, write_report,
)
from learner.report.svg import format_tick, nice_ticks

EVIL = '<script>alert("x")</script>'


def test_no_external_references() -> None:
    page = render_html(sample_report())
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""(src|href)\s*=|@import|url\(|<link|<script""", page, re.I)


def test_every_chart_is_there_and_labelled() -> None:
    data = sample_report()
    page = render_html(data)
    svgs = re.findall(r"<svg [^>]*>", page)
    fields = {f.field for q in data.quality for f in q.f1}
    assert len(svgs) == len(data.drift) + len(data.features) + 1 + len(fields) + 1 + 1
    assert all('role="img"' in s and "aria-label=" in s for s in svgs)
    for svg in re.findall(r"<svg [^>]*>\s*<title>[^<]+</title>\s*<desc>[^<]+</desc>", page):
        assert 'role="img"' in svg
    assert len(re.findall(r"<svg [^>]*>\s*<title>[^<]+</title>\s*<desc>", page)) == len(svgs)
    for label in ("Drift of amount", "Accuracy per model", "F1 of total per model",
                  "confidence interval", "Promotions, rollbacks"):
        assert label in page
    assert page.count('class="threshold"') == len(data.drift)
    assert 'class="zero"' in page  # the CI chart's zero line
    assert page.count('class="event"') == len(data.events)
    assert re.search(r"<title>Loopwise weekly report: doc_classifier, 16 Nov 2026", page)


def test_data_is_escaped() -> None:
    base = sample_report()
    ab = dataclasses.replace(base.ab_results[0], challenger_id=EVIL)
    data = dataclasses.replace(
        base, model_type=EVIL, ab_results=(ab,),
        events=(TimelineEvent(base.period_start + 60, EventKind.PROMOTION, EVIL, EVIL),),
        drift=(dataclasses.replace(base.drift[0], feature=EVIL),))
    page = render_html(data)
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_empty_week_renders() -> None:
    page = render_html(WeeklyReportData("empty", 0.0, 7 * 86_400.0, 0.2))
    assert "No drift statistics this week." in page and "No A/B test ran this week." in page


def test_numbers_are_readable() -> None:
    assert nice_ticks(0.0, 0.43) == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert [format_tick(v, [0.0, 0.05]) for v in (0.05, 0.25)] == ["0.05", "0.25"]
    assert format_tick(-0.02, [-0.02, 0.0]) == "\u22120.02"
    page = render_html(sample_report())
    assert not re.search(r">[-\d.]*\d\.\d{5,}<", page)  # no long float noise in any text
    one = ABResult("a", "b", 0.0312, 0.0091, 0.0543, 0.012, 41_730, 4_724, ABMethod.MSPRT,
                   ABDecision.PROMOTE)
    page = render_html(dataclasses.replace(sample_report(), ab_results=(one,)))
    assert "+3.1 pts" in page and "[+0.9 pts, +5.4 pts]" in page and "41,730 / 4,724" in page


def test_write_report(tmp_path: pathlib.Path) -> None:
    data = sample_report()
    out = write_report(data, tmp_path / "week.html")
    assert out.read_text(encoding="utf-8") == render_html(data)
    assert [p.name for p in tmp_path.iterdir()] == ["week.html"]


def test_report_does_not_import_torch_or_grpc() -> None:
    code = ("import sys, learner.report\n"
            "assert not {'torch', 'grpc'} & set(sys.modules)\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- issue 16: what the report shows ------------------------------------------------------------

def test_reference_vs_current_per_feature_with_statistics_and_data_quality() -> None:
    """Evidently's data-drift report shows, per feature, both distributions, a drift score and
    whether it drifted, and the share of drifted features: so does ours, from the aggregates."""
    data = sample_report()
    page = render_html(data)
    for f in data.features:
        assert f"{f.feature}: reference vs this period" in page
    stats = re.search(r'<table class="stats">(.*?)</table>', page, re.S)
    assert stats is not None
    rows = re.findall(r"<tr><td>([^<]+)</td><td>numeric</td><td>(DRIFTED|no)</td><td class=num>([\d.]+)</td>",
                      stats.group(1))
    assert [(r[0], r[1] == "DRIFTED", float(r[2])) for r in rows] == [
        (f.feature, f.drifted, round(f.psi or 0.0, 3)) for f in data.features]
    drifted = sum(f.drifted for f in data.features)
    assert f"{drifted} of {len(data.features)} features drifted" in page
    assert page.count('class="bar"') == sum(2 * (len(f.edges) - 1) for f in data.features)
    quality = re.search(r'<section id="data-quality".*?</section>', page, re.S)
    assert quality is not None and "ocr_confidence" in quality.group(0) and "3.0 %" in quality.group(0)


def test_quality_charts_mark_drift_promotion_and_rollback() -> None:
    data = sample_report()
    page = render_html(data)
    quality = re.search(r'<section id="quality".*?</section>', page, re.S)
    assert quality is not None
    marked = sum(e.kind in (EventKind.DRIFT, EventKind.PROMOTION, EventKind.ROLLBACK) for e in data.events)
    charts = quality.group(0).count("<svg")
    assert charts >= 2  # accuracy and at least one F1 chart
    assert quality.group(0).count('class="marker"') == marked * charts


def test_the_psi_alarm_is_named_in_the_legend_not_over_the_lines() -> None:
    page = render_html(sample_report())
    for group in re.findall(r'<g class="threshold">.*?</g>', page, re.S):
        assert "<text" not in group
    assert page.count(">alarm PSI 0.25</text>") == len(sample_report().drift)  # the legend entries


def test_rollback_names_both_models_and_a_retrain_no_job_id() -> None:
    page = render_html(sample_report())
    timeline = re.search(r'<section id="timeline".*?</section>', page, re.S)
    assert timeline is not None
    cells = re.findall(r"<tr><td>[^<]+</td><td [^>]+>([^<]+)</td><td>([^<]+)</td>", timeline.group(0))
    models = dict((kind, model) for kind, model in cells)
    assert models["Rollback"] == "doc_classifier_1.0.1 → doc_classifier_1.0.0"
    assert models["Promotion"] == "doc_classifier_1.0.1 (replaced doc_classifier_1.0.0)"
    assert models["Retrain"] == "–" and "job-" not in "".join(m for _, m in cells)
