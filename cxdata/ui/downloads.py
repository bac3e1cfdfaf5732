"""Charts with their download buttons: PNG and SVG of the chart, CSV of its data.

The image bytes are made only when a button is clicked (``download_button`` accepts a
callable), so drawing a page never waits for an image conversion.
"""
from __future__ import annotations

import re

import altair as alt
import pandas as pd
import streamlit as st

from cxdata.presentation import export


def file_stem(text: str) -> str:
    """A safe file name stem: letters, digits, ``-`` and ``_`` only."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-").lower()
    return stem[:80] or "chart"


def _sampled(name: str) -> tuple[str, str]:
    """``(name, label)``: a narrowed connected dataset's results are a sample's, so the
    file name says so (``…-sample-10pct``) and ``label`` is the sentence to add."""
    from cxdata.ui.spark_run import sample_label, sample_slug
    label = sample_label()
    return (f"{name} {sample_slug()}" if label else name), label


def csv_button(frame: pd.DataFrame, name: str, *, key: str, label: str = "CSV",
               help: str = "The numbers behind this view, for Excel or Sheets.") -> None:
    """A download button for ``frame`` as spreadsheet-safe CSV (a sample's numbers carry
    a ``sample`` column saying which sample)."""
    name, sample = _sampled(name)
    if sample:
        frame = frame.assign(sample=sample)
    st.download_button(label, data=lambda: export.csv_bytes(frame),
                       file_name=f"{file_stem(name)}.csv", mime="text/csv", key=key,
                       icon=":material/table_view:", on_click="ignore", type="tertiary",
                       help=help)


def download_row(chart: alt.TopLevelMixin, name: str, *, key: str,
                 data: pd.DataFrame | None = None) -> None:
    """PNG / SVG (and CSV when ``data`` is given) buttons in one row."""
    stem = file_stem(_sampled(name)[0])
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
            csv_button(data, name, key=f"{key}_csv")


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
    state = st.altair_chart(chart, theme=None, width="stretch", key=key,
                            alt=alt_text or name, **options)
    sample = _sampled(name)[1]
    if sample:
        st.caption(f"{sample}: the numbers are this sample's, not the whole log's.")
    download_row(chart, name, key=key, data=data)
    return state if on_select is not None else None
