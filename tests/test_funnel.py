"""Hand-worked funnels (SPEC §2).  Every expected number is reasoned out in a comment.

Times in the logs are seconds after 2024-01-01 00:00 UTC (a Monday) unless a datetime
is given; ``_row`` is the position in the list + 1 unless given.
"""
from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from cxdata.analytics import funnel
from cxdata.analytics.funnel import Exclusion, compute_funnel, parse_duration
from cxdata.sql import EventFilter
from tests import helpers_events
from tests.helpers_events import at, make_events_table

HOUR, DAY = 3600, 86400


@pytest.fixture(params=["events", "timelines"])
def con(request, monkeypatch):
    """An in-memory database; every funnel test runs twice: on the events, and with the
    stored per-customer timelines the workspace builds at ingest (same answers)."""
    if request.param == "timelines":
        monkeypatch.setattr(helpers_events, "TIMELINE_COLUMNS", ("stage", "event", "touchpoint", "channel"))
    connection = duckdb.connect()
    yield connection
    connection.close()


def counts(result):
    return [s.customers for s in result.steps]


def step_named(result, index):
    return result.steps[index - 1]


# ---------------------------------------------------------------------------------------
# parse_duration

@pytest.mark.parametrize("text, seconds", [
    ("90s", 90.0), ("30m", 1800.0), ("12h", 43200.0), ("14d", 14 * 86400.0),
    ("2w", 14 * 86400.0), ("3600", 3600.0), ("1.5h", 5400.0), (" 2D ", 172800.0), ("0", 0.0),
])
def test_parse_duration_reads_units(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["none", "None", " NONE ", "", None])
def test_parse_duration_none_means_no_window(text):
    assert parse_duration(text) is None


@pytest.mark.parametrize("text", ["abc", "-5", "5x", "5 minutes", "1h30m", "h"])
def test_parse_duration_rejects_other_text_with_a_sentence(text):
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert text.strip() in str(info.value)
    assert str(info.value).endswith(".")


# ---------------------------------------------------------------------------------------
# Ordered

def test_ordered_counts_conversions_and_times(con):
    make_events_table(con, [
        ("c1", 0, "A"), ("c1", 10, "B"), ("c1", 30, "C"),   # depth 3: A→B 10 s, B→C 20 s
        ("c2", 0, "A"), ("c2", 20, "B"),                    # depth 2: A→B 20 s
        ("c3", 5, "A"),                                     # depth 1
        ("c4", 0, "B"), ("c4", 5, "C"),                     # no A: not in the funnel
    ])
    result = compute_funnel(con, "ev", ["A", "B", "C"])
    assert result.entered == 3
    assert counts(result) == [3, 2, 1]
    a, b, c = result.steps
    assert (a.conversion_from_start, a.conversion_from_previous, a.dropped) == (1.0, 1.0, 1)
    # B: 2 of 3 from start and from previous; 2 − 1 dropped before C
    assert b.conversion_from_start == pytest.approx(2 / 3)
    assert b.conversion_from_previous == pytest.approx(2 / 3)
    assert b.dropped == 1
    # C: 1 of 3 from start, 1 of 2 from B; the last step drops nobody
    assert c.conversion_from_start == pytest.approx(1 / 3)
    assert c.conversion_from_previous == pytest.approx(1 / 2)
    assert c.dropped == 0
    # A→B times 10 and 20: median 15, mean 15, p90 = 10 + 0.9·(20 − 10) = 19
    assert a.median_seconds_from_previous is None
    assert (b.median_seconds_from_previous, b.mean_seconds_from_previous) == (15.0, 15.0)
    assert b.p90_seconds_from_previous == pytest.approx(19.0)
    # B→C: only c1, 20 s
    assert (c.median_seconds_from_previous, c.p90_seconds_from_previous,
            c.mean_seconds_from_previous) == (20.0, 20.0, 20.0)


def test_window_is_inclusive_to_the_second(con):
    make_events_table(con, [
        ("c1", 0, "A"), ("c1", HOUR, "B"),         # exactly W after A: converts
        ("c2", 0, "A"), ("c2", HOUR + 1, "B"),     # W + 1 s: does not
    ])
    result = compute_funnel(con, "ev", ["A", "B"], window_seconds=parse_duration("1h"))
    assert counts(result) == [2, 1]
    assert step_named(result, 2).median_seconds_from_previous == 3600.0
    # without a window both convert
    assert counts(compute_funnel(con, "ev", ["A", "B"])) == [2, 2]


def test_window_counts_from_the_first_step_not_the_previous(con):
    # A@0, B@60, C@120 with W = 100: C is 120 s after A although only 60 s after B
    make_events_table(con, [("c1", 0, "A"), ("c1", 60, "B"), ("c1", 120, "C")])
    assert counts(compute_funnel(con, "ev", ["A", "B", "C"], window_seconds=100)) == [1, 1, 0]
    assert counts(compute_funnel(con, "ev", ["A", "B", "C"], window_seconds=120)) == [1, 1, 1]


def test_without_a_window_the_chain_from_the_first_entry_is_counted(con):
    make_events_table(con, [
        # c1: from A@10, the first B at or after it is B@30 (not B@5), then C@40 (not C@25)
        ("c1", 10, "A"), ("c1", 5, "B"), ("c1", 20, "A"), ("c1", 30, "B"), ("c1", 25, "C"),
        ("c1", 40, "C"),
        ("c2", 0, "B"), ("c2", 5, "A"), ("c2", 6, "C"),     # no B after A: depth 1
        ("c3", 0, "A"), ("c3", 0, "B"), ("c3", 0, "C"),     # one instant serves all three
    ])
    result = compute_funnel(con, "ev", ["A", "B", "C"])
    assert counts(result) == [3, 2, 2]
    # A→B: c1 20 s, c3 0 s; B→C: c1 10 s, c3 0 s
    assert step_named(result, 2).median_seconds_from_previous == 10.0
    assert step_named(result, 3).median_seconds_from_previous == 5.0


