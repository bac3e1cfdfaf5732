"""SQL helpers shared by every module that talks to DuckDB.

DESIGN: values are always bound parameters; identifiers (user column names) are always
quoted by :func:`quote_ident`.  No user text is ever formatted into SQL any other way.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


_EPOCH = dt.datetime(1970, 1, 1)


def epoch_us(moment) -> int | None:
    """Epoch microseconds of a datetime, date or pandas Timestamp (naive = UTC; None
    stays None)."""
    if moment is None:
        return None
    if hasattr(moment, "to_pydatetime"):          # a pandas Timestamp
        moment = moment.to_pydatetime()
    if isinstance(moment, dt.date) and not isinstance(moment, dt.datetime):
        moment = dt.datetime(moment.year, moment.month, moment.day)
    if not isinstance(moment, dt.datetime):
        raise ValueError(f"The date {moment!r} is not a date or a date and time.")
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


def range_conditions(expr: str, start=None, end=None) -> tuple[list[str], list]:
    """SQL conditions "``start`` ≤ ``expr`` < ``end``" (a time range as every filter of the
    app reads it: start inclusive, end exclusive; a None bound is left out) and their
    params, in order."""
    parts, params = [], []
    for bound, op in ((start, ">="), (end, "<")):
        if bound is not None:
            parts.append(f"{expr} {op} ?")
            params.append(bound)
    return parts, params

def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB: wrap in double quotes, double any inside."""
    if not isinstance(name, str) or name == "":
        raise ValueError("An identifier must be a non-empty string.")
    if "\x00" in name:
        raise ValueError("An identifier cannot contain a NUL character.")
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class EventFilter:
    """Filters on the events of a dataset, shared by every page and query.

    ``start`` / ``end`` bound the event time ``ts`` (UTC): ``start`` inclusive, ``end``
    exclusive.  ``equals`` maps a column of the dataset table to the values kept (a value
    of ``None`` in the list keeps missing values).  An empty filter keeps every event.
    """
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    equals: tuple[tuple[str, tuple[str | None, ...]], ...] = field(default_factory=tuple)

    @classmethod
    def build(cls, start=None, end=None, equals: dict[str, list] | None = None) -> "EventFilter":
        """Convenience constructor from a plain dict of column -> allowed values."""
        items = tuple(sorted((col, tuple(vals)) for col, vals in (equals or {}).items() if vals))
        return cls(start=start, end=end, equals=items)

    def is_empty(self) -> bool:
        return self.start is None and self.end is None and not self.equals

    def where(self, alias: str = "") -> tuple[str, list]:
        """Return ``(sql, params)``: a boolean SQL expression (``TRUE`` when empty)."""
        prefix = f"{alias}." if alias else ""
        parts, params = range_conditions(f"{prefix}ts", self.start, self.end)
        for column, values in self.equals:
            col = prefix + quote_ident(column)
            concrete = [v for v in values if v is not None]
            alternatives = []
            if concrete:
                alternatives.append(f"CAST({col} AS VARCHAR) IN ({', '.join('?' * len(concrete))})")
                params.extend(str(v) for v in concrete)
            if any(v is None for v in values):
                alternatives.append(f"{col} IS NULL")
            parts.append("(" + " OR ".join(alternatives) + ")")
        return (" AND ".join(parts) if parts else "TRUE"), params


def filtered_events(table: str, event_filter: EventFilter | None = None) -> tuple[str, list]:
    """Return ``(sql, params)`` for a subquery of a dataset table's events after a filter.

    ``table`` is the dataset table's name (quoted here).  Use as
    ``f"WITH ev AS ({sql}) SELECT ..."`` and pass ``params`` first.
    """
    where, params = (event_filter or EventFilter()).where()
    return f"SELECT * FROM {quote_ident(table)} WHERE {where}", params


def event_counts(cur, table: str, event_filter: EventFilter | None = None, *,
                 per_value=None) -> dict:
    """Customers, events, and first / last event time (naive UTC; None when no event is
    left) of a dataset table after a filter: ``{"customers", "events", "first", "last"}``.

    ``per_value``: ``(column, frame)``, the frame :func:`event_counts_per` of that
    column, when the filter is on it alone (or empty): the events and times are then
    read from it, not scanned again (:mod:`cxdata.analytics.per_value`)."""
    from cxdata.engines import as_engine
    engine = as_engine(cur, table)
    source, params = filtered_events(engine.table, event_filter)
    customers = _customers_on_timeline(engine, event_filter)
    if per_value is not None and customers is not None:
        from cxdata.analytics.per_value import kept_event_counts
        events, first, last = kept_event_counts(per_value[1], event_filter, per_value[0])
        return {"customers": customers, "events": events, "first": first, "last": last}
    # Counting distinct customers is most of this scan's cost (a hash of every kept
    # event's customer): skipped when the stored timeline has counted them.
    distinct = "count(DISTINCT customer_id)" if customers is None else "0"
    # A customer's events are all in one part: distinct customers add up across parts.
    row = engine.rows(f"WITH ev AS ({source}) SELECT {distinct} AS customers, "
                      "count(*) AS events, min(ts) AS first, max(ts) AS last FROM ev", params,
                      "SELECT CAST(sum(customers) AS BIGINT), CAST(sum(events) AS BIGINT), "
                      "min(first), max(last) FROM kernel")[0]
    if customers is None:
        customers = row[0]
    return {"customers": int(customers or 0), "events": int(row[1] or 0), "first": row[2],
            "last": row[3]}


