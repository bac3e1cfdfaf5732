"""Tests for cxdata.presentation.charts: the specs the builders produce, checked on small hand-made
result frames shaped like the analytics outputs (docs: /tmp/api_analytics.md)."""
from __future__ import annotations

import altair as alt
import pandas as pd
import pytest

from cxdata.presentation import charts

from cxdata import formatting


# ---------------------------------------------------------------------------------------
# helpers: read a Vega-Lite spec back
# ---------------------------------------------------------------------------------------

def unit_specs(spec: dict) -> list[dict]:
    """Every single-view spec (one with a mark) inside a possibly layered spec."""
    found = []
    if "mark" in spec:
        found.append(spec)
    for key in ("layer", "hconcat", "vconcat", "concat"):
        for child in spec.get(key, []):
            found.extend(unit_specs(child))
    return found


def rows_of(spec: dict, unit: dict | None = None) -> list[dict]:
    """The inline data rows a view draws (its own data, else the top-level data)."""
    data = (unit or {}).get("data") or spec.get("data")
    return spec["datasets"][data["name"]]


def mark_type(unit: dict) -> str:
    mark = unit["mark"]
    return mark if isinstance(mark, str) else mark["type"]


def funnel_frame() -> pd.DataFrame:
    # Hand-made funnel: 200 entered, 120 reached step 2, 30 reached step 3.
    # conversion_from_start = n_j / 200; dropped = n_j - n_{j+1}.
    return pd.DataFrame({
        "step": ["Visit", "Cart", "Visit"],          # the same value may be two steps
        "step_index": [1, 2, 3],
        "customers": [200, 120, 30],
        "conversion_from_start": [1.0, 0.6, 0.15],
        "conversion_from_previous": [1.0, 0.6, 0.25],
        "dropped": [80, 90, 0],
        "median_seconds_from_previous": [None, 90.0, 7200.0],
        "p90_seconds_from_previous": [None, 100.0, 9000.0],
        "mean_seconds_from_previous": [None, 95.0, 8000.0],
    })


def score_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "group": ["Web", "Store", "App"],
        "n": [120, 12, 300],
        "score": [-10.0, 45.0, 20.0],
        "ci_low": [-25.0, 10.0, 12.0],
        "ci_high": [5.0, 70.0, 28.0],
        "low_sample": [False, True, False],
        "secondary": [None, None, None],
    })


def every_builder_output() -> dict[str, alt.TopLevelMixin]:
    hist = pd.DataFrame({"bin_start_seconds": [0.0, 600.0], "bin_end_seconds": [600.0, 1200.0],
                         "customers": [5, 7]})
    trend = pd.DataFrame({"period": pd.to_datetime(["2024-01-01", "2024-01-08"]),
                          "entered": [10, 20], "converted": [5, 5], "conversion": [0.5, 0.25]})
    matrix = pd.DataFrame({"row": ["Web", "Web"], "col": ["Aware", "Purchase"], "n": [40, 10],
                           "score": [10.0, -30.0], "low_sample": [False, True]})
    s_trend = pd.DataFrame({"period": pd.to_datetime(["2024-01-01", "2024-02-01"]),
                            "n": [40, 10], "score": [80.0, 60.0], "ci_low": [70.0, 30.0],
                            "ci_high": [88.0, 85.0], "low_sample": [False, True]})
    transitions = pd.DataFrame({"from": ["start", "Aware", "Aware"],
                                "to": ["Aware", "Purchase", "end"],
                                "customers": [10, 6, 4], "events": [10, 7, 4]})
    variants = pd.DataFrame({"path_label": ["Aware → Purchase", "Aware"], "customers": [6, 4],
                             "share": [0.6, 0.4], "median_duration_seconds": [3600.0, 0.0]})
    nexts = pd.DataFrame({"value": ["Email", "(no further events)"], "customers": [3, 1],
                          "share": [0.75, 0.25]})
    breakdown = funnel_frame().assign(group="Web")
    return {
        "funnel": charts.funnel_bars(funnel_frame(), selectable=True),
        "breakdown": charts.breakdown_bars(breakdown),
        "histogram": charts.duration_histogram(hist),
        "conversion_trend": charts.conversion_trend(trend),
        "share": charts.share_bars(nexts),
        "scores": charts.score_bars(score_frame(), "nps"),
        "heatmap": charts.score_heatmap(matrix, "nps"),
        "score_trend": charts.score_trend(s_trend, "csat", grain="month"),
        "transitions": charts.transition_heatmap(transitions),
        "variants": charts.variant_bars(variants),
    }


