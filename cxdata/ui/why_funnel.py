"""Page helpers for the Why analyses of a funnel (SPEC §8.1, §8.3): the pages call them,
this module only wires widgets to cached calls and charts.

* :func:`why_drop_section`  what goes with going on after a step (conversion drivers):
  the strongest associations in words, a forest plot, the table;
* :func:`control_section`   conversion per week or month with control limits, and for
  each signal the segments that explain it;
* :func:`score_control_section`  the same for NPS, CSAT or CES (Touchpoints page).
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from cxdata.presentation import charts_why
from cxdata.formatting import format_count, format_p, format_percent
from cxdata.ui import cached
from cxdata.ui.downloads import chart_with_downloads, csv_button
from cxdata.ui.filters import plain
from cxdata.why.drivers import driver_sentence

URL = "query-params"
#: Logs up to this many interactions get the Why analyses at once; bigger ones on request
#: (a toggle in the URL).  The Overview's "What goes with it" uses the same size.
WHY_AUTOMATIC_ROWS = 1_000_000
#: Sentences shown above the forest plot.
TOP_SENTENCES = 3


def _drivers(info, steps, after, options):
    return cached.call(info, "why.drivers", "conversion_drivers", list(steps), after, **options)


def why_drop_section(info, steps, after: int | None, options: dict, columns: dict) -> None:
    """Conversion drivers of going on from step ``after`` (1-based; None = the step with
    the most drop-outs) to the next.  ``options``: the funnel's (by, window_seconds,
    order, event_filter, entry range, exclusions); ``columns``: column -> label.

    On a log of more than :data:`WHY_AUTOMATIC_ROWS` interactions only on request (a
    toggle kept in the URL, ``?why_drop=true``): the drivers take about 1.8 s at 10 million
    (3.8 s the first time, which stores the touchpoints' timeline; longer under a filter,
    which reads the events), and a filter change must redraw the funnel without waiting
    for them."""
    if info.rows_accepted > WHY_AUTOMATIC_ROWS and not st.toggle(
            "Why do they drop here? Look for what goes with going on", value=False,
            key="why_drop", bind=URL,
            help=f"Conversion drivers over {info.rows_accepted:,} interactions: entry "
                 "channel, touchpoints used and bad scores, each compared between those "
                 "who went on and those who did not."):
        return
    try:
        with st.spinner("Looking for what goes with going on…"):
            result = _drivers(info, steps, after, options)
    except ValueError as exc:
        st.warning(str(exc))
        return
    st.markdown(f"**What goes with going on from {plain(result.step_from)} to "
                f"{plain(result.step_to)}** · {format_count(result.converted)} of "
                f"{format_count(result.customers)} customers went on "
                f"({format_percent(result.converted / result.customers if result.customers else None)})")
    sentences = result.sentences(TOP_SENTENCES)
    if sentences:
        st.markdown("\n".join(f"- {plain(s)}" for s in sentences))
    else:
        st.info("No factor goes with going on more or less often beyond chance "
                "(adjusted p ≥ 0.05).")
    st.caption("Associations, not causes: a factor that goes with fewer conversions may be a "
               "symptom (customers who are already stuck open the chat). p is adjusted for "
               "testing many factors at once (Benjamini–Hochberg).")
    if result.drivers.empty:
        return
    chart = cached.chart(charts_why.driver_forest, result.drivers, column_names=columns)
    chart_with_downloads(chart, f"drivers after {result.step_from}", key="why_forest",
                         data=result.drivers)
    shown = result.drivers.copy()
    shown.insert(0, "factor", [charts_why.factor_label(k, columns.get(c, c), v) for k, c, v
                               in zip(shown["kind"], shown["column"], shown["value"])])
    shown["adjusted"] = [format_p(p) for p in shown["p_adjusted"]]
    st.dataframe(shown, hide_index=True, height=300, column_order=[
        "factor", "with_n", "with_converted", "without_n", "without_converted", "odds_ratio",
        "ci_low", "ci_high", "adjusted", "low_sample"], column_config={
        "factor": "Factor",
        "with_n": st.column_config.NumberColumn("With it", format="localized"),
        "with_converted": st.column_config.NumberColumn("… went on", format="localized"),
        "without_n": st.column_config.NumberColumn("Without it", format="localized"),
        "without_converted": st.column_config.NumberColumn("… went on ", format="localized"),
        "odds_ratio": st.column_config.NumberColumn("Odds ratio", format="%.2f"),
        "ci_low": st.column_config.NumberColumn("95% from", format="%.2f"),
        "ci_high": st.column_config.NumberColumn("95% to", format="%.2f"),
        "adjusted": "Adjusted p",
        "low_sample": st.column_config.CheckboxColumn(
            "Low sample", help="Fewer than 30 customers had it: read with care.")})
    _one_factor(result, shown)


def _one_factor(result, shown: pd.DataFrame) -> None:
    """A picker of one factor (in the URL, ``?why_factor=…``) and its 2×2 table in words:
    how many with and without it went on, and its sentence."""
    labels = list(dict.fromkeys(shown["factor"]))
    factor = st.columns([1, 2])[0].selectbox(
        "Look at one factor", labels, index=0, key="why_factor", bind=URL,
        help="Its customers with and without it, and whether they went on.")
    row = shown[shown["factor"] == factor].iloc[0]
    went_on = pd.DataFrame({
        "": ["With it", "Without it"],
        "Customers": [int(row["with_n"]), int(row["without_n"])],
        "Went on": [int(row["with_converted"]), int(row["without_converted"])],
        "Did not": [int(row["with_n"] - row["with_converted"]),
                    int(row["without_n"] - row["without_converted"])],
        "Share who went on": [format_percent(row["with_converted"] / row["with_n"]),
                              format_percent(row["without_converted"] / row["without_n"])],
    })
    count = st.column_config.NumberColumn(format="localized")
    st.dataframe(went_on, hide_index=True, column_config={
        "Customers": count, "Went on": count, "Did not": count})
    # The sentence holds the log's values: plain text, never Markdown.
    st.text(driver_sentence(row, result.step_from, result.step_to)
            + f"; adjusted {format_p(row['p_adjusted'])}"
            + (" — low sample, read with care." if row["low_sample"] else "."))


def _explain_choices(info) -> list[str]:
    """Entry columns a signal can be explained by: channel and the attributes that are
    not ids."""
    id_like = set(cached.id_like_columns(info))
    choices = ["channel"] if "channel" in info.roles else []
    return choices + [a for a in info.attributes if a not in id_like]


def _signal_tables(result, grain: str, explain: str | None, label: str, fmt, key: str) -> None:
    """For each signal: a line with its value and limits, and the groups behind it."""
    flagged = result.buckets[result.buckets["signal"].notna()]
    if flagged.empty:
        st.caption("No period is out of the ordinary: every complete one lies within its "
                   "limits, and no 8 in a row sit on one side of the centre.")
        return
    for bucket in flagged.itertuples():
        name = charts_why.period_name(bucket.start, grain)
        st.markdown(f"**{plain(name)}: {plain(bucket.signal)}** · {label} {plain(fmt(bucket.value))} "
                    f"(n = {format_count(bucket.n)}) against a centre of {plain(fmt(bucket.centre))} "
                    f"(limits {plain(fmt(bucket.lcl))} to {plain(fmt(bucket.ucl))})")
        rows = result.explanations[result.explanations["start"] == bucket.start]
        if rows.empty:
            continue
        shown = pd.DataFrame({"group": rows["group"], "value": [fmt(v) for v in rows["value"]],
                              "contribution": [format_percent(c, 0) for c in rows["contribution"]]})
        st.dataframe(shown, hide_index=True, column_config={
            "group": str(explain), "value": label.capitalize(),
            "contribution": st.column_config.TextColumn(
                "Share of the gap", help="n·(group's value − its usual) / (n·(value − centre)): "
                                         "the part of this period's gap the group makes.")})
    if len(result.explanations):
        csv_button(result.explanations, f"signals explained by {explain}", key=f"{key}_csv",
                   label="Download the explanations (CSV)")


def score_control_section(info, metric: str, grain: str, event_filter=None) -> None:
    """``metric`` (nps, csat or ces) per ``grain`` of response with control limits; for
    each signal, the groups of a chosen column (touchpoint, channel, stage, attributes)
    behind it."""
    from cxdata.presentation.charts import METRIC_DISPLAY
    id_like = set(cached.id_like_columns(info))
    choices = [r for r in ("touchpoint", "channel", "stage") if info.has_role(r)]
    choices += [a for a in info.attributes if a not in id_like]
    explain = None
    if choices:
        explain = st.columns([1, 2])[0].selectbox(
            "Explain signals by", choices, index=0, key="why_score_explain", bind=URL,
            help="For each week or month out of the ordinary: which groups make the difference.")
    result = cached.call(info, "why.trends", "score_trend_limits", metric, grain,
                         explain_by=explain, event_filter=event_filter)
    chart = cached.chart(charts_why.control_chart, result.buckets, metric, grain)
    chart_with_downloads(chart, f"{metric} per {grain} with control limits",
                         key="why_score_control", data=result.buckets)
    _, fmt = charts_why.TREND_DISPLAY[metric]
    _signal_tables(result, grain, explain, METRIC_DISPLAY[metric]["label"], fmt, "why_score_explain")


def control_section(info, steps, options: dict, grain: str) -> None:
    """The funnel's conversion per ``grain`` ("week" or "month") of entry with control
    limits; for each signal, the groups of the chosen column behind it."""
    choices = _explain_choices(info)
    explain = None
    if choices:
        explain = st.columns([1, 2])[0].selectbox(
            "Explain signals by", choices, index=0, key="why_explain", bind=URL,
            help="For each week or month out of the ordinary: which groups (by their value "
                 "at entry) make the difference.")
    try:
        result = cached.call(info, "why.trends", "conversion_trend_limits", list(steps), grain,
                             explain_by=explain, **options)
    except ValueError as exc:
        st.warning(str(exc))
        return
    chart = cached.chart(charts_why.control_chart, result.buckets, "conversion", grain)
    chart_with_downloads(chart, f"conversion per {grain} with control limits", key="why_control",
                         data=result.buckets)
    _signal_tables(result, grain, explain, "conversion", format_percent, "why_explain")
