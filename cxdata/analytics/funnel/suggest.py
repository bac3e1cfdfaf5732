"""A first funnel for logs without stages: the path most customers follow through the
most widespread values.
"""
from __future__ import annotations

from cxdata.engines import as_engine
from cxdata.sql import EventFilter, filtered_events, quote_ident
from cxdata.analytics.funnel.spec import _require_column


def suggest_steps(cur, table: str, column: str, *, max_steps: int = 5, min_share: float = 0.2,
                  candidates: int = 8, event_filter: EventFilter | None = None) -> list[str]:
    """Values of ``column`` that make a sensible first funnel for a log without stages:
    the path most customers follow through the most widespread values.

    Candidates: the ``candidates`` values met by the most customers, each by at least
    ``min_share`` of them.  Using each customer's first occurrence of each value, the
    first step is the candidate most customers meet first; each next step is the unused
    candidate that most customers meet after the current step (at least ``min_share`` of
    the current step's customers; ties: the value usually met earlier, then more
    customers, then the name), up to ``max_steps``.  Alternatives met instead of each
    other (one ad or another) so do not become consecutive steps.  Empty when no two
    values qualify.
    """
    engine = as_engine(cur, table)
    types = engine.column_types()
    _require_column(types, column, "step")
    col = quote_ident(column)
    value = col if str(types[column]).upper().startswith("VARCHAR") else f"CAST({col} AS VARCHAR)"
    source, params = filtered_events(engine.table, event_filter)
    # Each customer's first occurrence of each value: per-customer work (the kernel).
    firsts = (f"WITH ev AS ({source}) SELECT customer_id, {value} AS v, min((ts, _row)) AS seen "
              f"FROM ev WHERE {col} IS NOT NULL GROUP BY ALL")
    # The candidates need every customer at once: a first query over those firsts.
    candidates = [row[0] for row in engine.rows(
        firsts, params,
        "SELECT v, count(*) AS customers FROM kernel GROUP BY v "
        "HAVING count(*) >= ? * (SELECT count(DISTINCT customer_id) FROM kernel) "
        "ORDER BY customers DESC, v LIMIT ?", [float(min_share), int(candidates)])]
    if len(candidates) < 2:
        return []
    # Then, per customer, the rank of each candidate's first occurrence and the pairs
    # "b met after a"; aggregated into per-value figures and pair counts.
    placeholders = ", ".join("?" * len(candidates))
    pairs = (f"WITH ev AS ({source}), "
             f"firsts AS (SELECT customer_id, {value} AS v, min((ts, _row)) AS seen FROM ev "
             f"WHERE {value} IN ({placeholders}) GROUP BY ALL), "
             "ranked AS MATERIALIZED (SELECT f.*, rank() OVER (PARTITION BY customer_id ORDER BY seen) AS r "
             "FROM firsts f) "
             "SELECT v, NULL AS later, r FROM ranked "
             "UNION ALL SELECT a.v, b.v, NULL FROM ranked a JOIN ranked b "
             "ON a.customer_id = b.customer_id AND a.seen < b.seen")
    rows = engine.rows(pairs, params + candidates,
                       "SELECT v, later, count(*), count(*) FILTER (WHERE r = 1), avg(r) "
                       "FROM kernel GROUP BY ALL")
    rows = [(v, later, n, None if later is not None else r1, None if later is not None else mean_rank)
            for v, later, n, r1, mean_rank in rows]
    # (customers, customers meeting it first, mean rank of its first occurrence)
    stats = {v: (n, r1, mean_rank) for v, later, n, r1, mean_rank in rows if later is None}
    if len(stats) < 2:
        return []
    follows = {(v, later): n for v, later, n, _, _ in rows if later is not None}
    order = {v: (stats[v][2], -stats[v][0], v) for v in stats}     # usual position, then size
    path = [min(stats, key=lambda v: (-stats[v][1],) + order[v])]
    while len(path) < max_steps:
        current = path[-1]
        options = [v for v in stats if v not in path
                   and follows.get((current, v), 0) >= max(1.0, min_share * stats[current][0])]
        if not options:
            break
        path.append(min(options, key=lambda v: (-follows[(current, v)],) + order[v]))
    return path if len(path) >= 2 else []