# ---------------------------------------------------------------------------------------
# theme and formatting
# ---------------------------------------------------------------------------------------

def test_theme_is_registered_enabled_and_colour_blind_safe():
    assert alt.theme.active == charts.THEME_NAME
    config = charts.funnel_bars(funnel_frame()).to_dict()["config"]
    # The categorical range is exactly the Okabe-Ito palette (8 colours, no duplicates).
    assert config["range"]["category"] == list(charts.OKABE_ITO)
    assert len(set(charts.OKABE_ITO)) == 8
    assert config["range"]["diverging"] == {"scheme": "blueorange"}


def test_chart_labels_and_the_tables_use_one_formatter():
    # Labels drawn in charts come from cxdata.formatting (tests/test_formatting.py has the
    # rules): the same rounding and the typographic minus as the numbers beside them.
    spec = charts.score_bars(score_frame(), "nps").to_dict()
    rows = rows_of(spec, [u for u in unit_specs(spec) if mark_type(u) == "point"][0])
    assert [r["score_label"] for r in rows] == [formatting.format_score("nps", v)
                                                for v in (-10.0, 20.0, 45.0)]
    assert rows[0]["score_label"] == "\u221210"


def test_every_chart_has_tooltips_on_every_mark_and_a_title():
    for name, chart in every_builder_output().items():
        spec = chart.to_dict()
        assert spec.get("title"), name
        for unit in unit_specs(spec):
            assert "tooltip" in unit.get("encoding", {}), (name, mark_type(unit))


def test_unknown_metric_is_a_plain_error():
    with pytest.raises(ValueError, match="nps, csat, ces"):
        charts.score_bars(score_frame(), "xyz")


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="dropped"):
        charts.funnel_bars(funnel_frame().drop(columns=["dropped"]))


# ---------------------------------------------------------------------------------------
# funnels
# ---------------------------------------------------------------------------------------

def test_funnel_labels_keep_repeated_steps_apart_and_show_counts_and_conversion():
    spec = charts.funnel_bars(funnel_frame()).to_dict()
    rows = rows_of(spec)
    # "Visit" is step 1 and step 3: the index keeps them as two rows in order.
    assert [r["step_label"] for r in rows] == ["1. Visit", "2. Cart", "3. Visit"]
    # 120 customers = 60.0% of 200; 30 = 15.0%.
    assert [r["bar_label"] for r in rows] == ["200 (100.0%)", "120 (60.0%)", "30 (15.0%)"]
    # Drop-off notes: 80 after step 1, 90 after step 2, none after the last step.
    assert [r["dropped_label"] for r in rows] == ["↓ 80 dropped", "↓ 90 dropped", ""]
    # Median time from previous: 90 s, 7200 s = 2.0 h.
    assert [r["median_time_label"] for r in rows] == ["–", "90 s", "2.0 h"]
    # Bars of at least 45% of the entrants carry the label inside: 200 and 120 (>= 90), not 30.
    assert [r["label_inside"] for r in rows] == [True, True, False]
    y_sorts = {tuple(u["encoding"]["y"].get("sort", [])) for u in unit_specs(spec)
               if "y" in u.get("encoding", {})}
    assert ("1. Visit", "2. Cart", "3. Visit") in y_sorts


def test_funnel_selection_picks_a_step_index_and_can_start_selected():
    spec = charts.funnel_bars(funnel_frame(), selectable=True, selected_step=2).to_dict()
    params = [p for p in spec.get("params", []) if p["name"] == charts.FUNNEL_SELECTION]
    assert len(params) == 1
    assert params[0]["select"]["fields"] == ["step_index"]
    assert params[0]["value"] == [{"step_index": 2}]
    plain = charts.funnel_bars(funnel_frame()).to_dict()
    assert not plain.get("params")


