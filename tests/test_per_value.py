"""cxdata.analytics.per_value: the filter bar's figures from counts made once per channel
equal those counted under the filter itself."""
from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from cxdata.analytics import insights, per_value
from cxdata.sql import EventFilter, event_counts, event_counts_per
from tests.helpers_events import at, make_events_table

# customer, seconds after 2024-01-01, stage, event, touchpoint, channel, nps, csat, ces
ROWS = [
    ("a", 0, "Aware", None, "Ad", "Web", 10, None, None),
    ("a", 3600, "Buy", None, "Checkout", "Web", 9, 5, None),
    ("a", 40 * 86400, "Buy", None, "Checkout", "Email", 3, 2, 6),   # February
    ("b", 86400, "Aware", None, "Ad", "", 6, None, None),           # an empty channel
    ("c", 2 * 86400, "Aware", None, "Store", None, None, 4, 2),     # no channel
    ("c", 2 * 86400 + 60, "Buy", None, "Store", "Web", 7, None, None),
]


@pytest.fixture(params=["events", "timeline"])
def log(request):
    """The log, with customers counted on the events and on the stage timeline."""
    con = duckdb.connect()
    name = make_events_table(con, ROWS, timelines=("stage",) if request.param == "timeline" else ())
    yield con, name
    con.close()


def only(*channels) -> EventFilter:
    return EventFilter.build(equals={"channel": list(channels)})


FILTERS = [None, EventFilter(), only("Web"), only("Web", "Email"), only(""), only(None),
           only("Store", None), only("Nope")]


def test_serves_a_filter_on_the_column_alone():
    assert per_value.serves(None, "channel") and per_value.serves(EventFilter(), "channel")
    assert per_value.serves(only("Web", None), "channel")
    assert not per_value.serves(only("Web"), "segment")
    assert not per_value.serves(EventFilter.build(equals={"channel": ["Web"], "stage": ["Buy"]}),
                                "channel")
    assert not per_value.serves(EventFilter.build(start=dt.datetime(2024, 1, 2),
                                                  equals={"channel": ["Web"]}), "channel")
    with pytest.raises(ValueError, match="alone"):
        per_value.kept_event_counts(pd.DataFrame(), EventFilter.build(
            start=dt.datetime(2024, 1, 2)), "channel")


def test_event_counts_by_hand(log):
    con, name = log
    frame = event_counts_per(con, name, "channel")
    # the empty channel and the missing one are different values, as the filter has them
    assert dict(zip(frame["per_value"].fillna("<missing>"), frame["events"])) == {
        "Web": 3, "Email": 1, "": 1, "<missing>": 1}
    web = event_counts(con, name, only("Web"), per_value=("channel", frame))
    assert web == {"customers": 2, "events": 3, "first": at(0), "last": at(2 * 86400 + 60)}
    blank = event_counts(con, name, only(None), per_value=("channel", frame))
    assert blank == {"customers": 1, "events": 1, "first": at(2 * 86400), "last": at(2 * 86400)}
    assert event_counts(con, name, only("Nope"), per_value=("channel", frame)) == {
        "customers": 0, "events": 0, "first": None, "last": None}


@pytest.mark.parametrize("event_filter", FILTERS, ids=str)
def test_event_counts_equal_the_scan(log, event_filter):
    con, name = log
    frame = event_counts_per(con, name, "channel")
    assert event_counts(con, name, event_filter, per_value=("channel", frame)) == event_counts(
        con, name, event_filter)


def test_score_counts_by_hand(log):
    con, name = log
    counts = per_value.kept_score_counts(insights.score_counts(con, name, per="channel"),
                                         only("Web", "Email"), "channel")
    nps = counts["nps"].set_index(["period", "group"])
    january, february = pd.Timestamp(2024, 1, 1), pd.Timestamp(2024, 2, 1)
    # Web in January: 10 at Ad; 9 and 7 at Checkout and Store; Email in February: 3
    assert nps.loc[(january, "Ad")].tolist() == [1, 1, 0, 10, 100]
    assert nps.loc[(january, "Checkout")].tolist() == [1, 1, 0, 9, 81]
    assert nps.loc[(january, "Store")].tolist() == [1, 0, 0, 7, 49]
    assert nps.loc[(february, "Checkout")].tolist() == [1, 0, 1, 3, 9]
    assert len(nps) == 4
    # CES: the Email response alone (the one with no channel is not kept)
    assert counts["ces"][["n", "total"]].values.tolist() == [[1, 6]]
    # no response left: no entry for the metric, as score_counts gives
    assert per_value.kept_score_counts(insights.score_counts(con, name, per="channel"),
                                       only(""), "channel").keys() == {"nps"}


@pytest.mark.parametrize("event_filter", FILTERS, ids=str)
def test_score_counts_equal_their_own_query(log, event_filter):
    con, name = log
    kept = per_value.kept_score_counts(insights.score_counts(con, name, per="channel"),
                                       event_filter, "channel")
    direct = insights.score_counts(con, name, event_filter)
    assert kept.keys() == direct.keys()
    for metric in direct:
        pd.testing.assert_frame_equal(kept[metric], direct[metric])


@pytest.mark.parametrize("channels", [["Web"], ["Email", "Social"], ["Store", None]])
def test_the_sample_under_the_filter_bar(sample, channels):
    event_filter = only(*channels)
    frame = event_counts_per(sample, "events", "channel")
    assert event_counts(sample, "events", event_filter, per_value=("channel", frame)) == (
        event_counts(sample, "events", event_filter))
    kept = per_value.kept_score_counts(insights.score_counts(sample, "events", per="channel"),
                                       event_filter, "channel")
    direct = insights.score_counts(sample, "events", event_filter)
    assert kept.keys() == direct.keys() and direct
    for metric in direct:
        pd.testing.assert_frame_equal(kept[metric], direct[metric])
