"""Funnel charts: stage bars, breakdowns, time to convert, conversion over time, shares."""
from __future__ import annotations

import math
from collections.abc import Sequence

import altair as alt
import pandas as pd

from cxdata.formatting import duration_unit, format_count, format_duration, format_percent
from cxdata.presentation.charts.base import (COUNT_BAR_GREY, DEFAULT_WIDTH, HIGHLIGHT,
                                             INCOMPLETE_GREY, INCOMPLETE_NOTE, MAX_GROUPS, PRIMARY,
                                             TREND_STRIP_BELOW_ZERO, TREND_STRIP_SHARE,
                                             _period_title, _period_x, _require, _title,
                                             _with_every_period, empty_chart)


FUNNEL_SELECTION = "funnel_step"


def _funnel_display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Add label columns to a ``FunnelResult.to_frame()``; numbers are not changed."""
    df = frame.sort_values("step_index").reset_index(drop=True).copy()
    entered = int(df["customers"].iloc[0]) if len(df) else 0
    # The same value may be several steps (SPEC §2), so the axis label carries the index.
    df["step_label"] = [f"{int(i)}. {s}" for i, s in zip(df["step_index"], df["step"])]
    df["entered"] = entered
    df["bar_label"] = [f"{format_count(c)} ({format_percent(f)})"
                       for c, f in zip(df["customers"], df["conversion_from_start"])]
    last = int(df["step_index"].max()) if len(df) else 0
    df["dropped_label"] = ["" if int(i) == last or int(d) == 0 else f"↓ {format_count(d)} dropped"
                           for i, d in zip(df["step_index"], df["dropped"])]
    df["from_start_label"] = [format_percent(v) for v in df["conversion_from_start"]]
    df["from_previous_label"] = [format_percent(v) for v in df["conversion_from_previous"]]
    median = df["median_seconds_from_previous"] if "median_seconds_from_previous" in df else None
    df["median_time_label"] = ([format_duration(v) for v in median] if median is not None
                               else "–")
    return df


def funnel_bars(frame: pd.DataFrame, *, title: str = "Funnel",
                subtitle: str | None = "Customers reaching each step (% of those who entered)",
                selectable: bool = False, selected_step: int | None = None,
                width: int = DEFAULT_WIDTH, row_height: int = 44) -> alt.LayerChart | alt.Chart:
    """Horizontal funnel: one bar per step, labelled with customers and conversion.

    ``frame``: ``FunnelResult.to_frame()`` (step, step_index, customers,
    conversion_from_start / _from_previous as fractions 0…1, dropped, median_seconds…).
    A grey bar behind each step shows everyone who entered, so the gap is the loss since
    step 1; "↓ N dropped" marks the customers lost before the next step.
    With ``selectable`` a click on a row selects the step: Streamlit returns
    ``{"selection": {"funnel_step": [{"step_index": j}]}}``.
    """
    _require(frame, ("step", "step_index", "customers", "conversion_from_start",
                     "conversion_from_previous", "dropped"), "funnel_bars")
    if frame.empty or int(frame["customers"].max()) == 0:
        return empty_chart("Nobody entered this funnel with the current filters.", width=width)
    df = _funnel_display_frame(frame)
    entered = int(df["entered"].iloc[0])
    # Room to the right of the full-width grey bar for the "dropped" notes.
    x_max = entered * 1.4
    df["row_end"] = x_max
    df["label_inside"] = df["customers"] >= 0.45 * entered
    order = df["step_label"].tolist()
    y = alt.Y("step_label:N", sort=order, title=None,
              axis=alt.Axis(labelFontSize=13, labelFontWeight=500, ticks=False, domain=False))
    x_scale = alt.Scale(domain=[0, x_max], nice=False)
    # Every layer says axis=None: Vega-Lite 6.4 fails to merge a hidden axis with a shown
    # one when a layer carries a selection.
    tooltip = [
        alt.Tooltip("step:N", title="Step"),
        alt.Tooltip("customers:Q", title="Customers", format=",d"),
        alt.Tooltip("from_start_label:N", title="Conversion from start"),
        alt.Tooltip("from_previous_label:N", title="Conversion from previous step"),
        alt.Tooltip("dropped:Q", title="Dropped before next step", format=",d"),
        alt.Tooltip("median_time_label:N", title="Median time from previous step"),
    ]
    base = alt.Chart(df).encode(y=y)
    entered_bar = base.mark_bar(color="#EEEEEE", cornerRadiusEnd=2).encode(
        x=alt.X("entered:Q", scale=x_scale, axis=None), tooltip=tooltip)
    reached_bar = base.mark_bar(cornerRadiusEnd=2).encode(
        x=alt.X("customers:Q", scale=x_scale, axis=None), tooltip=tooltip)
    # Long bars carry their label inside (white), short ones just outside, so the label
    # never collides with the "dropped" note at the right end of the grey bar.
    inside = base.transform_filter("datum.label_inside").mark_text(
        align="right", dx=-8, fontWeight=600, color="white").encode(
        x=alt.X("customers:Q", scale=x_scale, axis=None), text="bar_label:N", tooltip=tooltip)
    outside = base.transform_filter("!datum.label_inside").mark_text(
        align="left", dx=6, fontWeight=600).encode(
        x=alt.X("customers:Q", scale=x_scale, axis=None), text="bar_label:N", tooltip=tooltip)
    drops = base.mark_text(align="left", dx=8, color=HIGHLIGHT, fontWeight=600).encode(
        x=alt.X("entered:Q", scale=x_scale, axis=None), text="dropped_label:N", tooltip=tooltip)
    layers = [entered_bar, reached_bar, inside, outside, drops]
    if selectable:
        pick = alt.selection_point(name=FUNNEL_SELECTION, fields=["step_index"], on="click",
                                   clear="dblclick", toggle=False,
                                   value=([{"step_index": int(selected_step)}]
                                          if selected_step is not None else alt.Undefined))
        # Unselected steps fade once a step is picked (an empty selection keeps all blue).
        reached_bar = reached_bar.encode(
            color=alt.condition(pick, alt.value(PRIMARY), alt.value("#9EC3DE")))
        # A transparent bar across the whole row on top of everything: the click target
        # is the full row, not only the (possibly tiny) coloured bar.
        hit = base.mark_bar(opacity=0, cursor="pointer").encode(
            x=alt.X("row_end:Q", scale=x_scale, axis=None), tooltip=tooltip).add_params(pick)
        layers = [entered_bar, reached_bar, inside, outside, drops, hit]
    return (alt.layer(*layers)
            .properties(title=_title(title, subtitle), width=width,
                        height=alt.Step(row_height)))


def frame_from_breakdown(groups: Sequence[tuple[str, object]]) -> pd.DataFrame:
    """Long frame of a funnel breakdown: the ``to_frame()`` of each group plus a ``group``
    column and the group's ``entered``; groups keep their order (entered, descending)."""
    frames = []
    for group, result in groups:
        part = result.to_frame().copy()
        part.insert(0, "group", str(group))
        part["entered"] = int(getattr(result, "entered", part["customers"].iloc[0]
                                      if len(part) else 0))
        frames.append(part)
    if not frames:
        return pd.DataFrame(columns=["group", "step", "step_index", "customers",
                                     "conversion_from_start", "entered"])
    return pd.concat(frames, ignore_index=True)


