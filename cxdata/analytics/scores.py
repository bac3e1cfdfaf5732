"""NPS, CSAT and CES with 95% intervals, per group, over time, and group comparisons.

SPEC §4.  A *response* is a row whose score column (``nps``, ``csat`` or ``ces``) is not
NULL; ``n`` is the number of responses in a group.

==========  ==============================================  ===========================
metric      ``score``                                       ``secondary``
==========  ==============================================  ===========================
``nps``     100·(P − D)/n, P = 9–10, D = 0–6; −100…100       None
``csat``    top-2-box percent (4–5), 0…100                   mean score (1–5)
``ces``     mean score, 1…7 (higher = easier)                percent "easy" (5–7), 0…100
==========  ==============================================  ===========================

Intervals: NPS adjusted Wald (clipped to ±100), CSAT Wilson score interval, CES
mean ± t(0.975, n−1)·s/√n.  A group of one response has no interval, whatever the metric
(SPEC §6).  Undefined values (no responses; the interval of a group of one) are ``NaN``.

Event-level work (counting promoters, sums, sums of squares per group) happens in DuckDB;
the statistics are computed in Python on the small aggregated result; the t distribution
comes from ``scipy.special``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import pandas as pd
from scipy import special

from cxdata.engines import as_engine
from cxdata.io.schema import resolve_column
from cxdata.sql import PER_VALUE, EventFilter, filtered_events, quote_ident

METRICS: tuple[str, ...] = ("nps", "csat", "ces")
METRIC_LABELS: dict[str, str] = {"nps": "NPS", "csat": "CSAT", "ces": "CES"}
LOW_SAMPLE_DEFAULT = 30
GRAINS: tuple[str, ...] = ("week", "month")
#: Label of the group formed by rows whose grouping column is empty.
MISSING_GROUP = "(none)"

Z_95 = 1.959963984540054  # standard normal 0.975 quantile; the SPEC's "1.96"

# Per metric: responses counted as "high" (promoters / top-2-box / easy) and "low"
# (detractors; NPS only).  Bound as SQL parameters.
_HIGH_FROM = {"nps": 9, "csat": 4, "ces": 5}
_LOW_UPTO = {"nps": 6, "csat": 0, "ces": 0}


# ---------------------------------------------------------------------------------------
# Result types

@dataclass(frozen=True)
class ResponseCounts:
    """Aggregated responses of one group: everything the statistics need.

    ``high``: responses counted as promoters (NPS 9–10), top-2-box (CSAT 4–5) or easy
    (CES 5–7); ``low``: detractors (NPS 0–6, else 0); ``total`` / ``total_sq``: sum and sum
    of squares of the scores.
    """
    n: int
    high: int = 0
    low: int = 0
    total: int = 0
    total_sq: int = 0


@dataclass(frozen=True)
class ScoreSummary:
    """The score of one group.  NPS: −100…100; CSAT: top-2-box percent 0…100; CES: mean
    1…7.  ``ci_low``/``ci_high``: 95% interval in the same unit.  ``secondary``: CSAT mean
    (1–5), CES percent easy (0–100), NPS None."""
    group: str
    n: int
    score: float
    ci_low: float
    ci_high: float
    low_sample: bool
    secondary: float | None


@dataclass(frozen=True)
class Comparison:
    """Group ``a`` minus group ``b``.

    ``difference`` = score_a − score_b (NPS points, CSAT percentage points, CES scale
    points); ``ci_low``/``ci_high``: its 95% interval; ``p_value``: two-sided p of the
    SPEC's test (NaN when a group has too few responses).
    """
    metric: str
    a: str
    b: str
    score_a: float
    score_b: float
    n_a: int
    n_b: int
    difference: float
    ci_low: float
    ci_high: float
    p_value: float

    def significant(self, alpha: float = 0.05) -> bool:
        """True when ``p_value < alpha`` (False when p is undefined)."""
        return not math.isnan(self.p_value) and self.p_value < alpha


# ---------------------------------------------------------------------------------------
# Distributions (pure)

def normal_two_sided_p(z: float) -> float:
    """Two-sided p-value of a standard normal statistic ``z``."""
    return math.erfc(abs(z) / math.sqrt(2.0))


def regularized_incomplete_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b) for 0 ≤ x ≤ 1 and a, b > 0 (``scipy.special.betainc``)."""
    return float(special.betainc(a, b, min(max(x, 0.0), 1.0)))