def test_events_before_entry_are_ignored(con):
    make_events_table(con, [
        ("c1", 0, "B"), ("c1", 10, "A"),                    # B before A: depth 1
        ("c2", 0, "B"), ("c2", 10, "A"), ("c2", 25, "B"),   # the later B counts: depth 2, 15 s
    ])
    result = compute_funnel(con, "ev", ["A", "B"])
    assert counts(result) == [2, 1]
    assert step_named(result, 2).median_seconds_from_previous == 15.0


def test_repeated_step_values_each_need_their_own_event(con):
    make_events_table(con, [
        ("c1", 0, "A"), ("c1", 5, "B"),                     # one A only: depth 1
        ("c2", 0, "A"), ("c2", 3, "A"), ("c2", 5, "B"),     # A, A, B: depth 3
        ("c3", 0, "A"), ("c3", 2, "B"), ("c3", 4, "A"),     # A, A at 4, no B after: depth 2
        ("c4", 7, "A"), ("c4", 7, "A"),                     # two A at the same instant: depth 2
    ])
    result = compute_funnel(con, "ev", ["A", "A", "B"])
    assert counts(result) == [4, 3, 1]
    # A→A: c2 3 s, c3 4 s, c4 0 s -> median 3; A→B: c2 2 s
    assert step_named(result, 2).median_seconds_from_previous == 3.0
    assert step_named(result, 3).median_seconds_from_previous == 2.0
    # A, B, A: c1 and c2 reach B (no A after it), c3 does all three (0, 2, 4), c4 has no B
    assert counts(compute_funnel(con, "ev", ["A", "B", "A"])) == [4, 3, 1]


def test_same_instant_events_may_serve_consecutive_steps_in_any_file_order(con):
    make_events_table(con, [
        {"customer_id": "c1", "ts": 5, "stage": "B", "_row": 1},
        {"customer_id": "c1", "ts": 5, "stage": "A", "_row": 2},
    ])
    # ordered: ts(A) ≤ ts(B) holds (equal), two distinct events -> depth 2, 0 s
    ordered = compute_funnel(con, "ev", ["A", "B"])
    assert counts(ordered) == [1, 1]
    assert step_named(ordered, 2).median_seconds_from_previous == 0.0
    # strict: in (ts, _row) order B comes first, and nothing follows A -> depth 1
    assert counts(compute_funnel(con, "ev", ["A", "B"], order="strict")) == [1, 0]
    assert counts(compute_funnel(con, "ev", ["A", "B"], order="unordered")) == [1, 1]


def test_counted_attempt_is_the_earliest_reaching_the_deepest_step(con):
    make_events_table(con, [
        # c1: from A@0, B@50 fits W=100 but C@250 does not (depth 2); from A@200,
        # B@210 and C@250 fit (depth 3).  Depth 3 wins: times 10 s and 40 s, entry "store".
        ("c1", 0, "A", None, None, "web"), ("c1", 50, "B"),
        ("c1", 200, "A", None, None, "store"), ("c1", 210, "B"), ("c1", 250, "C"),
        # c2: both attempts reach B (depth 2): the earliest counts, A@0 -> B@10, entry "web"
        ("c2", 0, "A", None, None, "web"), ("c2", 10, "B"),
        ("c2", 20, "A", None, None, "store"), ("c2", 30, "B"),
        # c3: entry channel missing -> "(none)"
        ("c3", 0, "A"),
    ])
    steps = ["A", "B", "C"]
    result = compute_funnel(con, "ev", steps, window_seconds=100)
    assert counts(result) == [3, 2, 1]
    # A→B: c1 10 s (from its counted attempt, not 50 s), c2 10 s; B→C: c1 40 s
    assert step_named(result, 2).mean_seconds_from_previous == 10.0
    assert step_named(result, 3).mean_seconds_from_previous == 40.0
    groups = funnel.funnel_breakdown(con, "ev", steps, "channel", window_seconds=100)
    # one customer each; ties in size are sorted by name
    assert [g for g, _ in groups] == ["(none)", "store", "web"]
    by_group = dict(groups)
    assert counts(by_group["store"]) == [1, 1, 1]
    assert counts(by_group["web"]) == [1, 1, 0]
    assert counts(by_group["(none)"]) == [1, 0, 0]
    assert by_group["web"].entered == 1


def test_breakdown_groups_sorted_by_customers_entered(con):
    make_events_table(con, [
        ("c1", 0, "A", None, None, "web"), ("c1", 1, "B"),
        ("c2", 0, "A", None, None, "web"),
        ("c3", 0, "A", None, None, "app"), ("c3", 1, "B"),
        ("c4", 0, "B", None, None, "zzz"),    # never entered: no group "zzz"
    ])
    groups = funnel.funnel_breakdown(con, "ev", ["A", "B"], "channel")
    assert [(g, r.entered, counts(r)) for g, r in groups] == [
        ("web", 2, [2, 1]), ("app", 1, [1, 1])]