def breakdown_bars(frame: pd.DataFrame, *, breakdown_title: str = "Group",
                   title: str = "Funnel by group",
                   max_groups: int = MAX_GROUPS, width: int = DEFAULT_WIDTH) -> alt.Chart:
    """Grouped bars: conversion from start (%) per step, one colour per group.

    ``frame``: :func:`frame_from_breakdown` output (group, step, step_index, customers,
    conversion_from_start 0…1, entered).  Only the first ``max_groups`` groups in frame
    order (largest first) are drawn; the subtitle says so when some are left out.
    """
    _require(frame, ("group", "step", "step_index", "customers", "conversion_from_start"),
             "breakdown_bars")
    if frame.empty:
        return empty_chart("No groups to compare with the current filters.", width=width)
    group_order = list(dict.fromkeys(frame["group"].astype(str)))
    shown = group_order[:max_groups]
    df = frame[frame["group"].astype(str).isin(shown)].copy()
    df["group"] = df["group"].astype(str)
    df["step_label"] = [f"{int(i)}. {s}" for i, s in zip(df["step_index"], df["step"])]
    df["from_start_label"] = [format_percent(v) for v in df["conversion_from_start"]]
    step_order = (df.drop_duplicates("step_index").sort_values("step_index")["step_label"]
                  .tolist())
    subtitle = "Share of each group's entrants reaching the step"
    if len(group_order) > len(shown):
        subtitle += f" · largest {len(shown)} of {len(group_order)} groups shown"
    tooltip = [alt.Tooltip("group:N", title=breakdown_title),
               alt.Tooltip("step:N", title="Step"),
               alt.Tooltip("customers:Q", title="Customers", format=",d"),
               alt.Tooltip("from_start_label:N", title="Conversion from start")]
    if "entered" in df.columns:
        tooltip.insert(1, alt.Tooltip("entered:Q", title="Entered", format=",d"))
    return (alt.Chart(df).mark_bar()
            .encode(x=alt.X("step_label:N", sort=step_order, title=None,
                            axis=alt.Axis(labelAngle=0, labelLimit=140)),
                    xOffset=alt.XOffset("group:N", sort=shown),
                    y=alt.Y("conversion_from_start:Q", title="Conversion from start (%)",
                            axis=alt.Axis(format=".0%"), scale=alt.Scale(domain=[0, 1])),
                    color=alt.Color("group:N", sort=shown, title=breakdown_title),
                    tooltip=tooltip)
            .properties(title=_title(title, subtitle), width=width, height=300))