def t_cdf(t: float, df: float) -> float:
    """P(T ≤ t) for Student's t with ``df`` > 0 degrees of freedom (df may be fractional)."""
    return float(special.stdtr(df, t))


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| ≥ |t|) for Student's t with ``df`` degrees of freedom (accurate for tiny p:
    I_{df/(df+t²)}(df/2, 1/2), no 1 − cdf cancellation)."""
    if math.isinf(t):
        return 0.0
    return regularized_incomplete_beta(df / (df + t * t), df / 2.0, 0.5)


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with ``df`` > 0 degrees of freedom (0 < p < 1;
    ``scipy.special.stdtrit``)."""
    if not 0.0 < p < 1.0:
        raise ValueError("A quantile needs a probability strictly between 0 and 1.")
    if df <= 0 or math.isnan(df):
        raise ValueError("The t distribution needs positive degrees of freedom.")
    return float(special.stdtrit(df, p))


# ---------------------------------------------------------------------------------------
# Intervals (pure)

def nps_adjusted(promoters: int, detractors: int, n: int) -> tuple[float, float]:
    """Adjusted-Wald NPS as a fraction: ``(p′ − d′, v)`` with n′ = n+3, p′ = (P+¾)/n′,
    d′ = (D+¾)/n′ and v = (p′ + d′ − (p′ − d′)²)/n′ (SPEC §4)."""
    n_adj = n + 3
    p_adj = (promoters + 0.75) / n_adj
    d_adj = (detractors + 0.75) / n_adj
    return p_adj - d_adj, (p_adj + d_adj - (p_adj - d_adj) ** 2) / n_adj


def nps_interval(promoters: int, detractors: int, n: int) -> tuple[float, float]:
    """95% adjusted-Wald interval of NPS in points, clipped to −100…100 (SPEC §4)."""
    centre, variance = nps_adjusted(promoters, detractors, n)
    half = Z_95 * math.sqrt(variance)
    return max(-100.0, 100.0 * (centre - half)), min(100.0, 100.0 * (centre + half))


