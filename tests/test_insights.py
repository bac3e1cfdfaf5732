"""Tests for cxdata.analytics.insights: findings appear exactly when the data supports them.

Each scenario is built so that the expected figures can be worked out by hand (see the
comments); the other findings must stay absent.
"""
from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest

from cxdata.analytics.insights import Insight, _value_text, dataset_insights
from cxdata.sql import EventFilter
from tests.helpers_events import make_events_table as make_table

STAGES = ["Aware", "Consideration", "Purchase"]


@pytest.fixture()
def con():
    connection = duckdb.connect()
    connection.execute("SET TimeZone='UTC'")
    yield connection
    connection.close()


def ev(customer, day, stage=None, touchpoint=None, month=1, **extra):
    return dict(customer_id=customer, ts=dt.datetime(2024, month, day, 10), stage=stage,
                touchpoint=touchpoint, **extra)


def funnel_rows(web_purchases=60, phone_purchases=20):
    """100 Web and 100 Phone customers, all Aware (day 1); the first 80 of each reach
    Consideration (day 2); the first ``web_purchases`` / ``phone_purchases`` reach Purchase
    (day 3).  Phone customers who stop at Consideration also visit a store later that day
    (a second Consideration touchpoint), then call support (day 4, no stage)."""
    rows = []
    for channel, purchases in (("Web", web_purchases), ("Phone", phone_purchases)):
        for i in range(100):
            cid = f"{channel}{i}"
            rows.append(ev(cid, 1, "Aware", "Ad", channel=channel))
            if i < 80:
                rows.append(ev(cid, 2, "Consideration", "Web page", channel=channel))
            if i < purchases:
                rows.append(ev(cid, 3, "Purchase", "Checkout", channel=channel))
            elif i < 80 and channel == "Phone":
                rows.append(dict(ev(cid, 2, "Consideration", "Store visit", channel=channel),
                                 ts=dt.datetime(2024, 1, 2, 15)))
                rows.append(ev(cid, 4, None, "Support call", channel=channel))
    return rows


def _kinds(insights):
    return [i.kind for i in insights]


def test_dropoff_and_channel_findings(con):
    make_table(con, funnel_rows())
    insights = dataset_insights(con.cursor(), "ev", STAGES)
    # No scores in this log: only the funnel findings.
    assert _kinds(insights) == ["dropoff", "channel"]
    dropoff, channel = insights
    # Aware 200 -> Consideration 160 (40 lost) -> Purchase 60 + 20 = 80 (80 lost, 50% of
    # 160): the largest drop-off is Consideration -> Purchase.
    assert dropoff.title == "50% of customers who reach Consideration never reach Purchase"
    assert dropoff.evidence["reached"] == 160
    assert dropoff.evidence["dropped"] == 80
    assert dropoff.evidence["share_lost"] == pytest.approx(0.5)
    # Of the 80 drop-outs, the 60 Phone ones left at their LAST Consideration touchpoint,
    # the store visit (not the web page they entered the stage with), and called support
    # next (75%); the 20 Web ones left at the web page and did nothing more.
    assert dropoff.evidence["left_values"] == [
        {"value": "Store visit", "customers": 60, "share": 0.75},
        {"value": "Web page", "customers": 20, "share": 0.25}]
    first_next = dropoff.evidence["next_values"][0]
    assert (first_next["value"], first_next["customers"]) == ("Support call", 60)
    assert first_next["share"] == pytest.approx(0.75)
    assert ("Most left at Store visit (75% of them); afterwards their most common next "
            "touchpoint was Support call (75%).") in dropoff.detail
    assert dropoff.evidence["in_progress"] == 0    # no window: nobody is marked
    # Web converts 60/100, Phone 20/100: pooled 0.4, se = sqrt(0.4*0.6*(2/100)) = 0.069282,
    # z = 0.4/0.069282 = 5.77, p ≈ 8e-9.  Ratio 0.6/0.2 = 3.0.
    assert channel.title == ("Customers entering via Web reach Purchase 3.0× as often as via "
                             "Phone (60% vs 20%)")
    assert channel.evidence["best_converted"] == 60 and channel.evidence["worst_converted"] == 20
    assert channel.evidence["p_value"] == pytest.approx(7.8e-9, rel=0.05)


