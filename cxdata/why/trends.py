"""Trends with control limits (SPEC §8.3): is a week or month out of the ordinary?

Per week (from Monday, UTC) or month, the conversion of a funnel (§2's conversion over
time, :func:`cxdata.analytics.funnel.funnel_trend`) or a score (§4, by response time,
:func:`cxdata.analytics.scores.response_counts`), with a centre line and 3-sigma limits:

* conversion (fraction 0…1) and CSAT (top-2-box percent 0…100): p-charts, centre
  p̄ = Σx/Σn, limits p̄ ± 3·√(p̄(1−p̄)/n_t), clipped to the scale;
* NPS (−100…100): the per-response values +100 / 0 / −100, centre the overall NPS,
  limits ± 3·σ/√n_t with σ² their variance over all responses (divided by N, as p̄(1−p̄)
  is for a proportion), clipped to ±100;
* CES (mean 1…7): centre the overall mean, limits ± 3·s/√n_t with s the overall sample
  standard deviation, clipped to 1…7.

Incomplete conversion buckets (their entrants may still convert) are listed with their
limits but take no part in the centre, σ, the groups' centres, runs or signals.  A
complete bucket is a **signal** when it lies outside its limits ("beyond limits") or ends
a run of 8 consecutive complete buckets on one side of the centre ("run of 8").

``explain_by``: for each signal, per group g of a column (the entry value for a funnel,
the response's value for a score) its contribution n_t,g·(x_t,g − x̄_g) / (n_t·(x_t − x̄))
(x̄_g the group's own centre over the same buckets), largest first: the groups whose own
departure makes the bucket's.  Associations, never causes.

Only per-bucket (and per-bucket-and-group) counts reach Python: the engine does the rest.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from cxdata.analytics import funnel, scores

SIGNAL_BEYOND = "beyond limits"
SIGNAL_RUN = "run of 8"
RUN_LENGTH = 8
SIGMAS = 3.0
BUCKET_COLUMNS = ["start", "n", "value", "centre", "lcl", "ucl", "signal", "incomplete"]
EXPLANATION_COLUMNS = ["start", "group", "value", "contribution"]
#: The scale each kind of value is clipped to.
_SCALE = {"conversion": (0.0, 1.0), "csat": (0.0, 100.0), "nps": (-100.0, 100.0),
          "ces": (1.0, 7.0)}


@dataclass(frozen=True)
class TrendLimits:
    """A control chart.  ``buckets``: start (Timestamp, naive UTC), n (entrants or
    responses), value / centre / lcl / ucl (conversion fraction 0…1, CSAT percent, NPS
    points, CES mean), signal (None, "beyond limits", "run of 8"), incomplete (bool).
    ``explanations``: start, group, value (the group's own), contribution (fraction:
    1 = the whole gap), for the signals only, largest contribution first.  ``metric``:
    "conversion", "nps", "csat" or "ces"; ``grain``: "week" or "month"."""
    metric: str
    grain: str
    buckets: pd.DataFrame
    explanations: pd.DataFrame

    def to_json_dict(self) -> dict:
        """SPEC §8.3's JSON shape (start as ``YYYY-MM-DD``; no number -> null)."""
        def clean(v):
            if v is None or (isinstance(v, float) and math.isnan(v)):
                return None
            return v.item() if hasattr(v, "item") else v
        buckets = [{"start": pd.Timestamp(r.start).strftime("%Y-%m-%d"), "n": int(r.n),
                    "value": clean(float(r.value)), "centre": clean(float(r.centre)),
                    "lcl": clean(float(r.lcl)), "ucl": clean(float(r.ucl)),
                    "signal": r.signal if isinstance(r.signal, str) else None,
                    "incomplete": bool(r.incomplete)} for r in self.buckets.itertuples()]
        explanations = [{"start": pd.Timestamp(r.start).strftime("%Y-%m-%d"), "group": str(r.group),
                         "value": clean(float(r.value)), "contribution": clean(float(r.contribution))}
                        for r in self.explanations.itertuples()]
        return {"buckets": buckets, "explanations": explanations}


# ---------------------------------------------------------------------------------------
# Limits and signals (pure)

