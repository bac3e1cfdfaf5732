"""Altair charts of the Why analyses (SPEC §8): small frames in, ``alt.Chart`` out, the
app's theme (:mod:`cxdata.presentation.charts`).

* :func:`driver_forest`  odds ratios of conversion drivers with their 95% intervals;
* :func:`control_chart`  a trend with its centre line and control limits.

Time axes are ordinal period names computed here in UTC (as
:func:`cxdata.presentation.charts.conversion_trend` draws them), never a temporal axis, so that the
viewer's time zone cannot move a point to another week.
"""
from __future__ import annotations

import math

import altair as alt
import pandas as pd

from cxdata.presentation.charts.base import (DEFAULT_WIDTH, HIGHLIGHT, INCOMPLETE_GREY, MUTED, PRIMARY, TEXT_DARK,
                           _period_title, _period_x, _title, _with_every_period, empty_chart)
from cxdata.formatting import format_count, format_p, format_percent, format_period

#: Most factors a forest plot shows (the frame's first rows: the strongest evidence).
MAX_FOREST_ROWS = 25
KIND_LABELS = {"entry": "Entered with", "did": "Did", "score": "Gave"}
SCORE_VALUE_LABELS = {("nps", "detractor"): "a detractor NPS (0–6)",
                      ("csat", "low"): "a low CSAT (1–2)", ("ces", "hard"): "a hard CES (1–3)"}
#: How each trend's values are written and titled.
TREND_DISPLAY = {
    "conversion": ("Conversion (%)", lambda v: format_percent(v)),
    "csat": ("CSAT (% satisfied, 4–5 of 5)", lambda v: f"{v:.1f}%"),
    "nps": ("NPS (−100 to 100)", lambda v: f"{v:+.1f}".replace("-", "−")),
    "ces": ("CES (mean, 1–7)", lambda v: f"{v:.2f}"),
}


def factor_label(kind: str, column: str, value: str) -> str:
    """A driver's name for people: "Did Live chat", "Entered with channel Email",
    "Gave a low CSAT (1–2)"."""
    if kind == "score":
        return "Gave " + SCORE_VALUE_LABELS.get((column, value), f"{value} {column}")
    if kind == "entry":
        return f"Entered with {column} {value}"
    return f"Did {value}"


def _ratio(value) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.2g}" if value < 0.1 else (f"{value:.2f}" if value < 10 else f"{value:,.0f}")


