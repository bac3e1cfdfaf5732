"""Real-browser test: on every time axis each point sits under its own period's label, in
UTC, whatever the viewer's time zone (DESIGN: "Time is UTC end to end").

Chromium runs in a time zone far west (Los Angeles, UTC−8/−7 with a DST switch in March)
and far east (Kolkata, UTC+5:30) of UTC, at a common desktop width (1920 px): at that width
d3's automatic ticks on the old temporal axis fell on Sundays and labelled them with the
month, so "Mar 2025" came three times and the April point sat under "Mar 2025"; weekly
ticks fell on Sundays while our weeks start on Monday.

How the check reads the chart: Streamlit draws Vega-Lite with the SVG renderer, and Vega
writes each point's tooltip fields into its ``aria-label`` ("Entered in: Mar 2025; …").
The point's period is that tooltip value (computed from the data), its position the centre
of its symbol; the axis labels are the x axis's label texts with their boxes.  The label
beneath a point is the label whose box spans the point's x; it must name the same period
and be centred on the point.
"""
from __future__ import annotations

import datetime as dt

import pytest

from tests.browser_support import assert_no_exception, screenshot, wait_for_app

VIEWPORT = {"width": 1920, "height": 1200}
TIME_ZONES = ("America/Los_Angeles", "Asia/Kolkata")
#: Tooltip titles that carry a point's period (conversion trend, score trend).
PERIOD_KEYS = ("Entered in", "Period")
VIEWS = {
    "touchpoints_month": ("touchpoints?tp_tab=Trend&tp_grain=month", "month"),
    "funnel_month": ("funnel?fn_tab=Over+time&fn_grain=month", "month"),
    "funnel_week": ("funnel?fn_tab=Over+time&fn_grain=week", "week"),
}

READ_CHART = """(keys) => {
  const charts = Array.from(document.querySelectorAll("[data-testid='stVegaLiteChart']"));
  const periodOf = (label) => {
    for (const part of (label || '').split('; ')) {
      const i = part.indexOf(': ');
      if (i > 0 && keys.includes(part.slice(0, i))) return part.slice(i + 2);
    }
    return null;
  };
  for (const chart of charts) {
    const points = Array.from(chart.querySelectorAll("path[aria-roledescription='point']"))
      .map(p => ({period: periodOf(p.getAttribute('aria-label')),
                  x: (r => r.left + r.width / 2)(p.getBoundingClientRect())}))
      .filter(p => p.period !== null);
    if (!points.length) continue;
    const axes = Array.from(chart.querySelectorAll("g.role-axis"))
      .filter(g => (g.getAttribute('aria-label') || '').startsWith('X-axis'));
    const labels = axes.flatMap(g => Array.from(g.querySelectorAll('.role-axis-label text')))
      .filter(t => t.textContent.trim() && getComputedStyle(t).opacity !== '0'
                   && t.getAttribute('opacity') !== '0')
      .map(t => { const r = t.getBoundingClientRect();
                  return {text: t.textContent, left: r.left, right: r.right,
                          x: r.left + r.width / 2}; });
    return {points, labels};
  }
  return null;
}"""


def period_start(text: str) -> dt.date:
    """The first day of the period a label or tooltip names ("Mar 2025", "March 2025",
    "6 Jan 2025", "Week of 06 Jan 2025")."""
    text = text.strip().removeprefix("Week of ").strip()
    for pattern in ("%d %b %Y", "%b %Y", "%B %Y"):
        try:
            return dt.datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise AssertionError(f"{text!r} does not name a period")


def label_beneath(labels: list[dict], x: float) -> dict | None:
    """The axis label whose box spans ``x`` (the nearest centre if several do)."""
    spanning = [lab for lab in labels if lab["left"] - 1 <= x <= lab["right"] + 1]
    return min(spanning, key=lambda lab: abs(lab["x"] - x)) if spanning else None


@pytest.fixture(params=TIME_ZONES)
def page(request, browser):
    context = browser.new_context(viewport=VIEWPORT, timezone_id=request.param)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.mark.parametrize("view", list(VIEWS))
def test_each_point_sits_under_its_own_period_label(app_server, page, view):
    path, grain = VIEWS[view]
    page.goto(f"{app_server.url}/{path}")
    wait_for_app(page)
    page.wait_for_selector("[data-testid='stVegaLiteChart'] path[aria-roledescription='point']",
                           timeout=60_000)
    wait_for_app(page)
    assert_no_exception(page)
    # The page really runs in the far time zone.
    offset = page.evaluate("() => new Date(Date.UTC(2025, 6, 1)).getTimezoneOffset()")
    assert offset != 0
    drawn = page.evaluate(READ_CHART, list(PERIOD_KEYS))
    assert drawn is not None, "no trend chart with period tooltips on the page"
    points, labels = drawn["points"], drawn["labels"]
    screenshot(page, f"time_axes_{view}_{offset}")
    # The sample log covers 2025: 12 months, or the 51 weeks starting Monday 30 Dec 2024.
    periods = sorted({period_start(p["period"]) for p in points})
    assert len(periods) == (12 if grain == "month" else 51), periods
    if grain == "week":
        assert periods[0] == dt.date(2024, 12, 30)
        assert all(p.weekday() == 0 for p in periods)        # weeks start on Monday
    assert len(labels) >= 6, labels
    # Every label names a period that has a point right above it (within 2 px).
    for label in labels:
        start = period_start(label["text"])
        above = [p for p in points if period_start(p["period"]) == start]
        assert above, f"label {label['text']!r} names a period without a point"
        assert min(abs(p["x"] - label["x"]) for p in above) <= 2, (label, above)
    if grain == "week":
        # Weekly labels are thinned (the first week of each month), and a label is wider
        # than a week's band: the check above (each label centred on its own week's
        # point) is the one that applies.
        return
    # Monthly: every point has a label beneath it, naming the point's own month.
    for point in points:
        label = label_beneath(labels, point["x"])
        assert label is not None, f"no label under the point of {point['period']}"
        assert period_start(label["text"]) == period_start(point["period"]), (
            f"the point of {point['period']} sits under the label {label['text']!r}")
        assert abs(label["x"] - point["x"]) <= 2, (point, label)
