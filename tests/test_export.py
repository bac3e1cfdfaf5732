"""Tests for cxdata.presentation.export: offline chart images and spreadsheet-safe CSV."""
from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import pytest

from cxdata.presentation import charts, export


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (bytes 16..24, big-endian)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def funnel_chart():
    # 200 entered, 120 reached step 2 (60%), 30 reached step 3 (15%).
    frame = pd.DataFrame({"step": ["Visit", "Cart", "Paid"], "step_index": [1, 2, 3],
                          "customers": [200, 120, 30],
                          "conversion_from_start": [1.0, 0.6, 0.15],
                          "conversion_from_previous": [1.0, 0.6, 0.25],
                          "dropped": [80, 90, 0],
                          "median_seconds_from_previous": [None, 60.0, 120.0]})
    # The selectable variant: Vega-Lite 6.4 once failed to compile it (hidden axis +
    # selection); exporting it proves the app's own chart converts.
    return charts.funnel_bars(frame, selectable=True, width=300)


def test_png_is_an_image_and_scale_doubles_the_pixels(funnel_chart):
    one = export.chart_png(funnel_chart, scale=1)
    two = export.chart_png(funnel_chart, scale=2)
    w1, h1 = png_size(one)
    w2, h2 = png_size(two)
    # The chart is 300 px wide plus axis labels, so wider than 300 at scale 1.
    assert w1 > 300 and h1 > 100
    assert (w2, h2) == (2 * w1, 2 * h1)


def test_svg_holds_the_labels_as_text(funnel_chart):
    svg = export.chart_svg(funnel_chart).decode("utf-8")
    assert svg.lstrip().startswith("<svg")
    # Labels worked out in the fixture: 120 customers = 60.0% of 200.
    assert "120 (60.0%)" in svg
    assert "↓ 90 dropped" in svg
    assert "3. Paid" in svg


def test_pdf_and_chart_bytes_dispatch(funnel_chart):
    pdf, mime = export.chart_bytes(funnel_chart, "pdf")
    assert pdf.startswith(b"%PDF") and mime == "application/pdf"
    _, mime = export.chart_bytes(funnel_chart, "SVG")
    assert mime == "image/svg+xml"
    with pytest.raises(ValueError, match="png, svg or pdf"):
        export.chart_bytes(funnel_chart, "gif")


def test_html_is_self_contained(funnel_chart):
    html = export.chart_html(funnel_chart)
    assert "<html" in html.lower()
    # Bundled: the page does not load vega from a CDN.
    assert "cdn.jsdelivr.net/npm/vega@" not in html
    assert "120 (60.0%)" in html


def test_export_never_fetches_from_the_network():
    # A spec pointing at remote data must fail fast (allowed_base_urls=[]), not go online.
    remote = alt.Chart(alt.UrlData("https://example.invalid/data.csv")).mark_bar().encode(
        x="a:Q", y="b:N")
    with pytest.raises(export.ExportError, match="could not be exported"):
        export.chart_png(remote)


def test_export_uses_the_registered_theme(funnel_chart):
    spec = export.chart_spec(funnel_chart)
    assert spec["config"]["range"]["category"] == list(charts.OKABE_ITO)


# ---------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------

