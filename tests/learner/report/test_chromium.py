"""The report page in headless Chromium (Debian's ``chromium``): every chart renders, nothing
reaches the console, and a screenshot is non-trivial.

The page itself has no scripts; the test loads a copy with a probe injected: it records errors
(``window.onerror``, failed resources, ``console.error``) and, after load, counts the charts
whose box and marks have a real size, onto ``<body>`` as ``data-*`` attributes that
``--dump-dom`` prints. ``.ci/run`` installs Chromium; without it these tests skip.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import struct
import subprocess

import pytest

from learner.report import render_html, sample_report

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (.ci/run does)")

_HEAD_PROBE = """<script>
window.__problems = [];
window.addEventListener("error", function (e) {
  window.__problems.push(e.message || ("failed to load " + (e.target && e.target.tagName)));
}, true);
(function () {
  var original = console.error;
  console.error = function () {
    window.__problems.push("console.error: " + Array.prototype.join.call(arguments, " "));
    original.apply(console, arguments);
  };
})();
</script>"""
_BODY_PROBE = """<script>
window.addEventListener("load", function () {
  var charts = document.querySelectorAll("svg.chart"), ok = 0;
  charts.forEach(function (svg) {
    var box = svg.getBoundingClientRect(), drawn = 0;
    svg.querySelectorAll("polyline, circle, polygon, rect, line").forEach(function (m) {
      var b = m.getBBox();
      if (b.width > 0 || b.height > 0) { drawn += 1; }
    });
    if (box.width > 200 && box.height > 80 && drawn > 0) { ok += 1; }
  });
  document.body.setAttribute("data-charts", String(charts.length));
  document.body.setAttribute("data-charts-ok", String(ok));
  document.body.setAttribute("data-errors", window.__problems.join(" | "));
});
</script>"""


def _chromium(tmp: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    cmd = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--enable-logging=stderr", "--v=0", f"--user-data-dir={tmp / 'profile'}",
           "--virtual-time-budget=3000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp)


def _probe(tmp: pathlib.Path, page: str) -> tuple[dict[str, str], list[str]]:
    """Load ``page`` with the probe; the body's data-* attributes and the console log lines."""
    probed = page.replace("</head>", _HEAD_PROBE + "</head>", 1).replace(
        "</body>", _BODY_PROBE + "</body>", 1)
    path = tmp / "probe.html"
    path.write_text(probed, encoding="utf-8")
    run = _chromium(tmp, "--dump-dom", path.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", run.stdout)
    assert body is not None, run.stdout[:500]
    attrs = dict(re.findall(r'(data-[\w-]+)="([^"]*)"', body.group(1)))
    console = [line for line in run.stderr.splitlines()
               if ":CONSOLE" in line or "Uncaught" in line]
    return attrs, console


def test_charts_render_without_console_errors(tmp_path: pathlib.Path) -> None:
    page = render_html(sample_report())
    attrs, console = _probe(tmp_path, page)
    expected = page.count('<svg viewBox=')
    assert expected >= 8
    assert attrs.get("data-charts") == str(expected), attrs
    assert attrs.get("data-charts-ok") == str(expected), attrs
    assert attrs.get("data-errors") == "", attrs
    assert console == []


def test_probe_catches_errors(tmp_path: pathlib.Path) -> None:
    """The check above can fail: a page that throws and logs an error is caught."""
    page = render_html(sample_report()).replace(
        "</main>", '</main><script>console.error("boom"); undefinedCall();</script>', 1)
    attrs, console = _probe(tmp_path, page)
    assert "console.error: boom" in attrs["data-errors"]
    assert "undefinedCall" in attrs["data-errors"]
    assert any("Uncaught" in line for line in console)


def test_screenshot_is_non_trivial(tmp_path: pathlib.Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(sample_report()), encoding="utf-8")
    shot = tmp_path / "report.png"
    run = _chromium(tmp_path, "--window-size=1280,2600", "--hide-scrollbars",
                    f"--screenshot={shot}", page.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1280, 2600)
    assert len(png) > 100_000  # charts and text, not a blank page (a blank one is ~15 kB)
