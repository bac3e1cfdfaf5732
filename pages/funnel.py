"""Funnel: where customers drop out, who they are and what they did next, per segment
and over time.

Steps default to the dataset's stage order; any column's values can be steps.  Click a
bar (or use "Drop-outs after") to see who dropped there.  Every figure comes from
``cxdata.analytics.funnel`` through ``cxdata.ui.cached``; this page only wires widgets.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from cxdata.presentation import charts
from cxdata.analytics.funnel import Exclusion, most_dropped_step, parse_duration
from cxdata.analytics.scores import LOW_SAMPLE_DEFAULT as LOW_SAMPLE
from cxdata.ui import cached
from cxdata.ui.downloads import chart_with_downloads, csv_button
from cxdata.ui.filters import (build_event_filter, describe, drop_stale_choices, filter_bar,
                               grouping_columns, plain)
from cxdata.ui.state import require_dataset
from cxdata.ui.steps import relabelled, step_choices
from cxdata.ui.why_funnel import control_section, why_drop_section

URL = "query-params"
CHART_KEY = "fn_chart"
DROP_KEY = "fn_drop"
TAB_KEY = "fn_tab"
#: Rows of the drop-out list shown and downloaded (keeps the page light on big logs).
MAX_LISTED = 10_000
WINDOWS = {"none": "No limit", "1h": "1 hour", "1d": "1 day", "7d": "7 days",
           "30d": "30 days", "custom": "Custom…"}
ORDERS = {"ordered": "In order", "strict": "Strictly next", "unordered": "Any order"}
ORDER_HELP = ("In order: the steps happen in this order, other interactions in between are "
              "fine. Strictly next: each step is the customer's very next interaction. Any "
              "order: counts how many of the steps a customer completed.")
TABS = ["Drop-outs", "Breakdown", "Time to convert", "Over time", "Table"]


def window_seconds() -> float | None:
    """The conversion window from the preset or the custom text (seconds; None = no limit)."""
    preset = st.selectbox("Conversion window", list(WINDOWS), index=0, key="fn_window",
                          bind=URL, format_func=WINDOWS.get,
                          help="Time allowed from the first step to the last.")
    if preset != "custom":
        return parse_duration(preset)
    text = st.text_input("Custom window", value="14d", key="fn_window_custom", bind=URL,
                         help="For example 90m, 12h, 14d or 2w.")
    try:
        return parse_duration(text)
    except ValueError as exc:
        st.warning(str(exc) + " Using no limit until it is fixed.")
        return None


def pick_steps(info, columns) -> tuple[str, list[str], list[str]]:
    """The column whose values are steps, the steps in funnel order, and their labels
    (a repeated value's label says which time it is)."""
    names = [c for c in columns if c != "channel"] + (["channel"] if "channel" in columns else [])
    default = "stage" if "stage" in names else names[0]
    left, right = st.columns([1, 3])
    by = left.selectbox("Steps are", names, index=names.index(default), key="fn_by", bind=URL,
                        format_func=lambda c: columns[c])
    if by == "stage" and info.stage_order:
        options, default_steps = list(info.stage_order), list(info.stage_order)
    else:
        # No stage order to follow: start from the values most customers meet, in the
        # order they usually meet them, so that the page shows a funnel at once.
        options = cached.column_values(info, by)
        default_steps = [v for v in cached.suggest_steps(info, by) if v in options]
    choices = step_choices(options)
    # Another dataset's steps (after a change of dataset) leave the widget and the URL.
    drop_stale_choices(f"fn_steps_{by}", list(choices))
    # One widget per column, so that switching the column never keeps foreign values.
    picked = right.multiselect("Steps, in order", list(choices), default=default_steps,
                               key=f"fn_steps_{by}", bind=URL,
                               placeholder="Pick the steps in the order customers take them",
                               help="The order you pick them in is the funnel order. To count "
                                    "a value again as a later step (a second purchase, say), "
                                    "pick its '2nd time' entry: each step needs its own "
                                    "interaction.")
    return by, [choices[label] for label in picked], picked


def entry_range(info) -> tuple:
    """``(entry_start, entry_end)`` for the funnel's own date range (None = open)."""
    span = cached.date_span(info)
    if not (span[0] and span[1]):
        return None, None
    dates = st.date_input("Entered the funnel between (UTC)", value=(span[0], span[1]),
                          min_value=span[0], max_value=span[1], key="fn_entry", bind=URL,
                          format="YYYY-MM-DD",
                          help="Counts customers whose first step falls in these days; "
                               "later steps may come after the last day.")
    bounds = build_event_filter(dates, span)
    return bounds.start, bounds.end


def pick_exclusions(info, columns, by: str, steps: list[str]) -> tuple[Exclusion, ...]:
    """Optional exclusions (SPEC §2): customers who had one of the picked values between
    two steps of their counted attempt leave the whole funnel (``steps``: their labels)."""
    names = list(columns)
    # Closed by default; the caption under it says what an active exclusion removed.
    with st.expander("Exclude customers who…", icon=":material/block:"):
        c1, c2, c3, c4 = st.columns([2, 3, 2, 2])
        column = c1.selectbox("had an interaction on", names, index=names.index(by),
                              key="fn_ex_by", bind=URL, format_func=lambda c: columns[c].lower())
        # One widget per column, as for the steps: switching never keeps foreign values.
        values = c2.multiselect("with the value", cached.column_values(info, column),
                                key=f"fn_ex_values_{column}", bind=URL,
                                placeholder="e.g. a support call or a complaint",
                                help="Any of these removes the customer from the whole funnel.")
        labels = {i: f"{i}. {step}" for i, step in enumerate(steps, start=1)}
        after = c3.selectbox("after step", list(labels)[:-1], index=0, key="fn_ex_after",
                             bind=URL, format_func=labels.get)
        before = c4.selectbox("and before step", list(labels)[1:], index=len(steps) - 2,
                              key="fn_ex_before", bind=URL, format_func=labels.get,
                              help="For customers who never reached this step: before "
                                   "their conversion window ended.")
        if not values:
            return ()
        if before <= after:
            st.warning(f"Pick a later step than {plain(labels[after])} to end the exclusion; "
                       "no one is excluded until then.")
            return ()
    return tuple(Exclusion(value=v, column=column, after_step=after, before_step=before)
                 for v in values)


def show_excluded(info, steps, labels, options, result, exclusions) -> int:
    """Say how many customers the exclusions removed, and which (``labels``: the steps as
    picked); returns how many entered the funnel before the exclusions."""
    without = cached.funnel(info, steps, **{k: v for k, v in options.items() if k != "exclusions"})
    first = exclusions[0]
    values = " or ".join(f"'{plain(e.value)}'" for e in exclusions)
    st.caption(f"Excluded: {without.entered - result.entered:,} of {without.entered:,} "
               f"customers, who had {values} between {plain(labels[first.after_step - 1])} "
               f"and {plain(labels[first.before_step - 1])}.")
    return without.entered


def on_step_click(steps: list[str]) -> None:
    """Copy a clicked funnel bar into the "Drop-outs after" picker (and so the URL)."""
    state = st.session_state.get(CHART_KEY) or {}
    picked = (state.get("selection") or {}).get(charts.FUNNEL_SELECTION) or []
    if picked:
        index = int(picked[0]["step_index"])
        st.session_state[DROP_KEY] = min(index, len(steps) - 1)
        st.session_state[TAB_KEY] = TABS[0]     # show the drop-outs of the clicked step


def pick_dropout_step(result, container) -> int:
    """The step whose drop-outs are shown (1-based; never the last step).

    Drawn before the chart so that a link with ``?fn_drop=…`` highlights its bar at once.
    Preselected: the step losing most customers.
    """
    biggest = most_dropped_step(result)
    options = list(range(1, len(result.steps)))
    # A click on a bar sets the value through Session State (on_step_click); a default
    # index as well would make Streamlit warn about two sources of one value.
    index = None if st.session_state.get(DROP_KEY) in options else biggest - 1
    kwargs = {} if index is None else {"index": index}
    return container.selectbox("Drop-outs after", options, key=DROP_KEY, bind=URL, **kwargs,
                               format_func=lambda i: f"{i}. {result.steps[i - 1].step}",
                               help="Or click a bar of the funnel. Preselected: the step "
                                    "where most customers drop out.")


def step_name(result, j: int) -> str:
    """Step ``j`` (1-based) as text: "Purchase"; for an any-order funnel, whose rows count
    completed steps, "2 of 3 steps"."""
    name = result.steps[j - 1].step
    if all(s.step.startswith("completed ") for s in result.steps):
        return f"{j} of {len(result.steps)} steps"
    return plain(name)


def _chosen(key: str):
    """The value widget ``key`` (bound to the URL) will return, read before it is drawn:
    from the session, else from the link the page was opened with; None if neither."""
    if key in st.session_state:
        return st.session_state[key]
    return st.query_params.get(key)


def next_columns(columns) -> list[str]:
    """The columns the drop-outs can be shown by, the default first."""
    return [c for c in ("touchpoint", "event", "stage", "channel") if c in columns]


def funnel_and_view(info, steps, options, columns):
    """The funnel; when the Drop-outs tab is open, found with the drop-out view its
    widgets will ask for, from one set of counted attempts (``cached.funnel_and_dropoff``
    stores the view where ``cached.dropoff_summary`` finds it), so that the view does not
    find the funnel's customers again.  The widgets are drawn later, from the funnel:
    their values are read here as they will be (an unusable one means the default, as
    for the widgets)."""
    tab = _chosen(TAB_KEY) or TABS[0]
    shown = next_columns(columns)
    if tab != TABS[0] or not shown:
        return cached.funnel(info, steps, **options)
    column = _chosen("fn_next")
    column = column if column in shown else shown[0]
    try:
        # a number in the session; "3. Purchase" (its label) in a link
        after = int(str(_chosen(DROP_KEY)).split(".")[0])
    except ValueError:
        after = None
    return cached.funnel_and_dropoff(info, steps, column, after, **options)[0]


def dropouts_tab(info, result, steps, after, options, columns):
    step, following = result.steps[after - 1], result.steps[after]
    c1, c2, c3 = st.columns(3)
    # Step names are user text: plain() keeps Markdown in them from being read as such.
    c1.metric(f"Reached {step_name(result, after)}", f"{step.customers:,}", border=True)
    c2.metric(f"Did not reach {step_name(result, after + 1)}", f"{step.dropped:,}", border=True)
    c3.metric("Went on", charts.format_percent(following.conversion_from_previous), border=True,
              help=f"Share of those who reached {plain(step.step)} who also reached "
                   f"{plain(following.step)}.")
    if not step.dropped:
        st.info(f"Everybody who reached {plain(step.step)} went on to {plain(following.step)}.")
        return
    column = st.columns([1, 2])[0].selectbox(
        "Show where they left and what they did next, by", next_columns(columns), index=0,
        key="fn_next", bind=URL, format_func=lambda c: columns[c].lower())
    summary = cached.dropoff_summary(info, steps, after, column=column, **options)
    if summary.in_progress:
        st.caption(f"{summary.in_progress:,} of the {summary.customers:,} entered so recently "
                   "that their conversion window was still open when the log ends: they are "
                   "counted as dropped, as their peers, but may still go on.")
    left, right = st.columns(2)
    with left:
        chart = cached.chart(charts.share_bars,
                             summary.left_at, title=f"Where they left {step.step}",
                             label_title=columns[column],
                             subtitle=f"Their last {step.step} interaction, share of the "
                                      "drop-outs", width=360)
        chart_with_downloads(chart, f"where they left {step.step}", key="fn_left_chart",
                             data=summary.left_at)
    with right:
        chart = cached.chart(charts.share_bars, summary.next, title="What they did next",
                             label_title=columns[column],
                             subtitle=f"Their first interaction after that last "
                                      f"{step.step} one", width=360)
        chart_with_downloads(chart, f"what they did after leaving {step.step}",
                             key="fn_next_chart", data=summary.next)
    why_drop_section(info, steps, after, options, columns)
    # The list is a query of its own over every drop-out: only on request, so that a
    # filter change redraws the funnel without waiting for it.
    if not st.toggle(f"List the {step.dropped:,} customers who dropped out", value=False,
                     key="fn_list", bind=URL):
        return
    who = cached.dropoff_customers(info, steps, after, column=column, limit=MAX_LISTED,
                                   **options)
    shown = (f"the first {len(who):,} of {step.dropped:,}" if step.dropped > len(who)
             else f"all {len(who):,}")
    st.markdown(f"**Who dropped out after {plain(step.step)}** ({shown}: where they left, and "
                f"their next three {plain(columns[column].lower())} values)")
    st.dataframe(who, hide_index=True, height=260, column_config={
        "customer_id": "Customer",
        "step_time": st.column_config.DatetimeColumn(f"Reached {step.step} (UTC)",
                                                     format="YYYY-MM-DD HH:mm"),
        "left_at": "Left at",
        "left_time": st.column_config.DatetimeColumn("Left (UTC)", format="YYYY-MM-DD HH:mm"),
        "in_progress": st.column_config.CheckboxColumn(
            "In progress", help="Their conversion window was still open when the log ends."),
        "next_1": "Next", "next_2": "Then", "next_3": "Then"})
    csv_button(who, f"dropped after {step.step}", key="fn_who_csv",
               label="Download the list (CSV)")


def breakdown_tab(info, steps, options, columns, step_labels):
    names = [c for c in columns if c != options["by"]]
    if not names:
        st.info("No other column to break the funnel down by.")
        return
    default = "channel" if "channel" in names else names[0]
    breakdown = st.selectbox("Break down by", names, index=names.index(default),
                             key="fn_breakdown", bind=URL, format_func=lambda c: columns[c],
                             help="Each customer counts in the group of their first step's "
                                  "interaction (e.g. their entry channel).")
    groups = cached.funnel_breakdown(info, steps, breakdown, **options)
    if step_labels:
        groups = [(group, relabelled(result, step_labels)) for group, result in groups]
    if not groups:
        st.info("Nobody entered the funnel with these filters.")
        return
    # Each group is named with its n, and a small one is marked, on the chart and below.
    named = [(group_label(group, result.entered), result) for group, result in groups]
    long = charts.frame_from_breakdown(named)
    chart = cached.chart(charts.breakdown_bars, long, breakdown_title=columns[breakdown],
                         title=f"Funnel by {columns[breakdown].lower()}")
    chart_with_downloads(chart, f"funnel by {columns[breakdown]}", key="fn_breakdown_chart",
                         data=charts.frame_from_breakdown(groups))
    small = sum(1 for _, result in groups if result.entered < LOW_SAMPLE)
    summary = breakdown_summary(groups)
    st.caption("n = customers who entered the funnel in the group. "
               + (f"{small:,} group{'s' if small > 1 else ''} with fewer than {LOW_SAMPLE} "
                  "entrants (marked *, low sample): their conversion can move a lot with a few "
                  "more customers." if small else "Every group has at least "
                                                    f"{LOW_SAMPLE} entrants."))
    st.dataframe(summary, hide_index=True, column_config={
        "group": columns[breakdown],
        "entered": st.column_config.NumberColumn("Entered (n)", format="localized"),
        "converted": st.column_config.NumberColumn(f"Reached {steps_last_label(groups)}",
                                                   format="localized"),
        "conversion": st.column_config.NumberColumn("Conversion", format="percent"),
        "low_sample": st.column_config.CheckboxColumn(f"Low sample (n < {LOW_SAMPLE})")})


def group_label(group: str, entered: int) -> str:
    """"Email (n = 2,157)", with a * when the group is a low sample."""
    return f"{group} (n = {entered:,})" + (" *" if entered < LOW_SAMPLE else "")


def steps_last_label(groups) -> str:
    return groups[0][1].steps[-1].step if groups and groups[0][1].steps else "last step"


def breakdown_summary(groups) -> pd.DataFrame:
    """One row per group: entered, reached the last step, conversion (0…1), low sample."""
    return pd.DataFrame([{"group": group, "entered": result.entered,
                          "converted": result.steps[-1].customers,
                          "conversion": result.steps[-1].conversion_from_start,
                          "low_sample": result.entered < LOW_SAMPLE}
                         for group, result in groups])


def time_tab(info, result, steps, options):
    if options["order"] == "unordered":
        st.info("Times between steps need an order; choose 'In order' or 'Strictly next'.")
        return
    choices = list(range(2, len(steps) + 1))
    to = st.selectbox("Time to reach", choices, index=0, key="fn_time_step", bind=URL,
                      format_func=lambda j: f"{j}. {result.steps[j - 1].step} "
                                            f"(from {result.steps[j - 2].step})")
    step = result.steps[to - 1]
    c1, c2, c3 = st.columns(3)
    c1.metric("Median", charts.format_duration(step.median_seconds_from_previous), border=True)
    c2.metric("90% within", charts.format_duration(step.p90_seconds_from_previous), border=True)
    c3.metric("Mean", charts.format_duration(step.mean_seconds_from_previous), border=True)
    hist = cached.step_durations_histogram(info, steps, to, **options)
    chart = cached.chart(charts.duration_histogram, hist, from_step=result.steps[to - 2].step,
                         to_step=step.step)
    chart_with_downloads(chart, f"time to {step.step}", key="fn_time_chart", data=hist)


def trend_tab(info, steps, options):
    grain = st.segmented_control("Per", ["week", "month"], default="week", key="fn_grain",
                                 bind=URL, required=True)
    frame = cached.funnel_trend(info, steps, grain, **options)
    chart = cached.chart(charts.conversion_trend, frame, grain=grain)
    chart_with_downloads(chart, f"conversion per {grain}", key="fn_trend_chart", data=frame)
    open_periods = int(frame["incomplete"].sum()) if not frame.empty else 0
    if open_periods:
        its = "their" if open_periods > 1 else "its"
        why = (f"some of {its} entrants were still inside their conversion window when the log "
               "ends" if options.get("window_seconds") is not None else
               f"{its} entrants had less time before the log ends than 9 in 10 converters "
               "took to convert")
        st.caption(f"The last {open_periods:,} {grain}{'s are' if open_periods > 1 else ' is'} "
                   f"incomplete: {why}, so the conversion can still rise. Read it as a floor, "
                   "not a drop.")
    control_section(info, steps, options, grain)


def table_tab(result):
    frame = result.to_frame()
    # Durations as readable text for the screen; the CSV keeps exact seconds.
    shown = frame.copy()
    for name in ("median", "p90", "mean"):
        column = f"{name}_seconds_from_previous"
        shown[column] = [charts.format_duration(v) for v in shown[column]]
    st.dataframe(shown, hide_index=True, column_order=[
        "step_index", "step", "customers", "conversion_from_start", "conversion_from_previous",
        "dropped", "median_seconds_from_previous", "p90_seconds_from_previous",
        "mean_seconds_from_previous"], column_config={
        "step_index": "#", "step": "Step",
        "customers": st.column_config.NumberColumn("Customers", format="localized"),
        "conversion_from_start": st.column_config.NumberColumn("From start", format="percent"),
        "conversion_from_previous": st.column_config.NumberColumn("From previous",
                                                                  format="percent"),
        "dropped": st.column_config.NumberColumn("Dropped before next", format="localized"),
        "median_seconds_from_previous": "Median time from previous",
        "p90_seconds_from_previous": "90% within",
        "mean_seconds_from_previous": "Mean time"})
    csv_button(frame, "funnel", key="fn_table_csv", label="Download the funnel (CSV, "
                                                          "times in seconds)")


def main() -> None:
    info = require_dataset()
    ef = filter_bar(info)
    columns = grouping_columns(info)
    st.title("Funnel")
    st.caption("Where customers drop out, and what they do instead. "
               f"Dataset **{plain(info.name)}** · {plain(describe(ef, columns))}")
    if not columns:
        st.info("The dataset has no stage, event or touchpoint column to build steps from.")
        return
    by, steps, labels = pick_steps(info, columns)
    c1, c2, c3 = st.columns([2, 3, 2])
    with c1:
        window = window_seconds()
    order = c2.segmented_control("Order", list(ORDERS), default="ordered", key="fn_order",
                                 bind=URL, required=True, format_func=ORDERS.get,
                                 help=ORDER_HELP)
    with c3:
        entry_start, entry_end = entry_range(info)
    if len(steps) < 2:
        st.info("Pick at least two steps to see a funnel.")
        return
    exclusions = pick_exclusions(info, columns, by, labels)
    options = dict(by=by, window_seconds=window, order=order, event_filter=ef,
                   entry_start=entry_start, entry_end=entry_end)
    if exclusions:
        options["exclusions"] = exclusions
    # An unordered funnel's rows are counts of steps, not the steps: they keep their names.
    step_labels = None if order == "unordered" else labels
    try:
        result = funnel_and_view(info, steps, options, columns)
    except ValueError as exc:
        st.warning(str(exc))
        return
    entered = show_excluded(info, steps, labels, options, result, exclusions) if exclusions else result.entered
    if not result.entered:
        st.info("Every customer who entered the funnel is excluded. Remove an exclusion value "
                "or narrow its steps." if entered else
                f"Nobody had a {plain(steps[0])} interaction with these filters and dates. Widen the "
                "dates or clear a filter in the sidebar.")
        return
    if step_labels:
        result = relabelled(result, step_labels)
    selected = pick_dropout_step(result, st.columns([1, 2])[0])
    chart = cached.chart(charts.funnel_bars,
                         result.to_frame(), selectable=True, selected_step=selected,
                         subtitle="Customers reaching each step (% of those who "
                                  "entered). Click a step to see who dropped out "
                                  "after it.")
    chart_with_downloads(chart, "funnel", key=CHART_KEY, data=result.to_frame(),
                         on_select=lambda: on_step_click(steps),
                         selection_mode=charts.FUNNEL_SELECTION)
    tabs = st.tabs(TABS, key=TAB_KEY, bind=URL, default=TABS[0])
    try:
        if tabs[0].open:
            with tabs[0]:
                dropouts_tab(info, result, steps, selected, options, columns)
        if tabs[1].open:
            with tabs[1]:
                breakdown_tab(info, steps, options, columns, step_labels)
        if tabs[2].open:
            with tabs[2]:
                time_tab(info, result, steps, options)
        if tabs[3].open:
            with tabs[3]:
                trend_tab(info, steps, options)
        if tabs[4].open:
            with tabs[4]:
                table_tab(result)
    except ValueError as exc:
        st.warning(str(exc))


main()
