"""Paths through the journey: transitions, variants and what happens after a drop-off.

SPEC §3.  A customer's *sequence* is their events ordered by time, ties by file order
(``ts``, then ``_row``), described by one column (``stage`` by default, or ``touchpoint``,
``event`` or any attribute).  Events whose value in that column is missing (NULL or empty)
are not part of the sequence.  The labels ``start`` and ``end`` mark the beginning and the
end of every sequence.

All event-level work (window functions, ordered lists) runs in DuckDB; Python only shapes
the small aggregated results.
"""
from __future__ import annotations

import pandas as pd

from cxdata.analytics import funnel
from cxdata.engines import Engine, as_engine
from cxdata.io.schema import resolve_column
from cxdata.sql import EventFilter, filtered_events, quote_ident

START = "start"
END = "end"
PATH_SEPARATOR = " → "


def _resolve_column(engine: Engine, by: str) -> str:
    """The events column for a column or role name (:func:`cxdata.io.schema.resolve_column`)."""
    return resolve_column(engine.column_types(), by)


def _sequence_sql(table: str, by: str, event_filter: EventFilter | None,
                  collapse_repeats: bool) -> tuple[str, list]:
    """SQL of the sequence events: customer_id, v (text value), ts, pos (1-based rank).

    ``collapse_repeats`` keeps only events whose value differs from the customer's
    previous event in the sequence.
    """
    source, params = filtered_events(table, event_filter)
    value = f"NULLIF(CAST({quote_ident(by)} AS VARCHAR), '')"
    sql = f"""
        WITH ev AS ({source}),
        seq AS (
            SELECT customer_id, {value} AS v, ts, _row,
                   LAG({value}) OVER (PARTITION BY customer_id ORDER BY ts, _row) AS prev_v
            FROM ev
            WHERE {value} IS NOT NULL
        ),
        kept AS (
            SELECT customer_id, v, ts, _row FROM seq
            WHERE {"prev_v IS DISTINCT FROM v" if collapse_repeats else "TRUE"}
        )
        SELECT customer_id, v, ts,
               ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY ts, _row) AS pos
        FROM kept
    """
    return sql, params


def transitions(cur, table: str, by: str = "stage", *, event_filter: EventFilter | None = None,
                top: int | None = None, collapse_repeats: bool = False) -> pd.DataFrame:
    """Counts of from → to over consecutive events of each customer, by column ``by``.

    Columns: from, to, customers (distinct customers with that transition), events
    (number of times it happened).  Includes ``start`` → first value and last value →
    ``end`` for every customer.  ``collapse_repeats`` first merges consecutive repeats of
    a value (so there are no self-transitions such as Web → Web).  Sorted by events, then
    customers (descending), then from, to; ``top`` keeps the first N rows.
    """
    engine = as_engine(cur, table)
    column = _resolve_column(engine, by)
    sequence, params = _sequence_sql(engine.table, column, event_filter, collapse_repeats)
    limit = ""
    limit_params: list = []
    if top is not None:
        limit = " LIMIT ?"
        limit_params = [int(top)]
    # Per customer partition: the moves and their counts (a customer's moves are all in
    # one partition, so distinct customers add up across partitions).
    kernel = f"""
        WITH s AS ({sequence}),
        steps AS (
            SELECT customer_id,
                   COALESCE(LAG(v) OVER w, ?) AS from_value,
                   v AS to_value
            FROM s
            WINDOW w AS (PARTITION BY customer_id ORDER BY pos)
            UNION ALL
            SELECT customer_id, v, ?
            FROM s
            QUALIFY pos = max(pos) OVER (PARTITION BY customer_id)
        )
        SELECT from_value, to_value, count(DISTINCT customer_id) AS customers, count(*) AS events
        FROM steps
        GROUP BY 1, 2
    """
    then = f"""
        SELECT from_value AS "from", to_value AS "to",
               sum(customers)::BIGINT AS customers, sum(events)::BIGINT AS events
        FROM kernel GROUP BY 1, 2
        ORDER BY events DESC, customers DESC, "from", "to"{limit}
    """
    frame = engine.run(kernel, params + [START, END], then, limit_params)
    for name in ("customers", "events"):
        frame[name] = frame[name].astype("int64")
    return frame