def test_empty_funnel_says_so():
    empty = funnel_frame().iloc[0:0]
    spec = charts.funnel_bars(empty).to_dict()
    assert "Nobody entered" in rows_of(spec)[0]["message"]
    zero = funnel_frame().assign(customers=0)
    assert "Nobody entered" in rows_of(charts.funnel_bars(zero).to_dict())[0]["message"]


class _Result:
    """Stand-in for FunnelResult: only ``entered`` and ``to_frame()`` are used."""

    def __init__(self, frame: pd.DataFrame):
        self._frame = frame
        self.entered = int(frame["customers"].iloc[0])

    def to_frame(self) -> pd.DataFrame:
        return self._frame


def test_breakdown_frame_and_bars_limit_groups_in_order():
    base = funnel_frame()
    groups = [("Web", _Result(base)), ("Store", _Result(base.assign(customers=[50, 25, 5]))),
              ("(none)", _Result(base.assign(customers=[3, 1, 0])))]
    long = charts.frame_from_breakdown(groups)
    assert len(long) == 9
    assert long.groupby("group", sort=False)["entered"].first().to_dict() == {
        "Web": 200, "Store": 50, "(none)": 3}
    spec = charts.breakdown_bars(long, max_groups=2, breakdown_title="Channel").to_dict()
    drawn = {r["group"] for r in rows_of(spec)}
    assert drawn == {"Web", "Store"}                     # the two largest, "(none)" left out
    assert "largest 2 of 3 groups" in spec["title"]["subtitle"]
    assert spec["encoding"]["color"]["title"] == "Channel"
    assert spec["encoding"]["y"]["axis"]["format"] == ".0%"


def test_histogram_converts_bins_to_a_readable_unit():
    frame = pd.DataFrame({"bin_start_seconds": [0.0, 3600.0, 7200.0],
                          "bin_end_seconds": [3600.0, 7200.0, 10800.0],
                          "customers": [4, 0, 2]})
    spec = charts.duration_histogram(frame, from_step="Cart", to_step="Paid").to_dict()
    rows = rows_of(spec)
    # Largest edge 10800 s = 3 h < 3 days -> hours; edges 0,1,2 and 1,2,3.
    assert [r["bin_start"] for r in rows] == [0.0, 1.0, 2.0]
    assert [r["bin_end"] for r in rows] == [1.0, 2.0, 3.0]
    assert spec["encoding"]["x"]["title"] == "Time (hours)"
    assert spec["title"]["text"] == "Time from Cart to Paid"
    none = frame.assign(customers=0)
    assert "Nobody reached Paid" in rows_of(charts.duration_histogram(none, to_step="Paid")
                                            .to_dict())[0]["message"]


def encodings(spec: dict) -> list[dict]:
    """Every channel definition of every view of a spec."""
    return [enc for unit in unit_specs(spec) for enc in unit.get("encoding", {}).values()
            if isinstance(enc, dict)]


def layer_with(spec: dict, mark: str, y_field: str | None = None) -> dict:
    """The one view drawing ``mark`` (with y ``y_field`` when given)."""
    found = [u for u in unit_specs(spec) if mark_type(u) == mark
             and (y_field is None or u["encoding"]["y"]["field"] == y_field)]
    assert len(found) == 1, (mark, y_field, len(found))
    return found[0]


def monthly_trend() -> pd.DataFrame:
    # Jan 40/400 = 10%, Feb 24/300 = 8%, Apr 5/200 = 2.5%; nobody entered in March.
    # Rows out of order on purpose.
    return pd.DataFrame({"period": pd.to_datetime(["2025-04-01", "2025-01-01", "2025-02-01"]),
                         "entered": [200, 400, 300], "converted": [5, 40, 24],
                         "conversion": [0.025, 0.1, 0.08]})


