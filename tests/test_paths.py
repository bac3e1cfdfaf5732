"""Tests for cxdata.paths: transitions and variants (SPEC §3).

Expected counts are worked out by hand from the small logs below.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxdata.paths import after_dropoff, transitions, variants
from cxdata.sql import EventFilter
from tests.helpers_events import make_events_table as make_table

T0 = dt.datetime(2024, 3, 1, 9, 0)


@pytest.fixture()
def con():
    connection = duckdb.connect()
    connection.execute("SET TimeZone='UTC'")
    yield connection
    connection.close()


def ev(customer, minutes, stage=None, touchpoint=None, **extra):
    return dict(customer_id=customer, ts=T0 + dt.timedelta(minutes=minutes), stage=stage,
                touchpoint=touchpoint, **extra)


def _journeys():
    """a: Aware, Aware, Consideration, Purchase (0, 1, 5, 65 min)
    b: Aware, Consideration (0, 30 min)
    c: Aware, Consideration, Purchase (0, 10, 20 min) — rows written out of time order
    d: Aware (only), plus an event without stage which is not part of the sequence."""
    return [
        ev("a", 0, "Aware", "Ad"), ev("a", 1, "Aware", "Web"), ev("a", 5, "Consideration", "Web"),
        ev("a", 65, "Purchase", "Shop"),
        ev("b", 0, "Aware", "Ad"), ev("b", 30, "Consideration", "App"),
        ev("c", 20, "Purchase", "Shop"), ev("c", 0, "Aware", "Ad"),
        ev("c", 10, "Consideration", "Web"),
        ev("d", 0, "Aware", "Ad"), ev("d", 3, None, "Call"),
    ]


def _as_dict(frame):
    return {(r["from"], r["to"]): (r["customers"], r["events"]) for _, r in frame.iterrows()}


def test_transitions_by_stage(con):
    make_table(con, _journeys())
    result = _as_dict(transitions(con.cursor(), "ev"))
    # start→Aware: a, b, c, d (4 customers, 4 events).  Aware→Aware: a once.
    # Aware→Consideration: a, b, c.  Consideration→Purchase: a, c (c's rows sorted by time).
    # Consideration→end: b.  Purchase→end: a, c.  Aware→end: d (its unstaged event skipped).
    assert result == {
        ("start", "Aware"): (4, 4), ("Aware", "Aware"): (1, 1),
        ("Aware", "Consideration"): (3, 3), ("Consideration", "Purchase"): (2, 2),
        ("Consideration", "end"): (1, 1), ("Purchase", "end"): (2, 2), ("Aware", "end"): (1, 1),
    }


def test_transitions_customers_versus_events(con):
    # x: Web, App, Web, App -> Web→App twice (1 customer, 2 events), App→Web once.
    make_table(con, [ev("x", 0, touchpoint="Web"), ev("x", 1, touchpoint="App"),
                     ev("x", 2, touchpoint="Web"), ev("x", 3, touchpoint="App")])
    result = _as_dict(transitions(con.cursor(), "ev", by="touchpoint"))
    assert result[("Web", "App")] == (1, 2)
    assert result[("App", "Web")] == (1, 1)
    assert result[("App", "end")] == (1, 1)


def test_transitions_sorted_top_and_collapsed(con):
    make_table(con, _journeys())
    frame = transitions(con.cursor(), "ev", top=2)
    # Most events first: start→Aware (4), then Aware→Consideration (3).
    assert list(zip(frame["from"], frame["to"])) == [("start", "Aware"),
                                                      ("Aware", "Consideration")]
    collapsed = _as_dict(transitions(con.cursor(), "ev", collapse_repeats=True))
    # Collapsing a's Aware, Aware removes the only self-transition; the rest is unchanged.
    assert ("Aware", "Aware") not in collapsed
    assert collapsed[("Aware", "Consideration")] == (3, 3)


def test_timestamp_ties_follow_file_order(con):
    # Same timestamp: file order (_row) decides -> Web then App.
    make_table(con, [ev("t", 0, touchpoint="Web"), ev("t", 0, touchpoint="App")])
    result = _as_dict(transitions(con.cursor(), "ev", by="touchpoint"))
    assert set(result) == {("start", "Web"), ("Web", "App"), ("App", "end")}


def test_transitions_respect_event_filter(con):
    make_table(con, _journeys())
    # Keep only events before minute 15: a: Aware, Aware, Consideration; b: Aware;
    # c: Aware, Consideration; d: Aware.
    result = _as_dict(transitions(con.cursor(), "ev",
                                  event_filter=EventFilter(end=T0 + dt.timedelta(minutes=15))))
    assert result[("Aware", "Consideration")] == (2, 2)
    assert result[("Consideration", "end")] == (2, 2)
    assert result[("Aware", "end")] == (2, 2)
    assert ("Consideration", "Purchase") not in result


def test_variants(con):
    make_table(con, _journeys())
    frame = variants(con.cursor(), "ev")
    # a: Aware → Consideration → Purchase (repeat collapsed), 65 min = 3900 s;
    # c: same path, 20 min = 1200 s -> 2 customers, share 2/4, median (3900+1200)/2 = 2550.
    # b: Aware → Consideration, 1800 s; d: Aware, 0 s (single staged event).
    assert list(frame["path_label"]) == ["Aware → Consideration → Purchase",
                                         "Aware", "Aware → Consideration"]
    first = frame.iloc[0]
    assert first["path"] == ["Aware", "Consideration", "Purchase"]
    assert first["customers"] == 2
    assert first["share"] == pytest.approx(0.5)
    assert first["median_duration_seconds"] == pytest.approx(2550.0)
    by_label = frame.set_index("path_label")
    assert by_label.loc["Aware → Consideration", "median_duration_seconds"] == 1800.0
    assert by_label.loc["Aware", "median_duration_seconds"] == 0.0
    assert frame["share"].sum() == pytest.approx(1.0)
    assert len(variants(con.cursor(), "ev", top=1)) == 1


def test_variants_by_attribute_and_bad_column(con):
    make_table(con, [ev("a", 0, segment="new"), ev("a", 1, segment="new"),
                     ev("a", 2, segment="loyal"), ev("b", 0, segment="loyal")],
               attributes=("segment",))
    frame = variants(con.cursor(), "ev", by="segment")
    # a: new, new, loyal -> new → loyal; b: loyal.  One customer each; ties by label.
    assert list(frame["path_label"]) == ["loyal", "new → loyal"]
    with pytest.raises(ValueError, match="no column"):
        variants(con.cursor(), "ev", by="missing")


def test_after_dropoff_uses_the_funnel_definition(con):
    # Funnel Aware -> Consideration.  a, b, c reach Consideration.  d drops out after
    # Aware; its next event is the Call touchpoint.  e (added) drops out after Aware and does
    # nothing more: "(no further events)".  f (added) drops out too, after two Aware
    # touchpoints: it left at the second (Web, minute 2), then emailed (minute 4).
    # Three drop-outs: where they left Ad, Ad, Web; next Call, nothing, Email.
    extra = [ev("e", 0, "Aware", "Ad"), ev("f", 0, "Aware", "Ad"), ev("f", 2, "Aware", "Web"),
             ev("f", 4, None, "Email")]
    make_table(con, _journeys() + extra)
    summary = after_dropoff(con.cursor(), "ev", ["Aware", "Consideration"], 1)
    assert (summary.customers, summary.in_progress) == (3, 0)
    assert summary.left_at.values.tolist() == [["Ad", 2, pytest.approx(2 / 3)],
                                               ["Web", 1, pytest.approx(1 / 3)]]
    rows = {r.value: (r.customers, r.share) for r in summary.next.itertuples()}
    assert rows == {"Call": (1, pytest.approx(1 / 3)), "Email": (1, pytest.approx(1 / 3)),
                    "(no further events)": (1, pytest.approx(1 / 3))}
    by_stage = after_dropoff(con.cursor(), "ev", ["Aware", "Consideration"], 1, column="stage")
    # d's and f's next events have no stage -> "(none)"; where they left is Aware for all.
    assert set(by_stage.next["value"]) == {"(none)", "(no further events)"}
    assert by_stage.left_at.values.tolist() == [["Aware", 3, 1.0]]


# --------------------------------------------------------------------------------------
# Property: the SQL agrees with a direct walk over each customer's sorted events.

_event = st.tuples(st.sampled_from(["c1", "c2", "c3"]), st.integers(0, 5),
                   st.sampled_from(["A", "B", "C", None]))


@settings(max_examples=30, deadline=None)
@given(st.lists(_event, max_size=25))
def test_transitions_agree_with_a_direct_walk(events):
    connection = duckdb.connect()
    connection.execute("SET TimeZone='UTC'")
    make_table(connection, [ev(c, m, s) for c, m, s in events])
    result = _as_dict(transitions(connection.cursor(), "ev"))
    # Walk: sort each customer's staged events by (minute, file position).
    per_customer: dict[str, list[str]] = {}
    for position, (customer, minute, stage) in sorted(enumerate(events),
                                                      key=lambda e: (e[1][1], e[0])):
        if stage is not None:
            per_customer.setdefault(customer, []).append(stage)
    events_count: Counter = Counter()
    customers: dict[tuple, set] = {}
    for customer, seq in per_customer.items():
        for pair in zip(["start"] + seq, seq + ["end"]):
            events_count[pair] += 1
            customers.setdefault(pair, set()).add(customer)
    assert result == {pair: (len(customers[pair]), n) for pair, n in events_count.items()}
    connection.close()
