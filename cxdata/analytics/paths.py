"""Paths through the journey: transitions, variants and what happens after a drop-off.

SPEC §3.  A customer's *sequence* is their events ordered by time, ties by file order
(``ts``, then ``_row``), described by one column (``stage`` by default, or ``touchpoint``,
``event`` or any attribute).  Events whose value in that column is missing (NULL or empty)
are not part of the sequence.  The labels ``start`` and ``end`` mark the beginning and the
end of every sequence.

Every figure is worked out from each customer's sequence as one list
(:mod:`cxdata.analytics.sequences`: from the column's stored timeline when there is one,
else one list aggregate over the events), with list functions; Python only shapes the
small aggregated results.
"""
from __future__ import annotations

import pandas as pd

from cxdata.analytics import funnel
from cxdata.engines import Engine, as_engine
from cxdata.io.schema import resolve_column
from cxdata.analytics.sequences import Sequences, sequences
from cxdata.sql import EventFilter

START = "start"
END = "end"
PATH_SEPARATOR = " → "


def _resolve_column(engine: Engine, by: str) -> str:
    """The events column for a column or role name (:func:`cxdata.io.schema.resolve_column`)."""
    return resolve_column(engine.column_types(), by)


def _query(seq: Sequences, *ctes: str) -> str:
    """``WITH`` the sequence CTEs, then ``ctes``."""
    return "WITH " + ",\n".join(seq.ctes + list(ctes)) + "\n"


def _collapsed(list_sql: str) -> str:
    """The list without consecutive repeats (values are never NULL)."""
    return f"list_filter({list_sql}, lambda x, i: i = 1 OR {list_sql}[i - 1] <> x)"


def _transition_parts(seq: Sequences, collapse_repeats: bool) -> tuple[list[str], str, list]:
    """The kernel of :func:`transitions` after the sequence CTEs: its CTEs, the SELECT of
    its rows (from_value, to_value, customers, events) and the params of both, in order."""
    start, start_params = seq.code(START)
    end, end_params = seq.code(END)
    walk = _collapsed("S") if collapse_repeats else "S"
    # Per customer: the moves (start → first, …, last → end) as from · 2^32 + to, sorted,
    # so that a move's first occurrence marks a customer; per partition the counts of each
    # move (a customer's moves are all in one partition: customers add up across them).
    # Start and end are the codes of the values "start" and "end" when the column has
    # them (they are the same label), else 0.
    ctes = [
        f"walked AS (SELECT {walk} AS W FROM seqs)",
        f"walk AS (SELECT list_prepend({start}::BIGINT, W) AS A, list_append(W, {end}) AS B FROM walked)",
        "moves AS (SELECT list_sort(list_transform(A, lambda x, i: (x << 32) + B[i])) AS P FROM walk)",
        "each AS (SELECT unnest(P) AS p, unnest(list_transform(P, lambda x, i: i = 1 OR P[i - 1] <> x)) "
        "AS first FROM moves)",
        "counted AS (SELECT p >> 32 AS f, p & 4294967295 AS t, count(*) FILTER (WHERE first) AS customers, "
        "count(*) AS events FROM each GROUP BY ALL)",
    ]
    select = (f"SELECT coalesce({seq.text('f')}, ?) AS from_value, coalesce({seq.text('t')}, ?) AS to_value, "
              "customers, events FROM counted, names")
    return ctes, select, start_params + end_params + [START, END]


def _transitions_then(rows: str, top: int | None) -> tuple[str, list]:
    """``then`` of :func:`transitions` over the kernel rows ``rows`` (a FROM item), with
    ``pos`` = the row's place in the sorted result (1 = first)."""
    limit = "" if top is None else " QUALIFY pos <= ?"
    return (f"""
        SELECT from_value AS "from", to_value AS "to",
               sum(customers)::BIGINT AS customers, sum(events)::BIGINT AS events,
               row_number() OVER (ORDER BY sum(events) DESC, sum(customers) DESC,
                                  from_value, to_value) AS pos
        FROM {rows} GROUP BY 1, 2{limit}
    """, [] if top is None else [int(top)])


