"""Tests for cxdata.analytics.scores: NPS / CSAT / CES, intervals, comparisons (SPEC §4).

Every expected number is worked out by hand in the comment next to it.
"""
from __future__ import annotations

import datetime as dt
import math

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxdata.analytics.scores import (
    ResponseCounts, compare_counts, compare_groups, comments, nps_adjusted, nps_interval,
    regularized_incomplete_beta, response_counts, responses_by_metric, score_summary, scores_by, scores_matrix,
    scores_trend, summarise, t_cdf, t_interval, t_quantile, t_two_sided_p, two_proportion_test,
    wilson_interval,
)
from cxdata.sql import EventFilter
from tests.helpers_events import make_events_table as make_table

@pytest.fixture()
def con():
    connection = duckdb.connect()
    connection.execute("SET TimeZone='UTC'")
    yield connection
    connection.close()


def ts(day, month=3, hour=12):
    return dt.datetime(2024, month, day, hour)


# --------------------------------------------------------------------------------------
# Pure statistics

def test_nps_reference_values_from_spec():
    # SPEC: P=40, D=20, n=100 -> n'=103, p'=40.75/103=0.39563, d'=20.75/103=0.20146,
    # centre 0.19417; v=(0.59709-0.03770)/103=0.0054309; 1.96*sqrt(v)=0.14444
    # -> 100*(0.19417 ± 0.14444) = 4.97 … 33.86.
    centre, variance = nps_adjusted(40, 20, 100)
    assert centre == pytest.approx(0.19417, abs=1e-5)
    assert variance == pytest.approx(0.0054309, abs=1e-7)
    low, high = nps_interval(40, 20, 100)
    assert low == pytest.approx(4.97, abs=0.01)
    assert high == pytest.approx(33.86, abs=0.01)
    summary = summarise("nps", ResponseCounts(n=100, high=40, low=20))
    assert summary.score == 20.0
    assert summary.secondary is None
    assert summary.low_sample is False


def test_nps_interval_is_clipped_to_100():
    # All 10 promoters: n'=13, p'=10.75/13=0.82692, d'=0.75/13=0.05769, centre 0.76923;
    # v=(0.88462-0.59172)/13=0.022531, 1.96*sqrt(v)=0.29420 -> 47.50 … 106.3 -> clipped 100.
    low, high = nps_interval(10, 0, 10)
    assert low == pytest.approx(47.50, abs=0.01)
    assert high == 100.0


def test_wilson_interval_hand_values():
    # k=8, n=10: p=0.8, z²=3.8415, denominator 1.38415, centre (0.8+0.19207)/1.38415=0.71674,
    # half = 1.95996/1.38415*sqrt(0.016+0.0096037)=0.22657 -> 49.02 % … 94.33 %.
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(49.02, abs=0.01)
    assert high == pytest.approx(94.33, abs=0.01)
    # k=0, n=10: centre 0.19207/1.38415=0.13876 = half -> 0 % … 27.75 %.
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(27.75, abs=0.01)
    assert all(math.isnan(x) for x in wilson_interval(0, 0))


def test_t_quantile_known_values_and_closed_forms():
    # Table values quoted in every statistics textbook.
    assert t_quantile(0.975, 1) == pytest.approx(12.706, abs=5e-4)
    assert t_quantile(0.975, 9) == pytest.approx(2.262, abs=5e-4)
    assert t_quantile(0.975, 29) == pytest.approx(2.045, abs=5e-4)
    # df=1 is Cauchy: quantile tan(pi(p-1/2)); df=2: (2p-1)/sqrt(2p(1-p)).
    for p in (0.6, 0.9, 0.975, 0.999):
        assert t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-9)
        assert t_quantile(p, 2) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)),
                                                 rel=1e-9)
    # Symmetry, and the normal limit for huge df (1.95996).
    assert t_quantile(0.025, 9) == pytest.approx(-2.262, abs=5e-4)
    assert t_quantile(0.975, 1e7) == pytest.approx(1.959964, abs=1e-5)
    with pytest.raises(ValueError):
        t_quantile(1.0, 5)