def _bucket_stats(metric: str, counts: pd.DataFrame) -> tuple[list[float], float, float]:
    """Per-bucket values, the centre and the per-response spread (σ or s; for a p-chart
    √(p̄(1−p̄))) from counts with columns n and x (conversion: converted) or n, high,
    low, total, total_sq (scores), over the rows given."""
    n = counts["n"].astype(float)
    if metric == "conversion":
        values = list(counts["x"] / n)
        p = counts["x"].sum() / n.sum() if n.sum() else math.nan
        return values, p, math.sqrt(p * (1 - p)) if n.sum() else math.nan
    if metric == "csat":
        values = list(100.0 * counts["high"] / n)
        p = counts["high"].sum() / n.sum() if n.sum() else math.nan
        return values, 100.0 * p, 100.0 * math.sqrt(p * (1 - p)) if n.sum() else math.nan
    if metric == "nps":
        values = list(100.0 * (counts["high"] - counts["low"]) / n)
        total = n.sum()
        if not total:
            return values, math.nan, math.nan
        centre = 100.0 * (counts["high"].sum() - counts["low"].sum()) / total
        # per-response values ±100: E[v²] = 10000·(P + D)/N
        variance = 10000.0 * (counts["high"].sum() + counts["low"].sum()) / total - centre ** 2
        return values, centre, math.sqrt(max(variance, 0.0))
    values = list(counts["total"] / n)
    total = n.sum()
    centre = counts["total"].sum() / total if total else math.nan
    if total < 2:
        return values, centre, math.nan
    s2 = (total * counts["total_sq"].sum() - counts["total"].sum() ** 2) / (total * (total - 1))
    return values, centre, math.sqrt(max(s2, 0.0))


def control_limits(metric: str, counts: pd.DataFrame) -> pd.DataFrame:
    """The control chart of per-bucket ``counts`` (columns start, n, incomplete and the
    metric's counts: x for conversion; high, low, total, total_sq for scores), sorted by
    start: :data:`BUCKET_COLUMNS`.  Centre and spread come from the complete buckets."""
    counts = counts.sort_values("start").reset_index(drop=True)
    complete = ~counts["incomplete"].astype(bool)
    values, _, _ = _bucket_stats(metric, counts)
    _, centre, spread = _bucket_stats(metric, counts[complete])
    low_end, high_end = _SCALE[metric]
    half = [SIGMAS * spread / math.sqrt(n) for n in counts["n"]]
    frame = pd.DataFrame({
        "start": pd.to_datetime(counts["start"]).astype("datetime64[us]"),
        "n": counts["n"].astype("int64"),
        "value": pd.Series(values, dtype="float64"),
        "centre": float(centre),
        "lcl": [max(low_end, centre - h) for h in half],
        "ucl": [min(high_end, centre + h) for h in half],
        "incomplete": ~complete,
    })
    # object dtype: "no signal" stays None (a text dtype would turn it into NaN)
    frame["signal"] = pd.Series(signals(frame["value"], frame["lcl"], frame["ucl"], centre,
                                        frame["incomplete"]), dtype=object)
    return frame[BUCKET_COLUMNS]


def signals(values, lcl, ucl, centre: float, incomplete) -> list[str | None]:
    """Per bucket: "beyond limits" (a complete bucket outside [lcl, ucl]), else "run of 8"
    (it ends 8 consecutive complete buckets strictly on one side of the centre; incomplete
    buckets are skipped, a bucket on the centre breaks a run), else None."""
    out: list[str | None] = []
    side_run, side = 0, 0
    for value, low, high, open_ in zip(values, lcl, ucl, incomplete):
        if open_:
            out.append(None)
            continue
        value = float(value)
        this = 1 if value > centre else (-1 if value < centre else 0)
        if this == 0:
            side_run = 0            # on the centre line: a run ends
        elif this == side:
            side_run += 1
        else:
            side_run = 1
        side = this
        if value < low or value > high:
            out.append(SIGNAL_BEYOND)
        elif side_run >= RUN_LENGTH:
            out.append(SIGNAL_RUN)
        else:
            out.append(None)
    return out


def explanations(metric: str, chart: pd.DataFrame, groups: pd.DataFrame) -> pd.DataFrame:
    """Per signal bucket of ``chart`` and group of ``groups`` (columns start, group, n and
    the metric's counts, per bucket and group): the group's value in the bucket and its
    contribution n_t,g·(x_t,g − x̄_g) / (n_t·(x_t − x̄)), x̄_g the group's centre over the
    complete buckets.  :data:`EXPLANATION_COLUMNS`, by start, largest contribution first."""
    flagged = chart[chart["signal"].notna()]
    rows = []
    if flagged.empty or groups.empty:
        return pd.DataFrame(rows, columns=EXPLANATION_COLUMNS)
    groups = groups.copy()
    groups["start"] = pd.to_datetime(groups["start"]).astype("datetime64[us]")
    complete_starts = set(chart.loc[~chart["incomplete"], "start"])
    centres = {}
    for group, part in groups.groupby("group", sort=False):
        _, centre, _ = _bucket_stats(metric, part[part["start"].isin(complete_starts)])
        centres[group] = centre
    for bucket in flagged.itertuples():
        gap = bucket.n * (bucket.value - bucket.centre)
        part = groups[groups["start"] == bucket.start]
        values, _, _ = _bucket_stats(metric, part)
        for (group, n_g), x_g in zip(part[["group", "n"]].itertuples(index=False), values):
            contribution = n_g * (x_g - centres[group]) / gap if gap else math.nan
            rows.append([bucket.start, group, x_g, contribution])
    frame = pd.DataFrame(rows, columns=EXPLANATION_COLUMNS)
    frame = frame.sort_values(["start", "contribution"], ascending=[True, False], kind="mergesort")
    frame["contribution"] = frame["contribution"].astype("float64")
    frame["value"] = frame["value"].astype("float64")
    return frame.reset_index(drop=True)