def test_the_dropoff_question_and_a_given_answer(con, monkeypatch):
    from cxdata.analytics import funnel, insights as module
    make_table(con, funnel_rows())
    journey = module.compute_journey(con.cursor(), "ev", STAGES)
    # The largest drop-off of funnel_rows is after step 2 (Consideration: 80 of 160 lost),
    # and the touchpoint column says what they did next.
    assert module.largest_drop_step(journey.funnel) == 2
    steps, after, options = module.dropoff_question(con.cursor(), "ev", journey)
    assert (steps, after) == (STAGES, 2)
    assert options == {"column": "touchpoint", "by": "stage", "event_filter": None}
    summary = funnel.dropoff_summary(con.cursor(), "ev", steps, after, **options)
    assert (summary.customers, summary.next.iloc[0]["value"]) == (80, "Support call")
    # the journey found the same summary with its funnel (one set of counted attempts)
    assert journey.dropoff.to_json_dict() == summary.to_json_dict()
    assert journey.dropoff.column == "touchpoint"
    expected = dataset_insights(con.cursor(), "ev", STAGES)
    calls = []
    monkeypatch.setattr(funnel, "dropoff_summary",
                        lambda *a, **k: calls.append(a) or summary)
    # the answer the caller has is taken as it is: no second drop-off query
    assert dataset_insights(con.cursor(), "ev", STAGES, journey=journey,
                            dropoff=summary) == expected
    assert calls == []
    # one of another step, or of another funnel (other drop-outs), is not taken for it
    other_step = funnel.DropoffSummary(1, "touchpoint", 40, 0, summary.left_at, summary.next)
    other_funnel = funnel.DropoffSummary(2, "touchpoint", 79, 0, summary.left_at, summary.next)
    for other in (other_step, other_funnel):
        dataset_insights(con.cursor(), "ev", STAGES, journey=journey, dropoff=other)
    assert len(calls) == 2
    # the journey's own summary is taken when none is given: no drop-off query either
    assert dataset_insights(con.cursor(), "ev", STAGES, journey=journey) == expected
    assert len(calls) == 2
    # nor is an answer given with a journey that is not taken (another filter's): the
    # journey computed for that filter brings its own
    web = EventFilter.build(equals={"channel": ["Web"]})
    monkeypatch.undo()
    fresh = dataset_insights(con.cursor(), "ev", STAGES, event_filter=web)
    assert dataset_insights(con.cursor(), "ev", STAGES, event_filter=web, journey=journey,
                            dropoff=summary) == fresh
    assert fresh[0].evidence != expected[0].evidence


def test_no_dropoff_question_when_nobody_drops(con):
    from cxdata.analytics import insights as module
    # three customers, each Aware on day 1 and Consideration on day 2: nobody drops
    make_table(con, [ev(f"c{i}", day, stage, "Ad") for i in range(3)
                     for day, stage in ((1, "Aware"), (2, "Consideration"))])
    journey = module.compute_journey(con.cursor(), "ev", STAGES[:2])
    assert [s.customers for s in journey.funnel.steps] == [3, 3]
    assert module.largest_drop_step(journey.funnel) is None
    assert module.dropoff_question(con.cursor(), "ev", journey) is None


def test_a_log_without_stages_gets_funnel_findings_on_its_most_common_event_path(con):
    # The same journeys with the steps in the event column and no stage column values.
    rows = [dict(r, event=r["stage"], stage=None) for r in funnel_rows()]
    make_table(con, rows)
    insights = dataset_insights(con.cursor(), "ev", [])
    assert _kinds(insights) == ["dropoff", "channel"]
    dropoff, channel = insights
    # suggest_steps: Aware is met first by all 200; after it Consideration (160) beats
    # Purchase (80); after Consideration, Purchase (80 ≥ 20% of 160).  So the figures of
    # the stage version above: 80 of 160 lost between Consideration and Purchase.
    assert dropoff.evidence["stage_order"] == STAGES and dropoff.evidence["steps_by"] == "event"
    assert dropoff.title == "50% of customers who reach Consideration never reach Purchase"
    assert "consecutive events of the most common path" in dropoff.detail
    assert channel.evidence["best_converted"] == 60 and channel.evidence["worst_converted"] == 20


