"""The funnel's figures as aggregates of the counted relation: counts and conversions,
the breakdown, conversion over time (with incomplete periods) and the time-between-steps
histogram.  Times in seconds, conversions as fractions 0…1.
"""
from __future__ import annotations

import datetime as dt
from typing import Sequence

import pandas as pd

from cxdata.engines import Engine, as_engine
from cxdata.sql import EventFilter
from cxdata.analytics.funnel.spec import (
    TREND_GRAINS, NO_VALUE, _US_PER_SECOND, FunnelStep, FunnelResult,
    Exclusion, _Spec, _to_us, _require_column, _spec)
from cxdata.analytics.funnel.attempts import _Sql, _counted


def counted_attempts(cur, table: str, steps: list[str], rows: Sequence[int] = (), **options):
    """For analyses built on a funnel (SPEC §8): ``(sql, spec, engine)``.

    ``sql`` holds the CTEs ``ev`` (the filtered events), ``m`` (step-matching events) and
    ``counted`` (one row per customer in the funnel: customer_id, depth, t1 … tk in epoch
    µs, and r1 … rk — the ``_row`` of the step events — for the steps in ``rows``); add
    per-customer CTEs with ``sql.cte(name, body, params)`` and run a question with
    ``sql.run(engine, kernel_select, then, then_params)`` (see :mod:`cxdata.engines`).
    ``spec.window_us`` is the window (µs, None = none); ``options`` are those of
    :func:`compute_funnel`.
    """
    engine = as_engine(cur, table)
    spec = _spec(engine, steps, **options)
    return _counted(spec, rows=rows), spec, engine


def _step_aggregates(k: int, times: bool = True) -> str:
    """SELECT list: n1…nk (customers with depth ≥ j) and per step j ≥ 2 the median, p90
    and mean of (tj − tj−1) in seconds (NULL without ``times``: quantiles are most of
    the cost of a funnel's figures)."""
    parts = [f"count(*) FILTER (WHERE depth >= {j}) AS n{j}" for j in range(1, k + 1)]
    for j in range(2, k + 1):
        d = f"(t{j} - t{j - 1}) / {_US_PER_SECOND}.0"
        parts += ([f"quantile_cont({d}, [0.5, 0.9]) AS q{j}", f"avg({d}) AS mean{j}"] if times
                  else [f"NULL::DOUBLE[] AS q{j}", f"NULL::DOUBLE AS mean{j}"])
    return ", ".join(parts)


def _result_from_row(labels: list[str], row: Sequence) -> FunnelResult:
    k = len(labels)
    counts = [int(row[j]) for j in range(k)]
    steps = []
    for j in range(1, k + 1):
        n = counts[j - 1]
        first, previous = counts[0], counts[j - 2] if j > 1 else counts[0]
        median = p90 = mean = None
        if j > 1 and n and row[k + 2 * (j - 2)] is not None:      # (None: times not asked)
            quantiles = row[k + 2 * (j - 2)]
            median, p90 = float(quantiles[0]), float(quantiles[1])
            mean = float(row[k + 2 * (j - 2) + 1])
        steps.append(FunnelStep(
            step=labels[j - 1], customers=n,
            # nothing to divide by (nobody entered): no conversion, not 0 (SPEC §6)
            conversion_from_start=(n / first) if first else None,
            conversion_from_previous=(n / previous) if previous else None,
            dropped=n - counts[j] if j < k else 0,
            median_seconds_from_previous=median, p90_seconds_from_previous=p90,
            mean_seconds_from_previous=mean))
    return FunnelResult(entered=counts[0], steps=steps)