def test_breakdown_of_step_1_events_at_one_instant_takes_the_first_in_the_file(con):
    make_events_table(con, [
        # c1: two A at 0 s, "store" first in the file: its entry channel is "store"
        {"customer_id": "c1", "ts": at(0), "stage": "A", "channel": "store", "_row": 1},
        {"customer_id": "c1", "ts": at(0), "stage": "A", "channel": "web", "_row": 2},
        {"customer_id": "c1", "ts": at(5), "stage": "B", "_row": 3},
        # c2: the same, the other way round in the file: "web"
        {"customer_id": "c2", "ts": at(0), "stage": "A", "channel": "store", "_row": 5},
        {"customer_id": "c2", "ts": at(0), "stage": "A", "channel": "web", "_row": 4},
        # c3: two A at 0 s that agree on "app"; c4: A at 0 s without a channel, then "web"
        {"customer_id": "c3", "ts": at(0), "stage": "A", "channel": "app", "_row": 6},
        {"customer_id": "c3", "ts": at(0), "stage": "A", "channel": "app", "_row": 7},
        {"customer_id": "c4", "ts": at(0), "stage": "A", "_row": 8},
        {"customer_id": "c4", "ts": at(9), "stage": "A", "channel": "web", "_row": 9},
    ])
    groups = funnel.funnel_breakdown(con, "ev", ["A", "B"], "channel")
    assert [(g, r.entered, counts(r)) for g, r in groups] == [
        ("(none)", 1, [1, 0]), ("app", 1, [1, 0]), ("store", 1, [1, 1]), ("web", 1, [1, 0])]
    # With "store" filtered out, c1 and c2 enter on the web; c4 has only its web A left.
    web_app = EventFilter.build(equals={"channel": ["web", "app"]})
    groups = funnel.funnel_breakdown(con, "ev", ["A", "B"], "channel", event_filter=web_app)
    assert [(g, r.entered) for g, r in groups] == [("web", 3), ("app", 1)]


# ---------------------------------------------------------------------------------------
# Strict and unordered

def test_strict_is_broken_by_any_other_event(con):
    make_events_table(con, [
        ("c1", 0, "A"), ("c1", 1, "X"), ("c1", 2, "B"),                # X between: depth 1
        ("c2", 0, "A"), ("c2", 1, None, "page view"), ("c2", 2, "B"),  # no stage, still breaks it
        ("c3", 0, "A"), ("c3", 1, "B"),                                # depth 2, 1 s
        # A@0 is followed by another A: the attempt from A@5 counts, 2 s
        ("c4", 0, "A"), ("c4", 5, "A"), ("c4", 7, "B"),
    ])
    strict = compute_funnel(con, "ev", ["A", "B"], order="strict")
    assert counts(strict) == [4, 2]
    # c3 1 s, c4 2 s
    assert step_named(strict, 2).mean_seconds_from_previous == 1.5
    # ordered ignores the events in between: all four reach B
    assert counts(compute_funnel(con, "ev", ["A", "B"])) == [4, 4]


def test_strict_respects_the_window(con):
    make_events_table(con, [("c1", 0, "A"), ("c1", 11, "B")])
    assert counts(compute_funnel(con, "ev", ["A", "B"], order="strict", window_seconds=10)) == [1, 0]
    assert counts(compute_funnel(con, "ev", ["A", "B"], order="strict", window_seconds=11)) == [1, 1]


def test_unordered_counts_steps_matched_inside_one_window(con):
    make_events_table(con, [
        ("c1", 0, "C"), ("c1", 1, "B"), ("c1", 2, "A"),   # all three within 10 s: 3 steps
        ("c2", 0, "B"), ("c2", 1, "B"),                   # B twice is still one step
        ("c3", 0, "A"), ("c3", 20, "C"),                  # 20 s apart, W = 10: 1 step
        ("c4", 0, "X"),                                   # no step value: not in the funnel
    ])
    result = compute_funnel(con, "ev", ["A", "B", "C"], order="unordered", window_seconds=10)
    assert [s.step for s in result.steps] == ["completed 1 step", "completed 2 steps",
                                             "completed 3 steps"]
    assert result.entered == 3
    assert counts(result) == [3, 1, 1]
    # c1 completes 1 step at 0 (C), 2 at 1 (B), 3 at 2 (A): 1 s each
    assert step_named(result, 2).median_seconds_from_previous == 1.0
    assert step_named(result, 3).median_seconds_from_previous == 1.0
    # without a window c3 completes two steps
    assert counts(compute_funnel(con, "ev", ["A", "B", "C"], order="unordered")) == [3, 2, 1]


def test_unordered_counts_the_earliest_window_reaching_the_most_steps(con):
    make_events_table(con, [
        # W = 5: from A@0 only A fits (1 step); from B@20, B and C@21 fit (2 steps);
        # from C@21, 1 step.  The window of B@20 counts: 1 s from 1 to 2 steps, entry "app"
        ("c1", 0, "A", None, None, "web"), ("c1", 20, "B", None, None, "app"),
        ("c1", 21, "C", None, None, "web"),
    ])
    steps = ["A", "B", "C"]
    result = compute_funnel(con, "ev", steps, order="unordered", window_seconds=5)
    assert counts(result) == [1, 1, 0]
    assert step_named(result, 2).median_seconds_from_previous == 1.0
    groups = funnel.funnel_breakdown(con, "ev", steps, "channel", order="unordered", window_seconds=5)
    assert [(g, counts(r)) for g, r in groups] == [("app", [1, 1, 0])]


def test_unordered_repeated_value_needs_as_many_events(con):
    make_events_table(con, [
        ("c1", 0, "A"), ("c1", 1, "B"),                   # A once: 2 of A, A, B
        ("c2", 0, "B"), ("c2", 1, "A"), ("c2", 2, "A"),   # all 3
    ])
    result = compute_funnel(con, "ev", ["A", "A", "B"], order="unordered")
    assert counts(result) == [2, 2, 1]