#: The column of a value in figures counted per value of a column (:func:`event_counts_per`,
#: :mod:`cxdata.analytics.per_value`): the value as text, as a filter compares it.
PER_VALUE = "per_value"


def event_counts_per(cur, table: str, column: str):
    """Per value of ``column`` (as text, None when missing; column :data:`PER_VALUE`): its
    events and first / last event time (naive UTC), for :func:`event_counts` under any
    filter on that column alone."""
    from cxdata.engines import as_engine
    import pandas as pd
    engine = as_engine(cur, table)
    value = f"CAST({quote_ident(column)} AS VARCHAR)"
    # a customer's events are all in one part (Spark): the parts' rows add up per value
    rows = engine.rows(f"SELECT {value} AS {PER_VALUE}, count(*) AS events, min(ts) AS first, "
                       f"max(ts) AS last FROM {quote_ident(engine.table)} GROUP BY 1", [],
                       f"SELECT {PER_VALUE}, CAST(sum(events) AS BIGINT) AS events, min(first) AS first, "
                       f"max(last) AS last FROM kernel GROUP BY {PER_VALUE}")
    return pd.DataFrame(rows, columns=[PER_VALUE, "events", "first", "last"])


def _customers_on_timeline(engine, event_filter: EventFilter | None) -> int | None:
    """The customers with at least one event the filter keeps, counted on the stored
    timeline of the dataset's funnel column (one row per customer, a key per event and
    the channel beside it: a pass over short lists instead of a distinct count over the
    events), or None when it cannot say exactly.

    Exact only when the timeline holds every event: it leaves out events with no value on
    its column, and a customer with only such events would be missed — so a column with a
    missing value is not used (nor a timeline that does not serve the filter, nor an
    engine without timelines, such as Spark)."""
    # the stored timeline is of the default funnel column, whichever the workspace picked
    from cxdata.store.timelines import STEP_COLUMNS
    columns = engine.column_types()
    timeline = next((found for found in (engine.timeline(c) for c in STEP_COLUMNS
                                         if c in columns) if found is not None), None)
    if timeline is None or not timeline.serves(event_filter):
        return None
    step = quote_ident(timeline.column)
    if engine.rows(f"SELECT count(*) - count({step}) FROM {quote_ident(engine.table)}")[0][0]:
        return None
    ef = event_filter or EventFilter()
    # a key's time: µs after the timeline's t_min, above the value code's bits
    times, params = range_conditions(f"((x >> {timeline.code_bits}) + {int(timeline.time_min_us)})",
                                     epoch_us(ef.start), epoch_us(ef.end))
    if ef.is_empty():
        kept = "K"               # every customer of the timeline has a key
    elif len(ef.equals) == 1 and not times:
        # one column's values alone: its list read element by element, about twice as
        # fast as by position (the common case: the filter bar's channel)
        column, values = ef.equals[0]
        listed = timeline.filters[column]
        codes = listed.codes_of(values)             # the codes Timeline.kept keeps
        if not codes:
            return 0
        kept = (f"list_filter({quote_ident(listed.list_column)}, "
                f"lambda f: f IN ({', '.join(map(str, codes))}))")
    else:
        condition = " AND ".join([timeline.kept(ef, "i")] + times)
        kept = f"list_filter(K, lambda x, i: {condition})"
    rows = engine.rows(f"SELECT count(*) FROM {quote_ident(timeline.table)} WHERE len({kept}) > 0",
                       params)
    return int(rows[0][0])


def distinct_values(cur, table: str, column: str, limit: int = 500) -> list[str]:
    """Values of a column of a dataset table (or of an engine's events: ``cur`` an engine,
    ``table`` None) as text, most frequent first, then alphabetical; for pickers."""
    from cxdata.engines import as_engine
    engine = as_engine(cur, table)
    col = quote_ident(column)
    rows = engine.rows(f"SELECT CAST({col} AS VARCHAR) AS v, count(*) AS n FROM {quote_ident(engine.table)} "
                       f"WHERE {col} IS NOT NULL GROUP BY v",
                       then="SELECT v FROM kernel GROUP BY v ORDER BY sum(n) DESC, v LIMIT ?",
                       then_params=[int(limit)])
    return [r[0] for r in rows]
