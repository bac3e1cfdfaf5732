"""The drop-off summary read from the touchpoint timeline
(cxdata.analytics.funnel.dropoff_lists): a hand-worked log whose ties at the drop-out's
last step instant and at the next instant need the file order, and random tie-heavy logs
against the pure-Python reading of SPEC §2 of tests/test_funnel_properties.py, with and
without a channel filter."""
from __future__ import annotations

from unittest import mock

import duckdb
from hypothesis import HealthCheck, given, settings, strategies as st

from cxdata.analytics import funnel
from cxdata.analytics.funnel import dropoffs
from cxdata.engines import as_engine
from cxdata.sql import EventFilter
from cxdata.store.timelines import build_timeline, drop_timeline, find_timeline
from tests.helpers_events import at, make_events_table
from tests.test_funnel_properties import Ev, _options, _within, reference_counted

NO_FURTHER = "(no further events)"

# customer, t (s), _row, stage, touchpoint
HAND = [
    # c1 leaves at A@3 (row 3, "q"); X@3 shares the instant but is earlier in the file,
    # so it is not what came next: Y@7 ("s") is.  Undecided by the timeline (a key at
    # the last step instant that is not a step-1 key).
    ("c1", 0, 1, "A", "p"), ("c1", 3, 3, "A", "q"), ("c1", 3, 2, "X", "r"), ("c1", 7, 9, "Y", "s"),
    # c2 leaves at A@1 ("p"); two events at t = 2 with different touchpoints: the first in
    # the file (row 5, "q") is next.  Undecided (the next instant has two values).
    ("c2", 1, 4, "A", "p"), ("c2", 2, 6, "X", "r"), ("c2", 2, 5, "C", "q"),
    # c3 leaves at A@0 ("p"), next X@4 ("q"): clear.
    ("c3", 0, 7, "A", "p"), ("c3", 4, 8, "X", "q"),
    # c4 leaves at A@0 ("r") with nothing after: clear.
    ("c4", 0, 10, "A", "r"),
    # c5 converts: not a drop-out.
    ("c5", 0, 11, "A", "p"), ("c5", 1, 12, "B", "q"),
]


def _hand_table(with_lists: bool):
    con = duckdb.connect()
    make_events_table(con, [dict(customer_id=c, ts=t, _row=r, stage=s, touchpoint=p, channel="web")
                            for c, t, r, s, p in HAND], table="ev", timelines=("stage",))
    if with_lists:
        build_timeline(con, "ev", "touchpoint", also=["stage"])
    return con


def _counts(frame) -> dict:
    return dict(zip(frame["value"], frame["customers"].astype(int)))


def test_hand_worked_dropoff_agrees_from_the_timeline_and_from_the_events():
    for with_lists in (False, True):
        con = _hand_table(with_lists)
        summary = funnel.dropoff_summary(con, "ev", ["A", "B"], 1)
        assert summary.customers == 4
        assert _counts(summary.left_at) == {"p": 2, "q": 1, "r": 1}
        assert _counts(summary.next) == {"q": 2, "s": 1, NO_FURTHER: 1}


def test_the_timeline_decides_only_drop_outs_whose_file_order_cannot_matter():
    con = _hand_table(True)
    engine = as_engine(con, "ev")
    spec = dropoffs._dropoff_spec(engine, ["A", "B"], 1, {})
    lists = dropoffs.value_timeline(engine, spec, "touchpoint", 1)
    assert lists is not None and lists.column == "touchpoint"
    sql = dropoffs._dropoff_sql(spec, 1, "touchpoint", 1, lists)
    query, params = sql.query("SELECT customer_id, clear, left_value, has_next, next_value "
                              "FROM lanes ORDER BY customer_id")
    rows = con.execute(query, params).fetchall()
    assert [(c, clear) for c, clear, *_ in rows] == [("c1", False), ("c2", False), ("c3", True),
                                                    ("c4", True)]
    assert rows[2][2:] == ("p", True, "q") and rows[3][2:] == ("r", False, None)
    # only the undecided read the events
    query, params = sql.query("SELECT customer_id FROM left_ev ORDER BY customer_id")
    assert [r[0] for r in con.execute(query, params).fetchall()] == ["c1", "c2"]


def test_a_column_with_empty_values_reads_the_events():
    con = _hand_table(True)
    con.execute("UPDATE ev SET touchpoint = NULL WHERE customer_id = 'c4'")
    build_timeline(con, "ev", "touchpoint", also=["stage"])
    engine = as_engine(con, "ev")
    spec = dropoffs._dropoff_spec(engine, ["A", "B"], 1, {})
    assert dropoffs.value_timeline(engine, spec, "touchpoint", 1) is None
    summary = funnel.dropoff_summary(con, "ev", ["A", "B"], 1)
    assert _counts(summary.left_at) == {"p": 2, "q": 1, "(none)": 1}


def test_a_timeline_without_the_step_list_is_not_used_in_memory():
    con = _hand_table(False)
    build_timeline(con, "ev", "touchpoint")            # no stage list, as older versions stored
    engine = as_engine(con, "ev")
    spec = dropoffs._dropoff_spec(engine, ["A", "B"], 1, {})
    # an in-memory database gets no timeline built on demand: the events answer
    assert dropoffs.value_timeline(engine, spec, "touchpoint", 1) is None
    drop_timeline(con, "ev", "touchpoint")
    assert find_timeline(con, "ev", "touchpoint") is None