def driver_forest(frame: pd.DataFrame, *, title: str = "What goes with converting",
                  width: int = DEFAULT_WIDTH, column_names: dict | None = None) -> alt.LayerChart | alt.Chart:
    """Forest plot of conversion drivers: one row per factor (the frame's order, at most
    :data:`MAX_FOREST_ROWS`), the odds ratio as a point and its 95% interval as a line on
    a log scale, a reference line at 1 (no difference).  Low-sample factors are hollow.
    ``frame``: :class:`cxdata.why.drivers.DriversResult` ``.drivers`` (counts of
    customers; odds ratios; adjusted p 0…1); ``column_names`` maps a column to the name
    shown (as in the table beside the chart: "Entered with Channel Email")."""
    needed = ("kind", "column", "value", "with_n", "with_converted", "without_n",
              "without_converted", "odds_ratio", "ci_low", "ci_high", "p_adjusted", "low_sample")
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"driver_forest needs the columns {', '.join(missing)}.")
    if frame.empty:
        return empty_chart("No factor to compare: everybody (or nobody) had each one.", width=width)
    df = frame.head(MAX_FOREST_ROWS).copy()
    names = column_names or {}
    df["factor"] = [factor_label(k, names.get(c, c), v) for k, c, v in zip(df["kind"], df["column"], df["value"])]
    # two factors may read the same (an attribute named like a touchpoint): keep rows apart
    df["factor"] = [f if list(df["factor"]).count(f) == 1 else f"{f} ({c})"
                    for f, c in zip(df["factor"], df["column"])]
    df["ratio_label"] = [f"{_ratio(r)}× (95% {_ratio(lo)}–{_ratio(hi)})"
                         for r, lo, hi in zip(df["odds_ratio"], df["ci_low"], df["ci_high"])]
    df["with_label"] = [f"{format_count(c)} of {format_count(n)} converted"
                        for c, n in zip(df["with_converted"], df["with_n"])]
    df["without_label"] = [f"{format_count(c)} of {format_count(n)} converted"
                           for c, n in zip(df["without_converted"], df["without_n"])]
    df["p_label"] = [format_p(p) for p in df["p_adjusted"]]
    df["sample_label"] = ["Low sample: fewer customers had it than the threshold" if low else "OK"
                          for low in df["low_sample"]]
    low = min(df["ci_low"].min(), 1.0)
    high = max(df["ci_high"].max(), 1.0)
    x_scale = alt.Scale(type="log", domain=[low / 1.2, high * 1.2], nice=False)
    y = alt.Y("factor:N", sort=list(df["factor"]), title=None,
              axis=alt.Axis(labelLimit=260))
    tooltip = [alt.Tooltip("factor:N", title="Factor"),
               alt.Tooltip("ratio_label:N", title="Odds ratio"),
               alt.Tooltip("with_label:N", title="With it"),
               alt.Tooltip("without_label:N", title="Without it"),
               alt.Tooltip("p_label:N", title="Adjusted p"),
               alt.Tooltip("sample_label:N", title="Sample")]
    base = alt.Chart(df).encode(y=y, tooltip=tooltip)
    reference = alt.Chart(pd.DataFrame({"x": [1.0]})).mark_rule(
        color=TEXT_DARK, strokeDash=[4, 3]).encode(x=alt.X("x:Q", scale=x_scale))
    interval = base.mark_rule(strokeWidth=2, color=PRIMARY).encode(
        x=alt.X("ci_low:Q", scale=x_scale,
                title="Odds ratio of converting, with vs without (log scale; 1 = no difference)"),
        x2="ci_high:Q")
    points = base.mark_point(size=70, strokeWidth=2, filled=False, color=PRIMARY).encode(
        x=alt.X("odds_ratio:Q", scale=x_scale),
        fill=alt.condition("datum.low_sample", alt.value("white"), alt.value(PRIMARY)),
        stroke=alt.condition("datum.low_sample", alt.value(MUTED), alt.value(PRIMARY)))
    subtitle = ("Right of 1: converted more often with it; left: less often. Lines = 95% "
                "interval; hollow = low sample. Associations, not causes.")
    return (alt.layer(reference, interval, points)
            .properties(title=_title(title, subtitle), width=width,
                        height=max(120, 26 * len(df))))


