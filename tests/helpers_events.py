"""Build a dataset table with the canonical layout (docs/architecture.md) from a few
hand-written rows, in any DuckDB connection — for tests of the analytics modules.

Rows are dicts or tuples:

* a dict names its columns: ``customer_id``, ``ts`` (required), optionally ``stage``,
  ``event``, ``touchpoint``, ``channel``, ``nps``, ``csat``, ``ces``, ``comment``,
  ``_row`` and any attribute listed in ``attributes``;
* a tuple gives them by position in the order ``customer_id, ts, stage, event,
  touchpoint, channel, nps, csat, ces, comment`` followed by the attributes in the order
  of ``attributes`` (shorter tuples leave the rest empty).

``ts`` may be a ``datetime`` (naive = UTC), an ISO text ``"2024-03-01 10:00:00"``, or a
number of **seconds after 2024-01-01 00:00:00 UTC** (handy for windows and ties).
``_row`` defaults to the row's position + 1 (file order).

With ``timelines`` (default :data:`TIMELINE_COLUMNS`), the stored per-customer timelines
of those columns are built too (:mod:`cxdata.store.timelines`), as the workspace does at
ingest: funnel tests run once on the events and once on the timelines.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable, Sequence

from cxdata.io.schema import CANONICAL_COLUMNS
from cxdata.sql import quote_ident
from cxdata.store.timelines import build_timeline, drop_timelines

#: The instant that numeric ``ts`` values count from.
BASE_TIME = dt.datetime(2024, 1, 1)
#: Columns whose timelines make_events_table builds when not told (tests switch it on).
TIMELINE_COLUMNS: tuple[str, ...] = ()
POSITIONAL = ("customer_id", "ts", "stage", "event", "touchpoint", "channel", "nps", "csat",
              "ces", "comment")


def at(seconds: float) -> dt.datetime:
    """The naive UTC datetime ``seconds`` after :data:`BASE_TIME`."""
    return BASE_TIME + dt.timedelta(seconds=seconds)


def _timestamp(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return at(value)
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    return value


def make_events_table(con, rows: Iterable, table: str = "ev",
                      attributes: Sequence[str] = (), timelines: Sequence[str] | None = None) -> str:
    """Create (or replace) ``table`` in ``con`` with the canonical columns plus VARCHAR
    ``attributes``, filled with ``rows``; sets the session time zone to UTC.  Returns
    the table name."""
    con.execute("SET TimeZone='UTC'")
    names = [name for name, _ in CANONICAL_COLUMNS] + list(attributes)
    types = [kind for _, kind in CANONICAL_COLUMNS] + ["VARCHAR"] * len(attributes)
    columns_sql = ", ".join(f"{quote_ident(n)} {t}" for n, t in zip(names, types))
    drop_timelines(con, table)
    con.execute(f"CREATE OR REPLACE TABLE {quote_ident(table)} ({columns_sql})")
    positional = list(POSITIONAL) + list(attributes)
    records = []
    for position, row in enumerate(rows):
        if isinstance(row, dict):
            unknown = set(row) - set(names)
            if unknown:
                raise KeyError(f"unknown columns {sorted(unknown)}; list attributes in `attributes`")
            values = dict(row)
        else:
            if len(row) > len(positional):
                raise ValueError(f"row {position + 1} has more values than columns")
            values = dict(zip(positional, row))
        values.setdefault("_row", position + 1)
        values["ts"] = _timestamp(values.get("ts"))
        records.append([values.get(n) for n in names])
    # one multi-row INSERT per chunk: much faster than executemany for test-sized logs
    one_row = "(" + ", ".join("?" * len(names)) + ")"
    for start in range(0, len(records), 500):
        chunk = records[start:start + 500]
        con.execute(f"INSERT INTO {quote_ident(table)} VALUES " + ", ".join([one_row] * len(chunk)),
                    [value for record in chunk for value in record])
    for column in (TIMELINE_COLUMNS if timelines is None else timelines):
        build_timeline(con, table, column)
    return table
