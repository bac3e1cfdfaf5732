"""Charts of the Why analyses of scores (SPEC §8.2, §8.4): a small result frame in, an
Altair chart out, in the app's theme (:mod:`cxdata.presentation.charts`).

* :func:`importance_performance` — key drivers: x = share of R² (%) with its 95% bootstrap
  interval as a horizontal rule, y = how common the predictor is (% of customers) or how
  bad (the score of the customers who have it); the "fix first" corner shaded and named.
* :func:`topic_bars` — comment topics: comments mentioning each topic, coloured by the
  share of them that is negative.

Every number is one the analyses computed; this module only formats.  Topics are user
text: Vega-Lite draws them as text, never as HTML.
"""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from cxdata.presentation.charts.base import (DEFAULT_WIDTH, HIGHLIGHT, MUTED, PRIMARY, _metric, _require, _title,
                           empty_chart)
from cxdata.formatting import format_count, format_number, format_percent, format_score

#: How each predictor kind is named on a chart.
PREDICTOR_LABELS: dict[str, str] = {"experienced": "Experienced", "low_csat": "Low CSAT (1–2) at",
                                    "hard_ces": "Hard CES (1–3) at", "entry": "Entry channel"}
FIX_FIRST = "Fix first"


def predictor_label(kind: str, value: str) -> str:
    """"Low CSAT (1–2) at Delivery", "Experienced Product page", "Entry channel Email"."""
    return f"{PREDICTOR_LABELS.get(kind, kind)} {value}"


def keydrivers_frame(result) -> pd.DataFrame:
    """One row per driver of a :class:`~cxdata.why.keydrivers.KeyDriversResult` for the
    chart and its download: the driver columns, ``label``, ``common`` (percent of the
    population with the predictor, 0…100), ``score_with`` and ``score_without``."""
    frame = result.drivers.copy()
    frame["label"] = [predictor_label(k, v) for k, v in zip(frame["predictor"], frame["value"])]
    frame["common"] = (100.0 * frame["customers_with"] / result.customers
                       if result.customers else np.nan)
    if len(result.performance):
        frame = frame.merge(result.performance, on=["predictor", "value"], how="left")
    else:
        frame["score_with"] = np.nan
        frame["score_without"] = np.nan
    return frame


#: Labels drawn on the importance × performance chart at most; the others are in tooltips.
MAX_LABELS = 6
#: Approximate size of a label's letters at font size 11 (pixels), to keep labels apart.
_CHAR_WIDTH, _LINE_HEIGHT = 6.0, 13.0


def label_without_overlap(x, y, labels, x_domain: tuple[float, float],
                          y_domain: tuple[float, float], width: int, height: int,
                          limit: int = MAX_LABELS) -> pd.Series:
    """Which points get a text label (a boolean Series on ``x``'s index): the largest
    ``x`` first, each only when its label (drawn 7 px right of and above the point)
    overlaps no label already placed — small predictors crowd near zero, and their names
    would print over each other.  At most ``limit``."""
    x_low, x_high = x_domain
    y_low, y_high = y_domain
    boxes: list[tuple[float, float, float, float]] = []
    keep = pd.Series(False, index=x.index)
    for index in x.sort_values(ascending=False, kind="mergesort").index:
        if len(boxes) >= limit:
            break
        left = (float(x[index]) - x_low) / ((x_high - x_low) or 1) * width + 7
        bottom = (1 - (float(y[index]) - y_low) / ((y_high - y_low) or 1)) * height - 7
        box = (left, bottom - _LINE_HEIGHT, left + _CHAR_WIDTH * len(str(labels[index])), bottom)
        if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in boxes):
            continue
        boxes.append(box)
        keep[index] = True
    return keep