def control_chart(frame: pd.DataFrame, metric_or_conversion: str, grain: str, *,
                  title: str | None = None, width: int = DEFAULT_WIDTH) -> alt.LayerChart | alt.Chart:
    """A control chart of :class:`cxdata.why.trends.TrendLimits` ``.buckets`` (start,
    naive UTC; n; value, centre, lcl, ucl in the metric's unit — conversion as a fraction
    0…1, CSAT percent, NPS points, CES mean; signal; incomplete).  Limits as a band with
    edge lines, the centre as a line, the values as points: signals red, incomplete
    buckets grey and labelled.  ``metric_or_conversion``: "conversion", "nps", "csat" or
    "ces"; ``grain``: "week" or "month"."""
    if metric_or_conversion not in TREND_DISPLAY:
        raise ValueError(f"The trend '{metric_or_conversion}' is not one of {', '.join(TREND_DISPLAY)}.")
    axis_title, fmt = TREND_DISPLAY[metric_or_conversion]
    if frame.empty:
        return empty_chart("No buckets in this date range.", width=width)
    df = frame.rename(columns={"start": "period"}).copy()
    df["signal"] = [s if isinstance(s, str) else None for s in df["signal"]]
    df = _with_every_period(df, grain, {"n": 0, "incomplete": False})
    df["signal"] = [s if isinstance(s, str) else "" for s in df["signal"]]
    df["incomplete"] = df["incomplete"].astype(bool)
    scale = 100.0 if metric_or_conversion == "conversion" else 1.0    # conversion drawn in %
    for column in ("value", "centre", "lcl", "ucl"):
        df[f"{column}_y"] = df[column].astype("float64") * scale
    df["value_label"] = [("–" if pd.isna(v) else fmt(v)) for v in df["value"]]
    df["limits_label"] = [("–" if pd.isna(lo) else f"{fmt(lo)} – {fmt(hi)}")
                          for lo, hi in zip(df["lcl"], df["ucl"])]
    df["n_label"] = [format_count(n) for n in df["n"]]
    df["status"] = [("Incomplete: entrants may still convert; not read as a signal" if inc
                     else (f"Signal: {sig}" if sig else ("No data" if n == 0 else "Within limits")))
                    for inc, sig, n in zip(df["incomplete"], df["signal"], df["n"])]
    df["kind"] = ["incomplete" if inc else ("signal" if sig else "normal")
                  for inc, sig in zip(df["incomplete"], df["signal"])]
    x = _period_x(df, grain, _period_title(grain, "entry" if metric_or_conversion == "conversion"
                                           else "response"))
    tooltip = [alt.Tooltip("period_tooltip:N", title="Period"),
               alt.Tooltip("value_label:N", title="Value"),
               alt.Tooltip("limits_label:N", title="Control limits"),
               alt.Tooltip("n_label:N", title="n"),
               alt.Tooltip("status:N", title="Status")]
    values = pd.concat([df["lcl_y"], df["ucl_y"], df["value_y"]]).dropna()
    y_scale = alt.Scale(domain=[float(values.min()), float(values.max())], nice=True, zero=False)
    base = alt.Chart(df).encode(x=x, tooltip=tooltip)
    band = base.mark_area(opacity=0.12, color=PRIMARY, interpolate="step",
                          invalid="break-paths-show-domains").encode(
        y=alt.Y("lcl_y:Q", scale=y_scale, title=axis_title), y2="ucl_y:Q")
    limits = [base.mark_line(color=PRIMARY, strokeDash=[3, 3], strokeWidth=1, interpolate="step",
                             invalid="break-paths-show-domains").encode(y=alt.Y(f"{c}:Q", scale=y_scale))
              for c in ("lcl_y", "ucl_y")]
    centre = base.mark_line(color=TEXT_DARK, strokeWidth=1.5).encode(y=alt.Y("centre_y:Q", scale=y_scale))
    line = base.mark_line(color=MUTED, invalid="break-paths-show-domains").encode(
        y=alt.Y("value_y:Q", scale=y_scale))
    points = base.mark_point(size=60, strokeWidth=2, filled=True).encode(
        y=alt.Y("value_y:Q", scale=y_scale),
        color=alt.Color("kind:N", legend=None,
                        scale=alt.Scale(domain=["normal", "signal", "incomplete"],
                                        range=[PRIMARY, HIGHLIGHT, INCOMPLETE_GREY])))
    # every signal is named; of the incomplete buckets (always the last ones) only the first
    first_open = df.index[df["kind"] == "incomplete"][:1]
    labelled = df[(df["kind"] == "signal") | df.index.isin(first_open)]
    labels = (alt.Chart(labelled).encode(x=x, tooltip=tooltip)
              .mark_text(dy=-12, fontSize=10)
              .encode(y=alt.Y("value_y:Q", scale=y_scale),
                      text=alt.Text("label:N"),
                      color=alt.Color("kind:N", legend=None,
                                      scale=alt.Scale(domain=["normal", "signal", "incomplete"],
                                                      range=[PRIMARY, HIGHLIGHT, INCOMPLETE_GREY])))
              .transform_calculate(label="datum.kind == 'incomplete' ? 'incomplete' : datum.signal"))
    subtitle = ("Band = control limits (3 sigma), dark line = centre; red = signal "
                "(beyond limits, or a run of 8 on one side); grey = incomplete")
    name = title or {"conversion": "Conversion", "nps": "NPS", "csat": "CSAT",
                     "ces": "CES"}[metric_or_conversion] + f" per {grain}, with control limits"
    return (alt.layer(band, *limits, centre, line, points, labels)
            .properties(title=_title(name, subtitle), width=width, height=300))


def period_name(start, grain: str) -> str:
    """The name of a bucket in text ("Week of 6 Oct 2025", "Jun 2025"), UTC."""
    label = format_period(start, grain)
    return f"Week of {label}" if grain == "week" else label