def duration_histogram(frame: pd.DataFrame, *, from_step: str = "previous step",
                       to_step: str = "this step", width: int = DEFAULT_WIDTH) -> alt.Chart:
    """Histogram of the time from one step to the next.

    ``frame``: ``step_durations_histogram`` output (bin_start_seconds, bin_end_seconds,
    customers).  Bin edges are shown in the most readable unit (seconds … days).
    """
    _require(frame, ("bin_start_seconds", "bin_end_seconds", "customers"), "duration_histogram")
    title = f"Time from {from_step} to {to_step}"
    if frame.empty or int(frame["customers"].sum()) == 0:
        return empty_chart(f"Nobody reached {to_step}, so there is no time to show.",
                           width=width)
    unit, per = duration_unit(float(frame["bin_end_seconds"].max()))
    df = frame.copy()
    df["bin_start"] = df["bin_start_seconds"] / per
    df["bin_end"] = df["bin_end_seconds"] / per
    df["range_label"] = [f"{format_duration(a)} – {format_duration(b)}"
                         for a, b in zip(df["bin_start_seconds"], df["bin_end_seconds"])]
    return (alt.Chart(df).mark_bar(binSpacing=1)
            .encode(x=alt.X("bin_start:Q", title=f"Time ({unit})", bin="binned",
                            scale=alt.Scale(zero=True)),
                    x2="bin_end:Q",
                    y=alt.Y("customers:Q", title="Customers"),
                    tooltip=[alt.Tooltip("range_label:N", title="Time"),
                             alt.Tooltip("customers:Q", title="Customers", format=",d")])
            .properties(title=_title(title, "Customers who reached the step, by time taken"),
                        width=width, height=260))


def _nice_ticks(largest: float, count: int = 5) -> tuple[list[float], str]:
    """Axis ticks for fractions 0…1 and their d3 percent format: 0, step, … up to the first
    multiple of a 1-2-5 step at or above ``largest``, about ``count`` of them, written with
    as many decimals as the step needs (0.116 -> 0, 0.05, 0.1, 0.15 as ".0%"; 0.004 ->
    0, 0.001 … 0.004 as ".1%")."""
    largest = float(largest) if pd.notna(largest) and largest > 0 else 0.01
    raw = largest / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    steps = math.ceil(round(largest / step, 9))
    decimals = max(0, math.ceil(round(-math.log10(step * 100), 9)))
    return [round(i * step, 12) for i in range(steps + 1)], f".{decimals}%"