def importance_performance(frame: pd.DataFrame, metric: str, *, y: str = "score",
                           width: int = DEFAULT_WIDTH, height: int = 380) -> alt.LayerChart | alt.Chart:
    """Importance × performance of key drivers (``frame`` from :func:`keydrivers_frame`).

    x: share of R² (percent) with its 95% bootstrap interval as a rule.  ``y="score"``
    (default): the ``metric`` score of the customers with the predictor (SPEC §4 units);
    the "fix first" corner — share above an even split (100 / number of drivers) and a
    score below the drivers' median — is shaded and named.  ``y="common"``: percent of
    customers with the predictor; the shaded band is every share above the even split (the
    higher, the more customers a fix reaches).  Orange points go with a lower score, blue
    with a higher; the largest shares are labelled where their names do not overlap
    (:func:`label_without_overlap`), every point has a tooltip.
    """
    _require(frame, ("label", "share", "share_ci_low", "share_ci_high", "customers_with",
                     "direction", "common", "score_with"), "importance_performance")
    if y not in ("common", "score"):
        raise ValueError("y is 'common' or 'score'.")
    display = _metric(metric)
    df = frame.dropna(subset=["share"]).copy()
    if df.empty:
        return empty_chart("No key driver: no predictor is held by enough customers.", width=width)
    y_column = "common" if y == "common" else "score_with"
    df = df.dropna(subset=[y_column])
    if df.empty:
        return empty_chart("No score for the customers of these predictors.", width=width)
    y_title = ("Customers with it (%)" if y == "common"
               else f"{display['label']} of the customers with it")
    df["share_text"] = [f"{format_number(s, 1)}% [{format_number(lo, 1)} … {format_number(hi, 1)}]"
                        for s, lo, hi in zip(df["share"], df["share_ci_low"], df["share_ci_high"])]
    df["n_text"] = [format_count(n) for n in df["customers_with"]]
    df["score_text"] = [format_score(metric, s) for s in df["score_with"]]
    df["direction_text"] = ["goes with a higher score" if d == "positive" else
                            "goes with a lower score" if d == "negative" else "no correlation"
                            for d in df["direction"]]
    x_split = 100.0 / len(df)
    y_values = df[y_column].astype(float)
    y_split = float(y_values.median())
    x_max = max(float(df["share_ci_high"].max(skipna=True) if df["share_ci_high"].notna().any()
                      else df["share"].max()), float(df["share"].max())) * 1.05 + 1
    if y == "common":
        y_low, y_high = 0.0, min(100.0, float(y_values.max()) * 1.1 + 1)
        corner = (y_low, y_high)
    else:
        y_low, y_high = display["domain"]
        corner = (float(y_low), y_split)      # worse score = lower
    shade = pd.DataFrame({"x": [x_split], "x2": [x_max], "y": [corner[0]], "y2": [corner[1]],
                          "name": [FIX_FIRST]})
    x_scale = alt.Scale(domain=[0, x_max], nice=False)
    y_scale = alt.Scale(domain=[y_low, y_high], nice=False)
    region = alt.Chart(shade).mark_rect(color=HIGHLIGHT, opacity=0.08).encode(
        x=alt.X("x:Q", scale=x_scale), x2="x2:Q", y=alt.Y("y:Q", scale=y_scale), y2="y2:Q",
        tooltip=alt.Tooltip("name:N", title="Corner"))
    region_label = alt.Chart(shade).mark_text(align="right", baseline="top", dx=-6, dy=6,
                                              fontWeight="bold", color=HIGHLIGHT).encode(
        x=alt.X("x2:Q", scale=x_scale),
        y=alt.Y("y2:Q", scale=y_scale) if y == "common" else alt.Y("y2:Q", scale=y_scale),
        text="name:N")
    tooltip = [alt.Tooltip("label:N", title="Predictor"),
               alt.Tooltip("share_text:N", title="Share of R² (95% interval)"),
               alt.Tooltip("n_text:N", title="Customers with it (n)"),
               alt.Tooltip("score_text:N", title=f"Their {display['label']}"),
               alt.Tooltip("direction_text:N", title="Association")]
    base = alt.Chart(df).encode(y=alt.Y(f"{y_column}:Q", title=y_title, scale=y_scale),
                                tooltip=tooltip)
    colour = alt.Color("direction:N", title="Association",
                       scale=alt.Scale(domain=["negative", "positive", "none"],
                                       range=[HIGHLIGHT, PRIMARY, MUTED]),
                       legend=alt.Legend(labelExpr="datum.label == 'negative' ? 'lower score' : "
                                                   "datum.label == 'positive' ? 'higher score' : 'none'"))
    rules = base.mark_rule(strokeWidth=2, opacity=0.5).encode(
        x=alt.X("share_ci_low:Q", scale=x_scale, title="Share of R² (%), 95% bootstrap interval"),
        x2="share_ci_high:Q", color=colour)
    points = base.mark_circle(size=90, opacity=1).encode(x=alt.X("share:Q", scale=x_scale), color=colour)
    df["shown_label"] = ""
    # the plot is smaller than the chart: title, axis and legend take about 150 px of it
    shown = label_without_overlap(df["share"], y_values, df["label"], (0.0, x_max),
                                  (float(y_low), float(y_high)), width, max(height - 150, 100))
    df.loc[shown, "shown_label"] = df.loc[shown, "label"]
    base = alt.Chart(df).encode(y=alt.Y(f"{y_column}:Q", title=y_title, scale=y_scale),
                                tooltip=tooltip)
    labels = base.mark_text(align="left", dx=7, dy=-7, fontSize=11).encode(
        x=alt.X("share:Q", scale=x_scale), text="shown_label:N")
    subtitle = (f"Associations, not causes. Shaded: above an even share ({format_number(x_split, 1)}%) "
                + ("(the higher, the more customers it concerns)." if y == "common"
                   else f"and a {display['label']} below the median driver's."))
    return (alt.layer(region, region_label, rules, points, labels)
            .properties(title=_title(f"Key drivers of {display['label']}: importance × "
                                     + ("how common" if y == "common" else "performance"), subtitle),
                        width=width, height=height))


