"""Trends with control limits (SPEC §8.3): limits, signals and explanations worked by
hand, the sample's bad Mobile-app week, and the ``trends`` subcommand's JSON."""
from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cxdata import cli
from cxdata.why import cli_trends, trends
from cxdata.why.trends import control_limits, explanations
from tests.helpers_app import run_section
from tests.helpers_events import make_events_table

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "interactions.csv"
DAY = 86400
MONDAYS = pd.date_range("2024-01-01", periods=12, freq="7D")


def _counts(n, x, incomplete=None):
    return pd.DataFrame({"start": MONDAYS[:len(n)], "n": n, "x": x,
                         "incomplete": incomplete or [False] * len(n)})


def test_p_chart_with_varying_n_ignores_the_incomplete_bucket():
    # complete buckets: x = 50 + 10 + 110 = 170 of n = 350 -> p̄ = 0.485714 (with the
    # incomplete 90 of 100 it would be 0.5778); √(p̄(1−p̄)) = 0.499796;
    # half-widths 3·0.499796/√n: n=100 0.149939, n=50 0.212045, n=200 0.106023
    chart = control_limits("conversion", _counts([100, 50, 200, 100], [50, 10, 110, 90],
                                                 [False, False, False, True]))
    assert chart["centre"].iloc[0] == pytest.approx(0.485714, abs=1e-6)
    assert list(chart["lcl"]) == pytest.approx([0.335775, 0.273669, 0.379691, 0.335775], abs=1e-6)
    assert list(chart["ucl"]) == pytest.approx([0.635653, 0.697759, 0.591737, 0.635653], abs=1e-6)
    # 0.2 < 0.273669: beyond; the incomplete 0.9 is above its limit but never a signal
    assert list(chart["signal"]) == [None, "beyond limits", None, None]
    assert list(chart["incomplete"]) == [False, False, False, True]
    assert list(chart.columns) == trends.BUCKET_COLUMNS


def test_a_run_of_8_on_one_side_skips_incomplete_buckets():
    # n = 100 each; complete x: 20 20 60×8 -> p̄ = 520/1000 = 0.52, half 3·0.49960/10 = 0.14988,
    # limits 0.37012 … 0.66988: the two 0.2 are beyond; the eight 0.6 end a run of 8 at
    # the last bucket, the incomplete bucket in between neither counts nor breaks it
    x = [20, 20, 60, 60, 60, 0, 60, 60, 60, 60, 60]
    incomplete = [False] * 5 + [True] + [False] * 5
    chart = control_limits("conversion", _counts([100] * 11, x, incomplete))
    assert chart["centre"].iloc[0] == pytest.approx(0.52)
    assert chart["lcl"].iloc[0] == pytest.approx(0.52 - 3 * math.sqrt(0.52 * 0.48) / 10)
    assert list(chart["signal"]) == ["beyond limits"] * 2 + [None] * 8 + ["run of 8"]


def test_a_bucket_on_the_centre_breaks_a_run():
    values = [0.6] * 7 + [0.5] + [0.6]
    assert trends.signals(values, [0] * 9, [1] * 9, 0.5, [False] * 9) == [None] * 9


def test_explanations_by_hand():
    # Two groups of 10 entrants a week.  A: 5, 5, 0 converted; B: 5, 5, 5.
    # Bucket 3: x_t = 5/20 = 0.25, x̄ = 25/60 = 0.416667, gap 20·(0.25 − 0.416667) = −3.3333.
    # A: own centre 10/30 = 0.3333, 10·(0 − 0.3333) = −3.3333 -> 1.0;  B: 10·(0.5 − 0.5) = 0 -> 0
    groups = pd.DataFrame({"start": list(MONDAYS[:3]) * 2, "group": ["A"] * 3 + ["B"] * 3,
                           "n": [10] * 6, "x": [5, 5, 0, 5, 5, 5]})
    chart = pd.DataFrame({"start": MONDAYS[:3], "n": [20, 20, 20], "value": [0.5, 0.5, 0.25],
                          "centre": 25 / 60, "lcl": 0.0, "ucl": 1.0,
                          "signal": [None, None, "beyond limits"], "incomplete": False})
    got = explanations("conversion", chart, groups)
    assert list(got["group"]) == ["A", "B"]
    assert list(got["contribution"]) == pytest.approx([1.0, 0.0])
    assert list(got["value"]) == pytest.approx([0.0, 0.5])
    assert list(got.columns) == trends.EXPLANATION_COLUMNS