def test_t_cdf_closed_forms():
    # df=1: F(t) = 1/2 + atan(t)/pi.  df=2: F(t) = 1/2 + t/(2 sqrt(2+t²)).
    for t in (-3.0, -0.5, 0.0, 0.7, 4.0, 30.0):
        assert t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)
        assert t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)
    # Two-sided p for df=1, t=1: 1 - 2*atan(1)/pi = 0.5.
    assert t_two_sided_p(1.0, 1) == pytest.approx(0.5, abs=1e-12)
    # I_x(1, 1) = x (uniform); I_x(a, 1) = x^a.
    assert regularized_incomplete_beta(0.3, 1, 1) == pytest.approx(0.3, abs=1e-12)
    assert regularized_incomplete_beta(0.6, 3.5, 1) == pytest.approx(0.6 ** 3.5, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(p=st.floats(0.001, 0.999), df=st.floats(0.5, 5000))
def test_t_quantile_inverts_cdf(p, df):
    assert t_cdf(t_quantile(p, df), df) == pytest.approx(p, abs=1e-9)


def test_t_distribution_matches_scipy_when_available():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 3, 9.5, 29, 250, 1e5):
        for p in (0.6, 0.95, 0.975, 0.9995):
            assert t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-8)
        for t in (0.3, 2.0, 6.0):
            assert t_two_sided_p(t, df) == pytest.approx(2 * stats.t.sf(t, df), rel=1e-7)


def test_t_interval_and_ces_summary():
    # mean 4, sd 2, n 10: t(0.975,9)=2.26216, half = 2.26216*2/sqrt(10) = 1.43072.
    low, high = t_interval(4.0, 2.0, 10)
    assert low == pytest.approx(2.56928, abs=1e-4)
    assert high == pytest.approx(5.43072, abs=1e-4)
    # CES answers 1,2,3,6,7: mean 19/5=3.8; squares 1+4+9+36+49=99;
    # variance (99 - 19²/5)/4 = (99-72.2)/4 = 6.7, sd 2.58844; t(0.975,4)=2.77645;
    # half = 2.77645*2.58844/sqrt(5) = 3.21399; easy (5-7) = 2/5 = 40 %.
    summary = summarise("ces", ResponseCounts(n=5, high=2, low=0, total=19, total_sq=99))
    assert summary.score == pytest.approx(3.8)
    assert summary.ci_low == pytest.approx(3.8 - 3.21399, abs=1e-4)
    assert summary.ci_high == pytest.approx(3.8 + 3.21399, abs=1e-4)
    assert summary.secondary == pytest.approx(40.0)
    assert summary.low_sample is True
    # One response: no interval.
    one = summarise("ces", ResponseCounts(n=1, high=1, total=6, total_sq=36))
    assert one.score == 6.0 and math.isnan(one.ci_low) and math.isnan(one.ci_high)


def test_low_sample_threshold_is_configurable():
    counts = ResponseCounts(n=30, high=20, total=120, total_sq=500)
    assert summarise("csat", counts).low_sample is False      # 30 is not below 30
    assert summarise("csat", counts, low_sample=31).low_sample is True
    assert summarise("csat", ResponseCounts(n=29, high=1)).low_sample is True


def test_compare_nps_z_test_on_adjusted_values():
    # a: P=40, D=20, n=100 -> a'=0.194175, va=0.0054309; b: P=20, D=40 -> b'=-0.194175,
    # vb=0.0054309.  se = sqrt(0.0108618) = 0.104220; z = 0.388350/0.104220 = 3.7262;
    # p = erfc(3.7262/sqrt 2) = 0.000194.  Difference of raw NPS: 20 - (-20) = 40;
    # interval 100*(0.388350 ± 1.95996*0.104220) = 18.41 … 59.26.
    result = compare_counts("nps", "a", "b", ResponseCounts(100, 40, 20),
                            ResponseCounts(100, 20, 40))
    assert result.difference == pytest.approx(40.0)
    assert result.ci_low == pytest.approx(18.41, abs=0.01)
    assert result.ci_high == pytest.approx(59.26, abs=0.01)
    assert result.p_value == pytest.approx(0.000194, abs=2e-6)
    assert result.significant()


