"""Tests for cxdata.analytics.paths: transitions and variants (SPEC §3).

Expected counts are worked out by hand from the small logs below.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxdata.analytics.paths import after_dropoff, transitions, variants
from cxdata.sql import EventFilter
from tests import helpers_events
from tests.helpers_events import make_events_table as make_table

T0 = dt.datetime(2024, 3, 1, 9, 0)


@pytest.fixture(params=["events", "timelines"])
def con(request, monkeypatch):
    """An in-memory database; every paths test runs twice: on the events, and with the
    stored per-customer timelines the workspace builds at ingest (same answers)."""
    if request.param == "timelines":
        monkeypatch.setattr(helpers_events, "TIMELINE_COLUMNS", ("stage", "event", "touchpoint", "channel"))
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
                   st.sampled_from(["A", "B", "C", "", None]))


@settings(max_examples=40, deadline=None)
@given(st.lists(_event, max_size=25), st.booleans())
def test_transitions_agree_with_a_direct_walk(events, timeline):
    connection = duckdb.connect()
    connection.execute("SET TimeZone='UTC'")
    make_table(connection, [ev(c, m, s) for c, m, s in events],
               timelines=("stage",) if timeline else ())
    result = _as_dict(transitions(connection.cursor(), "ev"))
    # Walk: sort each customer's staged events by (minute, file position); an empty
    # stage is no stage.
    per_customer: dict[str, list[str]] = {}
    for position, (customer, minute, stage) in sorted(enumerate(events),
                                                      key=lambda e: (e[1][1], e[0])):
        if stage:
            per_customer.setdefault(customer, []).append(stage)
    events_count: Counter = Counter()
    customers: dict[tuple, set] = {}
    for customer, seq in per_customer.items():
        for pair in zip(["start"] + seq, seq + ["end"]):
            events_count[pair] += 1
            customers.setdefault(pair, set()).add(customer)
    assert result == {pair: (len(customers[pair]), n) for pair, n in events_count.items()}
    connection.close()


@settings(max_examples=40, deadline=None)
@given(st.lists(_event, max_size=30), st.sampled_from([None, 2]))
def test_the_timeline_gives_the_numbers_of_the_events(events, from_minute):
    """Same log twice, one table with the stage timeline and one without: every path
    figure agrees, ties at one instant (file order decides) and a date filter included."""
    from cxdata.analytics.paths import value_order
    connection = duckdb.connect()
    rows = [ev(c, m, s) for c, m, s in events]
    make_table(connection, rows, table="with_timeline", timelines=("stage",))
    make_table(connection, rows, table="events_only", timelines=())
    ef = None if from_minute is None else EventFilter(start=T0 + dt.timedelta(minutes=from_minute))
    cur = connection.cursor()
    for collapse in (False, True):
        pd.testing.assert_frame_equal(
            transitions(cur, "with_timeline", event_filter=ef, collapse_repeats=collapse),
            transitions(cur, "events_only", event_filter=ef, collapse_repeats=collapse))
    for keep in (False, True):
        pd.testing.assert_frame_equal(
            variants(cur, "with_timeline", event_filter=ef, keep_repeats=keep, top=50),
            variants(cur, "events_only", event_filter=ef, keep_repeats=keep, top=50))
    pd.testing.assert_frame_equal(value_order(cur, "with_timeline", event_filter=ef),
                                  value_order(cur, "events_only", event_filter=ef))
    connection.close()


def test_paths_read_the_stored_timeline():
    # A value changed behind the timeline's back (the workspace never does this: it drops
    # a dataset's timelines before its values change) shows only without the timeline —
    # proof that the timeline, not the events, was read.
    connection = duckdb.connect()
    make_table(connection, _journeys(), timelines=("stage",))
    connection.execute("UPDATE ev SET stage = 'Purchase' WHERE customer_id = 'b' AND stage = 'Consideration'")
    from_timeline = _as_dict(transitions(connection.cursor(), "ev"))
    assert from_timeline[("Aware", "Consideration")] == (3, 3)
    connection.execute("DELETE FROM cx_timelines")
    from_events = _as_dict(transitions(connection.cursor(), "ev"))
    assert from_events[("Aware", "Consideration")] == (2, 2)
    assert from_events[("Aware", "Purchase")] == (1, 1)
    connection.close()


# --------------------------------------------------------------------------------------
# Process order and numbered variants

def test_value_order_is_the_typical_position_in_the_journeys(con):
    from cxdata.analytics.paths import value_order
    make_table(con, _journeys())
    frame = value_order(con.cursor(), "ev", by="touchpoint")
    # Rank of each touchpoint's first occurrence among the ones a customer met:
    # a: Ad 1, Web 2 (its repeat does not count), Shop 3;  b: Ad 1, App 2;
    # c (by time): Ad 1, Web 2, Shop 3;  d: Ad 1, Call 2.
    # Medians: Ad 1; Web, App, Call 2 (Web met by 2 customers first, then by name); Shop 3.
    # Alphabetical would be Ad, App, Call, Shop, Web.
    assert frame["value"].tolist() == ["Ad", "Web", "App", "Call", "Shop"]
    assert frame["customers"].tolist() == [4, 2, 1, 1, 2]
    assert frame["median_rank"].tolist() == [1.0, 2.0, 2.0, 2.0, 3.0]


def test_value_order_counts_the_first_occurrence_only(con):
    from cxdata.analytics.paths import value_order
    # x: B, A, B -> B 1, A 2 (B's return does not move it);  y: A, C -> A 1, C 2;
    # w: B, C -> B 1, C 2.  Medians: B 1, A 1.5, C 2.
    make_table(con, [ev("x", 0, "B"), ev("x", 1, "A"), ev("x", 2, "B"),
                     ev("y", 0, "A"), ev("y", 1, "C"), ev("w", 0, "B"), ev("w", 1, "C")])
    frame = value_order(con.cursor(), "ev")
    assert frame["value"].tolist() == ["B", "A", "C"]
    assert frame["median_rank"].tolist() == [1.0, 1.5, 2.0]
    assert frame["mean_rank"].tolist() == [1.0, 1.5, 2.0]


def test_variants_are_numbered_with_their_length(con):
    make_table(con, _journeys())
    frame = variants(con.cursor(), "ev")
    # Same order as test_variants: 1 = the most common journey.
    assert frame["rank"].tolist() == [1, 2, 3]
    assert frame["steps"].tolist() == [3, 1, 2]


# --------------------------------------------------------------------------------------
# The paths charts (cxdata.presentation.charts.transition_heatmap / variant_bars) on a process log

RECEIPT_LIKE = ["Confirmation of receipt", "T02 Check confirmation of receipt",
                "T04 Determine confirmation of receipt",
                "T05 Print and send confirmation of receipt",
                "T06 Determine necessity of stop advice",
                "T10 Determine necessity to stop indication"]


def _chart_rows(spec: dict) -> list[dict]:
    return next(iter(spec["datasets"].values()))


def test_variant_labels_tell_journeys_with_a_long_shared_start_apart():
    from cxdata.presentation import charts
    # Two journeys that share their first 120 characters and differ in the last two steps:
    # cut at the axis' width, both used to read "Confirmation of receipt → T02 Check conf…".
    one = RECEIPT_LIKE[:4]
    two = RECEIPT_LIKE[:2] + [RECEIPT_LIKE[4], RECEIPT_LIKE[5]]
    frame = pd.DataFrame({"rank": [1, 2], "path": [one, two],
                          "path_label": [" → ".join(one), " → ".join(two)], "steps": [4, 4],
                          "customers": [713, 123], "share": [0.497, 0.086],
                          "median_duration_seconds": [3600.0, 7200.0]})
    spec = charts.variant_bars(frame, by_title="Event").to_dict()
    rows = _chart_rows(spec)
    # Each step keeps the same width, (84 − 3 separators of 3) // 4 = 18 characters
    # (17 of its own and "…").
    assert [r["bar_label"] for r in rows] == [
        "#1 · Confirmation of r… → T02 Check confirm… → T04 Determine con… → T05 Print and sen…",
        "#2 · Confirmation of r… → T02 Check confirm… → T06 Determine nec… → T10 Determine nec…"]
    # The whole journey is in the tooltip; the subtitle says what the steps are.
    assert rows[0]["path_label"] == " → ".join(one)
    assert spec["title"]["subtitle"].startswith("Event sequences with repeats collapsed")
    assert "Stage" not in json.dumps(spec["title"])


def test_short_path_keeps_whole_journeys_and_the_end_of_very_long_ones():
    from cxdata.presentation.charts import short_path
    assert short_path(["Aware", "Consideration", "Purchase"]) == "Aware → Consideration → Purchase"
    # 18 steps leave fewer than 6 characters per step: the last steps that fit, cut to 6.
    long = short_path(RECEIPT_LIKE * 3)
    assert long == ("… → T05 P… → T06 D… → T10 D… → Confi… → T02 C… → T04 D… → T05 P… → "
                    "T06 D… → T10 D…")
    assert len(long) <= 84


def test_transition_heatmap_in_process_order_with_upright_labels():
    from cxdata.presentation import charts
    names = RECEIPT_LIKE * 1
    moves = [("start", names[0])] + list(zip(names, names[1:])) + [(names[-1], "end")]
    # 13 more one-off values make the heatmap crowded (more than 12 columns).
    extra = [(names[0], f"X{i:02d} other step") for i in range(13)]
    frame = pd.DataFrame({"from": [m[0] for m in moves + extra],
                          "to": [m[1] for m in moves + extra],
                          "customers": [10] * len(moves + extra),
                          "events": [10] * len(moves + extra)})
    order = names + [f"X{i:02d} other step" for i in range(13)]
    spec = charts.transition_heatmap(frame, order=order, by_title="Event",
                                     order_note="in process order").to_dict()
    rect = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "rect")
    assert rect["encoding"]["x"]["sort"][:7] == names + ["X00 other step"]
    assert rect["encoding"]["y"]["sort"][:3] == ["start"] + names[:2]
    x_axis = rect["encoding"]["x"]["axis"]
    assert x_axis["labelAngle"] == -90 and x_axis["labelLimit"] == 200
    assert rect["encoding"]["x"]["title"] == "To event"
    subtitle = spec["title"]["subtitle"]
    assert "from one event (rows)" in subtitle and "before the first event" in subtitle
    assert "(columns), in process order;" in subtitle
    assert "stage" not in subtitle


_step_event = st.tuples(st.sampled_from(["c1", "c2", "c3", "c4"]), st.integers(0, 6),
                        st.sampled_from(["A", "B", "C", None]), st.sampled_from(["Web", "App", None]))


@settings(max_examples=40, deadline=None)
@given(st.lists(_step_event, max_size=30), st.sampled_from([["A", "B", "C"], ["A", "B", "A", "C"]]),
       st.sampled_from(["ordered", "strict"]), st.sampled_from([None, 120.0]), st.data())
def test_dropoffs_depend_only_on_the_steps_up_to_the_next(events, steps, order, window, data):
    """The drop-outs after step j are found in the funnel of steps 1…j+1 (quicker): the
    same customers, where they left and what they did next as in the whole funnel."""
    from cxdata.analytics import funnel
    connection = duckdb.connect()
    make_table(connection, [ev(c, m, s, t) for c, m, s, t in events], timelines=("stage",))
    after = data.draw(st.integers(1, len(steps) - 1))
    options = dict(order=order, window_seconds=window)
    cur = connection.cursor()
    quick = after_dropoff(cur, "ev", steps, after, **options)
    whole = funnel.spec._spec
    original = funnel.dropoffs._dropoff_spec
    try:
        funnel.dropoffs._dropoff_spec = lambda engine, s, j, o: whole(engine, s, **o)
        full = after_dropoff(cur, "ev", steps, after, **options)
        full_list = funnel.dropoff_customers(cur, "ev", steps, after, **options)
    finally:
        funnel.dropoffs._dropoff_spec = original
    assert (quick.customers, quick.in_progress) == (full.customers, full.in_progress)
    pd.testing.assert_frame_equal(quick.left_at, full.left_at)
    pd.testing.assert_frame_equal(quick.next, full.next)
    pd.testing.assert_frame_equal(funnel.dropoff_customers(cur, "ev", steps, after, **options), full_list)
    connection.close()


@settings(max_examples=40, deadline=None)
@given(st.lists(_event, max_size=30), st.booleans(), st.booleans(), st.sampled_from([1, 3, 50]))
def test_transitions_and_variants_in_one_query_equal_each_alone(events, keep, collapse, top):
    """The command line's one query (each sequence built once) gives exactly the frames of
    transitions() and variants(), on the events and on the timeline, with ties of order
    (top cuts inside a run of equal counts) and empty logs."""
    from cxdata.analytics.paths import transitions_and_variants
    connection = duckdb.connect()
    rows = [ev(c, m, s) for c, m, s in events]
    for table, stored in (("with_timeline", ("stage",)), ("events_only", ())):
        make_table(connection, rows, table=table, timelines=stored)
        cur = connection.cursor()
        trans, var = transitions_and_variants(cur, table, top=top, keep_repeats=keep,
                                              collapse_repeats=collapse)
        pd.testing.assert_frame_equal(trans, transitions(cur, table, top=top, collapse_repeats=collapse))
        pd.testing.assert_frame_equal(var, variants(cur, table, top=top, keep_repeats=keep))
    connection.close()