def test_nps_and_ces_limits_by_hand():
    # NPS: bucket 1 n=4 P=2 D=1 (+25), bucket 2 n=4 P=1 D=1 (0): centre 100·(3−2)/8 = 12.5;
    # σ² = 10000·5/8 − 12.5² = 6093.75, σ = 78.0625; n = 4: ± 3·78.0625/2 = 117.09 -> clipped ±100
    nps = pd.DataFrame({"start": MONDAYS[:2], "n": [4, 4], "high": [2, 1], "low": [1, 1],
                        "total": [0, 0], "total_sq": [0, 0], "incomplete": False})
    chart = control_limits("nps", nps)
    assert list(chart["value"]) == pytest.approx([25.0, 0.0])
    assert chart["centre"].iloc[0] == pytest.approx(12.5)
    assert (chart["lcl"].iloc[0], chart["ucl"].iloc[0]) == (-100.0, 100.0)
    nps["n"], nps["high"], nps["low"] = [400, 400], [200, 100], [100, 100]
    chart = control_limits("nps", nps)       # same shares, n = 400: ± 3·78.0625/20 = 11.709
    assert chart["ucl"].iloc[0] == pytest.approx(12.5 + 3 * math.sqrt(6093.75) / 20)
    # CES: scores 1, 3 | 5, 7: mean 4, s² = (4·84 − 16²)/(4·3) = 6.6667
    ces = pd.DataFrame({"start": MONDAYS[:2], "n": [2, 2], "high": 0, "low": 0,
                        "total": [4, 12], "total_sq": [10, 74], "incomplete": False})
    _, centre, s = trends._bucket_stats("ces", ces)
    assert (centre, s) == (pytest.approx(4.0), pytest.approx(math.sqrt(20 / 3)))


def test_a_funnel_trend_through_the_engine_leaves_out_the_open_week():
    # weeks of 1, 8 and 15 Jan 2024 (Mondays); A -> B, no window: converters took 60, 60
    # and 5 s (9 in 10 within 60 s), the log ends 16 Jan: the week of 15 Jan (ends 22 Jan
    # + 60 s) is incomplete, that of 8 Jan (ends 15 Jan + 60 s) is not.  Complete: 1 + 2
    # of 4 -> centre 0.75.
    con = duckdb.connect()
    rows = [("a", 0, "A"), ("a", 60, "B"), ("b", 0, "A"),
            ("c", 7 * DAY, "A"), ("c", 7 * DAY + 60, "B"), ("d", 7 * DAY, "A"), ("d", 7 * DAY + 5, "B"),
            ("e", 15 * DAY, "A")]
    table = make_events_table(con, rows)
    result = trends.conversion_trend_limits(con, table, ["A", "B"], "week")
    b = result.buckets
    assert list(b["n"]) == [2, 2, 1] and list(b["value"]) == [0.5, 1.0, 0.0]
    assert list(b["incomplete"]) == [False, False, True]
    assert b["centre"].iloc[0] == pytest.approx(0.75)
    assert list(b["signal"]) == [None, None, None]


# ---------------------------------------------------------------------------------------
# The sample (sample_data/README.md, stories 6 and 2)

def test_the_bad_mobile_app_week_is_beyond_limits_and_explained_by_mobile_app(sample):
    result = trends.conversion_trend_limits(sample, "events", ["Consideration", "Purchase"], "week",
                                            explain_by="channel")
    b = result.buckets
    flagged = b[b["signal"].notna()]
    assert list(flagged["start"]) == [pd.Timestamp("2025-10-06")]
    week = flagged.iloc[0]
    assert (week["n"], round(week["value"], 3)) == (78, 0.397)
    # (the last three weeks are incomplete: younger than 9 in 10 conversions take)
    assert (round(week["centre"], 3), round(week["lcl"], 3), round(week["ucl"], 3)) == (0.611, 0.445, 0.777)
    e = result.explanations
    assert list(e["group"][:2]) == ["Mobile app", "Web"]
    assert e["contribution"].iloc[0] == pytest.approx(1.02, abs=0.005)
    assert e["contribution"].iloc[1] == pytest.approx(-0.01, abs=0.005)
    assert e["value"].iloc[0] == pytest.approx(4 / 34)