def test_compare_csat_two_proportion_z_test():
    # a: 40/50 top-2 (0.8); b: 30/50 (0.6).  Pooled 0.7; se = sqrt(0.7*0.3*(1/50+1/50))
    # = 0.091652; z = 0.2/0.091652 = 2.1822; p = erfc(2.1822/sqrt 2) = 0.02909.
    # Interval (unpooled): se = sqrt(0.16/50 + 0.24/50) = 0.089443 -> 20 ± 17.53 pp.
    result = compare_counts("csat", "a", "b", ResponseCounts(50, 40, 0, 200, 0),
                            ResponseCounts(50, 30, 0, 170, 0))
    assert result.score_a == pytest.approx(80.0) and result.score_b == pytest.approx(60.0)
    assert result.difference == pytest.approx(20.0)
    assert result.p_value == pytest.approx(0.02909, abs=1e-4)
    assert result.ci_low == pytest.approx(2.47, abs=0.01)
    assert result.ci_high == pytest.approx(37.53, abs=0.01)
    # The same test on fractions (used for conversion rates): 0.2, 0.0247…0.3753, p 0.02909.
    difference, low, high, p_value = two_proportion_test(40, 50, 30, 50)
    assert (difference, low, high) == pytest.approx((0.2, 0.0247, 0.3753), abs=1e-4)
    assert p_value == pytest.approx(0.02909, abs=1e-4)
    # Identical proportions of 100 %: pooled se is 0, no evidence of a difference.
    same = compare_counts("csat", "a", "b", ResponseCounts(5, 5), ResponseCounts(9, 9))
    assert same.p_value == 1.0 and not same.significant()


def test_compare_ces_welch():
    # a: 1,2,3,4,5 -> mean 3, var 2.5, n 5 (sum 15, squares 55);
    # b: 2,4,6 -> mean 4, var 4, n 3 (sum 12, squares 56).
    # se² = 2.5/5 + 4/3 = 1.83333, se = 1.35401; t = -1/1.35401 = -0.73855;
    # df = 1.83333² / (0.5²/4 + 1.33333²/2) = 3.36111/0.95139 = 3.53285.
    result = compare_counts("ces", "a", "b", ResponseCounts(5, 1, 0, 15, 55),
                            ResponseCounts(3, 1, 0, 12, 56))
    assert result.difference == pytest.approx(-1.0)
    half = t_quantile(0.975, 3.53285) * 1.35401
    assert result.ci_low == pytest.approx(-1.0 - half, abs=1e-3)
    assert result.ci_high == pytest.approx(-1.0 + half, abs=1e-3)
    assert result.p_value == pytest.approx(t_two_sided_p(0.73855, 3.53285), abs=1e-4)
    stats = pytest.importorskip("scipy.stats")
    reference = stats.ttest_ind([1, 2, 3, 4, 5], [2, 4, 6], equal_var=False)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-6)


def test_compare_with_too_few_responses_is_undefined():
    result = compare_counts("ces", "a", "b", ResponseCounts(1, 0, 0, 3, 9),
                            ResponseCounts(4, 0, 0, 8, 20))
    assert math.isnan(result.p_value) and not result.significant()


def test_unknown_metric_is_a_plain_error():
    with pytest.raises(ValueError, match="nps, csat or ces"):
        summarise("xyz", ResponseCounts(1))


# --------------------------------------------------------------------------------------
# SQL

def _survey_rows():
    """Web: NPS 10, 9, 7, 3 (+ a row without score); App: 0, 10; one row with no
    touchpoint: 8.  CSAT/CES on a few rows."""
    return [
        dict(customer_id="c1", ts=ts(1), touchpoint="Web", channel="online", nps=10, csat=5,
             ces=7, comment="great"),
        dict(customer_id="c2", ts=ts(2), touchpoint="Web", channel="online", nps=9, csat=4,
             ces=6),
        dict(customer_id="c3", ts=ts(3), touchpoint="Web", channel="store", nps=7, csat=2,
             ces=2, comment="slow"),
        dict(customer_id="c4", ts=ts(4, month=4), touchpoint="Web", channel="store", nps=3,
             csat=1, ces=1, comment="awful"),
        dict(customer_id="c5", ts=ts(5, month=4), touchpoint="Web", comment="no score"),
        dict(customer_id="c6", ts=ts(6, month=4), touchpoint="App", channel="online", nps=0,
             csat=3, ces=4, comment="  "),
        dict(customer_id="c7", ts=ts(7, month=4), touchpoint="App", channel="online", nps=10),
        dict(customer_id="c8", ts=ts(8, month=4), touchpoint=None, channel="store", nps=8),
    ]


