"""The span of conversion drivers, exact to the event (SPEC §8.1; cxdata/why/drivers_span.py):
events at the instant of a step count by their file order against the step's event, in a
log that mixes customers whose step events are alone at their instants with customers
whose are not; and, on logs full of ties, the same 2×2 counts as the rules written out
in plain Python over the funnel's own step events (their ``_row`` looked up by the funnel).

Times are seconds after 2024-01-01 00:00 UTC (tests/helpers_events.py).
"""
from __future__ import annotations

import random
from collections import Counter, defaultdict

import duckdb
import pytest

from cxdata.analytics import funnel
from cxdata.engines import as_engine
from cxdata.sql import EventFilter
from cxdata.store import timelines
from cxdata.store.timelines import drop_timeline, find_timeline
from cxdata.why import drivers
from cxdata.why.drivers import conversion_drivers
from cxdata.why import drivers_lists, drivers_span
from cxdata.why.drivers_lists import factor_timeline, lone_ctes
from cxdata.why.drivers_span import finds_step_events
from tests.helpers_events import make_events_table


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def _counts(result) -> dict:
    return {(r.kind, r.column, r.value): (r.with_n, r.with_converted) for r in result.drivers.itertuples()}


# Funnel A -> B -> C by stage, drivers of B -> C.  Shop (B) and Pay (C) are the route;
# Chat, Mail and Call are mostly on X events, so they are factors.  File order:
#   l  A@0 Web, X@10 Chat (before B), B@20, X@30 Mail (CSAT 1), C@40, X@50 Call (after C)
#      -> each step event alone at its instant; did Mail, low CSAT; converted
#   d  A@0 Phone, X@20 Call (at B's instant, before B's event), B@20 Shop (step 2's event),
#      B@20 Chat (CSAT 2: a second B after it), X@60 Mail; no C
#      -> did Chat and Mail (no window: any later event), low CSAT; not converted
#   c  A@0 Web, B@10, X@30 Call (at C's instant, before C's event), C@30, X@30 Chat (CSAT 1,
#      after C's event) -> did Call only; converted
#   a  X@0 Chat (CSAT 1, before A's event at its instant), A@0 Phone, B@5, C@9
#      -> nothing; converted
#   n  A@0 Web, B@5 -> nothing; not converted
ROWS = [("l", 0, "A", None, "Ad", "Web"), ("l", 10, "X", None, "Chat", "Web"),
        ("l", 20, "B", None, "Shop", "Web"), ("l", 30, "X", None, "Mail", "Web", None, 1),
        ("l", 40, "C", None, "Pay", "Web"), ("l", 50, "X", None, "Call", "Web"),
        ("d", 0, "A", None, "Ad", "Phone"), ("d", 20, "X", None, "Call", "Phone"),
        ("d", 20, "B", None, "Shop", "Phone"), ("d", 20, "B", None, "Chat", "Phone", None, 2),
        ("d", 60, "X", None, "Mail", "Phone"),
        ("c", 0, "A", None, "Ad", "Web"), ("c", 10, "B", None, "Shop", "Web"),
        ("c", 30, "X", None, "Call", "Web"), ("c", 30, "C", None, "Pay", "Web"),
        ("c", 30, "X", None, "Chat", "Web", None, 1),
        ("a", 0, "X", None, "Chat", "Phone", None, 1), ("a", 0, "A", None, "Ad", "Phone"),
        ("a", 5, "B", None, "Shop", "Phone"), ("a", 9, "C", None, "Pay", "Phone"),
        ("n", 0, "A", None, "Ad", "Web"), ("n", 5, "B", None, "Shop", "Web")]


@pytest.mark.parametrize("timelines", [(), ("stage",), ("stage", "touchpoint")])
def test_lone_and_tied_step_events_in_one_log(con, timelines):
    # with a touchpoint timeline the span is read from it (cxdata/why/drivers_lists.py)
    table = make_events_table(con, ROWS, timelines=timelines)
    result = conversion_drivers(con, table, ["A", "B", "C"], 2)
    # reached B: l d c a n; converted: l c a
    assert (result.customers, result.converted) == (5, 3)
    assert _counts(result) == {("entry", "channel", "Web"): (3, 2),       # l c n
                               ("entry", "channel", "Phone"): (2, 1),     # d a
                               ("did", "touchpoint", "Mail"): (2, 1),     # l d
                               ("did", "touchpoint", "Chat"): (1, 0),     # d
                               ("did", "touchpoint", "Call"): (1, 1),     # c
                               ("score", "csat", "low"): (2, 1)}          # l d


