"""Altair charts of a map conformance result (SPEC §8.5, :mod:`cxdata.why.conformance`).

Two horizontal bar charts, small frames in (never events), the app's theme
(:mod:`cxdata.presentation.charts`), numbers written by :mod:`cxdata.formatting`:
:func:`class_bars` (customers per class, with their share, how many reached the map's
last stage and their NPS) and :func:`deviation_bars` (the most common deviations).
"""
from __future__ import annotations

import altair as alt
import pandas as pd

from cxdata.presentation.charts.base import (DEFAULT_WIDTH, HIGHLIGHT, OKABE_ITO, PRIMARY, _require, _title,
                           empty_chart)
from cxdata.formatting import format_count, format_percent, format_score

#: Colour of each deviation kind (a jump forward, a step back).
KIND_COLOURS = {"skip": OKABE_ITO[1], "back": HIGHLIGHT}
KIND_NAMES = {"skip": "skips stages", "back": "steps back"}


def _nps_label(score, n) -> str:
    n = int(n or 0)
    return f"{format_score('nps', score)} (n = {format_count(n)})" if n else "no answers"


def _labelled(frame: pd.DataFrame) -> pd.DataFrame:
    df = frame.copy()
    df["customers"] = df["customers"].astype(int)
    df["share_label"] = [format_percent(v) for v in df["share"]]
    df["converted_label"] = [format_percent(v) for v in df["converted_share"]]
    df["nps_label"] = [_nps_label(s, n) for s, n in zip(df["nps"], df["nps_n"])]
    df["bar_text"] = [f"{format_count(c)} ({s})" for c, s in zip(df["customers"], df["share_label"])]
    return df


def _bars(df: pd.DataFrame, label: str, label_title: str, colour, last_stage: str,
          title: str, subtitle: str, width: int, extra: tuple = ()) -> alt.LayerChart:
    tooltip = [alt.Tooltip(f"{label}:N", title=label_title), *extra,
               alt.Tooltip("customers:Q", title="Customers", format=",d"),
               alt.Tooltip("share_label:N", title="Share of customers"),
               alt.Tooltip("converted_label:N", title=f"Reached {last_stage}"),
               alt.Tooltip("nps_label:N", title="NPS (responses)")]
    x_max = max(1.0, float(df["customers"].max())) * 1.3
    base = alt.Chart(df).encode(
        y=alt.Y(f"{label}:N", sort=df[label].tolist(), title=None),
        x=alt.X("customers:Q", title="Customers", scale=alt.Scale(domain=[0, x_max], nice=False),
                axis=alt.Axis(tickCount=6, tickMinStep=1, format=",d")),
        tooltip=tooltip)
    return (alt.layer(base.mark_bar().encode(color=colour),
                      base.mark_text(align="left", dx=4).encode(text="bar_text:N"))
            .properties(title=_title(title, subtitle), width=width, height=alt.Step(30)))


def class_bars(classes: pd.DataFrame, last_stage: str, *, width: int = DEFAULT_WIDTH,
               title: str = "Does reality follow the map?") -> alt.LayerChart | alt.Chart:
    """Customers per class (``ConformanceResult.classes``: class, customers, share,
    converted_share, nps, nps_n), labelled with their share (%); the tooltip adds the
    share that reached ``last_stage`` and the NPS with its n.  "follows" is blue, the
    deviating classes orange (a customer may be in several of them)."""
    _require(classes, ("class", "customers", "share", "converted_share", "nps", "nps_n"),
             "class_bars")
    if classes.empty or int(classes["customers"].sum()) == 0:
        return empty_chart("Nobody visited a stage of the map with the current filters.", width=width)
    df = _labelled(classes)
    colour = alt.condition("datum['class'] === 'follows'", alt.value(PRIMARY), alt.value(OKABE_ITO[1]))
    return _bars(df, "class", "Class", colour, last_stage, title,
                 "Customers per class (% of customers); one customer may skip, go out of order "
                 "and loop back", width)


def deviation_bars(deviations: pd.DataFrame, last_stage: str, *, top: int = 10,
                   width: int = DEFAULT_WIDTH,
                   title: str = "Most common deviations from the map") -> alt.LayerChart | alt.Chart:
    """The ``top`` most common deviations (``ConformanceResult.deviations``: from, to,
    kind, label, customers, share, converted_share, nps, nps_n) as "from → to" bars,
    coloured by kind (skips stages / steps back), labelled with customers and share."""
    _require(deviations, ("from", "to", "kind", "label", "customers", "share",
                          "converted_share", "nps", "nps_n"), "deviation_bars")
    if deviations.empty:
        return empty_chart("No deviations: every customer follows the map.", width=width)
    df = _labelled(deviations.sort_values("customers", ascending=False).head(top))
    df["step"] = [f"{a} → {b}" for a, b in zip(df["from"], df["to"])]
    df["kind_name"] = [KIND_NAMES.get(k, k) for k in df["kind"]]
    kinds = [k for k in KIND_COLOURS if k in set(df["kind"])]
    colour = alt.Color("kind_name:N", title="Deviation",
                       scale=alt.Scale(domain=[KIND_NAMES[k] for k in kinds],
                                       range=[KIND_COLOURS[k] for k in kinds]))
    chart = _bars(df, "step", "Deviation", colour, last_stage, title,
                  "Customers who made this step at least once (% of customers)", width,
                  (alt.Tooltip("label:N", title="What it does"),))
    return chart
