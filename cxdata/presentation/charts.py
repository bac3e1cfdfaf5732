"""Altair chart builders: a small result DataFrame in, an ``alt.Chart`` out.

Every builder takes one of the aggregated frames returned by ``cxdata.analytics.funnel``,
``cxdata.analytics.scores`` or ``cxdata.analytics.paths`` (tens to thousands of rows, never events) and
returns a chart with a title that states units, tooltips on every mark and the
colour-blind-safe palettes below.  Builders only *format* numbers (labels, unit
conversion for display); every number shown is one that the analytics computed.

Importing this module registers and enables the ``cxlab`` Altair theme, so charts look the
same in the app (``st.altair_chart(chart, theme=None)``), in PNG/SVG/PDF exports and in
the HTML report.

Time axes (trends per week or month) are ordinal: one band per period, named here in UTC
by ``cxdata.formatting.format_period``, every period present (gaps stay visible), the
axis writing a readable subset.  No date reaches the browser or vl-convert, so neither
the viewer's time zone nor d3's tick choice (Sunday weeks, ticks between our period
starts) can put a point under another period's label.  Numbers are written by
``cxdata.formatting``, the one formatter.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import altair as alt
import pandas as pd

# Re-exported: pages and the report call ``charts.format_…``; the definitions live in
# cxdata.formatting, the one formatter.
from cxdata.formatting import (PERIOD_GRAINS, duration_unit, format_count,  # noqa: F401
                               format_difference, format_difference_interval,
                               format_duration, format_interval, format_p, format_percent,
                               format_period, format_score, format_secondary)

THEME_NAME = "cxlab"

#: Okabe & Ito (2008) colour-blind-safe qualitative palette, blue first and the
#: low-contrast yellow last so that the first few groups are always easy to tell apart.
OKABE_ITO: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9",
                              "#D55E00", "#000000", "#F0E442")
PRIMARY = OKABE_ITO[0]        # the one-series colour (blue)
HIGHLIGHT = OKABE_ITO[5]      # drop-offs and warnings (vermillion)
MUTED = "#BDBDBD"             # "not reached", low-sample marks
TEXT_DARK = "#222222"
#: Diverging scheme for scores (orange = worse, blue = better); blue/orange stay distinct
#: for the common forms of colour blindness, unlike red/green.
DIVERGING_SCHEME = "blueorange"
#: Single-hue sequential scheme for counts.
SEQUENTIAL_SCHEME = "blues"
#: Most groups drawn in one grouped bar chart; more would reuse colours.
MAX_GROUPS = len(OKABE_ITO)

DEFAULT_WIDTH = 640
FONT = "'Source Sans Pro', 'Segoe UI', Helvetica, Arial, sans-serif"

#: Display facts per score metric: label, axis title (with unit), scale domain, neutral
#: midpoint for diverging colours (number formats: cxdata.formatting).
METRIC_DISPLAY: dict[str, dict] = {
    "nps": {"label": "NPS", "title": "NPS (−100 to 100)", "domain": (-100, 100),
            "mid": 0.0, "min_spread": 20.0,
            "secondary": None},
    "csat": {"label": "CSAT", "title": "CSAT (% satisfied, 4–5 of 5)", "domain": (0, 100),
             "mid": 50.0, "min_spread": 10.0,
             "secondary": "Mean rating (1–5)"},
    "ces": {"label": "CES", "title": "CES (mean, 1–7, higher = easier)", "domain": (1, 7),
            "mid": 4.0, "min_spread": 0.5,
            "secondary": "% easy (5–7)"},
}


@alt.theme.register(THEME_NAME, enable=True)
def cxlab_theme() -> alt.theme.ThemeConfig:
    """The one theme of the app: readable sizes, light grid, colour-blind-safe ranges."""
    return {
        "config": {
            "background": "white",
            "font": FONT,
            "view": {"stroke": None, "continuousWidth": DEFAULT_WIDTH, "continuousHeight": 320},
            "title": {"fontSize": 16, "fontWeight": 600, "anchor": "start", "color": TEXT_DARK,
                      "subtitleFontSize": 12, "subtitleColor": "#555555", "offset": 10},
            "axis": {"labelFontSize": 12, "titleFontSize": 13, "titleFontWeight": 500,
                     "labelColor": "#333333", "titleColor": "#333333", "gridColor": "#EAEAEA",
                     "domainColor": "#888888", "tickColor": "#888888", "labelLimit": 260},
            "legend": {"labelFontSize": 12, "titleFontSize": 12, "orient": "bottom",
                       "labelLimit": 260},
            "header": {"labelFontSize": 12, "titleFontSize": 13},
            "text": {"fontSize": 12, "color": TEXT_DARK},
            "bar": {"color": PRIMARY},
            # Round joins: a sharp weekly peak would otherwise grow a miter spike that reads
            # as a higher value than the point.
            "line": {"color": PRIMARY, "strokeWidth": 2, "strokeJoin": "round"},
            "point": {"color": PRIMARY, "filled": True, "size": 50},
            "area": {"color": PRIMARY},
            "rect": {"stroke": "white", "strokeWidth": 1},
            "range": {"category": list(OKABE_ITO),
                      "diverging": {"scheme": DIVERGING_SCHEME},
                      "heatmap": {"scheme": SEQUENTIAL_SCHEME},
                      "ordinal": {"scheme": SEQUENTIAL_SCHEME},
                      "ramp": {"scheme": SEQUENTIAL_SCHEME}},
        }
    }


# ---------------------------------------------------------------------------------------
# Formatting helpers (display only)
# ---------------------------------------------------------------------------------------

def _title(text: str, subtitle: str | None = None) -> alt.TitleParams:
    return alt.TitleParams(text=text, subtitle=subtitle) if subtitle else alt.TitleParams(text)


#: Most period labels on a time axis; more are thinned (weeks: the first week of each
#: month; then every k-th label) so that 52 weekly points stay readable.
MAX_PERIOD_LABELS = 24
#: Grey of incomplete periods (their conversion can still rise).
INCOMPLETE_GREY = "#8C8C8C"
#: Grey of the bars showing how many customers entered each period.
COUNT_BAR_GREY = "#D5D5D5"
#: How a conversion trend names its incomplete periods (subtitle).
INCOMPLETE_NOTE = ("Grey dashed line, hollow grey points = incomplete: customers who entered "
                   "then may still convert")
#: Share of a conversion trend's height that the bars of n fill (the bottom strip) …
TREND_STRIP_SHARE = 0.2
#: … and how far the conversion domain reaches below 0, as a fraction of its top: 0 sits
#: at 0.4 / 1.4 ≈ 29% of the height, just above the strip.
TREND_STRIP_BELOW_ZERO = 0.4


def _utc_naive(series: pd.Series) -> pd.Series:
    """Timestamps as naive UTC (naive input is UTC already, as the workspace stores it)."""
    ts = pd.to_datetime(series)
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ts


def _period_range(first: pd.Timestamp, last: pd.Timestamp, grain: str) -> list[pd.Timestamp]:
    """Every period start from ``first`` to ``last`` (both period starts, naive UTC)."""
    if grain == "month":
        return list(pd.date_range(first.to_period("M").start_time, last, freq="MS"))
    return list(pd.date_range(first, last, freq="7D" if grain == "week" else "D"))


def _with_every_period(frame: pd.DataFrame, grain: str, fill: dict,
                       group: str | None = None) -> pd.DataFrame:
    """``frame`` sorted by period, with a row for every period between its first and last
    (per group when ``group`` is given; groups keep their order of appearance), so that a
    period nobody entered stays visible as a gap.  New rows take the values in ``fill``.
    Adds ``period_start`` (ISO date of the period's first day, UTC), ``period_label``
    (its name, as the axis shows it) and ``period_tooltip`` ("Week of 6 Jan 2025")."""
    if grain not in PERIOD_GRAINS:
        raise ValueError(f"The period '{grain}' is not one of {', '.join(PERIOD_GRAINS)}.")
    df = frame.copy()
    df["period"] = _utc_naive(df["period"])
    starts = sorted(set(_period_range(df["period"].min(), df["period"].max(), grain))
                    | set(df["period"]))
    keys = ["period"] + ([group] if group else [])
    if group:
        df[group] = df[group].astype(str)
        groups = list(dict.fromkeys(df[group]))
        index = pd.MultiIndex.from_product([starts, groups], names=keys)
    else:
        index = pd.Index(starts, name="period")
    # Reindexing on every (period[, group]) also sorts: by period, then group order.
    df = df.set_index(keys).reindex(index).reset_index()
    for column, value in fill.items():
        if column in df.columns:
            df[column] = df[column].fillna(value).infer_objects()
    df["period_start"] = df["period"].dt.strftime("%Y-%m-%d")
    df["period_label"] = [format_period(t, grain) for t in df["period"]]
    df["period_tooltip"] = [("Week of " + label) if grain == "week" else label
                            for label in df["period_label"]]
    df = df.drop(columns=["period"])
    return df


def _axis_periods(frame: pd.DataFrame, grain: str) -> tuple[list[str], list[str]]:
    """``(every period label in time order, the labels the axis writes)``.

    Weeks: every week up to 14, else the first week of each month (Mondays 1st…7th);
    days: Mondays beyond 14.  More than ``MAX_PERIOD_LABELS`` left: every k-th, at most 12.
    """
    periods = frame.drop_duplicates("period_start")
    order = periods["period_label"].tolist()
    starts = pd.to_datetime(periods["period_start"])
    chosen = list(zip(starts, order))
    if grain == "week" and len(chosen) > 14:
        chosen = [(s, label) for s, label in chosen if s.day <= 7]
    elif grain == "day" and len(chosen) > 14:
        chosen = [(s, label) for s, label in chosen if s.weekday() == 0]
    if len(chosen) > MAX_PERIOD_LABELS:
        chosen = chosen[::math.ceil(len(chosen) / 12)]
    return order, [label for _, label in chosen]


def _period_title(grain: str, what: str) -> str:
    """Title of a time axis: "Month of entry (UTC)", "Week of entry (from Monday, UTC)"."""
    if grain == "week":
        return f"Week of {what} (from Monday, UTC)"
    return f"{grain.capitalize()} of {what} (UTC)"


def _period_x(frame: pd.DataFrame, grain: str, title: str) -> alt.X:
    """The x channel of a time axis: one band per period (every period, in time order),
    labelled with names computed here in UTC.

    Nothing about time is left to the browser: an ordinal axis of period names cannot
    put a label in the viewer's time zone, and has no d3 ticks that start weeks on
    Sunday or fall between our period starts.
    """
    order, shown = _axis_periods(frame, grain)
    return alt.X("period_label:O", title=title,
                 scale=alt.Scale(domain=order, paddingInner=0.25, paddingOuter=0.15),
                 axis=alt.Axis(values=shown, labelAngle=0, labelOverlap=True, labelPadding=4,
                               ticks=True, grid=False))


def _metric(metric: str) -> dict:
    try:
        return METRIC_DISPLAY[metric]
    except KeyError:
        raise ValueError(f"Unknown score metric {metric!r}; use one of nps, csat, ces.") from None


def empty_chart(message: str = "No data for the current selection.",
                *, width: int = DEFAULT_WIDTH, height: int = 80) -> alt.Chart:
    """A blank chart that says why it is blank (used when a result has no rows)."""
    return (alt.Chart(pd.DataFrame({"message": [message]}))
            .mark_text(fontSize=14, color="#555555")
            .encode(text="message:N", tooltip=alt.Tooltip("message:N", title="Note"))
            .properties(width=width, height=height))


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} needs the columns {', '.join(missing)}.")


# ---------------------------------------------------------------------------------------
# Funnels
# ---------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------
# Scores
# ---------------------------------------------------------------------------------------

def _score_labels(df: pd.DataFrame, metric: str, low_sample_threshold: int | None) -> pd.DataFrame:
    df = df.copy()
    df["score_label"] = [format_score(metric, v) for v in df["score"]]
    df["interval_label"] = [format_interval(metric, a, b)
                            for a, b in zip(df["ci_low"], df["ci_high"])]
    note = (f"fewer than {low_sample_threshold} responses" if low_sample_threshold
            else "few responses")
    df["sample_label"] = [f"Low sample ({note})" if bool(flag) else "OK"
                          for flag in df["low_sample"]]
    df["low_sample"] = df["low_sample"].astype(bool)
    return df


def _zoomed_domain(df: pd.DataFrame, metric: str) -> tuple[float, float]:
    """Axis range around the intervals (a little padding), inside the metric's scale; NPS
    keeps 0 in view so that the sign of a score is obvious."""
    low, high = METRIC_DISPLAY[metric]["domain"]
    lows = df["ci_low"].dropna().tolist() + df["score"].dropna().tolist()
    highs = df["ci_high"].dropna().tolist() + df["score"].dropna().tolist()
    if not lows or not highs:
        return low, high
    lo, hi = min(lows), max(highs)
    if metric == "nps":
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    pad = max((hi - lo) * 0.08, (high - low) * 0.02)
    step = 10 if metric != "ces" else 0.5
    lo = max(low, math.floor((lo - pad) / step) * step)
    hi = min(high, math.ceil((hi + pad) / step) * step)
    return lo, hi


def _score_interval_layers(base: alt.Chart, metric: str, x_scale: alt.Scale, colour, fill,
                           big: bool) -> list:
    """The layers of a score chart: the 95% interval as a rule, the score as a dot (hollow
    when the row is a low sample) with its value above, and for NPS a dashed line at 0.
    ``base`` encodes the rows (y) and the tooltip; ``big`` draws for two rows."""
    info = _metric(metric)
    interval = base.mark_rule(strokeWidth=4 if big else 3, opacity=0.6 if big else 0.55).encode(
        x=alt.X("ci_low:Q", scale=x_scale, title=info["title"]), x2="ci_high:Q", color=colour)
    dots = base.mark_point(size=130 if big else 110, strokeWidth=2.5 if big else 2, filled=False).encode(
        x=alt.X("score:Q", scale=x_scale), color=colour,
        fill=alt.condition("datum.low_sample", alt.value("white"), fill))
    values = base.mark_text(dy=-13 if big else -11, fontSize=12 if big else 11, fontWeight=600).encode(
        x=alt.X("score:Q", scale=x_scale), text="score_label:N")
    layers = [interval, dots, values]
    if metric == "nps":
        zero = alt.Chart(pd.DataFrame({"zero": [0], "note": [
            "NPS 0: as many promoters (9–10) as detractors (0–6)"]})).mark_rule(
            color="#888888", strokeDash=[4, 3]).encode(
            x=alt.X("zero:Q", scale=x_scale), tooltip=alt.Tooltip("note:N", title="Reference"))
        layers.insert(0, zero)
    return layers


def score_bars(frame: pd.DataFrame, metric: str, *, group_title: str = "Touchpoint",
               low_sample_threshold: int | None = None, title: str | None = None,
               width: int = DEFAULT_WIDTH) -> alt.LayerChart | alt.Chart:
    """Score per group as a dot with its 95% interval and ``n`` beside it.

    ``frame``: ``scores_by`` output (group, n, score, ci_low, ci_high, low_sample,
    secondary).  Groups are drawn worst first; low-sample groups are grey, hollow and
    labelled "low sample".  NPS gets a reference line at 0.
    """
    info = _metric(metric)
    _require(frame, ("group", "n", "score", "ci_low", "ci_high", "low_sample"), "score_bars")
    if frame.empty:
        return empty_chart(f"No {info['label']} responses with the current filters.", width=width)
    df = _score_labels(frame, metric, low_sample_threshold)
    df["group"] = df["group"].astype(str)
    df = df.sort_values(["score", "group"], na_position="last").reset_index(drop=True)
    # n sits in the row label: text inside the plot would collide with scores near the
    # top of the scale.
    df["row_label"] = [f"{g} (n={format_count(n)}" + (", low sample)" if low else ")")
                       for g, n, low in zip(df["group"], df["n"], df["low_sample"])]
    low, high = _zoomed_domain(df, metric)
    order = df["row_label"].tolist()
    tooltip = [alt.Tooltip("group:N", title=group_title),
               alt.Tooltip("score_label:N", title=info["label"]),
               alt.Tooltip("interval_label:N", title="95% interval"),
               alt.Tooltip("n:Q", title="Responses (n)", format=",d"),
               alt.Tooltip("sample_label:N", title="Sample")]
    if "secondary" in df.columns and info["secondary"]:
        df["secondary_label"] = [format_secondary(metric, v) for v in df["secondary"]]
        tooltip.append(alt.Tooltip("secondary_label:N", title=info["secondary"]))
    x_scale = alt.Scale(domain=[low, high], nice=False, clamp=True)
    colour = alt.condition("datum.low_sample", alt.value("#8C8C8C"), alt.value(PRIMARY))
    base = alt.Chart(df).encode(y=alt.Y("row_label:N", sort=order, title=None), tooltip=tooltip)
    layers = _score_interval_layers(base, metric, x_scale, colour, alt.value(PRIMARY), big=False)
    subtitle = "Dot = score, line = 95% interval, n = responses"
    if df["low_sample"].any():
        subtitle += "; hollow grey = low sample, read with care"
    return (alt.layer(*layers)
            .properties(title=_title(title or f"{info['label']} by {group_title.lower()}",
                                     subtitle),
                        width=width, height=alt.Step(34)))


def score_heatmap(frame: pd.DataFrame, metric: str, *, row_title: str = "Touchpoint",
                  col_title: str = "Stage", reference: float | None = None,
                  col_order: Sequence[str] | None = None,
                  low_sample_threshold: int | None = None,
                  width: int | None = None) -> alt.LayerChart | alt.Chart:
    """Heatmap of a score over two columns (e.g. touchpoint × stage).

    ``frame``: ``scores_matrix`` output (row, col, n, score, low_sample).  Colours diverge
    around ``reference`` (e.g. the overall score; default the metric's neutral point),
    symmetric and at least ``min_spread`` wide: orange = worse, blue = better.  Each cell shows the score and n; low-sample cells are
    faded and marked with "*".
    """
    info = _metric(metric)
    _require(frame, ("row", "col", "n", "score", "low_sample"), "score_heatmap")
    if frame.empty:
        return empty_chart(f"No {info['label']} responses with the current filters.")
    df = frame.copy()
    df["row"] = df["row"].astype(str)
    df["col"] = df["col"].astype(str)
    df["low_sample"] = df["low_sample"].astype(bool)
    df["score_label"] = [format_score(metric, v) for v in df["score"]]
    df["cell_label"] = [f"{s}{'*' if low else ''}" for s, low in zip(df["score_label"],
                                                                     df["low_sample"])]
    df["sample_label"] = ["Low sample" if low else "OK" for low in df["low_sample"]]
    mid = info["mid"] if reference is None or pd.isna(reference) else float(reference)
    scores = df["score"].dropna()
    # A symmetric colour range around the midpoint, at least MIN_SPREAD wide on each
    # side: a few points of difference must not look as alarming as a real gap.
    spread = max([abs(v - mid) for v in scores] + [info["min_spread"]])
    # Cells far from the midpoint are dark: white text there (0.6 is a display choice).
    df["text_dark"] = [bool(pd.isna(v) or low_sample or abs(v - mid) / spread < 0.6)
                       for v, low_sample in zip(df["score"], df["low_sample"])]
    cols = list(col_order) if col_order else sorted(df["col"].unique())
    cols += [c for c in sorted(df["col"].unique()) if c not in cols]
    rows = sorted(df["row"].unique())
    legend_length = max(60, min(200, 28 * len(rows)))
    tooltip = [alt.Tooltip("row:N", title=row_title), alt.Tooltip("col:N", title=col_title),
               alt.Tooltip("score_label:N", title=info["label"]),
               alt.Tooltip("n:Q", title="Responses (n)", format=",d"),
               alt.Tooltip("sample_label:N", title="Sample")]
    ref_text = "overall score" if reference is not None else "neutral point"
    base = alt.Chart(df).encode(
        x=alt.X("col:N", sort=cols, title=col_title, axis=alt.Axis(labelAngle=-30, orient="top")),
        y=alt.Y("row:N", sort=rows, title=row_title),
        tooltip=tooltip)
    cells = base.mark_rect().encode(
        color=alt.Color("score:Q", title=info["title"],
                        scale=alt.Scale(scheme=DIVERGING_SCHEME, reverse=True,
                                        domain=[mid - spread, mid + spread]),
                        legend=alt.Legend(orient="right", gradientLength=legend_length)),
        opacity=alt.condition("datum.low_sample", alt.value(0.45), alt.value(1.0)))
    text = base.mark_text(fontSize=11).encode(
        text="cell_label:N",
        color=alt.condition("datum.text_dark", alt.value(TEXT_DARK), alt.value("white")))
    chart_width = width or max(160, 70 * len(cols))
    return (alt.layer(cells, text)
            .properties(title=_title(f"{info['label']} by {row_title.lower()} and "
                                     f"{col_title.lower()}",
                                     f"Orange = below the {ref_text} ({format_score(metric, mid)}),"
                                     " blue = above; * = low sample"),
                        width=chart_width, height=alt.Step(28)))


def score_trend(frame: pd.DataFrame, metric: str, *, grain: str = "week",
                group_title: str = "Group", width: int = DEFAULT_WIDTH) -> alt.LayerChart | alt.Chart:
    """Score over time with its 95% interval as a band.

    ``frame``: ``scores_trend`` output (period = start of the week (Monday) or month,
    naive UTC; [group]; n, responses; score, ci_low, ci_high in the metric's unit;
    low_sample).  Low-sample periods are drawn as hollow points; periods without
    responses (per group) as gaps.
    """
    info = _metric(metric)
    _require(frame, ("period", "n", "score", "ci_low", "ci_high", "low_sample"), "score_trend")
    if frame.empty:
        return empty_chart(f"No {info['label']} responses in this date range.", width=width)
    grouped = "group" in frame.columns
    df = _with_every_period(frame, grain, {"n": 0, "low_sample": False},
                            group="group" if grouped else None)
    df["n"] = df["n"].astype("int64")
    df = _score_labels(df, metric, None)
    df["sample_label"] = [("No responses" if n == 0 else label)
                          for n, label in zip(df["n"], df["sample_label"])]
    tooltip = [alt.Tooltip("period_tooltip:N", title="Period"),
               alt.Tooltip("score_label:N", title=info["label"]),
               alt.Tooltip("interval_label:N", title="95% interval"),
               alt.Tooltip("n:Q", title="Responses (n)", format=",d"),
               alt.Tooltip("sample_label:N", title="Sample")]
    if grouped:
        tooltip.insert(0, alt.Tooltip("group:N", title=group_title))
    low, high = _zoomed_domain(df, metric)
    y_scale = alt.Scale(domain=[low, high], nice=False, clamp=True)
    x = _period_x(df, grain, _period_title(grain, "response"))
    base = alt.Chart(df).encode(x=x, tooltip=tooltip)
    colour = (alt.Color("group:N", title=group_title, sort=list(dict.fromkeys(df["group"])))
              if grouped else alt.value(PRIMARY))
    band = base.mark_area(opacity=0.18, invalid="break-paths-show-domains").encode(
        y=alt.Y("ci_low:Q", scale=y_scale, title=info["title"]), y2="ci_high:Q", color=colour)
    line = base.mark_line(invalid="break-paths-show-domains").encode(
        y=alt.Y("score:Q", scale=y_scale), color=colour)
    points = base.mark_point(size=55, strokeWidth=2, filled=False).encode(
        y=alt.Y("score:Q", scale=y_scale), color=colour,
        fill=alt.condition("datum.low_sample", alt.value("white"),
                           alt.Color("group:N") if grouped else alt.value(PRIMARY)))
    subtitle = "Line = score, band = 95% interval; hollow points = low sample"
    return (alt.layer(band, line, points)
            .properties(title=_title(f"{info['label']} over time", subtitle),
                        width=width, height=280))


#: Colours of segment A and segment B in a comparison (blue, orange: the first two of the
#: palette; the page marks its cards with the same two).
COMPARISON_COLOURS: tuple[str, str] = (OKABE_ITO[0], OKABE_ITO[1])


def comparison_chart(scores: pd.DataFrame, metric: str, *, order: Sequence[str] | None = None,
                     width: int = DEFAULT_WIDTH) -> alt.LayerChart | alt.Chart:
    """Two groups, one row each (dot + 95% interval), for the segment comparison.

    ``scores``: the two groups' rows of ``scores_by`` output (same columns as
    :func:`score_bars`).  ``order``: the groups as the page shows them, A first; row i is
    labelled "A: …"/"B: …" and drawn in :data:`COMPARISON_COLOURS` [i], so that the chart
    reads like the cards above it (default: the frame's order).  A low-sample group is
    hollow.
    """
    info = _metric(metric)
    _require(scores, ("group", "n", "score", "ci_low", "ci_high", "low_sample"),
             "comparison_chart")
    if scores.empty:
        return empty_chart(f"No {info['label']} responses with the current filters.", width=width)
    df = _score_labels(scores, metric, None)
    df["group"] = df["group"].astype(str)
    wanted = [str(g) for g in order] if order is not None else df["group"].tolist()
    df = df[df["group"].isin(wanted)].copy()
    df["position"] = [wanted.index(g) for g in df["group"]]
    df = df.sort_values("position").reset_index(drop=True)
    letters = "AB"
    df["side"] = [letters[i] if i < 2 else str(i + 1) for i in df["position"]]
    df["row_label"] = [f"{side}: {g} (n={format_count(n)}" + (", low sample)" if low else ")")
                       for side, g, n, low in zip(df["side"], df["group"], df["n"],
                                                  df["low_sample"])]
    rows = df["row_label"].tolist()
    colours = [COMPARISON_COLOURS[i % 2] for i in range(len(rows))]
    low, high = _zoomed_domain(df, metric)
    x_scale = alt.Scale(domain=[low, high], nice=False, clamp=True)
    colour = alt.Color("row_label:N", scale=alt.Scale(domain=rows, range=colours), legend=None)
    tooltip = [alt.Tooltip("side:N", title="Segment"), alt.Tooltip("group:N", title="Value"),
               alt.Tooltip("score_label:N", title=info["label"]),
               alt.Tooltip("interval_label:N", title="95% interval"),
               alt.Tooltip("n:Q", title="Responses (n)", format=",d"),
               alt.Tooltip("sample_label:N", title="Sample")]
    base = alt.Chart(df).encode(y=alt.Y("row_label:N", sort=rows, title=None), tooltip=tooltip)
    layers = _score_interval_layers(base, metric, x_scale, colour, colour, big=True)
    subtitle = "Dot = score, line = 95% interval, n = responses"
    if df["low_sample"].any():
        subtitle += "; hollow = low sample, read with care"
    return (alt.layer(*layers)
            .properties(title=_title(f"{info['label']}: segment A and segment B", subtitle),
                        width=width, height=alt.Step(40)))


# ---------------------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------------------

def transition_heatmap(frame: pd.DataFrame, *, order: Sequence[str] | None = None,
                       value: str = "customers", by_title: str = "Stage",
                       order_note: str | None = None,
                       width: int | None = None) -> alt.LayerChart | alt.Chart:
    """Heatmap of moves from one step to the next (``start``/``end`` included).

    ``frame``: ``transitions`` output (from, to, customers, events).  ``order`` is the
    order of rows and columns: the stage order, or the process order of
    ``cxdata.analytics.paths.value_order``; values it lacks follow by name.  ``start`` is put first
    and ``end`` last.  ``value`` picks which count colours the cells ("customers" or
    "events").  ``by_title`` names what the steps are ("Stage", "Event", …);
    ``order_note`` says in the subtitle what ``order`` is ("in process order").  Long names
    are cut on the axes (the cells' tooltips give them whole); with many columns their
    labels stand upright so that neighbours never overlap.
    """
    _require(frame, ("from", "to", "customers", "events"), "transition_heatmap")
    if frame.empty:
        return empty_chart("No moves between steps with the current filters.")
    df = frame.rename(columns={"from": "source", "to": "target"}).copy()
    df["source"] = df["source"].astype(str)
    df["target"] = df["target"].astype(str)
    seen = (set(df["source"]) | set(df["target"])) - {"start", "end"}
    names = [n for n in dict.fromkeys(list(order or []) + sorted(seen)) if n in seen]
    sources = ["start"] + [n for n in names if n in set(df["source"])]
    targets = [n for n in names if n in set(df["target"])] + ["end"]
    top = float(df[value].max()) or 1.0
    legend_length = max(60, min(200, 30 * len(sources)))
    df["text_dark"] = df[value] < 0.55 * top
    value_title = "Customers" if value == "customers" else "Moves (events)"
    unit = by_title.lower()
    tooltip = [alt.Tooltip("source:N", title=f"From {unit}"),
               alt.Tooltip("target:N", title=f"To {unit}"),
               alt.Tooltip("customers:Q", title="Customers", format=",d"),
               alt.Tooltip("events:Q", title="Moves (events)", format=",d")]
    # Many columns make narrow cells: counts then in short form (1.2k) and smaller type,
    # and the column labels upright (slanted ones overlap once cells are narrower than
    # about two lines of text).
    crowded = len(targets) > 12
    df["cell_label"] = [(f"{n / 1000:.1f}k" if crowded and n >= 1000 else f"{n:,}")
                        for n in df[value].astype(int)]
    # Long row labels are cut at labelLimit; Vega then misplaces a vertical axis title over
    # them, so the rows' title goes into the subtitle instead ("rows: from …").
    base = alt.Chart(df).encode(
        x=alt.X("target:N", sort=targets, title=f"To {unit}",
                axis=alt.Axis(labelAngle=-90 if crowded else -30, orient="top",
                              labelLimit=200, labelPadding=4, titlePadding=10)),
        y=alt.Y("source:N", sort=sources, title=None, axis=alt.Axis(labelLimit=260)),
        tooltip=tooltip)
    cells = base.mark_rect().encode(
        color=alt.Color(f"{value}:Q", title=value_title,
                        scale=alt.Scale(scheme=SEQUENTIAL_SCHEME),
                        legend=alt.Legend(orient="right", gradientLength=legend_length)))
    text = base.mark_text(fontSize=9 if crowded else 11).encode(
        text=alt.Text("cell_label:N"),
        color=alt.condition("datum.text_dark", alt.value(TEXT_DARK), alt.value("white")))
    ordered = f", {order_note}" if order_note else ""
    return (alt.layer(cells, text)
            .properties(title=_title("Where customers go next",
                                     f"{value_title} moving from one {unit} (rows) to the next "
                                     f"(columns){ordered}; start = before the first {unit}, "
                                     f"end = after the last"),
                        width=width or max(200, 80 * len(targets)), height=alt.Step(30)))


#: Longest journey label on the variants chart (characters, "#rank · " excluded).
VARIANT_LABEL_CHARS = 84
#: Fewest characters a step keeps when a long journey is shortened ("T05 P…").
VARIANT_STEP_CHARS = 6


def short_path(path: Sequence[str], limit: int = VARIANT_LABEL_CHARS,
               separator: str = " → ") -> str:
    """A journey in at most ``limit`` characters, every step still in view when it can be.

    Whole when it fits; else each step is cut to the same width (its start, then "…"), so
    that the shape of the journey shows; a journey too long even so keeps its last steps
    after "… → " (journeys of one process mostly share their start)."""
    steps = [str(p) for p in path]
    full = separator.join(steps)
    if len(full) <= limit:
        return full

    def cut(step: str, width: int) -> str:
        return step if len(step) <= width else step[:width - 1].rstrip() + "…"

    width = (limit - len(separator) * (len(steps) - 1)) // len(steps)
    if width >= VARIANT_STEP_CHARS:
        return separator.join(cut(step, width) for step in steps)
    kept: list[str] = []
    for step in reversed(steps):
        candidate = separator.join(["…", cut(step, VARIANT_STEP_CHARS)] + kept)
        if len(candidate) > limit:
            break
        kept.insert(0, cut(step, VARIANT_STEP_CHARS))
    return separator.join(["…"] + kept)


def variant_bars(frame: pd.DataFrame, *, top: int = 15, width: int = DEFAULT_WIDTH,
                 by_title: str = "Stage") -> alt.LayerChart | alt.Chart:
    """The most common journeys (sequences, repeats collapsed) with their share.

    ``frame``: ``variants`` output (rank, path or path_label, steps, customers, share 0…1,
    median_duration_seconds).  Each bar is labelled "#rank · journey", the journey
    shortened by :func:`short_path`; the rank keeps two journeys that shorten alike apart,
    and the tooltip (and the page's table, by rank) has the whole journey.  ``by_title`` names what the steps are ("Stage", "Event", …).
    """
    _require(frame, ("path_label", "customers", "share"), "variant_bars")
    if frame.empty:
        return empty_chart("No journeys with the current filters.", width=width)
    df = frame.sort_values("customers", ascending=False, kind="stable").head(top).copy()
    if "rank" not in df.columns:
        df["rank"] = range(1, len(df) + 1)
    df["path_label"] = df["path_label"].astype(str)
    paths = (df["path"].tolist() if "path" in df.columns
             else [label.split(" → ") for label in df["path_label"]])
    df["steps"] = df["steps"] if "steps" in df.columns else [len(p) for p in paths]
    df = df.drop(columns=["path"], errors="ignore")
    df["bar_label"] = [f"#{r} · {short_path(p)}" for r, p in zip(df["rank"], paths)]
    df["share_label"] = [format_percent(v) for v in df["share"]]
    df["bar_text"] = [f"{format_count(c)} ({s})" for c, s in zip(df["customers"],
                                                                 df["share_label"])]
    tooltip = [alt.Tooltip("rank:Q", title="Journey #"),
               alt.Tooltip("path_label:N", title="Journey"),
               alt.Tooltip("steps:Q", title=f"{by_title}s (repeats collapsed)"),
               alt.Tooltip("customers:Q", title="Customers", format=",d"),
               alt.Tooltip("share_label:N", title="Share of customers")]
    if "median_duration_seconds" in df.columns:
        df["duration_label"] = [format_duration(v) for v in df["median_duration_seconds"]]
        tooltip.append(alt.Tooltip("duration_label:N", title="Median duration"))
    order = df["bar_label"].tolist()
    x_max = float(df["customers"].max()) * 1.3
    base = alt.Chart(df).encode(
        y=alt.Y("bar_label:N", sort=order, title=None, axis=alt.Axis(labelLimit=600)),
        x=alt.X("customers:Q", title="Customers", scale=alt.Scale(domain=[0, x_max], nice=False),
                axis=alt.Axis(tickCount=6, tickMinStep=1, format=",d")),
        tooltip=tooltip)
    return (alt.layer(base.mark_bar(), base.mark_text(align="left", dx=4).encode(text="bar_text:N"))
            .properties(title=_title("Most common journeys",
                                     f"{by_title} sequences with repeats collapsed; share of "
                                     "customers; hover a bar for the whole journey"),
                        width=width, height=alt.Step(26)))
