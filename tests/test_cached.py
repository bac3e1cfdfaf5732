"""cxdata.ui.cached: one cache entry for one question, however a page spells it."""
from __future__ import annotations

import datetime as dt

import pytest

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


@pytest.mark.parametrize("channels, per_value", [(299, True), (300, False)])
def test_counts_per_channel_only_for_a_channel_the_pickers_list_whole(
        tmp_path, monkeypatch, channels, per_value):
    """A column mapped as the channel with a value per customer would make the counts per
    channel as big as the log: with as many values as the pickers list (300) or more, the
    filter's own queries answer instead — with the same figures."""
    import streamlit as st
    import cxdata.sql
    from cxdata.analytics import insights
    from cxdata.ui.state import get_workspace
    st.cache_data.clear()
    csv = tmp_path / "wide.csv"
    csv.write_text("customer_id,timestamp,stage,channel,nps\n" + "".join(
        f"c{i},2025-01-0{1 + i % 9}T10:00:00Z,Aware,ch{i},{i % 11}\n" for i in range(channels)),
        encoding="utf-8")
    ws = get_workspace()
    ws.ingest(csv, "Wide")
    info = ws.get_dataset("Wide")
    asked = []
    own_counts, own_scores = cxdata.sql.event_counts_per, insights.score_counts
    monkeypatch.setattr(cxdata.sql, "event_counts_per",
                        lambda *a, **k: asked.append("events") or own_counts(*a, **k))
    monkeypatch.setattr(insights, "score_counts",
                        lambda *a, **k: asked.append(k.get("per")) or own_scores(*a, **k))
    kept = EventFilter.build(equals={"channel": ["ch7", "ch12"]})
    counts = cached.dataset_counts(info, kept)
    # ch7: 10 on 8 Jan, NPS 7; ch12: 10 on 4 Jan, NPS 1 (one detractor)
    assert (counts["customers"], counts["events"]) == (2, 2)
    assert (counts["first"], counts["last"]) == (dt.datetime(2025, 1, 4, 10), dt.datetime(2025, 1, 8, 10))
    nps = cached.score_counts(info, kept)["nps"]
    assert (nps["n"].sum(), nps["high"].sum(), nps["low"].sum(), nps["total"].sum()) == (2, 0, 1, 8)
    assert asked == (["events", "channel"] if per_value else [None])