# ---------------------------------------------------------------------------------------
# Queries

def _entry_groups(cur, table: str, steps, grain: str, column: str, **options) -> pd.DataFrame:
    """Entrants and converters per bucket of entry and value of ``column`` on the counted
    attempt's step-1 event ("(none)" when missing): start, group, n, x."""
    sql, spec, engine = funnel.counted_attempts(cur, table, list(steps), rows=[1], **options)
    if column not in spec.column_types:
        raise ValueError(f"The column '{column}' is not in the dataset.")
    sql.cte("grouped", f"SELECT c.t1, c.depth, coalesce({spec.text(column, 'e')}, ?) AS grp "
                       "FROM counted c JOIN ev e ON e._row = c.r1 AND e.customer_id = c.customer_id",
            [funnel.NO_VALUE])
    rows = sql.run(engine, "SELECT * FROM grouped",
                   "SELECT date_trunc(?, make_timestamp(t1)) AS start, grp, count(*) AS n, "
                   f"count(*) FILTER (WHERE depth = {spec.k}) AS x FROM kernel "
                   "GROUP BY ALL ORDER BY start, grp", [grain])
    frame = pd.DataFrame(rows, columns=["start", "group", "n", "x"])
    frame["start"] = pd.to_datetime(frame["start"]).astype("datetime64[us]")
    return frame


def conversion_trend_limits(cur, table: str, steps: list[str], grain: str = "week", *,
                            explain_by: str | None = None, **options) -> TrendLimits:
    """SPEC §8.3 for a funnel's conversion (reached the last step / entered, fraction
    0…1) per ``grain`` of entry (:func:`cxdata.analytics.funnel.funnel_trend`; incomplete buckets
    as there).  ``explain_by``: a column whose entry values explain the signals.
    ``options``: the funnel's (by, window_seconds, order, event_filter, …)."""
    trend = funnel.funnel_trend(cur, table, list(steps), grain, **options)
    counts = pd.DataFrame({"start": trend["period"], "n": trend["entered"],
                           "x": trend["converted"], "incomplete": trend["incomplete"]})
    chart = TrendLimits("conversion", grain, control_limits("conversion", counts),
                        pd.DataFrame(columns=EXPLANATION_COLUMNS))
    return explain_conversion(cur, table, steps, chart, explain_by, **options)


def explain_conversion(cur, table: str, steps: list[str], chart: TrendLimits,
                       explain_by: str | None, **options) -> TrendLimits:
    """``chart`` (a conversion chart of the funnel ``steps`` with ``options``) with the
    explanations of its signals by the entry values of column ``explain_by``; one query,
    run only when there is a signal to explain (none: ``chart`` as it is)."""
    if not explain_by or not chart.buckets["signal"].notna().any():
        return chart
    groups = _entry_groups(cur, table, steps, chart.grain, explain_by, **options)
    return TrendLimits("conversion", chart.grain, chart.buckets,
                       explanations("conversion", chart.buckets, groups))


def score_trend_limits(cur, table: str, metric: str, grain: str = "week", *,
                       explain_by: str | None = None, event_filter=None) -> TrendLimits:
    """SPEC §8.3 for a score (``metric`` nps, csat or ces; see the module for each chart)
    per ``grain`` of response time.  Score buckets are never incomplete.  ``explain_by``:
    a column (or role) of the responses whose groups explain the signals."""
    frame = scores.response_counts(cur, table, metric, grain=grain, event_filter=event_filter)
    counts = frame.rename(columns={"period": "start"})
    counts["incomplete"] = False
    chart = control_limits(metric, counts)
    groups = pd.DataFrame(columns=["start", "group", "n", "high", "low", "total", "total_sq"])
    if explain_by and chart["signal"].notna().any():
        groups = scores.response_counts(cur, table, metric, explain_by, grain=grain,
                                        event_filter=event_filter).rename(columns={"period": "start"})
    return TrendLimits(metric, grain, chart, explanations(metric, chart, groups))
