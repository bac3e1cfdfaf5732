"""Exports: charts to PNG / SVG / PDF / HTML bytes (offline, via vl-convert) and result
frames to CSV that is safe to open in a spreadsheet.

Charts are converted from their Vega-Lite spec with the data inline; vl-convert runs the
Vega JavaScript in-process, so nothing is fetched from the network
(``allowed_base_urls=[]`` makes any attempt fail instead of silently going online).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd
import vl_convert as vlc

from cxdata.presentation import charts as _charts  # noqa: F401  (registers the theme used by exports)

#: First characters that make a spreadsheet treat a text cell as a formula (or that
#: some spreadsheets strip/interpret): OWASP "CSV injection".
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
#: Separator used when a cell holds a sequence (e.g. a path of stages).
SEQUENCE_SEPARATOR = " → "


class ExportError(RuntimeError):
    """A chart could not be converted; the message is one plain sentence."""


def _vl_version() -> str | None:
    """The Vega-Lite version Altair writes (e.g. ``"6.4"``), if vl-convert knows it."""
    parts = alt.SCHEMA_VERSION.lstrip("v").split(".")
    wanted = ".".join(parts[:2])
    return wanted if wanted in vlc.get_vegalite_versions() else None


def chart_spec(chart: alt.TopLevelMixin | dict) -> dict:
    """The Vega-Lite spec of a chart (theme config and data inline)."""
    if isinstance(chart, dict):
        return chart
    return chart.to_dict()


def _convert(fn, chart, **kwargs):
    try:
        return fn(chart_spec(chart), vl_version=_vl_version(), **kwargs)
    except Exception as exc:  # vl-convert raises plain ValueError/RuntimeError
        raise ExportError(f"The chart could not be exported: {exc}") from exc


def chart_png(chart, *, scale: float = 2.0) -> bytes:
    """PNG image bytes; ``scale`` 2 gives a sharp image for slides (twice the pixels)."""
    return _convert(vlc.vegalite_to_png, chart, scale=scale, allowed_base_urls=[])


def chart_svg(chart) -> bytes:
    """SVG image as UTF-8 bytes (scales without blur; editable in vector tools)."""
    return _convert(vlc.vegalite_to_svg, chart, allowed_base_urls=[]).encode("utf-8")


def chart_pdf(chart) -> bytes:
    """One-page PDF bytes with the chart as vector graphics."""
    return _convert(vlc.vegalite_to_pdf, chart, allowed_base_urls=[])


def chart_html(chart) -> str:
    """A self-contained HTML page showing the interactive chart; the Vega libraries are
    bundled inside, so it opens offline."""
    return _convert(vlc.vegalite_to_html, chart, bundle=True)


CHART_FORMATS = {
    "png": ("image/png", chart_png),
    "svg": ("image/svg+xml", chart_svg),
    "pdf": ("application/pdf", chart_pdf),
}


def chart_bytes(chart, fmt: str) -> tuple[bytes, str]:
    """``(bytes, mime type)`` of a chart in ``fmt`` (``png``, ``svg`` or ``pdf``)."""
    try:
        mime, convert = CHART_FORMATS[fmt.lower()]
    except KeyError:
        raise ValueError(f"Unknown chart format {fmt!r}; use png, svg or pdf.") from None
    return convert(chart), mime


# ---------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------

def neutralise_text(value: str) -> str:
    """Prefix ``'`` to text a spreadsheet would read as a formula; other text unchanged."""
    if value and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def utc_iso(value) -> str:
    """An instant as ISO 8601 in UTC with a ``Z``: ``2025-03-01T08:30:00Z`` (fractions of a
    second only when there are some).  Naive values are UTC already (as stored); aware
    ones are converted.  Without the ``Z`` a spreadsheet or script would read the time as
    its own local time."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.isoformat(timespec="microseconds" if ts.microsecond or ts.nanosecond
                        else "seconds") + "Z"


def _datetime_column(series: pd.Series) -> pd.Series:
    """A datetime column as text: ISO dates (``2025-03-01``, the UTC day) when every value
    is a midnight UTC — period starts, dates — else :func:`utc_iso` instants.  Missing
    values stay missing."""
    ts = series
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    present = ts.dropna()
    if (present == present.dt.normalize()).all():
        return ts.dt.strftime("%Y-%m-%d").astype(object).where(ts.notna(), None)
    return pd.Series([utc_iso(v) if pd.notna(v) else None for v in ts], index=ts.index,
                     dtype=object)


def _cell(value) -> object:
    """One cell for the CSV writer: text neutralised, numbers kept as numbers."""
    if isinstance(value, str):
        return neutralise_text(value)
    if isinstance(value, (list, tuple)) or (hasattr(value, "tolist")
                                            and getattr(value, "ndim", 0) == 1):
        items = value.tolist() if hasattr(value, "tolist") else value
        return neutralise_text(SEQUENCE_SEPARATOR.join("" if v is None else str(v)
                                                       for v in items))
    if value is None or value is pd.NaT or value is pd.NA:
        return ""
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)   # .item() would give nanoseconds as an int
    elif hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy scalar
        value = value.item()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        # repr keeps every digit (str() would too, but repr is explicit about it).
        return "" if math.isnan(value) else repr(float(value))
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        return "" if pd.isna(value) else utc_iso(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    return neutralise_text(str(value))


def csv_bytes(frame: pd.DataFrame, *, columns: Sequence[str] | None = None,
              excel_bom: bool = True) -> bytes:
    """The frame as CSV (UTF-8, comma-separated, header row, no index).

    Text cells - including header names, which can come from a user's file - starting
    with ``=``, ``+``, ``-``, ``@``, tab or carriage return get a leading ``'`` so that a
    spreadsheet shows them as text instead of running them as formulas.  Numbers
    (including negative numbers) stay numbers.  Sequences (e.g. a path) are written as
    their items joined by " → ".  Times are UTC and say so: a column of period starts
    (every value a midnight UTC, e.g. a trend's ``period``) is written as ISO dates
    (``2025-03-01``), any other time as ``2025-03-01T08:30:00Z``.  ``excel_bom`` starts the file with a byte-order mark so
    that Excel reads non-ASCII text (é, →) correctly.
    """
    df = frame if columns is None else frame.loc[:, list(columns)]
    dates = [name for name, dtype in df.dtypes.items()
             if pd.api.types.is_datetime64_any_dtype(dtype)]
    if dates:
        df = df.copy()
        for name in dates:
            df[name] = _datetime_column(df[name])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([_cell(str(c)) for c in df.columns])
    for row in df.itertuples(index=False, name=None):
        writer.writerow([_cell(v) for v in row])
    text = buffer.getvalue()
    return (("\ufeff" + text) if excel_bom else text).encode("utf-8")