def test_a_window_ends_a_non_converters_span(con):
    table = make_events_table(con, ROWS)
    # window 50 s: d's Mail at 60 is after t1 + W, so only l did Mail
    result = conversion_drivers(con, table, ["A", "B", "C"], 2, window_seconds=50)
    assert _counts(result)[("did", "touchpoint", "Mail")] == (1, 1)
    assert _counts(result)[("did", "touchpoint", "Chat")] == (1, 0)


# ---------------------------------------------------------------------------------------
# The rules in plain Python, over the funnel's own step events

def _reference(con, table, steps, j, window_seconds=None, **options) -> tuple[int, int, dict]:
    """(customers, converted, {(kind, column, value): (with_n, with_converted)}) of
    SPEC §8.1 worked customer by customer: the step events' (time, _row) come from the
    funnel's lookup (``counted_attempts`` with ``rows``), the events from the table.
    Factors on ``touchpoint`` (no stage values: no route), entry ``channel``, low CSAT."""
    sql, _, engine = funnel.counted_attempts(con, table, steps, rows=[1, j, j + 1],
                                             window_seconds=window_seconds, **options)
    attempts = sql.run(engine, f"SELECT customer_id, depth, t1, t{j}, t{j + 1}, r1, r{j}, r{j + 1} "
                               f"FROM counted WHERE depth >= {j}")
    events = defaultdict(list)
    for customer, t, r, touchpoint, channel, csat in con.execute(
            f"SELECT customer_id, epoch_us(ts), _row, touchpoint, channel, csat FROM {table}").fetchall():
        events[customer].append((t, r, touchpoint, channel, csat))
    window = None if window_seconds is None else window_seconds * 1_000_000
    held, customers, converted = Counter(), 0, 0
    for customer, depth, t1, tj, tn, r1, rj, rn in attempts:
        went_on = depth >= j + 1
        customers += 1
        converted += went_on
        factors = set()
        for t, r, touchpoint, channel, csat in events[customer]:
            from_step1 = (t, r) >= (t1, r1)
            before_end = (t, r) < (tn, rn) if went_on else (window is None or t <= t1 + window)
            if r == r1:
                factors.add(("entry", "channel", channel or "(none)"))
            if touchpoint is not None and (t, r) > (tj, rj) and (r == r1 or (from_step1 and before_end)):
                factors.add(("did", "touchpoint", touchpoint))
            if csat is not None and csat <= 2 and from_step1 and before_end:
                factors.add(("score", "csat", "low"))
        for factor in factors:
            held[factor] += 1
            held[factor + ("converted",)] += went_on
    table_2x2 = {f: (n, held[f + ("converted",)]) for f, n in held.items()
                 if len(f) == 3 and 0 < n < customers}
    return customers, converted, table_2x2


def _tied_log(con, seed: int, timelines) -> str:
    # 200 customers, events at 5 instants only, in shuffled file order: most instants of
    # a step hold other events too, before and after the step's event in the file
    rng = random.Random(seed)
    rows = []
    for c in range(200):
        for _ in range(rng.randint(1, 10)):
            rows.append((f"c{c}", 10 * rng.randint(0, 4), None, rng.choice("AABBCCDX"),
                         rng.choice(["Web", "Shop", "Chat", "Mail", None]), rng.choice(["Web", "Phone", None]),
                         None, rng.choice([None, None, 1, 2, 5])))
    rng.shuffle(rows)
    return make_events_table(con, rows, timelines=timelines)


def _with_score_lists(monkeypatch):
    """Timelines built from here on keep each key's CSAT (and NPS, CES) code beside it, as
    the channel's: the drivers then read the low scores of keyed events from the lists."""
    monkeypatch.setattr(timelines, "FILTER_COLUMNS", timelines.FILTER_COLUMNS + ("nps", "csat", "ces"))


@pytest.mark.parametrize("order, window, timelines_of, lists", [
    ("ordered", None, (), True), ("ordered", 20, ("event",), True), ("ordered", 0, (), True),
    ("ordered", None, (), "scores"), ("ordered", 20, (), "scores"),
    ("ordered", None, (), False), ("ordered", 20, ("event",), False),
    ("strict", None, (), True), ("unordered", 20, (), True)])