def test_conversion_trend_puts_each_period_under_its_own_label():
    spec = charts.conversion_trend(monthly_trend(), grain="month").to_dict()
    # Nothing temporal reaches the browser: the x axis is the period names, worked out in
    # UTC here, so no viewer's time zone and no d3 tick (Sunday weeks) can move a label.
    assert all(enc.get("type") != "temporal" for enc in encodings(spec))
    months = ["Jan 2025", "Feb 2025", "Mar 2025", "Apr 2025"]
    xs = [u["encoding"]["x"] for u in unit_specs(spec)]
    assert all(x["field"] == "period_label" and x["type"] == "ordinal" for x in xs)
    assert {tuple(x["scale"]["domain"]) for x in xs} == {tuple(months)}
    assert {tuple(x["axis"]["values"]) for x in xs if "axis" in x} == {tuple(months)}
    rows = rows_of(spec)
    # Sorted by period; the missing March is a row of its own (a gap, not a bridge).
    assert [r["period_start"] for r in rows] == ["2025-01-01", "2025-02-01", "2025-03-01",
                                                 "2025-04-01"]
    assert [r["period_label"] for r in rows] == months
    assert [r["entered"] for r in rows] == [400, 300, 0, 200]
    assert [r["conversion"] for r in rows] == [0.1, 0.08, None, 0.025]
    assert [r["conversion_label"] for r in rows] == ["10.0%", "8.0%", "–", "2.5%"]
    assert [r["status"] for r in rows] == ["Complete", "Complete", "Nobody entered",
                                           "Complete"]
    # The solid line breaks at the gap instead of joining February to April.
    solid = layer_with(spec, "line", "complete_conversion")
    assert solid["mark"]["invalid"] == "break-paths-show-domains"
    assert {x["title"] for x in xs} == {"Month of entry (UTC)"}


def test_conversion_trend_shows_n_under_every_point():
    spec = charts.conversion_trend(monthly_trend(), grain="month").to_dict()
    rows = rows_of(spec)
    assert [r["entered_label"] for r in rows] == ["400", "300", "0", "200"]
    bars = layer_with(spec, "bar")
    assert bars["encoding"]["y"]["field"] == "entered"
    # The bars fill the bottom fifth: n's domain is the largest n (400) / 0.2 = 2000.
    assert bars["encoding"]["y"]["scale"]["domain"] == [0, 2000.0]
    assert bars["encoding"]["y"]["axis"]["values"] == [0, 400]
    # Four periods: n is also written on each bar.
    text = layer_with(spec, "text")
    assert text["encoding"]["text"]["field"] == "entered_label"
    titles = [t["title"] for t in bars["encoding"]["tooltip"]]
    assert titles[:2] == ["Entered in", "Entered (n)"]
    # Conversion: largest 10% -> step 2% (10% / 5 = 2%), ticks 0 … 10%, written ".0%";
    # the domain reaches 0.4 × 10% below 0 so that 0 sits above the bars.
    y = [u for u in unit_specs(spec) if mark_type(u) == "point"][0]["encoding"]["y"]
    assert y["axis"]["values"] == [0.0, 0.02, 0.04, 0.06, 0.08, 0.1]
    assert y["axis"]["format"] == ".0%"
    assert y["scale"]["domain"] == pytest.approx([-0.04, 0.1])
    assert "customers who entered (n)" in spec["title"]["subtitle"][0]


def weekly_trend(incomplete) -> pd.DataFrame:
    # 20 weeks from Monday 30 Dec 2024 (aware, UTC) to Monday 12 May 2025; 10% each,
    # except the last two weeks: 2% and 0%.
    periods = pd.date_range("2024-12-30", periods=20, freq="7D", tz="UTC")
    frame = pd.DataFrame({"period": periods, "entered": [100] * 20,
                          "converted": [10] * 18 + [2, 0],
                          "conversion": [0.1] * 18 + [0.02, 0.0]})
    if incomplete is not None:
        frame["incomplete"] = incomplete
    return frame


def test_weekly_axis_labels_the_first_week_of_each_month():
    spec = charts.conversion_trend(weekly_trend(None), grain="week").to_dict()
    x = layer_with(spec, "bar")["encoding"]["x"]
    # Every week is a band, in order; the axis writes the first Monday of each month
    # (day 1…7): 6 Jan, 3 Feb, 3 Mar, 7 Apr, 5 May 2025 (30 Dec 2024 is not one).
    assert len(x["scale"]["domain"]) == 20
    assert x["scale"]["domain"][:3] == ["30 Dec 2024", "6 Jan 2025", "13 Jan 2025"]
    assert x["scale"]["domain"][-1] == "12 May 2025"
    assert x["axis"]["values"] == ["6 Jan 2025", "3 Feb 2025", "3 Mar 2025", "7 Apr 2025",
                                   "5 May 2025"]
    assert x["title"] == "Week of entry (from Monday, UTC)"
    rows = rows_of(spec)
    assert rows[0]["period_tooltip"] == "Week of 30 Dec 2024"
    assert rows[0]["period_start"] == "2024-12-30"
    # 20 periods: too many to write n on each bar (tooltip and bars only).
    assert not [u for u in unit_specs(spec) if mark_type(u) == "text"]
    # No "incomplete" column: no period is incomplete, no note, no dashed segment.
    assert not any(r["incomplete"] for r in rows)
    assert all(r["incomplete_conversion"] is None for r in rows)
    assert len(spec["title"]["subtitle"]) == 1