def test_no_channel_finding_without_a_significant_difference(con):
    # Web 60/100 vs Phone 55/100: pooled 0.575, se = sqrt(0.575*0.425*0.02) = 0.069911,
    # z = 0.05/0.069911 = 0.72, p = 0.47 -> not significant, no channel finding.
    make_table(con, funnel_rows(web_purchases=60, phone_purchases=55))
    insights = dataset_insights(con.cursor(), "ev", STAGES)
    assert _kinds(insights) == ["dropoff"]
    # Consideration 160 -> Purchase 115: 45 lost (28%), more than Aware's 40 (200 -> 160).
    assert insights[0].title == "28% of customers who reach Consideration never reach Purchase"


def test_largest_dropoff_counts_customers_not_percent(con):
    # 200 Aware, 100 Consideration, 20 Purchase: Aware loses 100 (50%), Consideration loses
    # 80 (80%).  The largest drop-off is the larger number of customers: Aware.
    rows = []
    for i in range(200):
        rows.append(ev(f"c{i}", 1, "Aware", "Ad", channel="Web"))
        if i < 100:
            rows.append(ev(f"c{i}", 2, "Consideration", "Web page", channel="Web"))
        if i < 20:
            rows.append(ev(f"c{i}", 3, "Purchase", "Checkout", channel="Web"))
    make_table(con, rows)
    insights = dataset_insights(con.cursor(), "ev", STAGES)
    # One channel only: nothing to compare.  Drop-outs after Aware have no further events.
    assert _kinds(insights) == ["dropoff"]
    assert insights[0].title == "50% of customers who reach Aware never reach Consideration"
    assert insights[0].evidence["next_values"] == [
        {"value": "(no further events)", "customers": 100, "share": 1.0}]
    assert ("Most left at Ad (100% of them); afterwards 100% had no further interaction."
            in insights[0].detail)


def touchpoint_rows(support_responses=60, support_top=15):
    """CSAT in January only: Support call (``support_top`` of ``support_responses`` score
    5, the rest 2), Web page 120 of 160 top-2, Checkout 72 of 80 top-2."""
    rows = []
    for name, n, top in (("Support call", support_responses, support_top),
                         ("Web page", 160, 120), ("Checkout", 80, 72)):
        for i in range(n):
            rows.append(ev(f"{name}{i}", 1 + i % 28, "Aware", name, csat=5 if i < top else 2))
    return rows


def test_worst_and_best_touchpoint(con):
    make_table(con, touchpoint_rows())
    insights = dataset_insights(con.cursor(), "ev", ["Aware"])
    # Overall CSAT 207/300 = 69%.  Wilson intervals: Support call 15/60 -> 15.8…37.2 %
    # (entirely below 69), Checkout 72/80 -> 81.5…94.8 % (entirely above), Web page
    # 120/160 -> 67.8…81.1 % (contains 69, so no finding).  One month: no trend.
    assert _kinds(insights) == ["worst_touchpoint", "best_touchpoint"]
    worst, best = insights
    assert worst.title == ("Support call has the lowest satisfaction: 25% satisfied vs 69% "
                           "overall")
    assert best.title == "Checkout has the highest satisfaction: 90% satisfied vs 69% overall"
    assert worst.evidence["ci_high"] == pytest.approx(37.23, abs=0.01)
    assert best.evidence["ci_low"] == pytest.approx(81.49, abs=0.01)
    assert worst.evidence["overall_n"] == 300
    assert "44 percentage points below" in worst.detail      # 69 - 25 = 44