def _neighbour_of(flags: pd.Series) -> pd.Series:
    """True where the row or the row just before/after it is flagged: the points a dashed
    segment joins (the last complete period before an incomplete one, and so on)."""
    flags = flags.astype(bool)
    return flags | flags.shift(1, fill_value=False) | flags.shift(-1, fill_value=False)


def conversion_trend(frame: pd.DataFrame, *, grain: str = "week",
                     width: int = DEFAULT_WIDTH, height: int = 340) -> alt.LayerChart | alt.Chart:
    """Conversion over time: share of each period's entrants who reached the last step,
    with the number who entered (n) as bars along the bottom.

    ``frame``: ``funnel_trend`` output (period = start of the week (Monday) or month,
    naive UTC; entered and converted, customers; conversion, fraction 0…1; optional
    ``incomplete``, bool: some entrants' windows were still open at the log's end, so the
    period's conversion can still rise — missing means none is).  Periods nobody entered
    are drawn as gaps.  Incomplete periods are drawn apart: a grey dashed segment and a
    hollow grey point, named in the subtitle and the tooltip, so that they are never read
    as a drop.  ``height``: pixels; the bottom fifth of the view holds the bars of n.
    """
    _require(frame, ("period", "entered", "converted", "conversion"), "conversion_trend")
    if frame.empty:
        return empty_chart("No entries in this date range.", width=width)
    df = frame.copy()
    df["incomplete"] = (df["incomplete"].fillna(False).astype(bool) if "incomplete" in df
                        else False)
    df = _with_every_period(df, grain, {"entered": 0, "converted": 0, "incomplete": False})
    df["entered"] = df["entered"].astype("int64")
    df["converted"] = df["converted"].astype("int64")
    df["incomplete"] = df["incomplete"].astype(bool)
    df["conversion"] = df["conversion"].astype("float64")
    df["conversion_label"] = [format_percent(v) for v in df["conversion"]]
    df["entered_label"] = [format_count(v) for v in df["entered"]]
    df["status"] = [("Incomplete: some entrants' windows were still open when the log ends; "
                     "this share can still rise") if inc else
                    ("Nobody entered" if n == 0 else "Complete")
                    for inc, n in zip(df["incomplete"], df["entered"])]
    # Two line layers: solid through complete periods, dashed grey into incomplete ones.
    # A missing value breaks a line, so each layer draws only its own segments.
    df["complete_conversion"] = df["conversion"].where(~df["incomplete"])
    df["incomplete_conversion"] = df["conversion"].where(_neighbour_of(df["incomplete"]))
    any_incomplete = bool(df["incomplete"].any())

    x = _period_x(df, grain, _period_title(grain, "entry"))
    tooltip = [alt.Tooltip("period_tooltip:N", title="Entered in"),
               alt.Tooltip("entered_label:N", title="Entered (n)"),
               alt.Tooltip("converted:Q", title="Reached last step", format=",d"),
               alt.Tooltip("conversion_label:N", title="Conversion"),
               alt.Tooltip("status:N", title="Status")]
    # One view, two bands: the conversion lines above, the bars of n in the bottom strip.
    # Done with domains, not pixel ranges, so it holds whatever height Streamlit fits the
    # chart into: conversion's domain reaches below 0 so that its 0 sits above the strip,
    # and n's domain is stretched so that the tallest bar fills only the strip.
    conversion_ticks, conversion_format = _nice_ticks(df["conversion"].max())
    top = conversion_ticks[-1]
    conversion_domain = [-top * TREND_STRIP_BELOW_ZERO, top]
    n_max = int(df["entered"].max())
    n_domain = [0, max(n_max, 1) / TREND_STRIP_SHARE]

    def conversion_y(field: str) -> alt.Y:
        # The same axis and scale on every conversion layer, so that they merge into one.
        # Zero-based, but not stretched to 100%: a 5% → 8% change must stay visible.
        return alt.Y(f"{field}:Q", title="Conversion (%)",
                     scale=alt.Scale(domain=conversion_domain, nice=False, zero=False),
                     axis=alt.Axis(format=conversion_format, values=conversion_ticks,
                                   domain=False))

    base = alt.Chart(df).encode(x=x, tooltip=tooltip)

    def count_y() -> alt.Y:
        # No axis title: the subtitle names the bars, the right axis marks 0 and the most.
        return alt.Y("entered:Q", title=None,
                     scale=alt.Scale(domain=n_domain, nice=False, zero=True),
                     axis=alt.Axis(values=[0, n_max], format=",d", grid=False, domain=False,
                                   orient="right", labelFontSize=10))

    bars = base.mark_bar(color=COUNT_BAR_GREY).encode(
        y=count_y(), opacity=alt.condition("datum.incomplete", alt.value(0.55), alt.value(1.0)))
    layers = [bars]
    if len(df) <= 16:
        # Few periods: n written on each bar too (52 weekly labels would collide).
        layers.append(base.mark_text(baseline="bottom", dy=-2, fontSize=10, color="#555555")
                      .encode(y=count_y(), text="entered_label:N"))
    solid = base.mark_line(invalid="break-paths-show-domains").encode(
        y=conversion_y("complete_conversion"))
    dashed = base.mark_line(color=INCOMPLETE_GREY, strokeDash=[5, 4],
                            invalid="break-paths-show-domains").encode(
        y=conversion_y("incomplete_conversion"))
    points = base.transform_filter("!datum.incomplete && isValid(datum.conversion)").mark_point(
        size=60, filled=True, color=PRIMARY).encode(y=conversion_y("conversion"))
    open_points = base.transform_filter("datum.incomplete && isValid(datum.conversion)").mark_point(
        size=70, filled=False, strokeWidth=2, color=INCOMPLETE_GREY, fill="white").encode(
        y=conversion_y("conversion"))
    lines = [f"Share of each {grain}'s entrants who reached the last step; grey bars: "
             "customers who entered (n)"]
    if any_incomplete:
        lines.append(INCOMPLETE_NOTE)
    # Two groups of layers, each sharing its own y scale: the bars of n (bottom strip)
    # and the conversion lines and points (above).
    return (alt.layer(alt.layer(*layers), alt.layer(solid, dashed, points, open_points))
            .resolve_scale(y="independent")
            .properties(title=_title("Conversion over time", lines), width=width, height=height))