def compute_funnel(cur, table: str, steps: list[str], *, by: str = "stage",
                   window_seconds: float | None = None, order: str = "ordered",
                   event_filter: EventFilter | None = None,
                   entry_start: dt.datetime | None = None, entry_end: dt.datetime | None = None,
                   exclusions: Sequence[Exclusion] = ()) -> FunnelResult:
    """The funnel of SPEC §2 over dataset table ``table``.

    ``steps`` are values of column ``by``; ``window_seconds`` the inclusive conversion
    window (None = none); ``order`` one of :data:`ORDER_MODES`; ``entry_start``
    (inclusive) / ``entry_end`` (exclusive) select attempts by their step-1 time (UTC).
    Raises ValueError (plain sentence) for unusable parameters.
    """
    spec = _spec(as_engine(cur, table), steps, by=by, window_seconds=window_seconds, order=order,
                 event_filter=event_filter, entry_start=entry_start, entry_end=entry_end,
                 exclusions=exclusions)
    rows = _counted(spec).run(as_engine(cur, table), "SELECT * FROM counted", _funnel_then(spec))
    return _result_from_row(spec.labels(), rows[0])


def _funnel_then(spec: _Spec) -> str:
    """The funnel's figures over the kernel's counted rows: one row for
    :func:`_result_from_row`."""
    return f"SELECT {_step_aggregates(spec.k)} FROM kernel"


def _breakdown_then(spec: _Spec, group_times: bool = True) -> str:
    """The funnel over every customer, then per group, over the kernel's counted rows with
    ``grp`` (:func:`_grouped`): rows for :func:`_breakdown_results`.  Without
    ``group_times`` the groups' times between steps are not computed (None)."""
    return (f"SELECT 0 AS part, NULL::VARCHAR AS grp, {_step_aggregates(spec.k)} FROM kernel\n"
            f"UNION ALL SELECT 1, grp, {_step_aggregates(spec.k, group_times)} FROM kernel "
            "GROUP BY grp\nORDER BY part, n1 DESC, grp")


def _breakdown_results(spec: _Spec, rows: list[tuple]
                       ) -> tuple[FunnelResult, list[tuple[str, FunnelResult]]]:
    labels = spec.labels()
    overall = _result_from_row(labels, rows[0][2:])
    return overall, [(str(row[1]), _result_from_row(labels, row[2:])) for row in rows[1:]]


def _grouped(engine: Engine, steps, breakdown: str, options: dict) -> tuple[_Spec, _Sql]:
    """The spec and CTEs ending in ``grouped``: the ``counted`` rows with ``grp``, the value
    of column ``breakdown`` on the counted attempt's step-1 event ("(none)" if missing)."""
    spec = _spec(engine, steps, **options)
    _require_column(spec.column_types, breakdown, "breakdown")
    if spec.order == "ordered" and len(spec.values) == spec.k:
        timeline = spec.timeline
        if timeline is not None and breakdown in timeline.filters and spec.steps[0] in timeline.codes:
            sql = _counted(spec, entry_code=breakdown)
            _grouped_from_timeline(spec, sql, breakdown)
            return spec, sql
        sql = _counted(spec)
        # Step 1 is the first step-1 event (by _row) at time t1: found in one join.
        sql.cte("grouped", f"SELECT c.*, coalesce(min({{'r': e._row, 'g': {spec.text(breakdown, 'e')}}}).g, ?) "
                           "AS grp FROM counted c JOIN ev e ON e.customer_id = c.customer_id "
                           f"AND epoch_us(e.ts) = c.t1 AND {spec.text(spec.by, 'e')} = ? GROUP BY ALL",
                [NO_VALUE, spec.steps[0]])
    else:
        sql = _counted(spec, rows=[1])
        sql.cte("grouped", f"SELECT c.*, coalesce({spec.text(breakdown, 'e')}, ?) AS grp "
                           "FROM counted c JOIN ev e ON e._row = c.r1 AND e.customer_id = c.customer_id",
                [NO_VALUE])
    return spec, sql