def test_scores_by_touchpoint_nps(con):
    make_table(con, _survey_rows())
    frame = scores_by(con.cursor(), "ev", "nps", "touchpoint")
    by_group = frame.set_index("group")
    # Web: 10, 9, 7, 3 -> P=2, D=1, n=4 -> 100*(2-1)/4 = 25 (the unscored row is not a
    # response).  App: 0, 10 -> P=1, D=1 -> 0.  (none): 8 -> passive -> 0.
    assert by_group.loc["Web", "n"] == 4
    assert by_group.loc["Web", "score"] == pytest.approx(25.0)
    assert by_group.loc["App", "score"] == 0.0
    assert by_group.loc["(none)", "n"] == 1
    assert by_group["low_sample"].all()
    # Web interval = nps_interval(2, 1, 4) (tested above on the SPEC values).
    low, high = nps_interval(2, 1, 4)
    assert by_group.loc["Web", "ci_low"] == pytest.approx(low)
    assert by_group.loc["Web", "ci_high"] == pytest.approx(high)
    # Sorted worst first: App 0 and (none) 0 tie (by name: "(none)" < "App"), then Web 25.
    assert list(frame["group"]) == ["(none)", "App", "Web"]
    assert list(frame.columns) == ["group", "n", "score", "ci_low", "ci_high", "low_sample",
                                   "secondary"]


def test_scores_by_csat_and_ces_secondary(con):
    make_table(con, _survey_rows())
    csat = scores_by(con.cursor(), "ev", "csat", "touchpoint").set_index("group")
    # Web CSAT 5,4,2,1 -> top-2 = 2/4 = 50 %; mean 12/4 = 3.0.
    assert csat.loc["Web", "score"] == pytest.approx(50.0)
    assert csat.loc["Web", "secondary"] == pytest.approx(3.0)
    low, high = wilson_interval(2, 4)
    assert (csat.loc["Web", "ci_low"], csat.loc["Web", "ci_high"]) == pytest.approx((low, high))
    ces = scores_by(con.cursor(), "ev", "ces", "channel").set_index("group")
    # online: CES 7, 6, 4 -> mean 17/3 = 5.667; easy (5-7) 2/3 = 66.7 %.
    # store: 2, 1 -> mean 1.5; easy 0 %.
    assert ces.loc["online", "score"] == pytest.approx(17 / 3)
    assert ces.loc["online", "secondary"] == pytest.approx(200 / 3)
    assert ces.loc["store", "secondary"] == 0.0
    # store: variance (4+1 - 9/2)/1 = 0.5, sd 0.70711, t(0.975,1) = 12.7062:
    # half = 12.7062*0.70711/sqrt 2 = 6.3531.
    assert ces.loc["store", "ci_high"] == pytest.approx(1.5 + 6.3531, abs=1e-3)


def test_score_summary_with_filter_and_empty(con):
    make_table(con, _survey_rows())
    cur = con.cursor()
    # All NPS: 10,9,7,3,0,10,8 -> P=3 (10,9,10), D=2 (3,0), n=7 -> 100/7 = 14.29.
    overall = score_summary(cur, "ev", "nps")
    assert overall.group == "All" and overall.n == 7
    assert overall.score == pytest.approx(100 / 7)
    # April only (ts >= 2024-04-01): 3, 0, 10, 8 -> P=1, D=2 -> -25.
    april_on = EventFilter(start=dt.datetime(2024, 4, 1))
    april = score_summary(cur, "ev", "nps", event_filter=april_on)
    assert april.n == 4 and april.score == pytest.approx(-25.0)
    future = EventFilter(start=dt.datetime(2030, 1, 1))
    nothing = score_summary(cur, "ev", "nps", event_filter=future)
    assert nothing.n == 0 and math.isnan(nothing.score) and nothing.low_sample