def _transitions_frame(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.sort_values("pos").drop(columns="pos").reset_index(drop=True)
    for name in ("customers", "events"):
        frame[name] = frame[name].astype("int64")
    return frame


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
    seq = sequences(engine, _resolve_column(engine, by), event_filter)
    ctes, select, params = _transition_parts(seq, collapse_repeats)
    then, then_params = _transitions_then("kernel", top)
    return _transitions_frame(engine.run(_query(seq, *ctes) + select, seq.params + params, then, then_params))


def _variant_parts(seq: Sequences, keep_repeats: bool) -> tuple[list[str], str]:
    """The kernel of :func:`variants` after the sequence CTEs: its CTEs and the SELECT of
    its rows (path, customers, durations); no params."""
    # Durations come from all sequence events (repeats included).  Per partition: each
    # path's customers and their durations (a median needs them all).
    path = "S" if keep_repeats else _collapsed("S")
    ctes = [f"per AS (SELECT {path} AS path, (t_last - t_first) / 1000000 AS d FROM seqs)",
            "grouped AS (SELECT path, count(*) AS customers, list(d) AS durations FROM per GROUP BY path)"]
    return ctes, f"SELECT list_transform(path, lambda c: {seq.text('c')}) AS path, customers, durations FROM grouped, names"


def _variants_then(rows: str, top: int) -> tuple[str, list]:
    """``then`` of :func:`variants` over the kernel rows ``rows`` (a FROM item).  Only the
    paths that can be among the first ``top`` (as many customers as the top-th path at
    least) are sorted by label and get a median: a log can have millions of paths."""
    return (f"""
        WITH g AS (SELECT path, sum(customers) AS customers, flatten(list(durations)) AS durations
                   FROM {rows} GROUP BY path),
             cut AS (SELECT min(customers) AS c FROM (SELECT customers FROM g ORDER BY customers DESC LIMIT ?))
        SELECT path, customers, customers / (SELECT sum(customers) FROM g) AS share,
               list_aggregate(durations, 'median') AS median_duration_seconds,
               row_number() OVER (ORDER BY customers DESC, array_to_string(path, ?)) AS pos
        FROM g WHERE customers >= (SELECT c FROM cut)
        QUALIFY pos <= ?
    """, [int(top), PATH_SEPARATOR, int(top)])


def _variants_frame(rows: list) -> pd.DataFrame:
    rows = sorted(rows, key=lambda r: r[-1])
    return pd.DataFrame({
        "rank": pd.Series(range(1, len(rows) + 1), dtype="int64"),
        "path": [list(path) for path, *_ in rows],
        "path_label": [PATH_SEPARATOR.join(path) for path, *_ in rows],
        "steps": pd.Series([len(path) for path, *_ in rows], dtype="int64"),
        "customers": pd.Series([int(r[1]) for r in rows], dtype="int64"),
        "share": pd.Series([float(r[2]) for r in rows], dtype="float64"),
        "median_duration_seconds": pd.Series([float(r[3]) for r in rows], dtype="float64"),
    })


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
    seq = sequences(engine, _resolve_column(engine, by), event_filter)
    ctes, select = _variant_parts(seq, keep_repeats)
    then, then_params = _variants_then("kernel", top)
    return _variants_frame(engine.rows(_query(seq, *ctes) + select, seq.params, then, then_params))


def transitions_and_variants(cur, table: str, by: str = "stage", *, event_filter: EventFilter | None = None,
                             top: int = 20, keep_repeats: bool = False,
                             collapse_repeats: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`transitions` (first ``top``) and :func:`variants` in one query: each
    customer's sequence is built once for both (on a 100M-event log that is about a
    third of the work of each).  Same frames as the two functions."""
    engine = as_engine(cur, table)
    seq = sequences(engine, _resolve_column(engine, by), event_filter)
    t_ctes, t_select, t_params = _transition_parts(seq, collapse_repeats)
    v_ctes, v_select = _variant_parts(seq, keep_repeats)
    kernel = (_query(seq, *t_ctes, *v_ctes)
              + f"SELECT 1 AS part, from_value, to_value, customers, events, NULL AS path, NULL AS durations "
              f"FROM ({t_select}) UNION ALL "
              f"SELECT 2, NULL, NULL, customers, NULL, path, durations FROM ({v_select})")
    t_then, t_then_params = _transitions_then("(SELECT * FROM kernel WHERE part = 1)", top)
    v_then, v_then_params = _variants_then("(SELECT * FROM kernel WHERE part = 2)", top)
    then = (f"SELECT 1 AS part, \"from\", \"to\", customers, events, NULL AS path, NULL AS share, "
            f"NULL AS median_duration_seconds, pos FROM ({t_then}) UNION ALL "
            f"SELECT 2, NULL, NULL, customers, NULL, path, share, median_duration_seconds, pos FROM ({v_then})")
    both = engine.run(kernel, seq.params + t_params, then, t_then_params + v_then_params)
    trans = both[both["part"] == 1][["from", "to", "customers", "events", "pos"]]
    var = both[both["part"] == 2]
    rows = list(zip(var["path"], var["customers"], var["share"], var["median_duration_seconds"], var["pos"]))
    return _transitions_frame(trans), _variants_frame(rows)


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
    seq = sequences(engine, _resolve_column(engine, by), event_filter)
    # Each value's first occurrence: the sequence sorted by (value, position), the first
    # of each value kept, then back in position order.
    kernel = _query(
        seq,
        "vs AS (SELECT list_sort(list_transform(S, lambda x, i: {'v': x, 'i': i})) AS VS FROM seqs)",
        "firsts AS (SELECT list_transform(list_sort(list_transform(list_filter(VS, lambda y, j: j = 1 "
        "OR VS[j - 1].v <> y.v), lambda y: {'i': y.i, 'v': y.v})), lambda y: y.v) AS F FROM vs)",
        "ranked AS (SELECT unnest(F) AS v, unnest(range(1, len(F) + 1)) AS r FROM firsts)",
    ) + f"SELECT {seq.text('v')} AS v, r FROM ranked, names"
    then = """
        SELECT v AS value, count(*) AS customers,
               median(r) AS median_rank, avg(r) AS mean_rank
        FROM kernel
        GROUP BY v
        ORDER BY median_rank, mean_rank, customers DESC, value
    """
    frame = engine.run(kernel, seq.params, then)
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