def test_unordered_is_never_below_ordered(con):
    make_events_table(con, [("c1", 0, "B"), ("c1", 1, "A"), ("c2", 0, "A"), ("c2", 1, "B")])
    # ordered: only c2 has A then B; unordered: both have A and B inside the window
    assert counts(compute_funnel(con, "ev", ["A", "B"], window_seconds=5)) == [2, 1]
    assert counts(compute_funnel(con, "ev", ["A", "B"], window_seconds=5, order="unordered")) == [2, 2]


# ---------------------------------------------------------------------------------------
# Options: exclusions, entry range, event filter, columns

EXCLUDE_SUPPORT = Exclusion(value="Support", column="touchpoint", after_step=1, before_step=3)


def _exclusion_log(con):
    make_events_table(con, [
        ("c1", 0, "A"), ("c1", 5, "X", None, "Support"), ("c1", 10, "B"), ("c1", 20, "C"),
        ("c2", 0, "A"), ("c2", 10, "B"), ("c2", 20, "C"), ("c2", 30, "X", None, "Support"),
        ("c3", 0, "A"), ("c3", 10, "B"), ("c3", 50, "X", None, "Support"),
        ("c4", 0, "A"), ("c4", 10, "B"), ("c4", 150, "X", None, "Support"),
        ("c5", 0, "X", None, "Support"), ("c5", 5, "A"),
    ])


def test_exclusion_removes_customers_who_did_x_between_the_steps(con):
    _exclusion_log(con)
    # W = 100.  c1: Support between A and C -> out.  c2: Support after C -> in.
    # c3: no C; Support at 50 ≤ A + W -> out.  c4: no C; Support at 150 > A + W -> in.
    # c5: Support before A -> in.  Left: c2 (depth 3), c4 (depth 2), c5 (depth 1).
    result = compute_funnel(con, "ev", ["A", "B", "C"], window_seconds=100,
                            exclusions=[EXCLUDE_SUPPORT])
    assert result.entered == 3
    assert counts(result) == [3, 2, 1]


def test_exclusion_without_window_reaches_to_the_end(con):
    _exclusion_log(con)
    # no window: c4's Support at 150 now counts (C never reached) -> c2 and c5 stay
    result = compute_funnel(con, "ev", ["A", "B", "C"], exclusions=[EXCLUDE_SUPPORT])
    assert counts(result) == [2, 1, 1]


def test_exclusion_needs_step_i_reached_and_uses_the_counted_attempt(con):
    make_events_table(con, [
        # depth 1 only: "between B and C" cannot apply
        ("c1", 0, "A"), ("c1", 5, "X", None, "Support"),
        # counted attempt A@100 -> B@110 -> C@120 (A@0 -> B@10 misses C within W=30);
        # the Support at 20 lies in the abandoned attempt only -> kept
        ("c2", 0, "A"), ("c2", 10, "B"), ("c2", 20, "X", None, "Support"),
        ("c2", 100, "A"), ("c2", 110, "B"), ("c2", 120, "C"),
    ])
    result = compute_funnel(con, "ev", ["A", "B", "C"], window_seconds=30,
                            exclusions=[Exclusion("Support", "touchpoint", 2, 3)])
    assert counts(result) == [2, 1, 1]


def test_exclusion_same_instant_uses_file_order(con):
    # X shares B's instant: after B in file order it is between B and C, before B it is not
    make_events_table(con, [
        {"customer_id": "c1", "ts": 0, "stage": "A", "_row": 1},
        {"customer_id": "c1", "ts": 10, "stage": "B", "_row": 2},
        {"customer_id": "c1", "ts": 10, "stage": "X", "_row": 3},
        {"customer_id": "c1", "ts": 20, "stage": "C", "_row": 4},
        {"customer_id": "c2", "ts": 0, "stage": "A", "_row": 5},
        {"customer_id": "c2", "ts": 10, "stage": "X", "_row": 6},
        {"customer_id": "c2", "ts": 10, "stage": "B", "_row": 7},
        {"customer_id": "c2", "ts": 20, "stage": "C", "_row": 8},
    ])
    result = compute_funnel(con, "ev", ["A", "B", "C"],
                            exclusions=[Exclusion("X", "stage", 2, 3)])
    assert result.entered == 1   # c2 only