def variants(cur, table: str, by: str = "stage", *, event_filter: EventFilter | None = None,
             top: int = 20, keep_repeats: bool = False) -> pd.DataFrame:
    """The most common paths: each customer's sequence with consecutive repeats collapsed
    (``keep_repeats``: not collapsed, so that loops such as Purchase → Purchase show).

    Columns: rank (1 = most common; the number a chart and a table share), path (list of
    values), path_label (values joined by " → "), steps (values in the path), customers,
    share (fraction 0…1 of the customers with at least one event in the sequence),
    median_duration_seconds (median over those customers of last − first event of the
    sequence, seconds; 0 for a single event).  Sorted by customers descending, then
    path_label; at most ``top`` rows.
    """
    engine = as_engine(cur, table)
    column = _resolve_column(engine, by)
    # Durations come from all sequence events (repeats included), so collapse afterwards.
    full, params = _sequence_sql(engine.table, column, event_filter, collapse_repeats=False)
    kept = "TRUE" if keep_repeats else "prev_v IS DISTINCT FROM v"
    kernel = f"""
        WITH s AS ({full}),
        collapsed AS (
            SELECT customer_id, v, pos, ts,
                   LAG(v) OVER (PARTITION BY customer_id ORDER BY pos) AS prev_v
            FROM s
        ),
        per_customer AS (
            SELECT customer_id,
                   list(v ORDER BY pos) FILTER (WHERE {kept}) AS path,
                   epoch(max(ts)) - epoch(min(ts)) AS duration_seconds
            FROM collapsed
            GROUP BY customer_id
        )
        SELECT path, duration_seconds FROM per_customer
    """
    then = """
        SELECT path, count(*) AS customers,
               count(*) / sum(count(*)) OVER () AS share,
               median(duration_seconds) AS median_duration_seconds
        FROM kernel
        GROUP BY path
        ORDER BY customers DESC, array_to_string(path, ?)
        LIMIT ?
    """
    rows = engine.rows(kernel, params, then, [PATH_SEPARATOR, int(top)])
    frame = pd.DataFrame({
        "rank": pd.Series(range(1, len(rows) + 1), dtype="int64"),
        "path": [list(path) for path, *_ in rows],
        "path_label": [PATH_SEPARATOR.join(path) for path, *_ in rows],
        "steps": pd.Series([len(path) for path, *_ in rows], dtype="int64"),
        "customers": pd.Series([r[1] for r in rows], dtype="int64"),
        "share": pd.Series([float(r[2]) for r in rows], dtype="float64"),
        "median_duration_seconds": pd.Series([float(r[3]) for r in rows], dtype="float64"),
    })
    return frame


def value_order(cur, table: str, by: str = "stage", *,
                event_filter: EventFilter | None = None) -> pd.DataFrame:
    """The values of column ``by`` in process order: where they typically come in a journey.

    A value's *rank* in one customer's journey is the position of its first occurrence
    among the distinct values that customer met (1 = the first value they met, 2 = the
    next new one, …; repeats do not move it).  Columns: value, customers (with the value),
    median_rank and mean_rank over those customers.  Sorted by median rank, then mean
    rank, then most customers, then value: the order in which a heatmap of moves reads
    like the process.
    """
    engine = as_engine(cur, table)
    column = _resolve_column(engine, by)
    sequence, params = _sequence_sql(engine.table, column, event_filter, collapse_repeats=False)
    kernel = f"""
        WITH s AS ({sequence}),
        firsts AS (
            SELECT customer_id, v, min(pos) AS first_pos FROM s GROUP BY customer_id, v
        )
        SELECT v, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY first_pos) AS r
        FROM firsts
    """
    then = """
        SELECT v AS value, count(*) AS customers,
               median(r) AS median_rank, avg(r) AS mean_rank
        FROM kernel
        GROUP BY v
        ORDER BY median_rank, mean_rank, customers DESC, value
    """
    frame = engine.run(kernel, params, then)
    frame["customers"] = frame["customers"].astype("int64")
    for name in ("median_rank", "mean_rank"):
        frame[name] = frame[name].astype("float64")
    return frame


def after_dropoff(cur, table: str, steps: list[str], after_step: int,
                  column: str = "touchpoint", **funnel_options) -> funnel.DropoffSummary:
    """SPEC §3 "after drop-off": for the customers who dropped out after funnel step
    ``after_step`` (1-based), where they left and what they did next, by ``column``.

    ``funnel_options`` are those of :func:`cxdata.analytics.funnel.compute_funnel` (by,
    window_seconds, order, event_filter, …).  It is the funnel's own drop-off list
    (:func:`cxdata.analytics.funnel.dropoff_summary`), so the two pages can never disagree.
    """
    return funnel.dropoff_summary(cur, table, steps, after_step, column=column, **funnel_options)
