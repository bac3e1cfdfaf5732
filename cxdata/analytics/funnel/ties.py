"""Customers whose funnel depends on how events at the same instant are ordered (SPEC §7).
"""
from __future__ import annotations

from cxdata.engines import as_engine
from cxdata.sql import EventFilter, filtered_events, quote_ident
from cxdata.analytics.funnel.spec import _require_column


def tied_customers(cur, table: str, steps: list[str], *, by: str = "stage",
                   event_filter: EventFilter | None = None) -> int:
    """Customers with two or more events at one instant, at least one of them matching a
    step (SPEC §7): their funnel depends on how ties are ordered (file order, or an order
    key), so a result without an order key says how many there are."""
    engine = as_engine(cur, table)
    types = engine.column_types()
    _require_column(types, by, "step")
    source, params = filtered_events(engine.table, event_filter)
    values = list(dict.fromkeys(str(s) for s in steps))
    col = quote_ident(by)
    text = col if str(types[by]).upper().startswith("VARCHAR") else f"CAST({col} AS VARCHAR)"
    kernel = (f"WITH ev AS ({source}) SELECT count(DISTINCT customer_id) AS n FROM ("
              f"SELECT customer_id FROM ev GROUP BY customer_id, ts "
              f"HAVING count(*) > 1 AND bool_or({text} IN ({', '.join('?' * len(values))})))")
    rows = engine.rows(kernel, params + values, "SELECT CAST(sum(n) AS BIGINT) FROM kernel")
    return int(rows[0][0] or 0)
