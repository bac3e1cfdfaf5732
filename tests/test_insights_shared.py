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
    counts = insights.score_counts(sample.cursor(), "events", ef)
    assert set(counts) == {"nps", "csat", "ces"}
    overall = insights.overall_scores(counts)
    for metric, by_month in counts.items():
        direct = scores.score_summary(sample.cursor(), "events", metric, event_filter=ef)
        assert overall[metric] == direct and direct.n > 0
        shared = insights._by_touchpoint(metric, by_month).sort_values(["score", "group"])
        expected = scores.scores_by(sample.cursor(), "events", metric, "touchpoint", event_filter=ef)
        pd.testing.assert_frame_equal(shared.reset_index(drop=True), expected, check_dtype=False)
        monthly = scores.response_counts(sample.cursor(), "events", metric, grain="month",
                                         event_filter=ef)
        pd.testing.assert_frame_equal(insights.summed_responses(by_month, ["period"]), monthly,
                                      check_dtype=False)


def test_a_metric_without_responses_has_no_score():
    # (as score_summary says of it: n = 0, no score, no interval)
    import math
    nps = insights.overall_scores({})["nps"]
    assert nps.n == 0 and math.isnan(nps.score) and math.isnan(nps.ci_low)


def test_given_score_counts_are_used_not_counted_again(sample, monkeypatch):
    ef = FILTERS[1]
    expected = insights.dataset_insights(sample.cursor(), "events", STAGES, event_filter=ef)
    counts = insights.score_counts(sample.cursor(), "events", ef)
    journey = insights.compute_journey(sample.cursor(), "events", STAGES, ef)
    asked = []
    monkeypatch.setattr(insights, "responses_by_metric", lambda *a, **k: asked.append(a))
    assert insights.dataset_insights(sample.cursor(), "events", STAGES, event_filter=ef,
                                     journey=journey, counts=counts) == expected
    assert asked == []


def test_the_overview_journey_is_used_not_computed_again(sample, monkeypatch):
    ef = FILTERS[1]
    expected = insights.dataset_insights(sample.cursor(), "events", STAGES, event_filter=ef)
    journey = insights.compute_journey(sample.cursor(), "events", STAGES, ef)
    calls = []

    def counting(function):
        return lambda *a, **k: calls.append(a) or function(*a, **k)

    for name in ("compute_funnel", "funnel_and_breakdown", "funnel_breakdown",
                 "funnel_with_dropoff", "dropoff_summary"):
        monkeypatch.setattr(funnel, name, counting(getattr(funnel, name)))
    # nor are its steps looked for again (a pass over the events)
    monkeypatch.setattr(insights, "journey_funnel_steps",
                        counting(insights.journey_funnel_steps))
    given = insights.dataset_insights(sample.cursor(), "events", STAGES, event_filter=ef,
                                      journey=journey)
    assert given == expected and calls == []
    # another funnel than the journey's is not taken for it: computed, in one query
    other = insights.Journey("stage", STAGES[:3], journey.funnel, journey.channels, ef)
    again = insights.dataset_insights(sample.cursor(), "events", STAGES, event_filter=ef,
                                      journey=other)
    assert again == expected and len(calls) == 2      # its steps, then the funnel
    # nor is the journey of another filter
    web = insights.compute_journey(sample.cursor(), "events", STAGES,
                                   EventFilter.build(equals={"channel": ["Web"]}))
    calls.clear()
    again = insights.dataset_insights(sample.cursor(), "events", STAGES, event_filter=ef,
                                      journey=web)
    assert again == expected and len(calls) == 2


def test_the_journey_and_its_channels_come_from_one_query(sample):
    # compute_funnel, funnel_breakdown and dropoff_summary's figures, from one set of
    # counted attempts (funnel_with_dropoff)
    cur = sample.cursor()
    for ef in FILTERS:
        journey = insights.compute_journey(cur, "events", STAGES, ef)
        assert journey.funnel == funnel.compute_funnel(cur, "events", STAGES, event_filter=ef)
        # the channels' customers and conversions (the finding compares those), not
        # their times between steps
        assert _counts(journey.channels) == _counts(
            funnel.funnel_breakdown(cur, "events", STAGES, "channel", event_filter=ef))
        assert all(s.median_seconds_from_previous is None and s.mean_seconds_from_previous is None
                   for _, r in journey.channels for s in r.steps)
        assert sum(r.entered for _, r in journey.channels) == journey.funnel.entered
        steps, after, options = insights.dropoff_question(cur, "events", journey, ef)
        direct = funnel.dropoff_summary(cur, "events", steps, after, **options)
        assert journey.dropoff.to_json_dict() == direct.to_json_dict()
        assert journey.dropoff.customers == journey.funnel.steps[after - 1].dropped > 0
    for options in (dict(order="strict", window_seconds=30 * 86400),
                    dict(order="unordered", window_seconds=14 * 86400, event_filter=FILTERS[1])):
        overall, groups = funnel.funnel_and_breakdown(cur, "events", STAGES, "channel", **options)
        assert overall == funnel.compute_funnel(cur, "events", STAGES, **options)
        assert sum(r.entered for _, r in groups) == overall.entered
        # without the groups' times: the same funnel and the same groups' counts
        quick, counted = funnel.funnel_and_breakdown(cur, "events", STAGES, "channel",
                                                     group_times=False, **options)
        assert quick == overall and _counts(counted) == _counts(groups)
        assert any(s.median_seconds_from_previous is not None for _, r in groups for s in r.steps)
        assert all(s.p90_seconds_from_previous is None for _, r in counted for s in r.steps)
    web = insights.compute_journey(cur, "events", STAGES, EventFilter.build(equals={"channel": ["Web"]}))
    assert web.channels is None           # one channel kept: nothing to compare


def _counts(groups) -> list:
    return [(name, r.entered, [(s.step, s.customers, s.conversion_from_start,
                                s.conversion_from_previous, s.dropped) for s in r.steps])
            for name, r in groups]


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