def share_bars(frame: pd.DataFrame, *, label_column: str = "value",
               title: str = "Where customers went next", label_title: str = "Next touchpoint",
               subtitle: str | None = None, color: str = HIGHLIGHT, top: int = 15,
               width: int = DEFAULT_WIDTH) -> alt.LayerChart | alt.Chart:
    """Horizontal bars of customers per value with their share (0…1) as a label.

    ``frame``: columns ``label_column``, customers, share (e.g.
    ``dropoff_next_touchpoints`` output).  The ``top`` largest are drawn.
    """
    _require(frame, (label_column, "customers", "share"), "share_bars")
    if frame.empty:
        return empty_chart("Nobody to show here with the current filters.", width=width)
    df = (frame.sort_values("customers", ascending=False).head(top).copy()
          .rename(columns={label_column: "label"}))
    df["label"] = df["label"].astype(str)
    df["share_label"] = [format_percent(v) for v in df["share"]]
    df["bar_text"] = [f"{format_count(c)} ({s})" for c, s in zip(df["customers"],
                                                                 df["share_label"])]
    order = df["label"].tolist()
    tooltip = [alt.Tooltip("label:N", title=label_title),
               alt.Tooltip("customers:Q", title="Customers", format=",d"),
               alt.Tooltip("share_label:N", title="Share")]
    x_max = float(df["customers"].max()) * 1.3
    base = alt.Chart(df).encode(
        y=alt.Y("label:N", sort=order, title=None),
        x=alt.X("customers:Q", title="Customers", scale=alt.Scale(domain=[0, x_max], nice=False),
                axis=alt.Axis(tickCount=6, tickMinStep=1, format=",d")),
        tooltip=tooltip)
    return (alt.layer(base.mark_bar(color=color),
                      base.mark_text(align="left", dx=4).encode(text="bar_text:N"))
            .properties(title=_title(title, subtitle), width=width,
                        height=alt.Step(26)))