def read_back(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8")
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("raw, expected", [
    ("=SUM(A1:A2)", "'=SUM(A1:A2)"),
    ("+31 6 1234", "'+31 6 1234"),
    ("-5", "'-5"),                       # text "-5" is text: neutralised
    ("@cmd", "'@cmd"),
    ("\tx", "'\tx"),
    ("\rx", "'\rx"),
    ("plain", "plain"),
    ("a=b", "a=b"),                      # only the first character matters
    ("", ""),
])
def test_text_cells_that_look_like_formulas_get_a_quote(raw, expected):
    out = export.csv_bytes(pd.DataFrame({"comment": [raw]}), excel_bom=False)
    assert read_back(out) == [["comment"], [expected]]


def test_numbers_stay_numbers_and_missing_is_empty():
    frame = pd.DataFrame({
        "score": [-100.0, 12.5, np.nan],
        "n": pd.array([-3, 7, None], dtype="Int64"),
        "numpy_int": np.array([-1, 0, 2], dtype=np.int64),
        "flag": [True, False, True],
        "when": pd.to_datetime(["2024-01-01 10:00", None, "2024-03-01 00:00"]),
    })
    rows = read_back(export.csv_bytes(frame, excel_bom=False))
    assert rows[0] == ["score", "n", "numpy_int", "flag", "when"]
    # Negative numbers keep the ASCII minus (a spreadsheet reads them as numbers); times
    # say they are UTC.
    assert rows[1] == ["-100.0", "-3", "-1", "true", "2024-01-01T10:00:00Z"]
    assert rows[2] == ["12.5", "7", "0", "false", ""]
    assert rows[3] == ["", "", "2", "true", "2024-03-01T00:00:00Z"]


def test_trend_periods_are_iso_dates_and_times_are_utc():
    # A trend's period column (naive = UTC, every value a midnight) -> ISO dates of the
    # period start; other instants -> ISO with Z; aware ones converted to UTC first:
    # 1 Mar 2025 00:00 in Kolkata (+05:30) is 28 Feb 18:30 UTC.
    frame = pd.DataFrame({
        "period": pd.to_datetime(["2024-12-30", "2025-01-06", None]),
        "entered": [77, 92, 0],
        "conversion": [-0.0, 0.130435, np.nan],
        "at": pd.to_datetime(["2025-03-01 00:00", "2025-03-01 12:00", None]).tz_localize(
            "Asia/Kolkata"),
        "seen": pd.to_datetime(["2025-01-01 10:00:00.25", None, "2025-01-02"], format="ISO8601"),
    })
    rows = read_back(export.csv_bytes(frame, excel_bom=False))
    assert rows[1] == ["2024-12-30", "77", "-0.0", "2025-02-28T18:30:00Z",
                       "2025-01-01T10:00:00.250000Z"]
    assert rows[2] == ["2025-01-06", "92", "0.130435", "2025-03-01T06:30:00Z", ""]
    assert rows[3] == ["", "0", "", "", "2025-01-02T00:00:00Z"]
    # A Timestamp in a column of mixed values gets the same UTC form.
    mixed = pd.DataFrame({"x": [pd.Timestamp("2025-01-01 10:00"), "text"]}, dtype=object)
    assert read_back(export.csv_bytes(mixed, excel_bom=False))[1] == ["2025-01-01T10:00:00Z"]


def test_header_names_from_a_users_file_are_neutralised_too():
    frame = pd.DataFrame({"=HYPERLINK(\"x\")": ["ok"], "group": ["-web"]})
    rows = read_back(export.csv_bytes(frame, excel_bom=False))
    assert rows == [["'=HYPERLINK(\"x\")", "group"], ["ok", "'-web"]]


def test_paths_are_joined_and_the_bom_is_optional():
    frame = pd.DataFrame({"path": [["Aware", "Purchase"], ["=evil"]], "customers": [3, 1]})
    with_bom = export.csv_bytes(frame)
    assert with_bom.startswith("\ufeff".encode("utf-8"))
    rows = read_back(with_bom.removeprefix("\ufeff".encode("utf-8")))
    # A joined path is itself text and is checked like any other cell.
    assert rows == [["path", "customers"], ["Aware → Purchase", "3"], ["'=evil", "1"]]
    only = read_back(export.csv_bytes(frame, columns=["customers"], excel_bom=False))
    assert only == [["customers"], ["3"], ["1"]]


def test_commas_quotes_and_newlines_survive_the_round_trip():
    frame = pd.DataFrame({"comment": ['said "hi", then\nleft']})
    rows = read_back(export.csv_bytes(frame, excel_bom=False))
    assert rows[1] == ['said "hi", then\nleft']


# ---------------------------------------------------------------------------------------
# Time axes in exported images
# ---------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent

#: Builds the two trend charts of the sample's shape and prints their SVGs, separated.
TREND_SVGS = """
import pandas as pd
from cxdata.presentation import charts, export
months = pd.DataFrame({"period": pd.date_range("2025-01-01", periods=12, freq="MS"),
                       "entered": [400] * 12, "converted": list(range(10, 34, 2)),
                       "conversion": [c / 400 for c in range(10, 34, 2)]})
weeks = pd.DataFrame({"period": pd.date_range("2024-12-30", periods=51, freq="7D"),
                      "entered": [100] * 51, "converted": [5] * 51, "conversion": [0.05] * 51})
print(export.chart_svg(charts.conversion_trend(months, grain="month")).decode())
print("=====")
print(export.chart_svg(charts.conversion_trend(weeks, grain="week")).decode())
"""


def x_axis_labels(svg: str) -> list[tuple[str, float]]:
    """(text, x) of the x axis's labels, x in the view's coordinates."""
    group = re.search(r"aria-label=\"X-axis[^\"]*\"><g transform=\"translate\(([\d.]+),", svg)
    assert group, "no x axis in the SVG"
    offset = float(group.group(1))
    axis = svg[group.end():svg.index("role-axis-title", group.end())]
    return [(text, float(x) + offset) for x, text in
            re.findall(r'<text[^>]*transform="translate\(([\d.]+),[^"]*"[^>]*>([^<]+)</text>',
                       axis)]


def point_periods(svg: str) -> list[tuple[str, float]]:
    """(period from the tooltip, x) of each point mark."""
    return [(period, float(x)) for period, x in re.findall(
        r'<path aria-label="[^"]*Entered in: ([^;"]+)[^"]*" role="graphics-symbol" '
        r'aria-roledescription="point" transform="translate\(([\d.]+),', svg)]


def period_start(text: str) -> dt.date:
    """The first day of the period a label or tooltip names ("Mar 2025", "March 2025",
    "6 Jan 2025", "Week of 06 Jan 2025")."""
    text = text.strip().removeprefix("Week of ")
    for pattern in ("%d %b %Y", "%b %Y", "%B %Y"):
        try:
            return dt.datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise AssertionError(f"{text!r} does not name a period")


def check_each_label_sits_on_its_point(svg: str) -> list[str]:
    """Each x-axis label is centred (within 1 px) on the point of the period it names;
    returns the labels' texts."""
    labels = x_axis_labels(svg)
    points = {period_start(period): x for period, x in point_periods(svg)}
    for text, x in labels:
        start = period_start(text)
        assert start in points, f"label {text!r} names a period without a point"
        assert abs(points[start] - x) < 1, (text, x, points[start])
    return [text for text, _ in labels]


@pytest.mark.parametrize("time_zone", ["America/Los_Angeles", "Asia/Kolkata"])
def test_exported_time_axes_put_each_point_under_its_label(time_zone):
    # vl-convert runs the Vega JavaScript in-process: run it under a far time zone.
    result = subprocess.run([sys.executable, "-c", TREND_SVGS], cwd=ROOT, capture_output=True,
                            text=True, timeout=120,
                            env=dict(os.environ, TZ=time_zone, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr
    monthly, weekly = result.stdout.split("=====")
    assert check_each_label_sits_on_its_point(monthly) == [
        "Jan 2025", "Feb 2025", "Mar 2025", "Apr 2025", "May 2025", "Jun 2025", "Jul 2025",
        "Aug 2025", "Sep 2025", "Oct 2025", "Nov 2025", "Dec 2025"]
    assert len(point_periods(monthly)) == 12
    # Weekly: 51 points; the labels name the first Monday of months (2 Jun, not 26 May),
    # thinned further by Vega when they would overlap at this width (640 px).
    shown = check_each_label_sits_on_its_point(weekly)
    assert len(point_periods(weekly)) == 51
    assert shown[0] == "6 Jan 2025" and len(shown) >= 6
    assert set(shown) <= {"6 Jan 2025", "3 Feb 2025", "3 Mar 2025", "7 Apr 2025", "5 May 2025",
                          "2 Jun 2025", "7 Jul 2025", "4 Aug 2025", "1 Sep 2025", "6 Oct 2025",
                          "3 Nov 2025", "1 Dec 2025"}