def test_a_workspace_file_builds_the_timeline_on_first_use(tmp_path):
    con = duckdb.connect(str(tmp_path / "ws.duckdb"))
    make_events_table(con, [dict(customer_id=c, ts=t, _row=r, stage=s, touchpoint=p, channel="web")
                            for c, t, r, s, p in HAND], table="ev", timelines=("stage",))
    assert find_timeline(con, "ev", "touchpoint") is None
    summary = funnel.dropoff_summary(con, "ev", ["A", "B"], 1)
    assert _counts(summary.next) == {"q": 2, "s": 1, NO_FURTHER: 1}
    stored = find_timeline(con, "ev", "touchpoint")
    assert stored is not None and "stage" in stored.filters


# ---------------------------------------------------------------------------------------
# Random logs with every touchpoint filled (the timeline then holds every event)

@st.composite
def complete_logs(draw):
    events = []
    for c in range(draw(st.integers(1, 6))):
        for t in draw(st.lists(st.integers(0, 10), min_size=0, max_size=8)):
            events.append(dict(customer=f"c{c}", t=t,
                               stage=draw(st.sampled_from(["A", "B", "C", "A", "B", "X", None])),
                               channel=draw(st.sampled_from(["web", "store"])),
                               touchpoint=draw(st.sampled_from(["p", "q", "r"]))))
    rows = draw(st.permutations(list(range(1, len(events) + 1))))
    return [Ev(row=r, **e) for e, r in zip(events, rows)]


def _reference_summary(events, steps, j, window):
    counted = reference_counted(events, steps, "ordered", window, (None, None), ())
    by_customer = {}
    for e in sorted(events, key=lambda e: e.key):
        by_customer.setdefault(e.customer, []).append(e)
    left, nexts = {}, {}
    for customer, a in counted.items():
        if a.depth != j:
            continue
        last = [e for e in by_customer[customer] if e.stage == steps[j - 1]
                and e.key >= (a.times[j - 1], a.rows[j - 1]) and _within(e.t, a.times[0], window)][-1]
        later = [e for e in by_customer[customer] if e.key > last.key]
        left[last.touchpoint] = left.get(last.touchpoint, 0) + 1
        value = later[0].touchpoint if later else NO_FURTHER
        nexts[value] = nexts.get(value, 0) + 1
    return left, nexts


_CON = duckdb.connect()


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(events=complete_logs(), steps=st.permutations(["A", "B", "C"]).map(list),
       window=st.one_of(st.none(), st.integers(0, 6)), kept=st.sampled_from([None, "web", "store"]),
       span=st.one_of(st.none(), st.tuples(st.integers(0, 4), st.integers(5, 11))))
def test_random_tie_heavy_logs_agree_with_the_reference(events, steps, window, kept, span):
    make_events_table(_CON, [dict(_row=e.row, customer_id=e.customer, ts=e.t, stage=e.stage,
                                  channel=e.channel, touchpoint=e.touchpoint) for e in events], table="ev",
                      timelines=("stage",))
    build_timeline(_CON, "ev", "touchpoint", also=["stage"])
    # the filter bar's channel and date range (start inclusive, end exclusive)
    seen = [e for e in events if (kept is None or e.channel == kept)
            and (span is None or span[0] <= e.t < span[1])]
    event_filter = EventFilter.build(start=None if span is None else at(span[0]),
                                     end=None if span is None else at(span[1]),
                                     equals={"channel": [kept]} if kept else None)
    options = dict(_options("ordered", window, (None, None)), event_filter=event_filter)
    for j in (1, 2):
        with mock.patch.object(dropoffs, "lanes_cte", wraps=dropoffs.lanes_cte) as lanes:
            summary = funnel.dropoff_summary(_CON, "ev", steps, j, **options)
        left, nexts = _reference_summary(seen, steps, j, window)
        assert _counts(summary.left_at) == left
        assert _counts(summary.next) == nexts
        assert summary.customers == sum(left.values())
        # the timeline answered (some customers may still have been read from the events)
        assert lanes.called == (steps[j - 1] in {e.stage for e in events})
        # the same drop-outs from the whole funnel's counted attempts, found once with it
        # (funnel_with_dropoff: the Overview's journey)
        result, _, together = funnel.funnel_with_dropoff(_CON, "ev", steps, "touchpoint",
                                                         lambda found: j, **options)
        assert result == funnel.compute_funnel(_CON, "ev", steps, **options)
        assert together.to_json_dict() == summary.to_json_dict()


def test_drivers_and_drop_offs_share_one_touchpoint_timeline(tmp_path):
    # whichever asks first builds it with the step column's and the scores' lists; the
    # other finds it as it is (not rebuilt: same table object)
    from cxdata.why.drivers_lists import factor_timeline
    con = duckdb.connect(str(tmp_path / "ws.duckdb"))
    make_events_table(con, [dict(customer_id=c, ts=t, _row=r, stage=s, touchpoint=p, channel="web",
                                 csat=4 if c == "c3" else None)
                            for c, t, r, s, p in HAND], table="ev", timelines=("stage",))
    built = factor_timeline(as_engine(con, "ev"), "touchpoint")
    # (NPS and CES have no value here: no list)
    assert set(built.filters) == {"channel", "stage", "csat"}

    def oid():
        return con.execute("SELECT table_oid FROM duckdb_tables() WHERE table_name = ?",
                           [built.table]).fetchone()[0]
    before = oid()
    summary = funnel.dropoff_summary(con, "ev", ["A", "B"], 1)
    assert _counts(summary.left_at) == {"p": 2, "q": 1, "r": 1}
    assert oid() == before
