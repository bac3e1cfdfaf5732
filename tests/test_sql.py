"""The shared event filter and the filtered counts every page's header shows."""
from __future__ import annotations

import duckdb

from cxdata.sql import EventFilter, event_counts
from tests.helpers_events import at, make_events_table

ROWS = [
    # customer, seconds after 2024-01-01, stage, event, touchpoint, channel
    ("a", 0, "Aware", None, "Ad", "Social"),
    ("a", 3600, "Buy", None, "Checkout", "Web"),
    ("b", 86400, "Aware", None, "Ad", "Email"),
    ("c", 2 * 86400, "Aware", None, "Store", None),
]


def table():
    con = duckdb.connect()
    return con, make_events_table(con, ROWS)


def test_counts_without_a_filter():
    con, name = table()
    assert event_counts(con, name) == {"customers": 3, "events": 4,
                                       "first": at(0), "last": at(2 * 86400)}


def test_date_range_is_start_inclusive_end_exclusive():
    con, name = table()
    counts = event_counts(con, name, EventFilter(start=at(3600), end=at(2 * 86400)))
    # a's second event (at the start bound) and b's; c's event sits on the end bound.
    assert counts == {"customers": 2, "events": 2, "first": at(3600), "last": at(86400)}


def test_value_filter_keeps_missing_values_only_when_asked():
    con, name = table()
    web_or_none = EventFilter.build(equals={"channel": ["Web", None]})
    assert event_counts(con, name, web_or_none)["events"] == 2          # a's Web, c's None
    assert event_counts(con, name, EventFilter.build(equals={"channel": ["Web"]}))["customers"] == 1


def test_nothing_left_gives_zero_and_no_dates():
    con, name = table()
    counts = event_counts(con, name, EventFilter.build(equals={"channel": ["Fax"]}))
    assert counts == {"customers": 0, "events": 0, "first": None, "last": None}
