"""Paths: how customers move between stages (or touchpoints), the most common journeys,
and where customers go after dropping out of the stage funnel.

Figures come from ``cxdata.analytics.paths`` and ``cxdata.analytics.funnel`` through ``cxdata.ui.cached``.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from cxdata.presentation import charts
from cxdata.formatting import display_frame
from cxdata.ui import cached
from cxdata.ui.downloads import chart_with_downloads
from cxdata.ui.filters import describe, filter_bar, grouping_columns, plain
from cxdata.ui.state import require_dataset

URL = "query-params"
TABS = ["Transitions", "Common journeys", "After drop-off"]
#: Width of the journeys table's Journey column, and about how many characters fit a line.
JOURNEY_COLUMN_PX, JOURNEY_CHARS_PER_LINE = 500, 80


def process_order(info, by, ef) -> list[str] | None:
    """The order of the heatmap's rows and columns: the stage order for stages, else the
    order in which the values typically come in the journeys (``paths.value_order``)."""
    if by == "stage":
        return list(info.stage_order)
    return cached.call(info, "analytics.paths", "value_order", by, event_filter=ef)["value"].tolist()


def transitions_tab(info, by, by_label, ef):
    left, right = st.columns(2)
    collapse = left.toggle("Merge repeats (A → A counts once)", value=True,
                           key="pa_merge", bind=URL)
    value = right.segmented_control("Colour by", ["customers", "events"], default="customers",
                                    key="pa_value", bind=URL, required=True,
                                    format_func=lambda v: {"customers": "Customers",
                                                           "events": "Moves"}[v])
    frame = cached.transitions(info, by, event_filter=ef, collapse_repeats=collapse)
    if frame.empty:
        st.info("No interactions with these filters. Widen the dates or clear a filter.")
        return
    order = process_order(info, by, ef)
    unit = by_label.lower()
    if by == "stage":
        note = "in the dataset's stage order"
        st.caption(f"Rows and columns in the dataset's stage order; start = before a "
                   f"customer's first {plain(unit)}, end = after their last.")
    else:
        note = "in process order"
        st.caption(f"Rows and columns in process order: each {plain(unit)} where it typically "
                   f"comes in a journey (the median position of its first occurrence). "
                   "Hover a cell for the full names and its numbers.")
    chart = cached.chart(charts.transition_heatmap,
                         frame, order=order, value=value, by_title=by_label,
                         order_note=note)
    chart_with_downloads(chart, f"transitions by {by_label}", key="pa_transitions_chart",
                         data=frame)


def variants_tab(info, by, ef):
    by_label = grouping_columns(info)[by]
    top = st.slider("How many journeys", min_value=5, max_value=50, value=15, step=5,
                    key="pa_top", bind=URL)
    frame = cached.variants(info, by, event_filter=ef, top=top)
    if frame.empty:
        st.info("No interactions with these filters.")
        return
    chart = cached.chart(charts.variant_bars, frame, top=top, by_title=by_label)
    chart_with_downloads(chart, "common journeys", key="pa_variants_chart",
                         data=journeys_table(frame, by_label))
    st.caption(f"Every journey in full: its {plain(by_label.lower())}s in order, consecutive "
               "repeats merged. # is the number on the chart.")
    # Long journeys wrap: rows as tall as the longest one needs (at most six lines).
    longest = int(frame["path_label"].str.len().max())
    lines = min(6, max(1, -(-longest // JOURNEY_CHARS_PER_LINE)))
    row_height = 12 + 21 * lines
    st.dataframe(display_frame(journeys_table(frame, by_label)), hide_index=True, width="stretch",
                 row_height=row_height, height=min(42 + row_height * len(frame), 760),
                 column_config={
                     "#": st.column_config.NumberColumn(width=40),
                     "Customers": st.column_config.NumberColumn(format="localized"),
                     "Share of customers": st.column_config.NumberColumn(format="percent"),
                     "Journey": st.column_config.TextColumn(width=JOURNEY_COLUMN_PX)})


def journeys_table(frame, by_label: str):
    """The variants as people read them: numbered, the whole journey, named columns."""
    return pd.DataFrame({
        "#": frame["rank"], "Customers": frame["customers"],
        "Share of customers": frame["share"], f"{by_label}s": frame["steps"],
        "Median duration": [charts.format_duration(v)
                            for v in frame["median_duration_seconds"]],
        "Journey": frame["path_label"]})


def after_dropoff_tab(info, columns, ef):
    # The journey funnel the Overview and the Funnel page open on: the stages, or for a
    # log without stages its most common path of events.
    by, steps = cached.journey_funnel_steps(info, event_filter=ef)
    if len(steps) < 2:
        st.info("Drop-offs are measured along a funnel: this dataset has neither two stages "
                "nor a path of events that a fifth of its customers follow. Map events to "
                "stages on the **Data** page.")
        return
    step_word = "stage" if by == "stage" else by
    shown_columns = [c for c in ("touchpoint", "event", "channel", "stage") if c in columns]
    # where someone left by the steps' own column only repeats the step: prefer another
    default = next((c for c in shown_columns if c != by), shown_columns[0])
    left, right = st.columns(2)
    after = left.selectbox(f"Dropped out after {step_word}", list(range(1, len(steps))),
                           index=0, key="pa_after", bind=URL,
                           format_func=lambda i: f"{i}. {steps[i - 1]} (did not reach "
                                                 f"{steps[i]})")
    column = right.selectbox("Show by", shown_columns, index=shown_columns.index(default),
                             key="pa_next", bind=URL, format_func=lambda c: columns[c].lower())
    summary = cached.dropoff_summary(info, steps, after, column=column, by=by, event_filter=ef)
    if not summary.customers:
        st.info(f"Nobody dropped out after {plain(steps[after - 1])} with these filters.")
        return
    st.caption(f"{summary.customers:,} customers reached {plain(steps[after - 1])} but not "
               f"{plain(steps[after])} (the funnel in {step_word} order, no time limit).")
    c1, c2 = st.columns(2)
    with c1:
        chart = cached.chart(charts.share_bars,
                             summary.left_at, title=f"Where they left {steps[after - 1]}",
                             label_title=columns[column], width=360,
                             subtitle=f"Their last {steps[after - 1]} interaction")
        chart_with_downloads(chart, f"where they left {steps[after - 1]}",
                             key="pa_left_chart", data=summary.left_at)
    with c2:
        chart = cached.chart(charts.share_bars, summary.next, title="What they did next",
                             label_title=columns[column], width=360,
                             subtitle=f"Their first interaction after that last "
                                      f"{steps[after - 1]} one")
        chart_with_downloads(chart, f"after dropping out at {steps[after - 1]}",
                             key="pa_after_chart", data=summary.next)
    st.page_link("pages/funnel.py", label="See who dropped out on the Funnel page",
                 icon=":material/filter_alt:")

def main() -> None:
    info = require_dataset()
    ef = filter_bar(info)
    columns = grouping_columns(info)
    st.title("Paths")
    st.caption("How customers move through the journey. "
               f"Dataset **{plain(info.name)}** · {plain(describe(ef, columns))}")
    sequence = [c for c in ("stage", "touchpoint", "event", "channel") if c in columns]
    if not sequence:
        st.info("The dataset has no stage, touchpoint or event column to follow.")
        return
    by = st.columns(3)[0].selectbox("Follow customers by", sequence, index=0, key="pa_by",
                                    bind=URL, format_func=lambda c: columns[c])
    tabs = st.tabs(TABS, key="pa_tab", bind=URL, default=TABS[0])
    if tabs[0].open:
        with tabs[0]:
            transitions_tab(info, by, columns[by], ef)
    if tabs[1].open:
        with tabs[1]:
            variants_tab(info, by, ef)
    if tabs[2].open:
        with tabs[2]:
            after_dropoff_tab(info, columns, ef)


main()