def test_counts_match_the_rules_worked_customer_by_customer(con, order, window, timelines_of, lists,
                                                            monkeypatch):
    # lists: the span read from the touchpoint's timeline (built on first use) where the
    # question allows it (ordered, distinct steps); else from the events, as on a
    # read-only workspace or Spark.  "scores": the timeline keeps the CSAT of each key too
    if not lists:
        monkeypatch.setattr(drivers, "factor_timeline", lambda engine, column: None)
    if lists == "scores":
        _with_score_lists(monkeypatch)
    read = []
    monkeypatch.setattr(drivers_span, "lone_ctes", lambda *a: read.append(1) or lone_ctes(*a))
    for seed in range(3):
        table = _tied_log(con, seed, timelines_of + (("touchpoint",) if lists else ()))
        for steps in (["A", "B", "C"], ["A", "B", "C", "D"]):
            for j in range(1, len(steps)):
                options = dict(by="event", order=order, window_seconds=window)
                result = conversion_drivers(con, table, steps, j, **options)
                customers, converted, expected = _reference(con, table, steps, j, **options)
                assert (result.customers, result.converted) == (customers, converted)
                assert _counts(result) == expected, (seed, steps, j)
    assert bool(read) == bool(lists and order == "ordered")


def test_only_ordered_funnels_of_distinct_steps_find_their_step_events(con):
    table = make_events_table(con, ROWS)
    _, spec, _ = funnel.counted_attempts(con, table, ["A", "B", "C"])
    assert finds_step_events(spec)
    for steps, order in ((["A", "B", "A"], "ordered"), (["A", "B", "C"], "strict"),
                         (["A", "B", "C"], "unordered")):
        _, spec, _ = funnel.counted_attempts(con, table, steps, order=order)
        assert not finds_step_events(spec)


# ---------------------------------------------------------------------------------------
# The factor column's timeline (cxdata/why/drivers_lists.py)

def test_the_timeline_is_built_once_and_kept(tmp_path):
    con = duckdb.connect(str(tmp_path / "ws.duckdb"))
    table = make_events_table(con, ROWS)
    assert find_timeline(con, table, "touchpoint") is None
    # as the pages ask: an empty filter is no filter
    first = conversion_drivers(con, table, ["A", "B", "C"], 2, event_filter=EventFilter.build())
    stored = find_timeline(con, table, "touchpoint")
    assert stored is not None and stored.codes == {"Ad": 1, "Call": 2, "Chat": 3, "Mail": 4, "Pay": 5, "Shop": 6}
    again = conversion_drivers(con, table, ["A", "B", "C"], 2)
    assert find_timeline(con, table, "touchpoint").table == stored.table
    assert _counts(again) == _counts(first)


@pytest.mark.parametrize("score_lists", [False, True])
def test_valueless_events_at_a_steps_instant(con, score_lists, monkeypatch):
    # Factor values on touchpoint: Ad, Chat, Mail (Shop and Pay are the route).
    #   v  the step-1 event has no touchpoint (its channel is the entry value: Phone); a
    #      valueless CSAT 1 shares B's instant (after B's event in the file: in)
    #   w  each step event alone at its instant; a valueless X between B and C with CSAT 2,
    #      Chat after it
    #   u  a valueless CSAT 1 at C's instant, before C's event in the file: in
    #   n  no C; Mail after B (no window: in)
    rows = [("v", 0, "A", None, None, "Phone"), ("v", 10, "B", None, "Shop", "Web"),
            ("v", 10, "X", None, None, "Web", None, 1), ("v", 20, "C", None, "Pay", "Web"),
            ("w", 0, "A", None, "Ad", "Web"), ("w", 10, "B", None, "Shop", "Web"),
            ("w", 15, "X", None, None, "Web", None, 2), ("w", 16, "X", None, "Chat", "Web"),
            ("w", 20, "C", None, "Pay", "Web"),
            ("u", 0, "A", None, "Ad", "Web"), ("u", 10, "B", None, "Shop", "Web"),
            ("u", 30, "X", None, None, "Web", None, 1), ("u", 30, "C", None, "Pay", "Web"),
            ("n", 0, "A", None, "Ad", "Web"), ("n", 10, "B", None, "Shop", "Web"),
            ("n", 12, "X", None, "Mail", None)]
    if score_lists:      # valueless events are in no list: their scores still come from the events
        _with_score_lists(monkeypatch)
    table = make_events_table(con, rows, timelines=("touchpoint",))
    with_lists = conversion_drivers(con, table, ["A", "B", "C"], 2)
    # reached B: v w u n; converted: v w u
    assert (with_lists.customers, with_lists.converted) == (4, 3)
    assert _counts(with_lists) == {("entry", "channel", "Phone"): (1, 1), ("entry", "channel", "Web"): (3, 2),
                                   ("did", "touchpoint", "Chat"): (1, 1), ("did", "touchpoint", "Mail"): (1, 0),
                                   ("score", "csat", "low"): (3, 3)}