def _grouped_from_timeline(spec: _Spec, sql: _Sql, breakdown: str) -> None:
    """``grouped`` of an ordered funnel of distinct steps whose step column's timeline keeps
    a list of ``breakdown`` (the channel): the code the counted attempt found beside its
    step-1 key (``counted.G``, :func:`attempts._counted` with ``entry_code``) — no second
    pass over the timeline, no join of the events.  A customer with several kept step-1
    events at t1 needs the file order: theirs are looked up in the events, the first by
    _row as without the timeline (a join that reads nothing when nobody has such a tie)."""
    # read twice below: the funnel itself must not be worked out twice
    sql.materialize("counted")
    sql.cte("tied", f"SELECT c.customer_id, min({{'r': e._row, 'g': {spec.text(breakdown, 'e')}}}).g AS g "
                    "FROM counted c JOIN ev e ON e.customer_id = c.customer_id AND epoch_us(e.ts) = c.t1 "
                    f"AND {spec.text(spec.by, 'e')} = ? WHERE c.G IS NULL GROUP BY c.customer_id",
            [spec.steps[0]])
    # the value of code n is names[n + 1]; code 0 (no value) is NULL
    codes = spec.timeline.filters[breakdown].codes
    names = [None] * (max(codes.values(), default=0) + 1)
    for value, code in codes.items():
        names[code] = value
    sql.cte("grouped", "SELECT c.* EXCLUDE (G), coalesce(CASE WHEN c.G IS NOT NULL THEN (?::VARCHAR[])[c.G + 1] "
                       "ELSE t.g END, ?) AS grp FROM counted c LEFT JOIN tied t ON t.customer_id = c.customer_id",
            [names, NO_VALUE])


def funnel_breakdown(cur, table: str, steps: list[str], breakdown: str,
                     **options) -> list[tuple[str, FunnelResult]]:
    """The funnel per value of column ``breakdown`` on the counted attempt's step-1 event
    (missing -> ``"(none)"``).  Groups sorted by customers entered (desc), then name.
    ``options`` are those of :func:`compute_funnel`."""
    return funnel_and_breakdown(cur, table, steps, breakdown, **options)[1]


def funnel_and_breakdown(cur, table: str, steps: list[str], breakdown: str, *,
                         group_times: bool = True,
                         **options) -> tuple[FunnelResult, list[tuple[str, FunnelResult]]]:
    """:func:`compute_funnel` and :func:`funnel_breakdown` from ONE query: the counted
    attempts are found once and aggregated twice, over every customer and per group
    (each customer is in exactly one group).  ``group_times=False``: the groups' times
    between steps are left out (None), for a caller that compares their counts only."""
    engine = as_engine(cur, table)
    spec, sql = _grouped(engine, steps, breakdown, options)
    return _breakdown_results(spec, sql.run(engine, "SELECT * FROM grouped",
                                            _breakdown_then(spec, group_times)))


def log_end_us(cur, table: str, event_filter: EventFilter | None = None) -> int | None:
    """The instant the log ends, as the analyses see it (epoch µs, UTC): the table's last
    event time, or the event filter's end when that comes first (the view stops there).
    None for an empty table.  Windows still open at this instant are "in progress"."""
    last = as_engine(cur, table).time_range_us()[1]
    if last is None:
        return None
    if event_filter is not None and event_filter.end is not None:
        # the filter's end is exclusive: the last instant it keeps is 1 µs before it
        last = min(int(last), _to_us(event_filter.end) - 1)
    return int(last)


