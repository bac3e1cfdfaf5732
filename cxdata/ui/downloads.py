"""Charts with their download buttons: PNG and SVG of the chart, CSV of its data.

The image bytes are made only when a button is clicked (``download_button`` accepts a
callable), so drawing a page never waits for an image conversion.  Whether the numbers
are a sample's (a narrowed connected dataset) is looked up once per chart — it reads the
current dataset from the workspace catalog — and handed to its buttons.
"""
from __future__ import annotations

import functools
import os
import re

import altair as alt
import pandas as pd
import streamlit as st

from cxdata.presentation import export

#: "Not looked up yet" for a ``narrowing`` argument (None means: not a sample).
_LOOK_UP = object()


def file_stem(text: str) -> str:
    """A safe file name stem: letters, digits, ``-`` and ``_`` only."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-").lower()
    return stem[:80] or "chart"


def _narrowing(narrowing):
    """The current dataset's narrowing (:func:`cxdata.ui.spark_run.narrowing_shown`), looked
    up only when the caller has not done so already."""
    if narrowing is not _LOOK_UP:
        return narrowing
    from cxdata.ui import spark_run
    return spark_run.narrowing_shown()


def _sampled(name: str, narrowing) -> tuple[str, str]:
    """``(name, label)``: a narrowed connected dataset's results are a sample's, so the
    file name says so (``…-sample-10pct``) and ``label`` is the sentence to add
    (``narrowing``: the dataset's narrowing, None when it is not a sample)."""
    if narrowing is None:
        return name, ""
    return f"{name} {narrowing.slug()}", narrowing.label()


def csv_button(frame: pd.DataFrame, name: str, *, key: str, label: str = "CSV",
               help: str = "The numbers behind this view, for Excel or Sheets.",
               narrowing=_LOOK_UP) -> None:
    """A download button for ``frame`` as spreadsheet-safe CSV (a sample's numbers carry
    a ``sample`` column saying which sample).  ``narrowing``: the dataset's, when the
    caller has looked it up already."""
    name, sample = _sampled(name, _narrowing(narrowing))
    if sample:
        frame = frame.assign(sample=sample)
    st.download_button(label, data=lambda: export.csv_bytes(frame),
                       file_name=f"{file_stem(name)}.csv", mime="text/csv", key=key,
                       icon=":material/table_view:", on_click="ignore", type="tertiary",
                       help=help)


def download_row(chart: alt.TopLevelMixin, name: str, *, key: str,
                 data: pd.DataFrame | None = None, narrowing=_LOOK_UP) -> None:
    """PNG / SVG (and CSV when ``data`` is given) buttons in one row."""
    narrowing = _narrowing(narrowing)
    stem = file_stem(_sampled(name, narrowing)[0])
    with st.container(horizontal=True, gap="small", key=f"{key}_downloads"):
        st.download_button("PNG", data=lambda: export.chart_png(chart),
                           file_name=f"{stem}.png", mime="image/png", key=f"{key}_png",
                           icon=":material/image:", on_click="ignore", type="tertiary",
                           help="Picture of the chart for slides (2× resolution).")
        st.download_button("SVG", data=lambda: export.chart_svg(chart),
                           file_name=f"{stem}.svg", mime="image/svg+xml", key=f"{key}_svg",
                           icon=":material/draw:", on_click="ignore", type="tertiary",
                           help="Vector picture: sharp at any size, editable.")
        if data is not None:
            csv_button(data, name, key=f"{key}_csv", narrowing=narrowing)


#: Set (to anything but "" or "0") to check every chart drawn against the Vega-Lite schema,
#: as Altair does by default.  The test suite sets it for every test (tests/conftest.py),
#: so each chart a page test draws is checked.
CHECK_CHARTS_VARIABLE = "CXDATA_CHECK_CHARTS"


def _as_drawn(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """The chart, changed so that it is drawn (and exported) without Altair's schema check
    of its spec, which costs about 30 ms a chart on every rerun (a third of a cached
    redraw of a page with three charts) and can only fail on a chart the code builds
    wrongly — which the tests, drawing the pages with the check on, would show.  The
    chart itself is changed: a copy of a layered chart costs 15 ms."""
    if os.environ.get(CHECK_CHARTS_VARIABLE, "") not in ("", "0"):
        return chart
    # (Altair charts keep their attributes as spec properties: set the method directly)
    object.__setattr__(chart, "to_dict",
                       functools.partial(type(chart).to_dict, chart, validate=False))
    return chart


def chart_with_downloads(chart: alt.TopLevelMixin, name: str, *, key: str,
                         data: pd.DataFrame | None = None, on_select=None,
                         selection_mode: str | None = None, alt_text: str | None = None):
    """Show an Altair chart (app theme, full width) with its download buttons.

    ``on_select`` / ``selection_mode`` are passed to ``st.altair_chart``; the chart's
    selection state is returned when ``on_select`` is given.
    """
    options = {}
    if on_select is not None:
        options = {"on_select": on_select, "selection_mode": selection_mode}
    # theme=None: our registered Altair theme, identical to the exported images.
    state = st.altair_chart(_as_drawn(chart), theme=None, width="stretch", key=key,
                            alt=alt_text or name, **options)
    narrowing = _narrowing(_LOOK_UP)       # once for the caption and every button
    sample = _sampled(name, narrowing)[1]
    if sample:
        st.caption(f"{sample}: the numbers are this sample's, not the whole log's.")
    download_row(chart, name, key=key, data=data, narrowing=narrowing)
    return state if on_select is not None else None