def test_entry_date_range_selects_attempts_by_their_first_step(con):
    jan = lambda day, hour: dt.datetime(2024, 1, day, hour)  # noqa: E731
    make_events_table(con, [
        ("c1", jan(2, 10), "A"), ("c1", jan(3, 9), "B"),    # enters in range, converts after it (23 h)
        ("c2", jan(1, 10), "A"), ("c2", jan(1, 11), "B"),   # A before the range: not in the funnel
        ("c3", jan(1, 10), "A"), ("c3", jan(2, 12), "A"), ("c3", jan(2, 13), "B"),  # attempt from Jan 2: 1 h
        ("c4", jan(3, 0), "A"),                              # at the (exclusive) end: out
    ])
    result = compute_funnel(con, "ev", ["A", "B"], entry_start=dt.datetime(2024, 1, 2),
                            entry_end=dt.datetime(2024, 1, 3))
    assert counts(result) == [2, 2]
    # 23 h and 1 h: median 12 h
    assert step_named(result, 2).median_seconds_from_previous == 12 * HOUR
    # a time-zone-aware bound is converted to UTC: 2024-01-02 01:00+01:00 is Jan 2 00:00 UTC
    aware = dt.datetime(2024, 1, 2, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert counts(compute_funnel(con, "ev", ["A", "B"], entry_start=aware,
                                 entry_end=dt.datetime(2024, 1, 3))) == [2, 2]


def test_entry_date_range_in_strict_and_unordered(con):
    make_events_table(con, [("c1", 0, "A"), ("c1", 1, "B"), ("c2", 100, "A"), ("c2", 101, "B")])
    for order in ("strict", "unordered"):
        result = compute_funnel(con, "ev", ["A", "B"], order=order, entry_start=at(50))
        assert counts(result) == [1, 1], order    # only c2 enters after 50 s


def test_event_filter_applies_before_anything_else(con):
    make_events_table(con, [
        ("c1", 0, "A", None, None, "web"), ("c1", 10, "B", None, None, "store"),
        ("c2", 0, "A", None, None, "web"), ("c2", 10, "B", None, None, "web"),
        ("c3", 0, "X", None, None, "web"), ("c3", 5, "A", None, None, "store"),
    ])
    web = EventFilter.build(equals={"channel": ["web"]})
    # web events only: c1 has A (B is in the store), c2 has A and B, c3 loses its A
    result = compute_funnel(con, "ev", ["A", "B"], event_filter=web)
    assert counts(result) == [2, 1]
    # a time filter from 5 s drops the A at 0 of c1 and c2: only c3 (store A at 5) enters
    late = EventFilter(start=at(5))
    assert counts(compute_funnel(con, "ev", ["A", "B"], event_filter=late)) == [1, 0]


def test_steps_on_an_attribute_with_an_awkward_name(con):
    name = 'plan "tier"; DROP'
    make_events_table(con, [
        {"customer_id": "c1", "ts": 0, name: "free"}, {"customer_id": "c1", "ts": 5, name: "pro"},
        {"customer_id": "c2", "ts": 0, name: "free"},
    ], attributes=[name])
    result = compute_funnel(con, "ev", ["free", "pro"], by=name)
    assert counts(result) == [2, 1]
    groups = funnel.funnel_breakdown(con, "ev", ["free", "pro"], name, by=name)
    assert [(g, counts(r)) for g, r in groups] == [("free", [2, 1])]


def test_steps_on_touchpoint_and_event_columns(con):
    make_events_table(con, [("c1", 0, None, "signup", "web"), ("c1", 5, None, "buy", "shop")])
    assert counts(compute_funnel(con, "ev", ["signup", "buy"], by="event")) == [1, 1]
    assert counts(compute_funnel(con, "ev", ["web", "shop"], by="touchpoint")) == [1, 1]


# ---------------------------------------------------------------------------------------
# Trend, histogram, drop-off

def test_trend_by_week_and_month(con):
    make_events_table(con, [
        ("c1", dt.datetime(2024, 1, 1, 9), "A"), ("c1", dt.datetime(2024, 1, 1, 10), "B"),   # Mon, converts
        ("c2", dt.datetime(2024, 1, 3, 9), "A"),                                            # Wed, same week
        ("c3", dt.datetime(2024, 1, 8, 9), "A"), ("c3", dt.datetime(2024, 1, 9, 9), "B"),   # next Monday
        ("c4", dt.datetime(2024, 2, 1, 9), "A"), ("c4", dt.datetime(2024, 2, 1, 9, 5), "B"),  # Thu Feb 1
    ])
    weekly = funnel.funnel_trend(con, "ev", ["A", "B"], "week")
    assert list(weekly.columns) == ["period", "entered", "converted", "conversion", "incomplete"]
    # weeks start on Monday: Feb 1 2024 (Thursday) is in the week of Jan 29
    assert list(weekly["period"]) == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-08"),
                                      pd.Timestamp("2024-01-29")]
    assert list(weekly["entered"]) == [2, 1, 1]
    assert list(weekly["converted"]) == [1, 1, 1]
    assert list(weekly["conversion"]) == [0.5, 1.0, 1.0]
    monthly = funnel.funnel_trend(con, "ev", ["A", "B"], "month")
    assert list(monthly["period"]) == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01")]
    assert list(monthly["entered"]) == [3, 1]
    assert monthly["conversion"].tolist() == pytest.approx([2 / 3, 1.0])
    # No window: the converters took 1 h, 24 h and 5 min; 9 in 10 within the 90th
    # percentile (linear: 3,600 s + 0.8 × (86,400 − 3,600) s = 69,840 s = 19 h 24 min).
    # The week of Jan 29 ends Feb 5, after the log's end (Feb 1, 09:05): incomplete; the
    # week of Jan 8 ends Jan 15, + 19.4 h, long before it: complete.  January ends Feb 1
    # 00:00, + 19.4 h = Feb 1 19:24, after the end: incomplete too.
    assert weekly["incomplete"].tolist() == [False, False, True]
    assert monthly["incomplete"].tolist() == [True, True]
    # W = 21 days: the week of Jan 1 ends Jan 8, + 21 d = Jan 29, before the end: complete;
    # the week of Jan 8 ends Jan 15, + 21 d = Feb 5, after it: incomplete.  January ends
    # Feb 1 00:00, + 21 d = Feb 22: incomplete.
    weekly = funnel.funnel_trend(con, "ev", ["A", "B"], "week", window_seconds=21 * DAY)
    assert weekly["incomplete"].tolist() == [False, True, True]
    monthly = funnel.funnel_trend(con, "ev", ["A", "B"], "month", window_seconds=21 * DAY)
    assert monthly["incomplete"].tolist() == [True, True]


