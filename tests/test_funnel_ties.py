"""Counting customers whose funnel depends on the order of same-instant events
(``funnel.tied_customers``, SPEC §7) — on the events and on the stored timeline."""
from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxdata.analytics import funnel
from cxdata.store.timelines import find_timeline
from tests.helpers_events import make_events_table

STEPS = ["Aware", "Buy"]

# (customer, seconds, stage); None = an event with no stage.
TIES = [
    ("a", 0, "Aware"), ("a", 0, "Buy"),            # two steps at one instant: tied
    ("b", 0, "Aware"), ("b", 0, "Browse"),         # a step and a non-step: tied
    ("c", 0, "Browse"), ("c", 0, "Browse"),        # two non-steps: not tied
    ("c", 5, "Aware"),
    ("d", 0, "Aware"), ("d", 0, None),             # a step and a stageless event: tied
    ("e", 0, "Browse"), ("e", 0, None),            # a non-step and a stageless event: not
    ("e", 9, "Buy"),
    ("f", 0, None), ("f", 0, None),                # two stageless events: not
    ("f", 1, "Aware"),
    ("g", 0, "Aware"), ("g", 1, "Aware"),          # no two events at one instant: not
    ("h", 3, "Buy"), ("h", 3, "Buy"), ("h", 3, None),  # three at one instant: tied once
]


def _table(rows, timeline: bool):
    con = duckdb.connect()
    make_events_table(con, [(c, s, stage) for c, s, stage in rows],
                      timelines=("stage",) if timeline else ())
    return con


@pytest.mark.parametrize("timeline", [False, True], ids=["events", "timeline"])
def test_tied_customers_counted_by_hand(timeline):
    con = _table(TIES, timeline)
    assert (find_timeline(con, "ev", "stage") is not None) == timeline
    assert funnel.tied_customers(con, "ev", STEPS) == 4          # a, b, d, h
    assert funnel.tied_customers(con, "ev", ["Buy"]) == 2        # a, h
    assert funnel.tied_customers(con, "ev", ["Browse"]) == 3     # b, c, e
    assert funnel.tied_customers(con, "ev", ["Nowhere"]) == 0
    con.close()


def test_without_stageless_events_the_timeline_alone_decides():
    con = _table([row for row in TIES if row[2] is not None], timeline=True)
    assert funnel.tied_customers(con, "ev", STEPS) == 3          # a, b, h
    con.close()


_events = st.lists(st.tuples(st.sampled_from("pqr"), st.integers(0, 4),
                             st.sampled_from(["Aware", "Buy", "Browse", None])), max_size=25)


@settings(max_examples=60, deadline=None)
@given(_events, st.sampled_from([STEPS, ["Buy"], ["Browse", "Aware"]]))
def test_timeline_count_equals_the_count_over_events(rows, steps):
    plain, stored = _table(rows, False), _table(rows, True)
    assert funnel.tied_customers(stored, "ev", steps) == funnel.tied_customers(plain, "ev", steps)
    plain.close()
    stored.close()