def test_incomplete_periods_are_drawn_apart_and_named():
    # Week 18 unknown (NA = not incomplete), weeks 19 and 20 incomplete.
    flags = pd.array([False] * 17 + [None, True, True], dtype="boolean")
    spec = charts.conversion_trend(weekly_trend(flags), grain="week").to_dict()
    rows = rows_of(spec)
    assert [r["incomplete"] for r in rows] == [False] * 18 + [True, True]
    # Solid line: complete weeks only.  Dashed grey: from the last complete week (18)
    # into the incomplete ones, so the fall to 2% and 0% is not drawn as a drop.
    assert [r["complete_conversion"] for r in rows] == [0.1] * 18 + [None, None]
    assert [r["incomplete_conversion"] for r in rows] == [None] * 17 + [0.1, 0.02, 0.0]
    dashed = layer_with(spec, "line", "incomplete_conversion")
    assert dashed["mark"]["strokeDash"] == [5, 4]
    assert dashed["mark"]["color"] == charts.INCOMPLETE_GREY
    hollow = [u for u in unit_specs(spec) if mark_type(u) == "point"
              and u["mark"].get("filled") is False]
    assert len(hollow) == 1
    assert hollow[0]["mark"]["color"] == charts.INCOMPLETE_GREY
    assert hollow[0]["transform"] == [{"filter": "datum.incomplete && isValid(datum.conversion)"}]
    filled = [u for u in unit_specs(spec) if mark_type(u) == "point" and u is not hollow[0]]
    assert filled[0]["transform"] == [
        {"filter": "!datum.incomplete && isValid(datum.conversion)"}]
    assert spec["title"]["subtitle"][1] == charts.INCOMPLETE_NOTE
    assert "may still convert" in charts.INCOMPLETE_NOTE
    assert rows[19]["status"].startswith("Incomplete") and "can still rise" in rows[19]["status"]
    assert rows[17]["status"] == "Complete"


def test_trend_labels_are_utc_whatever_the_input_zone():
    # 1 Mar 05:30 in Kolkata and 1 Apr 00:00 UTC are month starts in UTC; the labels
    # follow UTC, not the zone the instants were written in.
    frame = pd.DataFrame({"period": pd.to_datetime(["2025-03-01 05:30", "2025-04-01 05:30"])
                          .tz_localize("Asia/Kolkata"),
                          "entered": [10, 20], "converted": [1, 2], "conversion": [0.1, 0.1]})
    rows = rows_of(charts.conversion_trend(frame, grain="month").to_dict())
    assert [r["period_label"] for r in rows] == ["Mar 2025", "Apr 2025"]
    assert [r["period_start"] for r in rows] == ["2025-03-01", "2025-04-01"]


def test_share_bars_keep_the_largest_and_label_shares():
    frame = pd.DataFrame({"value": ["a", "b", "c"], "customers": [1, 5, 3],
                          "share": [1 / 9, 5 / 9, 3 / 9]})
    spec = charts.share_bars(frame, top=2).to_dict()
    rows = rows_of(spec)
    assert [r["label"] for r in rows] == ["b", "c"]
    assert [r["bar_text"] for r in rows] == ["5 (55.6%)", "3 (33.3%)"]
    # Whole-number ticks with thousands separators (plain "," gave "1e+2" on axes).
    x = [u for u in unit_specs(spec) if mark_type(u) == "bar"][0]["encoding"]["x"]
    assert x["axis"]["format"] == ",d" and x["axis"]["tickMinStep"] == 1


# ---------------------------------------------------------------------------------------
# scores
# ---------------------------------------------------------------------------------------