def wilson_interval(k: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval of the proportion k/n, in percent 0…100 (NaN if n = 0)."""
    if n <= 0:
        return math.nan, math.nan
    p = k / n
    z2 = Z_95 * Z_95
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = Z_95 / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return 100.0 * max(0.0, centre - half), 100.0 * min(1.0, centre + half)


def t_interval(mean: float, sd: float, n: int) -> tuple[float, float]:
    """95% interval mean ± t(0.975, n−1)·sd/√n, in the unit of the mean (NaN if n < 2)."""
    if n < 2:
        return math.nan, math.nan
    half = t_quantile(0.975, n - 1) * sd / math.sqrt(n)
    return mean - half, mean + half


def _sample_variance(counts: ResponseCounts) -> float:
    """Sample variance from exact integer sums (no cancellation for whole-number scores)."""
    n = counts.n
    return (n * counts.total_sq - counts.total * counts.total) / (n * (n - 1))


# ---------------------------------------------------------------------------------------
# Summaries and comparisons of aggregated counts (pure)

def summarise(metric: str, counts: ResponseCounts, group: str = "All",
              low_sample: int = LOW_SAMPLE_DEFAULT) -> ScoreSummary:
    """Score, 95% interval and secondary figure of one group from its counts.

    A group of one response has no interval (``ci_low``/``ci_high`` NaN) for every
    metric (SPEC §6): one answer says nothing about how answers vary.
    """
    _check_metric(metric)
    n = counts.n
    flagged = n < low_sample
    if n == 0:
        return ScoreSummary(group, 0, math.nan, math.nan, math.nan, True,
                            None if metric == "nps" else math.nan)
    if metric == "nps":
        score = 100.0 * (counts.high - counts.low) / n
        low, high = nps_interval(counts.high, counts.low, n) if n >= 2 else (math.nan, math.nan)
        return ScoreSummary(group, n, score, low, high, flagged, None)
    if metric == "csat":
        low, high = wilson_interval(counts.high, n) if n >= 2 else (math.nan, math.nan)
        return ScoreSummary(group, n, 100.0 * counts.high / n, low, high, flagged,
                            counts.total / n)
    mean = counts.total / n
    sd = math.sqrt(_sample_variance(counts)) if n >= 2 else math.nan
    low, high = t_interval(mean, sd, n)
    return ScoreSummary(group, n, mean, low, high, flagged, 100.0 * counts.high / n)


def two_proportion_test(k_a: int, n_a: int, k_b: int, n_b: int
                        ) -> tuple[float, float, float, float]:
    """Two-proportion z-test of k_a/n_a against k_b/n_b (both n > 0).

    Returns ``(difference, ci_low, ci_high, p_value)``: the difference of the proportions
    (fraction, a − b), its 95% Wald interval (unpooled standard error) and the two-sided p
    of the z-test with the pooled standard error.
    """
    p_a, p_b = k_a / n_a, k_b / n_b
    pooled = (k_a + k_b) / (n_a + n_b)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    # Both groups all-yes or all-no: no evidence of any difference.
    p_value = 1.0 if se_pooled == 0 else normal_two_sided_p((p_a - p_b) / se_pooled)
    se = math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    difference = p_a - p_b
    return difference, difference - Z_95 * se, difference + Z_95 * se, p_value


def compare_counts(metric: str, a: str, b: str, counts_a: ResponseCounts,
                   counts_b: ResponseCounts) -> Comparison:
    """Compare group ``a`` with group ``b`` (a − b) from their counts (SPEC §4).

    NPS: z-test on the adjusted values, z = (a′ − b′)/√(va + vb); the interval is
    (a′ − b′) ± 1.96·√(va + vb) in points.  CSAT: two-proportion z-test (pooled standard
    error for p, unpooled for the interval).  CES: Welch t-test with Welch–Satterthwaite
    degrees of freedom.
    """
    _check_metric(metric)
    score_a = summarise(metric, counts_a).score
    score_b = summarise(metric, counts_b).score
    nan = math.nan
    minimum = 2 if metric == "ces" else 1
    if counts_a.n < minimum or counts_b.n < minimum:
        return Comparison(metric, a, b, score_a, score_b, counts_a.n, counts_b.n,
                          score_a - score_b, nan, nan, nan)
    difference = score_a - score_b
    if metric == "nps":
        centre_a, var_a = nps_adjusted(counts_a.high, counts_a.low, counts_a.n)
        centre_b, var_b = nps_adjusted(counts_b.high, counts_b.low, counts_b.n)
        se = math.sqrt(var_a + var_b)
        centre = centre_a - centre_b
        p_value = normal_two_sided_p(centre / se)
        low, high = 100.0 * (centre - Z_95 * se), 100.0 * (centre + Z_95 * se)
        low, high = max(-200.0, low), min(200.0, high)
    elif metric == "csat":
        _, low, high, p_value = two_proportion_test(counts_a.high, counts_a.n,
                                                    counts_b.high, counts_b.n)
        low, high = 100.0 * low, 100.0 * high
    else:
        share_a = _sample_variance(counts_a) / counts_a.n
        share_b = _sample_variance(counts_b) / counts_b.n
        se = math.sqrt(share_a + share_b)
        if se == 0:
            # Both groups have constant answers: the difference is exact.
            p_value = 1.0 if difference == 0 else 0.0
            low = high = difference
        else:
            df = (share_a + share_b) ** 2 / (share_a ** 2 / (counts_a.n - 1)
                                             + share_b ** 2 / (counts_b.n - 1))
            t = difference / se
            p_value = t_two_sided_p(t, df)
            half = t_quantile(0.975, df) * se
            low, high = difference - half, difference + half
    return Comparison(metric, a, b, score_a, score_b, counts_a.n, counts_b.n,
                      difference, low, high, p_value)


# ---------------------------------------------------------------------------------------
# SQL aggregation

def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"Unknown score metric {metric!r}: choose one of nps, csat or ces.")


def _check_grain(grain: str) -> None:
    if grain not in GRAINS:
        raise ValueError(f"Unknown time bucket {grain!r}: choose week or month.")


def table_columns(cur, table: str) -> list[str]:
    """Column names of a dataset's events, in table order (any engine)."""
    return list(as_engine(cur, table).column_types())


def _group_label_sql(column: str) -> str:
    """Text label of a grouping column; empty and missing values form one group."""
    col = quote_ident(column)
    return f"COALESCE(NULLIF(CAST({col} AS VARCHAR), ''), '{MISSING_GROUP}')"


def _period_sql(grain: str) -> str:
    _check_grain(grain)
    # grain is one of two literals checked above, never user text.
    return f"date_trunc('{grain}', ts)"


@dataclass(frozen=True)
class _Key:
    """One grouping key of an aggregation: a column (text label) or a time bucket."""
    name: str          # output column name
    column: str | None = None
    grain: str | None = None
    #: the column's value as text, as a filter on it compares it (missing stays missing),
    #: instead of the label that groups missing and empty values as "(none)"
    raw: bool = False

    def sql(self) -> str:
        if self.grain:
            return _period_sql(self.grain)
        return f"CAST({quote_ident(self.column)} AS VARCHAR)" if self.raw else _group_label_sql(self.column)


def _key_for(columns: list[str], by: str, name: str = "group") -> _Key:
    """Grouping key for ``by``: a column or role; ``week``/``month`` (when the table has no
    column of that name) is a time bucket."""
    try:
        return _Key(name, column=resolve_column(columns, by))
    except ValueError:
        if by in GRAINS:
            return _Key(name, grain=by)
        raise


def _aggregate(cur, table: str, metric: str, keys: Sequence[_Key], *,
               event_filter: EventFilter | None = None,
               only: tuple[_Key, list[str]] | None = None) -> pd.DataFrame:
    """Per group of ``keys``: n, high, low, total, total_sq of the metric's responses.

    ``only`` restricts one text key to a list of labels.  Returns one row per group with
    at least one response; key columns first, in ``keys`` order.
    """
    return _aggregate_metrics(cur, table, [metric], keys, event_filter=event_filter,
                              only=only)[metric]


def _aggregate_metrics(cur, table: str, metrics: Sequence[str], keys: Sequence[_Key], *,
                       event_filter: EventFilter | None = None,
                       only: tuple[_Key, list[str]] | None = None) -> dict[str, pd.DataFrame]:
    """:func:`_aggregate` of several metrics in ONE query: metric -> its frame.

    One branch per metric, each over the events with a response to it: that condition
    goes into the scan, which then reads the other columns of those rows only (a single
    branch counting every metric with FILTERs read them for every event the filter keeps,
    and took longer than the three)."""
    for metric in metrics:
        _check_metric(metric)
    engine = as_engine(cur, table)
    source, params = filtered_events(engine.table, event_filter)
    key_sql = [f"{key.sql()} AS {quote_ident(key.name)}" for key in keys]
    only_sql, only_params = "", []
    if only is not None:
        key, labels = only
        only_sql = f" AND {key.sql()} IN ({', '.join('?' * len(labels))})"
        only_params = list(labels)
    group_by = f" GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}" if keys else ""
    labelled = len(metrics) > 1    # one metric alone: the query of its own, no name needed
    branches = []
    for metric in metrics:
        score = quote_ident(metric)
        select = ", ".join(key_sql + [
            "count(*) AS n",
            f"count_if({score} >= ?) AS high",
            f"count_if({score} <= ?) AS low",
            f"CAST(sum({score}) AS BIGINT) AS total",
            f"CAST(sum({score} * {score}) AS BIGINT) AS total_sq",
        ])
        branch = f"SELECT {select} FROM ev WHERE {score} IS NOT NULL{only_sql}{group_by}"
        if labelled:
            # the metric's name added outside the aggregate: without keys it stays ungrouped
            branch = f"SELECT CAST(? AS VARCHAR) AS metric, * FROM ({branch})"
            params.append(metric)
        branches.append(branch)
        params += [_HIGH_FROM[metric], _LOW_UPTO[metric]] + only_params
    # NOT MATERIALIZED: each branch scans with its own condition, rather than one scan of
    # every kept event fanned out to the branches (DuckDB's default for a shared CTE)
    kernel = f"WITH ev AS NOT MATERIALIZED ({source})\n" + "\nUNION ALL\n".join(branches)
    # Every figure is a count or a sum: the partial sums of any split of the events add up.
    key_names = (["metric"] if labelled else []) + [key.name for key in keys]
    grouped = ", ".join(quote_ident(name) for name in key_names)
    then = (f"SELECT {grouped + ', ' if grouped else ''}"
            + ", ".join(f"CAST(sum({n}) AS BIGINT) AS {n}" for n in RESPONSE_FIGURES)
            + " FROM kernel" + (f" GROUP BY {grouped}" if grouped else ""))
    # rows() keeps exact Python ints (a HUGEINT would arrive as float in a DataFrame).
    frame = pd.DataFrame(engine.rows(kernel, params, then), columns=key_names + list(RESPONSE_FIGURES))
    if not labelled:
        frame.insert(0, "metric", metrics[0])
    frame = frame[frame["n"].notna()]
    frames = {}
    for metric in metrics:
        one = frame[(frame["metric"] == metric) & (frame["n"] > 0)]
        frames[metric] = one.drop(columns="metric").astype(
            {figure: "int64" for figure in RESPONSE_FIGURES}).reset_index(drop=True)
    return frames


#: The figures of a group's responses, as :func:`_aggregate` returns them: counts and sums,
#: so that the figures of several groups add up (:func:`summed_responses`).
RESPONSE_FIGURES = ("n", "high", "low", "total", "total_sq")


def summed_responses(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """The :data:`RESPONSE_FIGURES` of ``frame``'s rows summed per ``keys`` (sorted by
    them, key columns first): the figures of the groups each key value merges."""
    return (frame.groupby(list(keys), sort=True, dropna=False)[list(RESPONSE_FIGURES)]
            .sum().reset_index())


def _counts(row) -> ResponseCounts:
    return ResponseCounts(int(row["n"]), int(row["high"]), int(row["low"]),
                          int(row["total"] or 0), int(row["total_sq"] or 0))


def _with_summaries(frame: pd.DataFrame, metric: str, key_names: list[str],
                    low_sample: int) -> pd.DataFrame:
    """Key columns + n, score, ci_low, ci_high, low_sample, secondary."""
    rows = []
    for _, row in frame.iterrows():
        s = summarise(metric, _counts(row), low_sample=low_sample)
        rows.append([row[k] for k in key_names]
                    + [s.n, s.score, s.ci_low, s.ci_high, s.low_sample, s.secondary])
    columns = key_names + ["n", "score", "ci_low", "ci_high", "low_sample", "secondary"]
    result = pd.DataFrame(rows, columns=columns)
    result["n"] = result["n"].astype("int64")
    result["low_sample"] = result["low_sample"].astype(bool)
    result["secondary"] = result["secondary"].astype("float64")
    return result


def _period_label(period: pd.Timestamp, grain: str) -> str:
    return period.strftime("%Y-%m") if grain == "month" else period.strftime("%Y-%m-%d")


# ---------------------------------------------------------------------------------------
# Public queries

def response_counts(cur, table: str, metric: str, by: str | None = None, *,
                    grain: str | None = None,
                    event_filter: EventFilter | None = None) -> pd.DataFrame:
    """Aggregated responses: columns [period], [group], n, high, low, total, total_sq.

    ``by``: a grouping column (missing -> "(none)"); ``grain``: ``week``/``month`` adds
    ``period`` (Timestamp, start of the bucket, UTC).  The input of :func:`summarise` and
    :func:`compare_counts` (via :func:`counts_of`) for callers that need raw counts.
    """
    return responses_by_metric(cur, table, [metric], by, grain=grain,
                               event_filter=event_filter)[metric]


def responses_by_metric(cur, table: str, metrics: Sequence[str], by: str | None = None, *,
                        grain: str | None = None, event_filter: EventFilter | None = None,
                        per: str | None = None) -> dict[str, pd.DataFrame]:
    """:func:`response_counts` of several metrics in ONE query (a branch per metric,
    :func:`_aggregate_metrics`): metric -> its frame (the same rows as its own call).

    ``per``: a column whose values are one more key, column :data:`PER_VALUE` (the value
    as text, None when missing), so that the counts under any filter on that column
    alone are sums of these rows (:mod:`cxdata.analytics.per_value`)."""
    columns = table_columns(cur, table)
    keys = []
    if grain is not None:
        _check_grain(grain)
        keys.append(_Key("period", grain=grain))
    if by is not None:
        keys.append(_key_for(columns, by))
    if per is not None:
        keys.append(_Key(PER_VALUE, column=resolve_column(columns, per), raw=True))
    frames = _aggregate_metrics(cur, table, metrics, keys, event_filter=event_filter)
    return {metric: frame.sort_values([k.name for k in keys]).reset_index(drop=True) if keys else frame
            for metric, frame in frames.items()}


def counts_of(row) -> ResponseCounts:
    """:class:`ResponseCounts` of one row of :func:`response_counts`."""
    return _counts(row)


def score_summary(cur, table: str, metric: str, *, event_filter: EventFilter | None = None,
                  low_sample: int = LOW_SAMPLE_DEFAULT) -> ScoreSummary:
    """The metric over every response of the dataset (group "All"); n = 0 gives NaN."""
    frame = _aggregate(cur, table, metric, [], event_filter=event_filter)
    counts = _counts(frame.iloc[0]) if len(frame) else ResponseCounts(0)
    return summarise(metric, counts, "All", low_sample)


def scores_by(cur, table: str, metric: str, by: str, *,
              event_filter: EventFilter | None = None,
              low_sample: int = LOW_SAMPLE_DEFAULT) -> pd.DataFrame:
    """The metric per group of column ``by`` (or role name; ``week``/``month`` for time
    buckets when the table has no such column).

    Columns: group, n, score, ci_low, ci_high, low_sample, secondary.  Groups with at
    least one response only; missing values form the group "(none)".  Sorted by score
    ascending (worst first; for CES too, as a lower mean is harder), ties by group name;
    time buckets are sorted chronologically and labelled ``YYYY-MM`` (month) or the
    ``YYYY-MM-DD`` of the week's Monday.
    """
    key = _key_for(table_columns(cur, table), by)
    frame = _with_summaries(_aggregate(cur, table, metric, [key], event_filter=event_filter),
                            metric, ["group"], low_sample)
    if key.grain:
        frame = frame.sort_values("group").reset_index(drop=True)
        frame["group"] = [_period_label(pd.Timestamp(p), key.grain) for p in frame["group"]]
        return frame
    return frame.sort_values(["score", "group"], na_position="last").reset_index(drop=True)


def scores_matrix(cur, table: str, metric: str, rows: str, cols: str, *,
                  event_filter: EventFilter | None = None,
                  low_sample: int = LOW_SAMPLE_DEFAULT) -> pd.DataFrame:
    """The metric per (rows, cols) pair, for a heatmap.

    Columns: row, col, n, score, ci_low, ci_high, low_sample, secondary.  Only pairs with
    responses; sorted by row, col.  Time buckets as in :func:`scores_by`.
    """
    columns = table_columns(cur, table)
    keys = [_key_for(columns, rows, "row"), _key_for(columns, cols, "col")]
    frame = _with_summaries(_aggregate(cur, table, metric, keys, event_filter=event_filter),
                            metric, ["row", "col"], low_sample)
    frame = frame.sort_values(["row", "col"]).reset_index(drop=True)
    for key in keys:
        if key.grain:
            frame[key.name] = [_period_label(pd.Timestamp(p), key.grain)
                               for p in frame[key.name]]
    return frame


def scores_trend(cur, table: str, metric: str, grain: str = "week", *, by: str | None = None,
                 event_filter: EventFilter | None = None,
                 low_sample: int = LOW_SAMPLE_DEFAULT) -> pd.DataFrame:
    """The metric per week or month (and per group of ``by`` when given).

    Columns: period (Timestamp: Monday 00:00 or first of the month, UTC), [group], n,
    score, ci_low, ci_high, low_sample, secondary.  Periods without responses are absent.
    Sorted by period, then group.
    """
    frame = response_counts(cur, table, metric, by, grain=grain, event_filter=event_filter)
    key_names = ["period"] + (["group"] if by is not None else [])
    result = _with_summaries(frame, metric, key_names, low_sample)
    result["period"] = pd.to_datetime(result["period"])
    return result


def compare_groups(cur, table: str, metric: str, column: str, a: str, b: str, *,
                   event_filter: EventFilter | None = None) -> Comparison:
    """Compare the responses of group ``a`` with group ``b`` of ``column`` (a − b).

    ``a``/``b`` are group labels as :func:`scores_by` shows them ("(none)" = missing).
    A group without responses gives n = 0 and NaN figures.
    """
    key = _key_for(table_columns(cur, table), column)
    if key.grain:
        raise ValueError("Compare time periods with scores_trend and compare_counts.")
    frame = _aggregate(cur, table, metric, [key], event_filter=event_filter,
                       only=(key, [str(a), str(b)]))
    found = {row["group"]: _counts(row) for _, row in frame.iterrows()}
    empty = ResponseCounts(0)
    return compare_counts(metric, str(a), str(b), found.get(str(a), empty),
                          found.get(str(b), empty))


def _comments_source(cur, table: str, column: str, value: str,
                     event_filter: EventFilter | None) -> tuple[str, str, list]:
    """``(head, tail, params)``: ``head + "SELECT …" + tail`` selects from the comments of
    one selection, the rows whose ``column`` is ``value`` ("(none)" = missing) with a
    non-blank comment.  The one definition :func:`comments` and :func:`comment_count`
    share."""
    key = _key_for(table_columns(cur, table), column)
    if key.grain:
        raise ValueError("Comments are selected by a column value, not a time bucket.")
    source, params = filtered_events(as_engine(cur, table).table, event_filter)
    tail = f" FROM ev WHERE {key.sql()} = ? AND comment IS NOT NULL AND trim(comment) <> ''"
    return f"WITH ev AS ({source}) ", tail, params + [str(value)]


def comment_count(cur, table: str, *, column: str, value: str,
                  event_filter: EventFilter | None = None) -> int:
    """How many comments :func:`comments` would list without a limit."""
    head, tail, params = _comments_source(cur, table, column, value, event_filter)
    rows = as_engine(cur, table).rows(head + "SELECT count(*) AS n" + tail, params,
                                      "SELECT CAST(sum(n) AS BIGINT) FROM kernel")
    return int(rows[0][0] or 0)


def comments(cur, table: str, *, column: str, value: str, metric: str | None = None,
             event_filter: EventFilter | None = None, limit: int | None = 200,
             offset: int = 0) -> pd.DataFrame:
    """Comments of the rows whose ``column`` is ``value`` ("(none)" = missing).

    Columns: ts, customer_id, score, comment.  With ``metric``, ``score`` is that
    metric's response (NA when the row has none) and rows are sorted worst score first
    (lowest; for CES too), then newest; without it ``score`` is NA and rows are newest
    first (ties in file order).  Empty comments are skipped.  ``offset`` skips that many
    rows of this order and ``limit`` keeps at most that many (None: all), so that pages
    of a long list never overlap; :func:`comment_count` gives the total.
    """
    if metric is not None:
        _check_metric(metric)
    head, tail, params = _comments_source(cur, table, column, value, event_filter)
    score_sql = quote_ident(metric) if metric else "CAST(NULL AS INTEGER)"
    order = (f"{score_sql} ASC NULLS LAST, ts DESC, _row" if metric else "ts DESC, _row")
    # Each part keeps its own first offset + limit rows: the first rows of the whole are
    # among them.
    kernel = head + f"SELECT ts, customer_id, {score_sql} AS score, comment, _row" + tail
    then_order = "score ASC NULLS LAST, ts DESC, _row" if metric else "ts DESC, _row"
    then, then_params = f"SELECT ts, customer_id, score, comment FROM kernel ORDER BY {then_order}", []
    if limit is not None:
        kernel += f" ORDER BY {order} LIMIT ?"
        params.append(int(limit) + int(offset))
        then += " LIMIT ?"
        then_params.append(int(limit))
    if offset:
        then += " OFFSET ?"
        then_params.append(int(offset))
    frame = as_engine(cur, table).run(kernel, params, then, then_params)
    frame["score"] = frame["score"].astype("Int64")
    return frame
