"""Score charts (NPS, CSAT, CES): bars with intervals, heatmaps, trends, comparisons."""
from __future__ import annotations

import math
from collections.abc import Sequence

import altair as alt
import pandas as pd

from cxdata.formatting import format_count, format_interval, format_score, format_secondary
from cxdata.presentation.charts.base import (DEFAULT_WIDTH, DIVERGING_SCHEME, METRIC_DISPLAY,
                                             OKABE_ITO, PRIMARY, TEXT_DARK, _metric, _period_title,
                                             _period_x, _require, _title, _with_every_period,
                                             empty_chart)


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
