"""The findings compute their figures once and share them (cxdata.analytics.insights): the
shared figures must be exactly those of the direct queries, on the shipped sample."""
from __future__ import annotations

import pandas as pd
import pytest

from cxdata.analytics import funnel, insights, scores
from cxdata.sql import EventFilter

STAGES = ["Aware", "Consideration", "Purchase", "Retention", "Advocacy"]
FILTERS = [None, EventFilter.build(equals={"channel": ["Web", "Email"]})]


@pytest.mark.parametrize("ef", FILTERS, ids=["all", "web+email"])
def test_score_counts_give_the_direct_queries_figures(sample, ef):
    counts = insights._score_counts(sample.cursor(), "events", ef)
    assert set(counts) == {"nps", "csat", "ces"}
    for metric, by_month in counts.items():
        direct = scores.score_summary(sample.cursor(), "events", metric, event_filter=ef)
        assert scores.summarise(metric, insights._pooled(by_month)) == direct
        shared = insights._by_touchpoint(metric, by_month).sort_values(["score", "group"])
        expected = scores.scores_by(sample.cursor(), "events", metric, "touchpoint", event_filter=ef)
        pd.testing.assert_frame_equal(shared.reset_index(drop=True), expected, check_dtype=False)
        monthly = scores.response_counts(sample.cursor(), "events", metric, grain="month",
                                         event_filter=ef)
        pd.testing.assert_frame_equal(insights._summed(by_month, ["period"]), monthly,
                                      check_dtype=False)


def test_the_overview_funnel_is_used_not_computed_again(sample, monkeypatch):
    ef = FILTERS[1]
    expected = insights.dataset_insights(sample.cursor(), "events", STAGES, event_filter=ef)
    journey = funnel.compute_funnel(sample.cursor(), "events", STAGES, event_filter=ef)
    calls = []
    monkeypatch.setattr(funnel, "compute_funnel", lambda *a, **k: calls.append(a) or journey)
    given = insights.dataset_insights(sample.cursor(), "events", STAGES, event_filter=ef,
                                      journey_funnel=journey)
    assert given == expected and calls == []
    # another funnel than the journey's is not taken for it
    other = funnel.compute_funnel(sample.cursor(), "events", STAGES[:3], event_filter=ef)
    insights.dataset_insights(sample.cursor(), "events", STAGES, event_filter=ef,
                              journey_funnel=other)
    assert len(calls) == 1


def test_one_kept_channel_has_no_channel_comparison(sample):
    # With the filter keeping one channel every entry is on it: one breakdown group, so no
    # channel finding — which the findings conclude without computing the breakdown.
    ef = EventFilter.build(equals={"channel": ["Web"]})
    groups = funnel.funnel_breakdown(sample.cursor(), "events", STAGES, "channel", event_filter=ef)
    assert [name for name, _ in groups] == ["Web"]
    found = insights.dataset_insights(sample.cursor(), "events", STAGES, event_filter=ef)
    assert "channel" not in [f.kind for f in found]
    both = insights.dataset_insights(sample.cursor(), "events", STAGES, event_filter=FILTERS[1])
    assert "channel" in [f.kind for f in both]