def funnel_trend(cur, table: str, steps: list[str], grain: str = "week",
                 **options) -> pd.DataFrame:
    """Conversion over time: customers grouped by the ``grain`` ("week", starting Monday,
    or "month") of their counted attempt's step 1, in UTC.

    Columns: period (Timestamp, start of the period, naive UTC), entered, converted
    (reached the last step), conversion (fraction 0…1), incomplete (bool: some of the
    period's entrants may still convert — the period's end plus the window lies after the
    log's end, :func:`log_end_us`).  With no window, the time within which 9 in 10 of the
    funnel's converters reached the last step (90th percentile of t_k − t1, all periods)
    stands in for it: entrants who had less time than that before the log ends have not
    had the time most converters take.  An incomplete period's conversion can still
    rise: it is not a drop.  Periods without entries are absent."""
    if grain not in TREND_GRAINS:
        raise ValueError(f"The grain '{grain}' is not one of {', '.join(TREND_GRAINS)}.")
    engine = as_engine(cur, table)
    spec = _spec(engine, steps, **options)
    end_us = log_end_us(engine, None, spec.event_filter)
    k = spec.k
    # the empty grouping set adds one row (period NULL) over every entrant: the horizon
    rows = _counted(spec).run(
        engine, "SELECT * FROM counted",
        "SELECT date_trunc(?, make_timestamp(t1)) AS period, count(*) AS entered, "
        f"count(*) FILTER (WHERE depth = {k}) AS converted, "
        f"quantile_cont(t{k} - t1, 0.9) FILTER (WHERE depth = {k}) AS horizon FROM kernel "
        "GROUP BY GROUPING SETS ((period), ()) ORDER BY period NULLS FIRST", [grain])
    horizon_us = rows[0][3] if rows and rows[0][0] is None else None
    window_us = spec.window_us if spec.window_us is not None else int(horizon_us or 0)
    rows = [r[:3] for r in rows if r[0] is not None]
    frame = pd.DataFrame(rows, columns=["period", "entered", "converted"])
    frame["period"] = pd.to_datetime(frame["period"]).astype("datetime64[us]")
    frame["entered"] = frame["entered"].astype("int64")
    frame["converted"] = frame["converted"].astype("int64")
    frame["conversion"] = (frame["converted"] / frame["entered"]).astype("float64")
    frame["incomplete"] = [_period_open(period, grain, window_us, end_us)
                           for period in frame["period"]]
    return frame[["period", "entered", "converted", "conversion", "incomplete"]]


def _period_open(period, grain: str, window_us: int | None, end_us: int | None) -> bool:
    """A period is incomplete when its end + ``window_us`` (µs) lies after the log's end
    (``window_us`` 0: the period holding the log's end)."""
    if end_us is None:
        return False
    start = pd.Timestamp(period)
    period_end = start + (pd.DateOffset(months=1) if grain == "month" else pd.Timedelta(days=7))
    end_of_period_us = _to_us(period_end)
    return end_of_period_us + (window_us or 0) > end_us


def step_durations_histogram(cur, table: str, steps: list[str], step_index: int, bins: int = 20,
                             **options) -> pd.DataFrame:
    """Histogram of the time from step ``step_index − 1`` to ``step_index`` (2…k) for the
    customers reaching it: ``bins`` equal-width bins from the shortest to the longest time.
    Columns: bin_start_seconds, bin_end_seconds, customers (the last bin includes its end)."""
    engine = as_engine(cur, table)
    spec = _spec(engine, steps, **options)
    if not (2 <= step_index <= spec.k):
        raise ValueError(f"Times between steps exist for steps 2…{spec.k}, not {step_index}.")
    if int(bins) < 1:
        raise ValueError("A histogram needs at least one bin.")
    bins = int(bins)
    j = step_index
    sql = _counted(spec)
    rows = sql.run(
        engine, f"SELECT (t{j} - t{j - 1}) / {_US_PER_SECOND}.0 AS d FROM counted WHERE depth >= {j}",
        "WITH span AS (SELECT min(d) AS lo, max(d) AS hi FROM kernel) "
        "SELECT any_value(lo), any_value(hi), "
        "CASE WHEN hi = lo THEN 0 ELSE least(floor((d - lo) / (hi - lo) * ?)::BIGINT, ? - 1) END AS bin, "
        "count(*) FROM kernel, span GROUP BY bin ORDER BY bin", [bins, bins])
    columns = ["bin_start_seconds", "bin_end_seconds", "customers"]
    if not rows:
        return pd.DataFrame({"bin_start_seconds": pd.Series(dtype="float64"),
                             "bin_end_seconds": pd.Series(dtype="float64"),
                             "customers": pd.Series(dtype="int64")})
    lo, hi = float(rows[0][0]), float(rows[0][1])
    counts = {int(r[2]): int(r[3]) for r in rows}
    if hi == lo:
        return pd.DataFrame([[lo, hi, counts[0]]], columns=columns)
    width = (hi - lo) / bins
    data = [[lo + b * width, (lo + (b + 1) * width) if b < bins - 1 else hi, counts.get(b, 0)]
            for b in range(bins)]
    return pd.DataFrame(data, columns=columns)
