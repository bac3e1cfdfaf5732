"""cxdata.ui.cached: one cache entry for one question, however a page spells it."""
from __future__ import annotations

import datetime as dt

from cxdata.sql import EventFilter
from cxdata.ui import cached


def test_funnel_options_at_their_default_are_left_out():
    web = EventFilter.build(equals={"channel": ["Web"]})
    # the Funnel page spells every option; the Overview only the filter: the same question
    page = dict(by="stage", window_seconds=None, order="ordered", event_filter=web,
                entry_start=None, entry_end=None)
    assert cached._funnel_options(page) == {"event_filter": web}
    assert cached._funnel_options(dict(by="stage", event_filter=web)) == {"event_filter": web}
    # other values are other questions, kept; a window of 0 s is not "no window"
    start = dt.datetime(2025, 3, 1)
    other = dict(by="event", window_seconds=0, order="strict", entry_start=start,
                 exclusions=(("x",),))
    assert cached._funnel_options(other) == other
    assert cached._funnel_options(dict(window_seconds=0.0)) == {"window_seconds": 0.0}
    assert cached._funnel_options({}) == {}