def test_small_touchpoints_are_not_singled_out(con):
    # Support call with only 20 responses (5 top-2) is below the 30-response minimum.
    # Overall then 197/260 = 75.8%: Web page 67.8…81.1 contains it; Checkout 81.5 > 75.8.
    make_table(con, touchpoint_rows(support_responses=20, support_top=5))
    insights = dataset_insights(con.cursor(), "ev", ["Aware"])
    assert _kinds(insights) == ["best_touchpoint"]
    assert insights[0].title == "Checkout has the highest satisfaction: 90% satisfied vs 76% overall"


def trend_rows(march_top, touchpoint="Web"):
    """CSAT: 50 responses in January (40 score 5, 10 score 1), 50 in March
    (``march_top`` score 5, the rest 1), all at ``touchpoint``."""
    rows = []
    for month, top in ((1, 40), (3, march_top)):
        for i in range(50):
            rows.append(ev(f"m{month}-{i}", 1 + i % 28, "Aware", touchpoint, month=month,
                           csat=5 if i < top else 1))
    return rows


def test_significant_decline_over_time(con):
    make_table(con, trend_rows(march_top=20))
    insights = dataset_insights(con.cursor(), "ev", ["Aware"])
    # 80% -> 40%: pooled 0.6, se = sqrt(0.24*0.04) = 0.09798, z = 4.08, p = 4.5e-5, below
    # the Bonferroni threshold 0.05/2 (overall and Web are both compared).  Their change is
    # the same size; the overall one is reported.
    assert _kinds(insights) == ["trend"]
    trend = insights[0]
    assert trend.title == "CSAT fell from 80% to 40% between Jan 2024 and Mar 2024"
    assert trend.evidence["touchpoint"] is None
    assert trend.evidence["difference"] == pytest.approx(-40.0)
    assert trend.evidence["p_value"] == pytest.approx(4.46e-5, rel=0.02)
    assert trend.evidence["tests"] == 2
    assert trend.evidence["pattern"] == "change"


def test_trend_uses_bonferroni_correction(con):
    # 80% -> 60%: p = 0.0291 (two-proportion z-test, z = 2.18).  With two comparisons
    # (overall and Web) the threshold is 0.025: no finding.
    make_table(con, trend_rows(march_top=30))
    assert dataset_insights(con.cursor(), "ev", ["Aware"]) == []


def test_trend_with_a_single_comparison(con):
    # Same numbers without touchpoints: only the overall comparison, threshold 0.05,
    # p = 0.0291 -> a finding.
    make_table(con, trend_rows(march_top=30, touchpoint=None))
    insights = dataset_insights(con.cursor(), "ev", ["Aware"])
    assert [i.title for i in insights] == ["CSAT fell from 80% to 60% between Jan 2024 and "
                                           "Mar 2024"]


def monthly_rows(top_per_month, touchpoint=None):
    """CSAT: 50 responses per month from January, ``top`` of them score 5, the rest 1."""
    rows = []
    for month, top in enumerate(top_per_month, start=1):
        for i in range(50):
            rows.append(ev(f"m{month}-{i}", 1 + i % 28, "Aware", touchpoint, month=month,
                           csat=5 if i < top else 1))
    return rows


def test_dip_over_several_months(con):
    # Jan–Jun: 80%, 80%, 20%, 20%, 80%, 80% (50 responses each).  First vs last: equal.
    # March against the other five months: 10/50 vs 170/250 (68%): pooled 0.6,
    # se = sqrt(0.24*(1/50+1/250)) = 0.0759, z = -6.3 -> far below 0.05/7 (1 first-vs-last
    # test + 6 month-vs-rest tests); April likewise; January vs the rest is above, not a
    # dip.  The run Mar–Apr (20/100 = 20%) against Jan, Feb, May, Jun (160/200 = 80%):
    # pooled 0.6, se = sqrt(0.24*(1/100+1/200)) = 0.06, z = -10.
    make_table(con, monthly_rows([40, 40, 10, 10, 40, 40]))
    insights = dataset_insights(con.cursor(), "ev", ["Aware"])
    assert _kinds(insights) == ["trend"]
    dip = insights[0]
    assert dip.title == "CSAT dipped to 20% in Mar–Apr 2024, from 80% in the other months"
    assert dip.evidence["pattern"] == "dip"
    assert dip.evidence["months_a"] == ["Mar 2024", "Apr 2024"]
    assert (dip.evidence["n_a"], dip.evidence["n_b"]) == (100, 200)
    assert dip.evidence["difference"] == pytest.approx(-60.0)
    assert dip.evidence["tests"] == 7
    assert dip.evidence["p_value"] < 1e-20


