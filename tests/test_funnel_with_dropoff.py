"""A funnel and the drop-outs after one of its steps from counted attempts found once
(cxdata.analytics.funnel.funnel_with_dropoff): the figures of compute_funnel,
funnel_breakdown and dropoff_summary asked one by one, on the shipped sample; the kept
rows do not outlive the call; an engine that keeps nothing gets the same figures."""
from __future__ import annotations

import datetime as dt

import pytest

from cxdata.analytics import funnel
from cxdata.analytics.funnel import with_dropoff
from cxdata.engines.base import Engine
from cxdata.engines.duckdb_engine import DuckDBEngine
from cxdata.sql import EventFilter

STAGES = ["Aware", "Consideration", "Purchase", "Retention", "Advocacy"]
CASES = [
    dict(),
    dict(event_filter=EventFilter.build(equals={"channel": ["Web", "Email"]})),
    dict(window_seconds=30 * 86400,
         event_filter=EventFilter.build(start=dt.datetime(2025, 3, 1), end=dt.datetime(2025, 9, 1))),
    dict(order="strict"),                                    # asked one by one
    dict(order="unordered", window_seconds=14 * 86400),      # likewise
]


def _temporary_tables(cur) -> int:
    return cur.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchone()[0]


@pytest.mark.parametrize("options", CASES, ids=["plain", "two-channels", "window-dates",
                                                "strict", "unordered"])
@pytest.mark.parametrize("breakdown", [None, "channel"])
def test_the_figures_of_the_three_questions_asked_one_by_one(sample, options, breakdown,
                                                             monkeypatch):
    cur = sample.cursor()
    asked = _count_separate_dropoffs(monkeypatch)
    expected = funnel.compute_funnel(cur, "events", STAGES, **options)
    for after in range(1, len(STAGES)):
        picked = []
        result, groups, summary = funnel.funnel_with_dropoff(
            cur, "events", STAGES, "touchpoint", lambda found: picked.append(found) or after,
            breakdown=breakdown, **options)
        # the step is chosen from the funnel just found
        assert picked == [expected] and result == expected
        if breakdown is None:
            assert groups is None
        else:
            assert groups == funnel.funnel_breakdown(cur, "events", STAGES, breakdown, **options)
        direct = funnel.dropoff_summary(cur, "events", STAGES, after, column="touchpoint", **options)
        assert summary.to_json_dict() == direct.to_json_dict()
        assert summary.customers == expected.steps[after - 1].dropped
    assert _temporary_tables(cur) == 0
    # an ordered funnel's drop-offs come from its kept counted attempts; the others'
    # need their step events' _row and are asked on their own
    ordered = options.get("order", "ordered") == "ordered"
    assert len(asked) == (0 if ordered else len(STAGES) - 1)


def _count_separate_dropoffs(monkeypatch) -> list:
    asked = []
    separate = with_dropoff.dropoff_summary
    monkeypatch.setattr(with_dropoff, "dropoff_summary",
                        lambda *a, **k: asked.append(a) or separate(*a, **k))
    return asked


def test_no_step_chosen_no_summary(sample):
    cur = sample.cursor()
    result, groups, summary = funnel.funnel_with_dropoff(cur, "events", STAGES, "touchpoint",
                                                         lambda found: None)
    assert (result.entered, groups, summary) == (5000, None, None)
    assert _temporary_tables(cur) == 0


def test_the_kept_rows_are_dropped_when_the_question_fails(sample):
    cur = sample.cursor()

    def fails(found):
        raise RuntimeError("stop")
    with pytest.raises(RuntimeError, match="stop"):
        funnel.funnel_with_dropoff(cur, "events", STAGES, "touchpoint", fails)
    assert _temporary_tables(cur) == 0
    # a step column that cannot be one: the funnel's own sentence
    with pytest.raises(ValueError):
        funnel.funnel_with_dropoff(cur, "events", STAGES, "no such column", lambda found: 1)
    assert _temporary_tables(cur) == 0


def test_an_engine_that_keeps_nothing_gets_the_same_figures(sample, monkeypatch):
    cur = sample.cursor()
    ef = EventFilter.build(equals={"channel": ["Web", "Email"]})
    kept = funnel.funnel_with_dropoff(cur, "events", STAGES, "touchpoint", lambda found: 2,
                                      breakdown="channel", event_filter=ef)
    monkeypatch.setattr(DuckDBEngine, "kept", Engine.kept)          # keeps nothing
    asked = _count_separate_dropoffs(monkeypatch)
    alone = funnel.funnel_with_dropoff(cur, "events", STAGES, "touchpoint", lambda found: 2,
                                       breakdown="channel", event_filter=ef)
    assert len(asked) == 1                                   # asked on its own
    assert alone[:2] == kept[:2]
    assert alone[2].to_json_dict() == kept[2].to_json_dict()


def _result(dropped: list[int]) -> funnel.FunnelResult:
    customers = [sum(dropped[i:]) for i in range(len(dropped))]
    steps = [funnel.FunnelStep(step=f"s{i}", customers=n, conversion_from_start=None,
                               conversion_from_previous=None, dropped=d,
                               median_seconds_from_previous=None, p90_seconds_from_previous=None,
                               mean_seconds_from_previous=None)
             for i, (n, d) in enumerate(zip(customers, dropped), start=1)]
    return funnel.FunnelResult(entered=customers[0], steps=steps)


def test_the_step_losing_most_customers_the_earlier_on_ties():
    assert funnel.most_dropped_step(_result([10, 30, 30, 0])) == 2
    assert funnel.most_dropped_step(_result([5, 1, 9, 0])) == 3
    assert funnel.most_dropped_step(_result([0, 0, 0])) == 1        # nobody drops
    assert funnel.most_dropped_step(_result([4])) == 1              # one step


def test_the_funnel_pages_funnel_and_drop_out_view(sample):
    cur = sample.cursor()
    ef = EventFilter.build(equals={"channel": ["Web", "Email"]})
    expected = funnel.compute_funnel(cur, "events", STAGES, event_filter=ef)
    biggest = funnel.most_dropped_step(expected)
    for after, shown in ((None, biggest), (3, 3), (len(STAGES), biggest), (0, biggest)):
        result, summary = funnel.funnel_and_dropoff(cur, "events", STAGES, "channel", after,
                                                    event_filter=ef)
        assert result == expected and summary.after_step == shown
        direct = funnel.dropoff_summary(cur, "events", STAGES, shown, column="channel",
                                        event_filter=ef)
        assert summary.to_json_dict() == direct.to_json_dict() and summary.column == "channel"
    # nobody entered: no view
    nobody = EventFilter.build(equals={"channel": ["No such channel"]})
    result, summary = funnel.funnel_and_dropoff(cur, "events", STAGES, "touchpoint", None,
                                                event_filter=nobody)
    assert (result.entered, summary) == (0, None)