def test_with_no_window_weeks_younger_than_most_conversions_are_incomplete(con):
    # Both converters took 14 days (so 9 in 10 within 14 d).  c3 entered in the week of
    # Jan 22 and had 9 days before the log ends (Jan 31, c9's event): its week reads 0%,
    # which is not a collapse — it ends Jan 29, + 14 d = Feb 12, after the end:
    # incomplete.  The week of Jan 8 ends Jan 15, + 14 d = Jan 29, before it: complete.
    make_events_table(con, [("c1", dt.datetime(2024, 1, 1), "A"), ("c1", dt.datetime(2024, 1, 15), "B"),
                            ("c2", dt.datetime(2024, 1, 8), "A"), ("c2", dt.datetime(2024, 1, 22), "B"),
                            ("c3", dt.datetime(2024, 1, 22), "A"),
                            ("c9", dt.datetime(2024, 1, 31), "X")])
    weekly = funnel.funnel_trend(con, "ev", ["A", "B"], "week")
    assert weekly[["entered", "converted", "incomplete"]].values.tolist() == [
        [1, 1, False], [1, 1, False], [1, 0, True]]
    # nobody converted: no horizon, only the period holding the log's end could be open
    nobody = funnel.funnel_trend(con, "ev", ["A", "Z"], "week")
    assert nobody["incomplete"].tolist() == [False, False, False]


def test_a_period_whose_window_closes_exactly_at_the_end_is_complete(con):
    # The log ends at Jan 29 00:00 (a non-step event).  Week of Jan 1 ends Jan 8; with
    # W = 21 d its last entrant's window closes exactly at the end: complete.  One second
    # more and it could still convert: incomplete.
    make_events_table(con, [("c1", dt.datetime(2024, 1, 1, 9), "A"),
                            ("c9", dt.datetime(2024, 1, 29), "X")])
    exact = funnel.funnel_trend(con, "ev", ["A", "B"], "week", window_seconds=21 * DAY)
    assert exact[["entered", "converted", "incomplete"]].values.tolist() == [[1, 0, False]]
    later = funnel.funnel_trend(con, "ev", ["A", "B"], "week", window_seconds=21 * DAY + 1)
    assert later["incomplete"].tolist() == [True]


def test_trend_groups_by_the_counted_attempt_start(con):
    # A@Jan 1 misses B within 1 day; A@Jan 10 -> B@Jan 10 counts: the customer is in Jan 8's week
    make_events_table(con, [
        ("c1", dt.datetime(2024, 1, 1), "A"), ("c1", dt.datetime(2024, 1, 10), "A"),
        ("c1", dt.datetime(2024, 1, 10, 1), "B"),
    ])
    weekly = funnel.funnel_trend(con, "ev", ["A", "B"], "week", window_seconds=DAY)
    assert list(weekly["period"]) == [pd.Timestamp("2024-01-08")]
    assert list(weekly["converted"]) == [1]


def test_step_duration_histogram(con):
    make_events_table(con, [
        ("c1", 0, "A"), ("c1", 0, "B"), ("c2", 0, "A"), ("c2", 10, "B"),
        ("c3", 0, "A"), ("c3", 20, "B"), ("c4", 0, "A"), ("c4", 40, "B"), ("c5", 0, "A"),
    ])
    # A→B times 0, 10, 20, 40 in 4 bins from 0 to 40 (10 s wide); 40 falls in the last bin
    hist = funnel.step_durations_histogram(con, "ev", ["A", "B"], 2, bins=4)
    assert list(hist.columns) == ["bin_start_seconds", "bin_end_seconds", "customers"]
    assert hist["bin_start_seconds"].tolist() == [0.0, 10.0, 20.0, 30.0]
    assert hist["bin_end_seconds"].tolist() == [10.0, 20.0, 30.0, 40.0]
    assert hist["customers"].tolist() == [1, 1, 1, 1]
    assert hist["customers"].sum() == 4   # c5 never reached B


def test_step_duration_histogram_with_one_value_and_with_none(con):
    make_events_table(con, [("c1", 0, "A"), ("c1", 7, "B"), ("c2", 0, "A"), ("c2", 7, "B"),
                            ("c3", 0, "A")])
    hist = funnel.step_durations_histogram(con, "ev", ["A", "B"], 2, bins=5)
    assert hist.values.tolist() == [[7.0, 7.0, 2]]
    empty = funnel.step_durations_histogram(con, "ev", ["A", "C"], 2)
    assert empty.empty and list(empty.columns) == ["bin_start_seconds", "bin_end_seconds", "customers"]


def _dropoff_log(con):
    make_events_table(con, [
        # c1 has two B touchpoints (10 s: b-web, 15 s: b-app), then three more events
        {"customer_id": "c1", "ts": 0, "stage": "A"},
        {"customer_id": "c1", "ts": 10, "stage": "B", "touchpoint": "b-web"},
        {"customer_id": "c1", "ts": 15, "stage": "B", "touchpoint": "b-app"},
        {"customer_id": "c1", "ts": 20, "touchpoint": "faq"},
        {"customer_id": "c1", "ts": 30, "touchpoint": "call"},
        {"customer_id": "c1", "ts": 40, "touchpoint": "web"},
        {"customer_id": "c1", "ts": 50, "touchpoint": "shop"},     # the log's last instant
        {"customer_id": "c2", "ts": 0, "stage": "A"}, {"customer_id": "c2", "ts": 10, "stage": "B"},
        {"customer_id": "c2", "ts": 20, "stage": "C"},
        {"customer_id": "c3", "ts": 0, "stage": "A"}, {"customer_id": "c3", "ts": 10, "stage": "B"},
        # c4: "mail" shares B's instant but comes first in the file -> not after B; "chat"
        # comes after B in the file -> the next event; then an event without a touchpoint
        {"customer_id": "c4", "ts": 0, "stage": "A"},
        {"customer_id": "c4", "ts": 10, "touchpoint": "mail", "_row": 100},
        {"customer_id": "c4", "ts": 10, "stage": "B", "_row": 101},
        {"customer_id": "c4", "ts": 10, "touchpoint": "chat", "_row": 102},
        {"customer_id": "c4", "ts": 11, "_row": 103},
    ])


def _rows(frame):
    return frame.astype(object).where(frame.notna(), None).values.tolist()