def test_no_timeline_where_the_workspace_cannot_keep_one(con, tmp_path):
    # in memory (the command line reading a file): the events, nothing built
    table = make_events_table(con, ROWS)
    assert factor_timeline(as_engine(con, table), "touchpoint") is None
    assert find_timeline(con, table, "touchpoint") is None
    path = str(tmp_path / "ws.duckdb")
    writable = duckdb.connect(path)
    table = make_events_table(writable, ROWS)
    expected = _counts(conversion_drivers(writable, table, ["A", "B", "C"], 2))
    assert find_timeline(writable, table, "touchpoint") is not None
    drop_timeline(writable, table, "touchpoint")     # the one it just built
    writable.close()
    readonly = duckdb.connect(path, read_only=True)
    try:
        readonly.execute("SET TimeZone='UTC'")
        assert factor_timeline(as_engine(readonly, table), "touchpoint") is None
        assert _counts(conversion_drivers(readonly, table, ["A", "B", "C"], 2)) == expected
    finally:
        readonly.close()


@pytest.mark.parametrize("window", [None, 20])
def test_lists_and_events_agree_with_an_attribute_at_entry(con, window, monkeypatch):
    # an entry attribute the timeline does not list (segment) comes from the step-1
    # value's events at t1; tie-heavy logs as above, the events' figures as the reference
    for seed in range(3):
        rng = random.Random(100 + seed)
        rows = [dict(customer_id=f"c{c}", ts=10 * rng.randint(0, 4), event=rng.choice("AABBCCDX"),
                     touchpoint=rng.choice(["Web", "Shop", "Chat", "Mail", None]),
                     channel=rng.choice(["Web", "Phone", None]), csat=rng.choice([None, None, 1, 2, 5]),
                     segment=rng.choice(["New", "Loyal", None]))
                for c in range(200) for _ in range(rng.randint(1, 10))]
        rng.shuffle(rows)
        table = make_events_table(con, rows, attributes=["segment"], timelines=("touchpoint",))
        for steps in (["A", "B", "C"], ["A", "B", "C", "D"]):
            for j in range(1, len(steps)):
                options = dict(by="event", window_seconds=window)
                with_lists = conversion_drivers(con, table, steps, j, **options)
                with monkeypatch.context() as patched:
                    patched.setattr(drivers, "factor_timeline", lambda engine, column: None)
                    from_events = conversion_drivers(con, table, steps, j, **options)
                assert (with_lists.customers, with_lists.converted) == (from_events.customers,
                                                                        from_events.converted)
                assert _counts(with_lists) == _counts(from_events), (seed, steps, j)
                assert any(key[:2] == ("entry", "segment") for key in _counts(with_lists))


def test_low_scores_from_the_timelines_lists(con, monkeypatch):
    # the ROWS log, its timeline keeping each key's CSAT: the same counts as from the
    # events, and the CSAT branch of the scan is gone (only valueless events are read)
    expected = _counts(conversion_drivers(con, make_events_table(con, ROWS, timelines=("touchpoint",)),
                                          ["A", "B", "C"], 2))
    _with_score_lists(monkeypatch)
    table = make_events_table(con, ROWS, timelines=("touchpoint",))
    found = find_timeline(con, table, "touchpoint")
    assert "csat" in found.filters       # this log has CSAT only: no NPS or CES list
    assert "nps" not in found.filters and "ces" not in found.filters
    built = []
    monkeypatch.setattr(drivers_span, "lone_ctes", lambda *a: built.append(lone_ctes(*a)) or built[-1])
    result = conversion_drivers(con, table, ["A", "B", "C"], 2)
    assert _counts(result) == expected
    assert expected[("score", "csat", "low")] == (2, 1)                  # l d, as worked above
    few = dict((name, body) for name, body, *_ in built[0])["few"]
    assert '"csat" <= 2' not in few and "IS NULL" in few
    # the codes of CSAT 1 and 2 (the values this log has, coded in text order)
    assert drivers_lists.score_codes(found, "csat", 2) == [1, 2]
    assert drivers_lists.score_codes(found, "nps", 6) is None
