"""Tests for cxdata.charts: the specs the builders produce, checked on small hand-made
result frames shaped like the analytics outputs (docs: /tmp/api_analytics.md)."""
from __future__ import annotations

import altair as alt
import pandas as pd
import pytest

from cxdata import charts, formatting


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


def test_conversion_trend_sends_utc_instants_and_labels():
    frame = pd.DataFrame({"period": pd.to_datetime(["2024-01-08", "2024-01-01"]),
                          "entered": [20, 10], "converted": [5, 5], "conversion": [0.25, 0.5]})
    spec = charts.conversion_trend(frame).to_dict()
    rows = rows_of(spec)
    # Sorted by period; the "Z" keeps Vega from reading the instant as browser-local time.
    assert [r["period"] for r in rows] == ["2024-01-01T00:00:00Z", "2024-01-08T00:00:00Z"]
    assert [r["period_label"] for r in rows] == ["Week of 01 Jan 2024", "Week of 08 Jan 2024"]
    assert [r["conversion_label"] for r in rows] == ["50.0%", "25.0%"]


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


def test_score_trend_band_and_groups():
    frame = pd.DataFrame({"period": pd.to_datetime(["2024-02-01", "2024-01-01"] * 2),
                          "group": ["Web", "Web", "App", "App"], "n": [40, 10, 50, 60],
                          "score": [5.0, 4.0, 6.0, 5.5], "ci_low": [4.5, 3.0, 5.5, 5.0],
                          "ci_high": [5.5, 5.0, 6.5, 6.0],
                          "low_sample": [False, True, False, False]})
    spec = charts.score_trend(frame, "ces", grain="month", group_title="Channel").to_dict()
    units = unit_specs(spec)
    area = [u for u in units if mark_type(u) == "area"][0]
    assert area["encoding"]["y"]["field"] == "ci_low" and area["encoding"]["y2"]["field"] == "ci_high"
    assert area["encoding"]["color"]["field"] == "group"
    rows = rows_of(spec)
    assert rows[0]["period"] == "2024-01-01T00:00:00Z"
    assert rows[0]["period_label"] == "January 2024"


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
