"""Path charts: transition heatmaps and the most common journeys."""
from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from cxdata.formatting import format_count, format_duration, format_percent
from cxdata.presentation.charts.base import (DEFAULT_WIDTH, SEQUENTIAL_SCHEME, TEXT_DARK, _require,
                                             _title, empty_chart)


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