def test_no_trend_in_flat_months(con):
    # 80%, 76%, 80%, 78% of 50: the largest gap (76% vs the rest, 119/150 = 79.3%) is far
    # from significant, and first vs last (80% vs 78%) too.
    make_table(con, monthly_rows([40, 38, 40, 39]))
    assert dataset_insights(con.cursor(), "ev", ["Aware"]) == []


def test_worst_and_best_across_metrics(con):
    # CSAT as in touchpoint_rows (worst gap: Support call 69 - 25 = 44 points of 100 =
    # 0.44 of the scale; best: Checkout 90 - 69 = 21 points = 0.21).  CES on two other
    # touchpoints, 40 responses each: Sign-up form 30×1 + 10×2 (mean 1.25), Payment
    # 10×6 + 30×7 (mean 6.75); overall CES 4.0.  Sign-up form: 2.75 of 6 points = 0.458 >
    # 0.44, so it is the worst; its interval 1.25 ± t(0.975,39)·0.4385/√40 = 1.11…1.39
    # lies below 4.0.  Payment: 0.458 > 0.21, so it is the best.  Titles show one decimal:
    # 1.25 -> "1.2" and 6.75 -> "6.8" (Python rounds exact halves to even).
    rows = touchpoint_rows()
    rows += [ev(f"s{i}", 1 + i % 28, "Aware", "Sign-up form", ces=1 if i < 30 else 2)
             for i in range(40)]
    rows += [ev(f"p{i}", 1 + i % 28, "Aware", "Payment", ces=6 if i < 10 else 7)
             for i in range(40)]
    make_table(con, rows)
    insights = dataset_insights(con.cursor(), "ev", ["Aware"])
    assert _kinds(insights) == ["worst_touchpoint", "best_touchpoint"]
    worst, best = insights
    # CES with two decimals, as the score cards and charts show it
    assert worst.title == ("Sign-up form takes the most effort: CES 1.25 vs 4.00 overall "
                           "(1–7, higher = easier)")
    assert worst.evidence["metric"] == "ces"
    assert worst.evidence["ci_low"] == pytest.approx(1.11, abs=0.01)
    assert worst.evidence["ci_high"] == pytest.approx(1.39, abs=0.01)
    assert best.title == ("Payment takes the least effort: CES 6.75 vs 4.00 overall "
                          "(1–7, higher = easier)")


def test_event_filter_is_applied(con):
    make_table(con, trend_rows(march_top=20))
    # January only: one month, nothing to compare.
    january = EventFilter(end=dt.datetime(2024, 2, 1))
    assert dataset_insights(con.cursor(), "ev", ["Aware"], event_filter=january) == []


def test_nothing_to_say_about_an_empty_log(con):
    make_table(con, [])
    assert dataset_insights(con.cursor(), "ev", STAGES) == []


def test_evidence_is_json_ready(con):
    make_table(con, funnel_rows() + touchpoint_rows())
    insights = dataset_insights(con.cursor(), "ev", STAGES)
    assert 1 <= len(insights) <= 5
    for insight in insights:
        assert isinstance(insight, Insight) and insight.evidence
        json.dumps(insight.evidence)  # raises on numpy scalars or other objects


def test_value_text_units():
    assert _value_text("nps", 12.4) == "+12"
    assert _value_text("nps", -7.6) == "−8"
    assert _value_text("nps", 0.2) == "+0"          # as the score cards write it
    assert _value_text("csat", 68.6) == "69%"
    assert _value_text("ces", 4.564) == "4.56"
