"""The shared event filter and the filtered counts every page's header shows."""
from __future__ import annotations

import duckdb
import pytest

from cxdata.engines import as_engine
from cxdata.sql import EventFilter, _customers_on_timeline, event_counts
from tests import helpers_events
from tests.helpers_events import at, make_events_table

ROWS = [
    # customer, seconds after 2024-01-01, stage, event, touchpoint, channel
    ("a", 0, "Aware", None, "Ad", "Social"),
    ("a", 3600, "Buy", None, "Checkout", "Web"),
    ("b", 86400, "Aware", None, "Ad", "Email"),
    ("c", 2 * 86400, "Aware", None, "Store", None),
]


@pytest.fixture(autouse=True, params=["events", "timeline"])
def way(request, monkeypatch):
    """Every test runs twice: counting customers on the events, and on the stage
    timeline the workspace stores at ingest (same answers)."""
    if request.param == "timeline":
        monkeypatch.setattr(helpers_events, "TIMELINE_COLUMNS", ("stage",))
    return request.param


def table(rows=ROWS):
    con = duckdb.connect()
    return con, make_events_table(con, rows)


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


def test_channel_and_date_range_together():
    con, name = table()
    both = EventFilter.build(start=at(3600), equals={"channel": ["Web", "Email", "Social"]})
    # a's Social event is before the start: a counts for its Web event, b for its Email one
    assert event_counts(con, name, both) == {"customers": 2, "events": 2, "first": at(3600),
                                             "last": at(86400)}
    only_none = EventFilter.build(end=at(2 * 86400 + 1), equals={"channel": [None]})
    assert event_counts(con, name, only_none) == {"customers": 1, "events": 1,
                                                  "first": at(2 * 86400), "last": at(2 * 86400)}


def test_a_customer_without_stages_still_counts(way):
    # d's only event has no stage: a stage timeline leaves it out, so the customers are
    # counted on the events (d is the second Web customer)
    con, name = table(ROWS + [("d", 3 * 86400, None, None, "Site", "Web")])
    web = EventFilter.build(equals={"channel": ["Web"]})
    assert event_counts(con, name, web) == {"customers": 2, "events": 2, "first": at(3600),
                                            "last": at(3 * 86400)}
    assert event_counts(con, name)["customers"] == 4
    assert _customers_on_timeline(as_engine(con, name), web) is None


def test_the_timeline_counts_customers_when_it_holds_every_event(way):
    con, name = table()
    engine = as_engine(con, name)
    web_social = EventFilter.build(equals={"channel": ["Social", "Web"]})
    if way == "events":            # no timeline: nothing to count on
        assert _customers_on_timeline(engine, web_social) is None
        return
    assert _customers_on_timeline(engine, web_social) == 1            # a, twice
    assert _customers_on_timeline(engine, None) == 3
    assert _customers_on_timeline(engine, EventFilter(start=at(3600))) == 3
    assert _customers_on_timeline(engine, EventFilter(start=at(3601))) == 2     # b, c
    # a filter on a column the timeline keeps no list of is left to the events
    assert _customers_on_timeline(engine, EventFilter.build(equals={"touchpoint": ["Ad"]})) is None