def test_score_bars_worst_first_with_n_and_low_sample_in_the_label():
    spec = charts.score_bars(score_frame(), "nps").to_dict()
    units = unit_specs(spec)
    dots = [u for u in units if mark_type(u) == "point"][0]
    rows = rows_of(spec, dots)
    # Scores -10 (Web) < 20 (App) < 45 (Store): worst first.
    assert [r["row_label"] for r in rows] == ["Web (n=120)", "App (n=300)",
                                              "Store (n=12, low sample)"]
    assert [r["score_label"] for r in rows] == ["−10", "+20", "+45"]
    assert rows[0]["interval_label"] == "−25 … +5"
    # The axis zooms to the intervals: lowest -25, highest 70 (0 inside, as NPS wants);
    # padding max(8% of 95, 2% of 200) = 7.6 -> -32.6 … 77.6, out to tens: -40 … 80.
    assert dots["encoding"]["x"]["scale"]["domain"] == [-40, 80]
    assert any(mark_type(u) == "rule" and "zero" in str(u["encoding"]["x"]) for u in units)
    assert "low sample" in spec["title"]["subtitle"]


def test_ces_and_csat_use_their_own_scales_and_secondary_labels():
    frame = score_frame().assign(score=[4.5, 6.0, 5.0], ci_low=[4.0, 5.0, 4.8],
                                 ci_high=[5.0, 7.0, 5.2], secondary=[40.0, 80.0, 55.0])
    spec = charts.score_bars(frame, "ces").to_dict()
    dots = [u for u in unit_specs(spec) if mark_type(u) == "point"][0]
    # Intervals span 4.0 … 7.0; padding max(8% of 3, 2% of 6) = 0.24 -> 3.76 … 7.24, out to
    # halves: 3.5 … 7.5, capped at the scale's top 7.
    assert dots["encoding"]["x"]["scale"]["domain"] == [3.5, 7]
    rows = rows_of(spec, dots)
    assert [r["secondary_label"] for r in rows] == ["40%", "55%", "80%"]
    assert not any(mark_type(u) == "rule" and "zero" in str(u["encoding"].get("x"))
                   for u in unit_specs(spec))
    csat = charts.score_bars(frame.assign(secondary=[3.914, 4.5, 4.0]), "csat").to_dict()
    rows = rows_of(csat, [u for u in unit_specs(csat) if mark_type(u) == "point"][0])
    assert [r["secondary_label"] for r in rows] == ["3.91", "4.00", "4.50"]


def test_score_heatmap_diverges_around_the_reference_and_marks_low_samples():
    frame = pd.DataFrame({"row": ["Web", "Web", "App", "App"],
                          "col": ["Purchase", "Aware", "Aware", "Purchase"],
                          "n": [50, 40, 10, 60],
                          "score": [40.0, 10.0, -20.0, 12.0],
                          "low_sample": [False, False, True, False]})
    spec = charts.score_heatmap(frame, "nps", reference=10.0,
                                col_order=["Aware", "Purchase"]).to_dict()
    rect = [u for u in unit_specs(spec) if mark_type(u) == "rect"][0]
    # Largest distance from the reference 10: |40 - 10| = 30 = |-20 - 10| (above the
    # NPS minimum of 20), so the colours span 10 ± 30.
    assert rect["encoding"]["color"]["scale"]["domain"] == [-20.0, 40.0]
    assert rect["encoding"]["x"]["sort"] == ["Aware", "Purchase"]
    rows = {(r["row"], r["col"]): r for r in rows_of(spec)}
    assert rows[("App", "Aware")]["cell_label"] == "−20*"
    # Text colour: 40 is 30/30 = 100% of the way to the end -> white text; 12 is 2/30 ->
    # dark; 10 is at the midpoint -> dark.  Low-sample cells are faded: dark text.
    assert rows[("Web", "Purchase")]["text_dark"] is False
    assert rows[("App", "Purchase")]["text_dark"] is True
    assert rows[("Web", "Aware")]["text_dark"] is True
    assert rows[("App", "Aware")]["text_dark"] is True
    # Scores close together keep the minimum spread: 12 and 14 around 10 -> 10 ± 20.
    close = frame.assign(score=[12.0, 14.0, 11.0, 9.0])
    close_spec = charts.score_heatmap(close, "nps", reference=10.0).to_dict()
    rect = [u for u in unit_specs(close_spec) if mark_type(u) == "rect"][0]
    assert rect["encoding"]["color"]["scale"]["domain"] == [-10.0, 30.0]
    assert "overall score (+10)" in spec["title"]["subtitle"]


