"""Tests for cxdata.export: offline chart images and spreadsheet-safe CSV."""
from __future__ import annotations

import csv
import io
import struct

import altair as alt
import numpy as np
import pandas as pd
import pytest

from cxdata import charts, export


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
    assert rows[1] == ["-100.0", "-3", "-1", "true", "2024-01-01T10:00:00"]
    assert rows[2] == ["12.5", "7", "0", "false", ""]
    assert rows[3] == ["", "", "2", "true", "2024-03-01T00:00:00"]


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
