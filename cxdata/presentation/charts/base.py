"""The charts' common ground: the ``cxlab`` Altair theme (registered and enabled on import),
the palettes, per-metric display facts and the helpers every chart uses (titles, period
axes, empty charts)."""
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