def test_dropoff_customers_list_where_they_left_and_what_they_did_next(con):
    _dropoff_log(con)
    frame = funnel.dropoff_customers(con, "ev", ["A", "B", "C"], 2, column="touchpoint")
    assert list(frame.columns) == ["customer_id", "step_time", "left_at", "left_time",
                                   "in_progress", "next_1", "next_2", "next_3"]
    t10, t15 = pd.Timestamp(at(10)), pd.Timestamp(at(15))
    assert _rows(frame) == [
        # c1 entered B at b-web but LEFT at b-app, its last B event; next: three events
        ["c1", t10, "b-app", t15, False, "faq", "call", "web"],
        ["c3", t10, "(none)", t10, False, None, None, None],        # nothing after B
        ["c4", t10, "(none)", t10, False, "chat", "(none)", None],  # empty touchpoint: "(none)"
    ]
    # default column = the step column; a limit caps the rows
    short = funnel.dropoff_customers(con, "ev", ["A", "B", "C"], 2, next_events=1, limit=1)
    assert _rows(short) == [["c1", t10, "B", t15, False, "(none)"]]


def test_where_they_left_stays_inside_the_window(con):
    _dropoff_log(con)
    # W = 12 s: c1's b-app (15 s) lies outside its attempt (0 + 12): it left at b-web and
    # b-app is what it did next.  c2's C (20 s) is too late too: c2 drops out after B.
    frame = funnel.dropoff_customers(con, "ev", ["A", "B", "C"], 2, column="touchpoint",
                                     window_seconds=12)
    t10 = pd.Timestamp(at(10))
    assert _rows(frame) == [
        ["c1", t10, "b-web", t10, False, "b-app", "faq", "call"],
        ["c2", t10, "(none)", t10, False, "(none)", None, None],
        ["c3", t10, "(none)", t10, False, None, None, None],
        ["c4", t10, "(none)", t10, False, "chat", "(none)", None],
    ]
    summary = funnel.dropoff_summary(con, "ev", ["A", "B", "C"], 2, window_seconds=12)
    assert (summary.after_step, summary.customers, summary.in_progress) == (2, 4, 0)
    assert summary.left_at.values.tolist() == [["(none)", 3, 0.75], ["b-web", 1, 0.25]]
    assert summary.next.values.tolist() == [["(no further events)", 1, 0.25], ["(none)", 1, 0.25],
                                            ["b-app", 1, 0.25], ["chat", 1, 0.25]]


def test_dropouts_whose_window_is_still_open_are_in_progress(con):
    _dropoff_log(con)
    # The log ends at 50 s.  W = 50: every attempt started at 0 and 0 + 50 is not after
    # the end: nobody in progress.  W = 51: all three drop-outs are (c2 converted).
    closed = funnel.dropoff_summary(con, "ev", ["A", "B", "C"], 2, window_seconds=50)
    assert (closed.customers, closed.in_progress) == (3, 0)
    open_ = funnel.dropoff_summary(con, "ev", ["A", "B", "C"], 2, window_seconds=51)
    assert (open_.customers, open_.in_progress) == (3, 3)
    listed = funnel.dropoff_customers(con, "ev", ["A", "B", "C"], 2, window_seconds=51)
    assert listed["in_progress"].tolist() == [True, True, True]
    # A date filter ending at 40 s ends the log there (the view stops): W = 45 is open.
    ends_early = EventFilter(end=at(40))
    cut = funnel.dropoff_summary(con, "ev", ["A", "B", "C"], 2, window_seconds=45,
                                 event_filter=ends_early)
    assert (cut.customers, cut.in_progress) == (3, 3)


def test_dropoff_summary_shares_and_json(con):
    _dropoff_log(con)
    summary = funnel.dropoff_summary(con, "ev", ["A", "B", "C"], 2)
    # three drop-outs: c1 left at b-app then faq; c3 and c4 left at an empty touchpoint,
    # then nothing / chat
    assert summary.left_at.values.tolist() == [["(none)", 2, pytest.approx(2 / 3)],
                                               ["b-app", 1, pytest.approx(1 / 3)]]
    assert summary.next.values.tolist() == [["(no further events)", 1, pytest.approx(1 / 3)],
                                            ["chat", 1, pytest.approx(1 / 3)],
                                            ["faq", 1, pytest.approx(1 / 3)]]
    assert summary.to_json_dict()["left_at"][1] == {"value": "b-app", "customers": 1,
                                                    "share": pytest.approx(1 / 3)}
    # after step 1 nobody dropped (all reached B): empty tables, no error
    nobody = funnel.dropoff_summary(con, "ev", ["A", "B", "C"], 1)
    assert (nobody.customers, nobody.in_progress) == (0, 0)
    assert nobody.left_at.empty and nobody.next.empty


# ---------------------------------------------------------------------------------------
# Shapes and errors

def test_result_frame_and_json_shapes(con):
    make_events_table(con, [("c1", 0, "A"), ("c1", 4, "B"), ("c2", 0, "A")])
    result = compute_funnel(con, "ev", ["A", "B"])
    frame = result.to_frame()
    assert list(frame.columns) == ["step_index", "step", "customers", "conversion_from_start",
                                   "conversion_from_previous", "dropped",
                                   "median_seconds_from_previous", "p90_seconds_from_previous",
                                   "mean_seconds_from_previous"]
    assert frame["step_index"].tolist() == [1, 2]
    assert result.to_json_dict() == {"entered": 2, "steps": [
        {"step": "A", "customers": 2, "conversion_from_start": 1.0, "conversion_from_previous": 1.0,
         "dropped": 1, "median_seconds_from_previous": None},
        {"step": "B", "customers": 1, "conversion_from_start": 0.5, "conversion_from_previous": 0.5,
         "dropped": 0, "median_seconds_from_previous": 4.0}]}


