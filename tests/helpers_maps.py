"""A tiny hand-made interaction log for the journey-map and report tests.

Six customers, three stages (Aware → Consideration → Purchase), times in hours after
2025-03-03 09:00 UTC.  The expected numbers are worked out by hand in the tests.

    customer  Aware            Consideration                      Purchase
    c1        0h Social ad      +1h Product page (CSAT 4, NPS 9)   +2h Checkout (CES 6)
              (CSAT 5)
    c2        0h Social ad      +2h Reviews (CSAT 2, NPS 3),       –
              (CSAT 3)          +2h10m Live chat
    c3        0h Search ad      –                                  –
              (NPS 10)
    c4        0h Social ad      +4h Product page (CSAT 5)          +1h Checkout (CES 2)
    c5        0h Social ad      +3h Product page                   +6h Checkout (CES 7)
    c6        0h Newsletter     +5h Product page                   –
"""
from __future__ import annotations

import datetime as dt

import duckdb

from cxdata.io.schema import CANONICAL_COLUMNS

START = dt.datetime(2025, 3, 3, 9, 0)
H = dt.timedelta(hours=1)

#: (customer, hours after START, stage, touchpoint, nps, csat, ces)
EVENTS = [
    ("c1", 0, "Aware", "Social ad", None, 5, None),
    ("c1", 1, "Consideration", "Product page", 9, 4, None),
    ("c1", 3, "Purchase", "Checkout", None, None, 6),
    ("c2", 0, "Aware", "Social ad", None, 3, None),
    ("c2", 2, "Consideration", "Reviews", 3, 2, None),
    ("c2", 2 + 10 / 60, "Consideration", "Live chat", None, None, None),
    ("c3", 0, "Aware", "Search ad", 10, None, None),
    ("c4", 0, "Aware", "Social ad", None, None, None),
    ("c4", 4, "Consideration", "Product page", None, 5, None),
    ("c4", 5, "Purchase", "Checkout", None, None, 2),
    ("c5", 0, "Aware", "Social ad", None, None, None),
    ("c5", 3, "Consideration", "Product page", None, None, None),
    ("c5", 9, "Purchase", "Checkout", None, None, 7),
    ("c6", 0, "Aware", "Newsletter", None, None, None),
    ("c6", 5, "Consideration", "Product page", None, None, None),
]
STAGES = ["Aware", "Consideration", "Purchase"]


def make_dataset(cur, table: str = "ds_maps", events=EVENTS) -> str:
    """Create ``table`` with the canonical layout and the given events; returns its name."""
    columns = ", ".join(f'"{name}" {kind}' for name, kind in CANONICAL_COLUMNS)
    cur.execute(f'CREATE TABLE "{table}" ({columns}, "segment" VARCHAR)')
    for row_no, (customer, hours, stage, touchpoint, nps, csat, ces) in enumerate(events, start=1):
        cur.execute(f'INSERT INTO "{table}" VALUES (?, ?, ?, ?, NULL, ?, NULL, ?, ?, ?, NULL, NULL)',
                    [row_no, customer, START + hours * H, stage, touchpoint, nps, csat, ces])
    return table


def memory_cursor():
    """A fresh in-memory DuckDB cursor with the session time zone UTC."""
    cur = duckdb.connect().cursor()
    cur.execute("SET TimeZone = 'UTC'")
    return cur