def test_scores_by_month_and_trend(con):
    make_table(con, _survey_rows())
    cur = con.cursor()
    by_month = scores_by(cur, "ev", "nps", "month")
    # March: 10, 9, 7 -> P=2, D=0 -> 66.67; April: 3, 0, 10, 8 -> -25.  Chronological.
    assert list(by_month["group"]) == ["2024-03", "2024-04"]
    assert by_month["score"].tolist() == pytest.approx([200 / 3, -25.0])
    trend = scores_trend(cur, "ev", "nps", "month", by="touchpoint")
    # Web in March: 10, 9, 7 (n 3); Web in April: 3 (n 1); App in April: 0, 10.
    rows = {(r.period.strftime("%Y-%m"), r.group): (r.n, r.score) for r in trend.itertuples()}
    assert rows[("2024-03", "Web")] == (3, pytest.approx(200 / 3))
    assert rows[("2024-04", "Web")] == (1, -100.0)
    assert rows[("2024-04", "App")] == (2, 0.0)
    weekly = scores_trend(cur, "ev", "csat", "week")
    # 2024-03-01 (Fri) -> week of Mon 2024-02-26; 2024-03-02 (Sat) same week;
    # 2024-03-03 (Sun) same week: CSAT 5, 4, 2 -> 2/3 top-2.
    first = weekly.iloc[0]
    assert first["period"] == dt.datetime(2024, 2, 26)
    assert first["n"] == 3 and first["score"] == pytest.approx(200 / 3)


def test_scores_matrix(con):
    make_table(con, _survey_rows())
    matrix = scores_matrix(con.cursor(), "ev", "csat", "touchpoint", "channel")
    cells = {(r.row, r.col): (r.n, r.score) for r in matrix.itertuples()}
    # Web/online: 5, 4 -> 100 %; Web/store: 2, 1 -> 0 %; App/online: 3 -> 0 %.
    assert cells == {("Web", "online"): (2, 100.0), ("Web", "store"): (2, 0.0),
                     ("App", "online"): (1, 0.0)}


def test_compare_groups_by_sql_matches_counts(con):
    # Group a: 40 CSAT 5 and 10 CSAT 1; group b: 30 CSAT 4 and 20 CSAT 2 -> same counts as
    # the two-proportion example above (40/50 vs 30/50): p = 0.02909.
    rows = ([dict(customer_id=f"a{i}", ts=ts(1), channel="a", csat=5 if i < 40 else 1)
             for i in range(50)]
            + [dict(customer_id=f"b{i}", ts=ts(1), channel="b", csat=4 if i < 30 else 2)
               for i in range(50)])
    make_table(con, rows)
    result = compare_groups(con.cursor(), "ev", "csat", "channel", "a", "b")
    assert (result.n_a, result.n_b) == (50, 50)
    assert result.difference == pytest.approx(20.0)
    assert result.p_value == pytest.approx(0.02909, abs=1e-4)
    missing = compare_groups(con.cursor(), "ev", "csat", "channel", "a", "zzz")
    assert missing.n_b == 0 and math.isnan(missing.p_value)


def test_attribute_columns_and_bad_column(con):
    make_table(con, [dict(customer_id="c1", ts=ts(1), nps=10, segment="Gold"),
                     dict(customer_id="c2", ts=ts(1), nps=0, segment="Gold"),
                     dict(customer_id="c3", ts=ts(1), nps=9, segment='Odd "name"')],
               attributes=("segment",))
    frame = scores_by(con.cursor(), "ev", "nps", "segment").set_index("group")
    # Gold: 10, 0 -> 0; Odd: 9 -> 100.
    assert frame.loc["Gold", "score"] == 0.0
    assert frame.loc['Odd "name"', "score"] == 100.0
    with pytest.raises(ValueError, match="no column"):
        scores_by(con.cursor(), "ev", "nps", "nope; DROP TABLE ev")


def test_response_counts(con):
    make_table(con, _survey_rows())
    frame = response_counts(con.cursor(), "ev", "nps", "channel").set_index("group")
    # online: 10, 9, 0, 10 -> n 4, high 3, low 1, sum 29, squares 100+81+0+100 = 281.
    online = frame.loc["online"]
    assert (online["n"], online["high"], online["low"], online["total"],
            online["total_sq"]) == (4, 3, 1, 29, 281)