def test_summer_csat_months_are_below_their_limits_and_delivery_explains_them(sample):
    result = trends.score_trend_limits(sample, "events", "csat", "month", explain_by="touchpoint")
    flagged = result.buckets[result.buckets["signal"].notna()]
    assert [t.month for t in flagged["start"]] == [6, 7, 8]
    assert (flagged["value"] < flagged["lcl"]).all()
    first = result.explanations.groupby("start").head(1)
    assert set(first["group"]) == {"Delivery"}


# ---------------------------------------------------------------------------------------
# The subcommand

def _cli(argv, capsys):
    parser = cli._Parser(prog="python -m cxdata")
    sub = parser.add_subparsers(dest="command", parser_class=cli._Parser)
    cli_trends.add_parser(sub, cli._common)
    code = cli_trends.run(parser.parse_args(argv), cli.load_data, cli.emit)
    return code, capsys.readouterr().out


def test_cli_json_shape(capsys):
    code, out = _cli(["trends", str(SAMPLE), "--funnel-step", "Consideration", "--funnel-step", "Purchase",
                      "--every", "week", "--explain-by", "channel", "--format", "json"], capsys)
    payload = json.loads(out)
    assert code == 0 and list(payload) == ["buckets", "explanations"]
    assert list(payload["buckets"][0]) == trends.BUCKET_COLUMNS
    signals = [b for b in payload["buckets"] if b["signal"]]
    assert [(b["start"], b["signal"]) for b in signals] == [("2025-10-06", "beyond limits")]
    assert list(payload["explanations"][0]) == trends.EXPLANATION_COLUMNS
    assert payload["explanations"][0]["group"] == "Mobile app"


def test_cli_score_trend_and_usage_errors(capsys):
    code, out = _cli(["trends", str(SAMPLE), "--metric", "nps", "--every", "month", "--format", "json"], capsys)
    payload = json.loads(out)
    assert len(payload["buckets"]) == 12 and payload["explanations"] == []
    assert payload["buckets"][0]["start"] == "2025-01-01"
    with pytest.raises(cli.UsageError):
        _cli(["trends", str(SAMPLE), "--every", "week"], capsys)
    with pytest.raises(cli.UsageError):
        _cli(["trends", str(SAMPLE), "--metric", "nps", "--funnel-step", "Aware", "--every", "week"], capsys)


# ---------------------------------------------------------------------------------------
# The control chart and the page helper

def test_control_chart_has_an_ordinal_utc_axis_signals_in_red_and_a_grey_incomplete_bucket():
    from cxdata.presentation.charts import HIGHLIGHT, INCOMPLETE_GREY
    from cxdata.presentation.charts_why import control_chart
    chart = control_limits("conversion", _counts([100, 50, 200, 100], [50, 10, 110, 90],
                                                 [False, False, False, True]))
    spec = control_chart(chart, "conversion", "week").to_dict()
    text = json.dumps(spec)
    assert '"temporal"' not in text and '"period_label"' in text
    # period names computed in Python, UTC: Mondays 1, 8, 15, 22 Jan 2024
    assert "8 Jan 2024" in text and "22 Jan 2024" in text
    assert HIGHLIGHT in text and INCOMPLETE_GREY in text
    assert '"beyond limits"' in text and "incomplete" in text


def test_control_section_renders_the_signal_and_its_groups():

    def page():
        from cxdata.sql import EventFilter
        from cxdata.ui.why_funnel import control_section
        from tests.helpers_app import sample_dataset
        control_section(sample_dataset(), ["Consideration", "Purchase"],
                        dict(by="stage", window_seconds=None, order="ordered",
                             event_filter=EventFilter()), "week")

    at = run_section(page)
    assert at.selectbox(key="why_explain").value == "channel"
    text = " ".join(m.value for m in at.markdown)
    assert "Week of 6 Oct 2025" in text and "beyond limits" in text
    table = at.dataframe[0].value
    assert list(table["group"][:1]) == ["Mobile app"]


def test_score_control_section_names_delivery_behind_the_summer_csat():

    def page():
        from cxdata.ui.why_funnel import score_control_section
        from tests.helpers_app import sample_dataset
        score_control_section(sample_dataset(), "csat", "month")

    at = run_section(page)
    assert at.selectbox(key="why_score_explain").value == "touchpoint"
    text = " ".join(m.value for m in at.markdown)
    assert "Jun 2025" in text and "Aug 2025" in text
    assert len(at.dataframe) == 3 and at.dataframe[0].value["group"].iloc[0] == "Delivery"