def topic_bars(frame: pd.DataFrame, *, title: str = "Comment topics", top: int = 12,
               width: int = DEFAULT_WIDTH) -> alt.LayerChart | alt.Chart:
    """Horizontal bars: comments mentioning each topic (``frame``: the topics of
    :func:`cxdata.why.comments.comment_topics`, one group or several — then labelled
    "group · topic"), coloured by the share of them that is negative (0…100%, grey when
    none has a sentiment).  Tooltips: comments, mean score with its n, share negative."""
    _require(frame, ("topic", "comments", "mean_score", "score_n", "negative_share"), "topic_bars")
    if frame.empty:
        return empty_chart("No topic: too few comments mention the same phrase.", width=width)
    df = frame.sort_values("comments", ascending=False).head(top).copy()
    several = "group" in df.columns and df["group"].nunique() > 1
    df["label"] = ([f"{g} · {t}" for g, t in zip(df["group"], df["topic"])] if several
                   else df["topic"].astype(str))
    df["negative_pct"] = 100.0 * df["negative_share"].astype(float)
    df["negative_text"] = [format_percent(v) for v in df["negative_share"]]
    df["mean_text"] = [f"{format_number(m, 2)} (n = {format_count(n)})"
                       for m, n in zip(df["mean_score"], df["score_n"])]
    df["bar_text"] = [f"{format_count(c)} · {s} negative" for c, s in zip(df["comments"], df["negative_text"])]
    order = df["label"].tolist()
    tooltip = [alt.Tooltip("label:N", title="Topic"),
               alt.Tooltip("comments:Q", title="Comments mentioning it", format=",d"),
               alt.Tooltip("mean_text:N", title="Mean score of those comments"),
               alt.Tooltip("negative_text:N", title="Negative (of those with a sentiment)")]
    x_max = float(df["comments"].max()) * 1.45
    base = alt.Chart(df).encode(
        y=alt.Y("label:N", sort=order, title=None),
        x=alt.X("comments:Q", title="Comments mentioning the topic",
                scale=alt.Scale(domain=[0, x_max], nice=False), axis=alt.Axis(format=",d", tickMinStep=1)),
        tooltip=tooltip)
    bars = base.mark_bar().encode(color=alt.Color(
        "negative_pct:Q", title="% negative", scale=alt.Scale(scheme="oranges", domain=[0, 100]),
        legend=alt.Legend(format=".0f")))
    return (alt.layer(bars, base.mark_text(align="left", dx=4).encode(text="bar_text:N"))
            .properties(title=_title(title, "Key phrases (YAKE); sentiment (VADER) of English comments"),
                        width=width, height=alt.Step(24)))