def test_responses_of_several_metrics_in_one_query(con):
    make_table(con, [dict(customer_id="a", ts=ts(1), channel="web", nps=10, csat=5),
                     dict(customer_id="a", ts=ts(2), channel="web", nps=3),
                     dict(customer_id="b", ts=ts(1, month=4), channel="web", ces=6),
                     dict(customer_id="b", ts=ts(2, month=4), channel="shop", csat=2),
                     dict(customer_id="c", ts=ts(3, month=4), channel="shop")])
    frames = responses_by_metric(con.cursor(), "ev", ["nps", "csat", "ces"], "channel",
                                 grain="month")
    # nps: March web 10, 3 -> n 2, high 1 (10), low 1 (3), sum 13, squares 109
    assert frames["nps"].to_dict("records") == [dict(period=ts(1, hour=0).replace(day=1),
                                                     group="web", n=2, high=1, low=1,
                                                     total=13, total_sq=109)]
    # csat: March web 5 (high), April shop 2; April web answered no csat: no row
    assert [(r["group"], r["n"], r["high"], r["total"]) for r in frames["csat"].to_dict("records")] \
        == [("web", 1, 1, 5), ("shop", 1, 0, 2)]
    # ces: April web 6 (easy = 5–7)
    assert frames["ces"][["group", "n", "high", "total", "total_sq"]].values.tolist() == [["web", 1, 1, 6, 36]]
    for metric, frame in frames.items():          # whole numbers, as each metric alone
        assert frame.equals(response_counts(con.cursor(), "ev", metric, "channel", grain="month"))
        assert str(frame["total"].dtype) == "int64"


def test_comments_worst_first(con):
    make_table(con, _survey_rows())
    frame = comments(con.cursor(), "ev", column="touchpoint", value="Web", metric="csat")
    # Web comments: great (csat 5), slow (2), awful (1), "no score" (no csat).
    assert list(frame["comment"]) == ["awful", "slow", "great", "no score"]
    assert frame["score"].isna().tolist() == [False, False, False, True]
    recent = comments(con.cursor(), "ev", column="touchpoint", value="App")
    # App's only comment is blank -> nothing.
    assert len(recent) == 0
    limited = comments(con.cursor(), "ev", column="touchpoint", value="Web", limit=2)
    # Newest first: "no score" (Apr 5), "awful" (Apr 4).
    assert list(limited["comment"]) == ["no score", "awful"]


def test_a_group_of_one_response_has_no_interval_for_any_metric():
    # SPEC §6: one answer has no interval, whatever the metric; the score itself stands.
    nps = summarise("nps", ResponseCounts(n=1, high=1, low=0))
    csat = summarise("csat", ResponseCounts(n=1, high=0, total=2, total_sq=4))
    ces = summarise("ces", ResponseCounts(n=1, high=0, total=3, total_sq=9))
    assert (nps.score, csat.score, csat.secondary, ces.score) == (100.0, 0.0, 2.0, 3.0)
    for one in (nps, csat, ces):
        assert one.n == 1 and one.low_sample is True
        assert math.isnan(one.ci_low) and math.isnan(one.ci_high)
    # Two responses do get one (NPS 10 and 3: adjusted Wald ±73.3, as in test_cli).
    two = summarise("nps", ResponseCounts(n=2, high=1, low=1))
    assert two.ci_low == pytest.approx(-73.335, abs=1e-3)


def test_comment_count_and_pages_of_comments(con):
    from cxdata.analytics.scores import comment_count
    make_table(con, _survey_rows())
    cur = con.cursor()
    # Web has four non-blank comments (great, slow, awful, "no score"); App's one is blank.
    assert comment_count(cur, "ev", column="touchpoint", value="Web") == 4
    assert comment_count(cur, "ev", column="touchpoint", value="App") == 0
    # Pages of two, worst CSAT first: awful (1), slow (2) | great (5), no score (none).
    first = comments(cur, "ev", column="touchpoint", value="Web", metric="csat", limit=2)
    second = comments(cur, "ev", column="touchpoint", value="Web", metric="csat", limit=2,
                      offset=2)
    assert list(first["comment"]) == ["awful", "slow"]
    assert list(second["comment"]) == ["great", "no score"]
    # No limit: every comment of the selection, in the same order.
    every = comments(cur, "ev", column="touchpoint", value="Web", metric="csat", limit=None)
    assert list(every["comment"]) == ["awful", "slow", "great", "no score"]
