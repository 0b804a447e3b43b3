"""The weekly report: its data (``WeeklyReportData``, JSON), an HTML page with inline SVG charts.

>>> from learner.report import render_html, sample_report
>>> page = render_html(sample_report())
>>> page.startswith("<!DOCTYPE html>") and "http://" not in page
True
"""

from learner.report.html import render_html, write_report
from learner.report.model import (
    ABDecision, ABMethod, ABResult, EventKind, FeatureDrift, FieldF1, ModelQuality,
    TimelineEvent, WeeklyReportData,
)
from learner.report.sample import sample_report

__all__ = [
    "ABDecision", "ABMethod", "ABResult", "EventKind", "FeatureDrift", "FieldF1", "ModelQuality",
    "TimelineEvent", "WeeklyReportData", "render_html", "sample_report", "write_report",
]