def test_nobody_entered_gives_no_conversions_not_errors(con):
    make_events_table(con, [("c1", 0, "X")])   # no step value at all, in any mode
    for order in funnel.ORDER_MODES:
        result = compute_funnel(con, "ev", ["A", "B"], order=order)
        assert result.entered == 0
        # nothing to divide by: no conversion (null in JSON), never 0 (SPEC §6)
        assert [(s.customers, s.conversion_from_start, s.conversion_from_previous,
                 s.median_seconds_from_previous) for s in result.steps] == [
            (0, None, None, None), (0, None, None, None)]
        assert result.to_json_dict()["steps"][1]["conversion_from_start"] is None


def test_a_step_nobody_reached_has_no_conversion_to_the_next(con):
    # A entered by c1; nobody reached B: B's conversion from A is 0, C's from B is none.
    make_events_table(con, [("c1", 0, "A")])
    steps = compute_funnel(con, "ev", ["A", "B", "C"]).steps
    assert [s.conversion_from_previous for s in steps] == [1.0, 0.0, None]
    assert [s.conversion_from_start for s in steps] == [1.0, 0.0, 0.0]


def test_single_step_funnel(con):
    make_events_table(con, [("c1", 0, "A"), ("c1", 5, "A"), ("c2", 0, "B")])
    for order in funnel.ORDER_MODES:
        assert counts(compute_funnel(con, "ev", ["A"], order=order)) == [1]


@pytest.mark.parametrize("call, message", [
    (lambda c: compute_funnel(c, "ev", []), "at least one step"),
    (lambda c: compute_funnel(c, "ev", ["A"], order="sideways"), "sideways"),
    (lambda c: compute_funnel(c, "ev", ["A"], by="nope"), "nope"),
    (lambda c: compute_funnel(c, "ev", ["A"], window_seconds=-1), "window"),
    (lambda c: compute_funnel(c, "ev", ["A", "B"], exclusions=[Exclusion("X", "stage", 2, 2)]), "exclusion"),
    (lambda c: compute_funnel(c, "ev", ["A", "B"], exclusions=[Exclusion("X", "nope", 1, 2)]), "nope"),
    (lambda c: funnel.funnel_breakdown(c, "ev", ["A"], "nope"), "nope"),
    (lambda c: funnel.funnel_trend(c, "ev", ["A"], "day"), "day"),
    (lambda c: funnel.step_durations_histogram(c, "ev", ["A", "B"], 1), "steps 2"),
    (lambda c: funnel.dropoff_customers(c, "ev", ["A", "B"], 2), "after steps 1"),
    (lambda c: funnel.dropoff_summary(c, "ev", ["A", "B"], 0), "after steps 1"),
])
def test_unusable_parameters_raise_a_plain_sentence(con, call, message):
    make_events_table(con, [("c1", 0, "A")])
    with pytest.raises(ValueError) as info:
        call(con)
    assert message in str(info.value)


# ---------------------------------------------------------------------------------------
# A first funnel for logs without stages

def test_suggest_steps_follows_the_common_path_not_the_alternatives(con):
    # Five customers (event column).  First occurrences:
    #   c1: ad_a → view → cart → pay      c2: ad_b → view → cart
    #   c3: ad_a → view                   c4: ad_a → help (rare) → view
    #   c5: ad_b → view → pay (no cart)
    # Customers per value: view 5, ad_a 3, ad_b 2, cart 2, pay 2, help 1 (all ≥ 20% of 5
    # = 1, so all are candidates).  Met first: ad_a by 3, ad_b by 2 → ad_a is step 1.
    # After ad_a: view 3 (c1, c3, c4), cart 1, pay 1, help 1 → view.  ad_b is never met
    # after ad_a (an alternative), so it is not a step.
    # After view: cart 2 (c1, c2), pay 2 (c1, c5) → tie: cart is usually met earlier
    # (mean rank of first occurrence: cart 3, pay (4 + 3) / 2 = 3.5) → cart.
    # After cart: pay 1 (c1) ≥ 20% of cart's 2 customers → pay.  After pay: nothing.
    rows = [("c1", 0, None, "ad_a"), ("c1", 10, None, "view"), ("c1", 20, None, "cart"),
            ("c1", 30, None, "pay"),
            ("c2", 0, None, "ad_b"), ("c2", 10, None, "view"), ("c2", 20, None, "cart"),
            ("c3", 0, None, "ad_a"), ("c3", 10, None, "view"), ("c3", 20, None, "ad_a"),
            ("c4", 0, None, "ad_a"), ("c4", 5, None, "help"), ("c4", 10, None, "view"),
            ("c5", 0, None, "ad_b"), ("c5", 10, None, "view"), ("c5", 20, None, "pay")]
    make_events_table(con, rows)
    assert funnel.suggest_steps(con, "ev", "event") == ["ad_a", "view", "cart", "pay"]
    assert funnel.suggest_steps(con, "ev", "event", max_steps=2) == ["ad_a", "view"]
    # Values met by at least 70% of the customers (≥ 3.5): view alone → no funnel.
    assert funnel.suggest_steps(con, "ev", "event", min_share=0.7) == []
    # The event filter applies first.  With c2 and c5 only: ad_b → view; after view cart
    # (c2) and pay (c5) tie on 1 customer and on usual position (rank 3) → by name: cart.
    only_b = EventFilter.build(equals={"customer_id": ["c2", "c5"]})
    assert funnel.suggest_steps(con, "ev", "event", event_filter=only_b) == ["ad_b", "view", "cart"]