def test_score_trend_band_groups_and_gaps():
    # Web answered in January and March only; App in all three months.
    frame = pd.DataFrame({"period": pd.to_datetime(["2024-03-01", "2024-01-01", "2024-01-01",
                                                    "2024-02-01", "2024-03-01"]),
                          "group": ["Web", "Web", "App", "App", "App"], "n": [40, 10, 50, 60, 55],
                          "score": [5.0, 4.0, 6.0, 5.5, 5.25], "ci_low": [4.5, 3.0, 5.5, 5.0, 5.0],
                          "ci_high": [5.5, 5.0, 6.5, 6.0, 5.5],
                          "low_sample": [False, True, False, False, False]})
    spec = charts.score_trend(frame, "ces", grain="month", group_title="Channel").to_dict()
    area = layer_with(spec, "area")
    assert area["encoding"]["y"]["field"] == "ci_low" and area["encoding"]["y2"]["field"] == "ci_high"
    assert area["encoding"]["color"]["field"] == "group"
    assert all(enc.get("type") != "temporal" for enc in encodings(spec))
    x = area["encoding"]["x"]
    assert x["scale"]["domain"] == ["Jan 2024", "Feb 2024", "Mar 2024"]
    assert x["title"] == "Month of response (UTC)"
    rows = rows_of(spec)
    # By period, then group in order of appearance (Web first); Web's February is a gap.
    assert [(r["period_label"], r["group"]) for r in rows] == [
        ("Jan 2024", "Web"), ("Jan 2024", "App"), ("Feb 2024", "Web"), ("Feb 2024", "App"),
        ("Mar 2024", "Web"), ("Mar 2024", "App")]
    web_feb = rows[2]
    assert (web_feb["n"], web_feb["score"], web_feb["score_label"]) == (0, None, "–")
    assert web_feb["sample_label"] == "No responses"
    assert rows[0]["interval_label"] == "3.00 … 5.00"
    assert [t["title"] for t in area["encoding"]["tooltip"]][:2] == ["Channel", "Period"]


# ---------------------------------------------------------------------------------------
# paths
# ---------------------------------------------------------------------------------------

def test_transition_heatmap_orders_start_first_and_end_last():
    frame = pd.DataFrame({"from": ["start", "B", "A", "A"], "to": ["A", "end", "B", "end"],
                          "customers": [10, 6, 6, 4], "events": [10, 6, 7, 4]})
    spec = charts.transition_heatmap(frame, order=["A", "B"]).to_dict()
    rect = [u for u in unit_specs(spec) if mark_type(u) == "rect"][0]
    assert rect["encoding"]["y"]["sort"] == ["start", "A", "B"]
    assert rect["encoding"]["x"]["sort"] == ["A", "B", "end"]
    # Text is dark below 55% of the largest count (10), i.e. below 5.5: 4 dark, 6 white.
    dark = {(r["source"], r["target"]): r["text_dark"] for r in rows_of(spec)}
    assert dark[("A", "end")] is True and dark[("A", "B")] is False
    events = charts.transition_heatmap(frame, value="events").to_dict()
    rect = [u for u in unit_specs(events) if mark_type(u) == "rect"][0]
    assert rect["encoding"]["color"]["field"] == "events"


def test_variant_bars_top_n_with_share_and_duration():
    frame = pd.DataFrame({"path_label": ["A", "A → B", "A → B → C"], "customers": [2, 5, 3],
                          "share": [0.2, 0.5, 0.3],
                          "median_duration_seconds": [0.0, 3600.0, 86400.0 * 4]})
    spec = charts.variant_bars(frame, top=2).to_dict()
    rows = rows_of(spec)
    assert [r["path_label"] for r in rows] == ["A → B", "A → B → C"]
    assert [r["bar_text"] for r in rows] == ["5 (50.0%)", "3 (30.0%)"]
    assert [r["duration_label"] for r in rows] == ["60.0 min", "4.0 days"]
