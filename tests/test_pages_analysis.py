"""AppTest of the analysis pages (overview, funnel, touchpoints, paths).

Each test runs the real app (app.py), opens a page, sets widgets (or URL parameters, as a
shared link would) and checks that the figures on the page equal what ``cxdata``
computes for the same dataset and parameters - or, for a tiny hand-made log, the figures
worked out by hand.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from cxdata.presentation import charts

from cxdata.analytics import funnel, paths, scores
from cxdata.bootstrap import SAMPLE_NAME, install_sample_once
from cxdata.sql import EventFilter
from cxdata.store.workspace import Workspace

APP = Path(__file__).resolve().parent.parent / "app.py"
TIMEOUT = 120
TINY = "Tiny"
# Four customers (hand-made): c1 goes Aware → Consideration → Purchase, c2 Aware →
# Consideration, c3 only Aware, c4 only Consideration (never enters the stage funnel).
# Channels: c1, c2 Web; c3, c4 Store.  No score columns.
EVENTS = "Events"
# A log without stages (hand-made): u1 signup → verify → order, u2 signup → verify, u3
# signup, u4 browse.  Suggested first funnel (cxdata.analytics.funnel.suggest_steps): signup (met
# first by 3), then verify (2 of them go on to it), then order (1): 3 → 2 → 1.
EVENTS_CSV = """user_id,event_time,event_type
u1,2025-02-01 10:00:00 UTC,signup
u1,2025-02-01 11:00:00 UTC,verify
u1,2025-02-01 12:00:00 UTC,order
u2,2025-02-02 10:00:00 UTC,signup
u2,2025-02-03 10:00:00 UTC,verify
u3,2025-02-03 10:00:00 UTC,signup
u4,2025-02-04 10:00:00 UTC,browse
"""
TINY_CSV = """customer_id,timestamp,stage,touchpoint,channel
c1,2025-01-01T10:00:00Z,Aware,Search ad,Web
c1,2025-01-02T10:00:00Z,Consideration,Product page,Web
c1,2025-01-03T10:00:00Z,Purchase,Checkout,Web
c2,2025-01-01T11:00:00Z,Aware,Search ad,Web
c2,2025-01-05T11:00:00Z,Consideration,Reviews,Web
c3,2025-01-02T09:00:00Z,Aware,Social ad,Store
c4,2025-01-04T09:00:00Z,Consideration,Store visit,Store
"""


@pytest.fixture(scope="module")
def workspace_file(tmp_path_factory):
    """One workspace for the module: the bundled sample plus the tiny log."""
    path = tmp_path_factory.mktemp("pages") / "workspace.duckdb"
    csv = path.parent / "tiny.csv"
    csv.write_text(TINY_CSV, encoding="utf-8")
    ws = Workspace(path)
    install_sample_once(ws)
    ws.ingest(csv, TINY)
    events = path.parent / "events.csv"
    events.write_text(EVENTS_CSV, encoding="utf-8")
    ws.ingest(events, EVENTS)
    ws.close()
    return path


@pytest.fixture
def workspace(workspace_file, monkeypatch):
    """Point the app at the module's workspace (overrides the per-test one from conftest)
    and return the app's own Workspace object (cached per path, shared in-process)."""
    monkeypatch.setenv("CXDATA_WORKSPACE", str(workspace_file))
    from cxdata.ui.state import _open_workspace
    return _open_workspace(str(workspace_file))


def open_page(page: str, dataset: str = SAMPLE_NAME, **params) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params["dataset"] = dataset
    for key, value in params.items():
        at.query_params[key] = value
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def charts_by_title(at: AppTest) -> dict[str, pd.DataFrame]:
    """Each Altair chart on the page: its title -> the data it draws (main dataset)."""
    found = {}
    for element in at.get("vega_lite_chart"):
        spec = json.loads(element.proto.spec)
        title = spec.get("title")
        title = title.get("text") if isinstance(title, dict) else title
        frames = {d.name: convert_arrow_bytes_to_pandas_df(d.data.data)
                  for d in element.proto.datasets}
        main = spec.get("data", {}).get("name")
        # Layers may carry their own small data (e.g. a reference line): take the
        # top-level data, else the widest frame.
        found[title] = frames[main] if main in frames else max(frames.values(),
                                                               key=lambda f: f.shape[1])
    return found


def info_texts(at: AppTest) -> list[str]:
    return [i.value for i in at.info]


def table(ws: Workspace, name: str) -> str:
    return ws.get_dataset(name).table


# ---------------------------------------------------------------------------------------
# Overview

def test_overview_tiny_log_figures_by_hand(workspace):
    at = open_page("overview", TINY)
    shown = metrics(at)
    # 4 customers, 3 + 2 + 1 + 1 = 7 interactions; 3 entered at Aware, 1 reached
    # Purchase (the last stage): 1 / 3 = 33.3%.
    assert shown["Customers"] == "4"
    assert shown["Interactions"] == "7"
    assert shown["Reached Purchase"] == "33.3%"
    # No score columns: the cards say so instead of showing a number.
    assert shown["NPS"] == "–" and shown["CSAT"] == "–" and shown["CES"] == "–"
    assert "No score column mapped." in [c.value for c in at.caption]
    funnel_data = charts_by_title(at)["Stage funnel"]
    assert funnel_data["bar_label"].tolist() == ["3 (100.0%)", "2 (66.7%)", "1 (33.3%)"]


def test_overview_of_a_log_without_stages_shows_the_suggested_event_funnel(workspace):
    at = open_page("overview", EVENTS)
    shown = metrics(at)
    assert (shown["Customers"], shown["Interactions"]) == ("4", "7")
    # signup → verify → order: 3 → 2 → 1; 1 of the 3 who entered reached order.
    assert shown["Reached order"] == "33.3%"
    drawn = charts_by_title(at)["Event funnel"]
    assert drawn["bar_label"].tolist() == ["3 (100.0%)", "2 (66.7%)", "1 (33.3%)"]


def test_overview_follows_the_channel_filter_from_the_url(workspace):
    at = open_page("overview", TINY, channel=["Web"])
    shown = metrics(at)
    # Web only: c1 and c2 with 3 + 2 = 5 interactions; both entered, c1 reached
    # Purchase: 1 / 2 = 50.0%.
    assert shown["Customers"] == "2"
    assert shown["Interactions"] == "5"
    assert shown["Reached Purchase"] == "50.0%"
    assert at.multiselect(key="channel").value == ["Web"]
    assert any("Channel: Web" in c.value.replace("\\", "") for c in at.caption)


def test_overview_sample_scores_and_insights_equal_cxdata(workspace):
    at = open_page("overview")
    shown = metrics(at)
    cur = workspace.cursor()
    name = table(workspace, SAMPLE_NAME)
    for metric, label in (("nps", "NPS"), ("csat", "CSAT"), ("ces", "CES")):
        summary = scores.score_summary(cur, name, metric)
        assert shown[label] == charts.format_score(metric, summary.score)
        assert any(c.value.startswith(f"n = {summary.n:,} ·") for c in at.caption)
    stages = list(workspace.get_dataset(SAMPLE_NAME).stage_order)
    result = funnel.compute_funnel(cur, name, stages)
    assert shown[f"Reached {stages[-1]}"] == charts.format_percent(
        result.steps[-1].conversion_from_start)
    from cxdata.analytics.insights import dataset_insights
    titles = [i.title for i in dataset_insights(cur, name, stages)]
    # The page escapes markdown characters with a backslash; undo that to compare.
    shown_titles = [m.value.replace("\\", "") for m in at.markdown]
    assert titles and all(f"**{t}**" in shown_titles for t in titles)


def test_a_first_load_counts_the_events_once(workspace, monkeypatch):
    import streamlit as st
    import cxdata.sql
    st.cache_data.clear()
    calls = []
    counted = cxdata.sql.event_counts
    monkeypatch.setattr(cxdata.sql, "event_counts",
                        lambda *a, **k: calls.append(a[2:]) or counted(*a, **k))
    at = open_page("overview")
    # the filter bar's date span and the cards (an empty filter bar: no filter) share one
    assert calls == [(None,)]
    events = counted(workspace.cursor(), table(workspace, SAMPLE_NAME))["events"]
    assert metrics(at)["Interactions"] == f"{events:,}"


def test_a_channel_change_reads_the_cards_from_counts_per_channel(workspace, monkeypatch):
    """The score and interaction counts are made once per channel; a change of the
    channels kept adds them up instead of asking again, and shows what the filter's own
    query gives."""
    import streamlit as st
    import cxdata.sql
    from cxdata.analytics import insights
    st.cache_data.clear()
    asked = []
    own_scores, own_counts = insights.score_counts, cxdata.sql.event_counts_per
    monkeypatch.setattr(insights, "score_counts",
                        lambda *a, **k: asked.append(("scores", a[2:], k)) or own_scores(*a, **k))
    monkeypatch.setattr(cxdata.sql, "event_counts_per",
                        lambda *a, **k: asked.append(("events", a[2:], k)) or own_counts(*a, **k))
    at = open_page("overview")
    for channels in (["Web"], ["Email", "Store"]):
        at.multiselect(key="channel").set_value(channels).run()
        assert not at.exception
    assert asked == [("events", ("channel",), {}), ("scores", (), {"per": "channel"})]
    cur = workspace.cursor()
    name = table(workspace, SAMPLE_NAME)
    ef = EventFilter.build(equals={"channel": ["Email", "Store"]})
    shown = metrics(at)
    assert shown["Interactions"] == f"{cxdata.sql.event_counts(cur, name, ef)['events']:,}"
    for metric, summary in insights.overall_scores(own_scores(cur, name, ef)).items():
        assert shown[metric.upper()] == charts.format_score(metric, summary.score)


def test_the_funnel_page_opened_from_the_dropoff_finding_reuses_its_summary(workspace,
                                                                           monkeypatch):
    import streamlit as st
    from cxdata.analytics import insights
    from cxdata.why.findings import finding_link
    cur = workspace.cursor()
    name = table(workspace, SAMPLE_NAME)
    stages = list(workspace.get_dataset(SAMPLE_NAME).stage_order)
    web = EventFilter.build(equals={"channel": ["Web"]})
    finding = next(f for f in insights.dataset_insights(cur, name, stages, event_filter=web)
                   if f.kind == "dropoff")
    after = stages.index(finding.evidence["from_stage"]) + 1
    expected = funnel.dropoff_summary(cur, name, stages, after, column="touchpoint",
                                      event_filter=web)
    st.cache_data.clear()
    calls, together, views = [], [], []
    computed, journeys = funnel.dropoff_summary, funnel.funnel_with_dropoff
    computed_views = funnel.funnel_and_dropoff
    monkeypatch.setattr(funnel, "dropoff_summary",
                        lambda *a, **k: calls.append(a[2:]) or computed(*a, **k))
    monkeypatch.setattr(funnel, "funnel_with_dropoff",
                        lambda *a, **k: together.append(a[2:]) or journeys(*a, **k))
    monkeypatch.setattr(funnel, "funnel_and_dropoff",
                        lambda *a, **k: views.append(a[2:]) or computed_views(*a, **k))
    overview = open_page("overview", channel=["Web"])
    # the drop-off finding's summary, once, with the journey funnel drawn beside it
    assert (len(together), len(calls)) == (1, 0)
    assert any(m.value.replace("\\", "") == f"**{finding.title}**" for m in overview.markdown)
    page, _, query = finding_link(finding)
    assert page == "pages/funnel.py"
    at = open_page("funnel", channel=["Web"], **query)
    # the page's funnel and drop-out view of that step are the journey's, from the cache
    assert (len(together), len(calls), len(views)) == (1, 0, 0)
    drawn = charts_by_title(at)
    for title, frame in ((f"Where they left {stages[after - 1]}", expected.left_at),
                         ("What they did next", expected.next)):
        assert dict(zip(drawn[title]["label"], drawn[title]["customers"])) == dict(
            zip(frame["value"].head(15), frame["customers"].head(15)))
    # another question (another step's drop-outs) is computed, with the funnel drawn
    # beside it (one set of counted attempts)
    at.selectbox(key="fn_drop").set_value(after + 1)
    at.run()
    assert not at.exception and (len(views), len(calls)) == (1, 0)
    assert views[0][2] == after + 1
    drawn = charts_by_title(at)
    other = computed(cur, name, stages, after + 1, column="touchpoint", event_filter=web)
    assert dict(zip(drawn["What they did next"]["label"], drawn["What they did next"]["customers"])) \
        == dict(zip(other.next["value"].head(15), other.next["customers"].head(15)))


# ---------------------------------------------------------------------------------------
# Funnel

def funnel_frame_on_page(at: AppTest) -> pd.DataFrame:
    return charts_by_title(at)["Funnel"]


def test_funnel_default_steps_are_the_stage_order_and_match_cxdata(workspace):
    at = open_page("funnel")
    info = workspace.get_dataset(SAMPLE_NAME)
    assert at.multiselect(key="fn_steps_stage").value == list(info.stage_order)
    result = funnel.compute_funnel(workspace.cursor(), info.table, list(info.stage_order))
    shown = funnel_frame_on_page(at)
    assert shown["customers"].tolist() == [s.customers for s in result.steps]
    assert shown["dropped"].tolist() == [s.dropped for s in result.steps]
    # The drop-out picker starts on the step losing most customers.
    frame = result.to_frame()
    biggest = int(frame.iloc[:-1]["dropped"].idxmax()) + 1
    assert at.selectbox(key="fn_drop").value == biggest
    step = result.steps[biggest - 1]
    assert metrics(at)[f"Reached {step.step}"] == f"{step.customers:,}"
    assert metrics(at)[f"Did not reach {result.steps[biggest].step}"] == f"{step.dropped:,}"


def test_the_funnel_and_its_drop_out_view_are_found_together_and_shared(workspace, monkeypatch):
    import streamlit as st
    info = workspace.get_dataset(SAMPLE_NAME)
    steps = list(info.stage_order)
    result = funnel.compute_funnel(workspace.cursor(), info.table, steps)
    biggest = funnel.most_dropped_step(result)
    summary = funnel.dropoff_summary(workspace.cursor(), info.table, steps, biggest, column="touchpoint")
    st.cache_data.clear()
    asked = {"compute_funnel": [], "dropoff_summary": [], "funnel_and_dropoff": []}
    for name in asked:
        original = getattr(funnel, name)
        monkeypatch.setattr(funnel, name, lambda *a, _f=original, _n=name, **k:
                            asked[_n].append(a[2:]) or _f(*a, **k))
    at = open_page("funnel")
    # one question answers the chart and the drop-out view (the step losing most)
    assert [len(v) for v in asked.values()] == [0, 0, 1]
    assert asked["funnel_and_dropoff"][0][2] is None and at.selectbox(key="fn_drop").value == biggest
    assert funnel_frame_on_page(at)["customers"].tolist() == [s.customers for s in result.steps]
    nexts = charts_by_title(at)["What they did next"]
    assert dict(zip(nexts["label"], nexts["customers"])) == dict(
        zip(summary.next["value"].head(15), summary.next["customers"].head(15)))
    # another tab finds the funnel computed
    at.session_state["fn_tab"] = "Table"
    at.run()
    assert not at.exception and [len(v) for v in asked.values()] == [0, 0, 1]
    # and back on the drop-outs, another column is another view (the funnel comes along)
    at.session_state["fn_tab"] = "Drop-outs"
    at.run()
    at.selectbox(key="fn_next").set_value("channel").run()
    assert not at.exception and [len(v) for v in asked.values()] == [0, 0, 2]
    assert asked["funnel_and_dropoff"][1][1] == "channel"


def test_funnel_window_order_and_dropout_step_change_the_figures(workspace):
    at = open_page("funnel")
    at.selectbox(key="fn_window").set_value("7d").run()
    at.segmented_control(key="fn_order").set_value("strict").run()
    at.selectbox(key="fn_drop").set_value(3).run()
    assert not at.exception, at.exception
    info = workspace.get_dataset(SAMPLE_NAME)
    steps = list(info.stage_order)
    options = dict(window_seconds=7 * 86400, order="strict")
    cur = workspace.cursor()
    result = funnel.compute_funnel(cur, info.table, steps, **options)
    assert funnel_frame_on_page(at)["customers"].tolist() == [s.customers for s in result.steps]
    assert metrics(at)[f"Reached {steps[2]}"] == f"{result.steps[2].customers:,}"
    summary = funnel.dropoff_summary(cur, info.table, steps, 3, column="touchpoint", **options)
    drawn = charts_by_title(at)
    left = drawn[f"Where they left {steps[2]}"]
    assert dict(zip(left["label"], left["customers"])) == dict(
        zip(summary.left_at["value"].head(15), summary.left_at["customers"].head(15)))
    nexts = drawn["What they did next"]
    assert dict(zip(nexts["label"], nexts["customers"])) == dict(
        zip(summary.next["value"].head(15), summary.next["customers"].head(15)))
    # the customer list is on request (the one table before it is the drivers of the drop)
    assert not any("customer_id" in d.value.columns for d in at.dataframe)
    at.toggle(key="fn_list").set_value(True).run()
    who = [d.value for d in at.dataframe if "customer_id" in d.value.columns][0]
    expected = funnel.dropoff_customers(cur, info.table, steps, 3, column="touchpoint",
                                        limit=10_000, **options)
    assert who["customer_id"].tolist() == expected["customer_id"].tolist()


def test_funnel_state_comes_from_a_shared_link(workspace):
    # What a copied URL carries: bound widgets are keyed by their labels' values.
    at = open_page("funnel", fn_order="Strictly next", fn_drop="2. Consideration",
                   channel=["Web"], fn_tab="Table")
    assert at.segmented_control(key="fn_order").value == "strict"
    assert at.selectbox(key="fn_drop").value == 2
    info = workspace.get_dataset(SAMPLE_NAME)
    ef = EventFilter.build(equals={"channel": ["Web"]})
    result = funnel.compute_funnel(workspace.cursor(), info.table, list(info.stage_order),
                                   order="strict", event_filter=ef)
    shown = funnel_frame_on_page(at)
    assert shown["customers"].tolist() == [s.customers for s in result.steps]
    # The Table tab is open: its table lists the same customers.
    assert at.dataframe[0].value["customers"].tolist() == [s.customers for s in result.steps]


def test_funnel_any_order_labels_steps_by_count(workspace):
    at = open_page("funnel", TINY, fn_order="Any order")
    # Any order over Aware, Consideration, Purchase: c1 completed 3 steps, c2 2 (Aware,
    # Consideration), c3 1 and c4 1 (Consideration alone counts as one step).
    shown = funnel_frame_on_page(at)
    assert shown["step"].tolist() == ["completed 1 step", "completed 2 steps",
                                      "completed 3 steps"]
    assert shown["customers"].tolist() == [4, 2, 1]
    # The drop-out figures count steps too: 4 completed 1, 2 of them went on to 2 of 3.
    at.selectbox(key="fn_drop").set_value(1).run()
    assert metrics(at)["Reached 1 of 3 steps"] == "4"
    assert metrics(at)["Did not reach 2 of 3 steps"] == "2"


def test_funnel_breakdown_time_and_trend_tabs(workspace):
    info = workspace.get_dataset(SAMPLE_NAME)
    steps = list(info.stage_order)
    cur = workspace.cursor()
    at = open_page("funnel", fn_tab="Breakdown")
    drawn = charts_by_title(at)["Funnel by channel"]
    groups = funnel.funnel_breakdown(cur, info.table, steps, "channel")
    # every group is named with its n (customers entered), a small one marked *
    expected = charts.frame_from_breakdown(
        [(f"{g} (n = {r.entered:,})" + (" *" if r.entered < 30 else ""), r) for g, r in groups])
    expected = expected[expected["group"].isin(drawn["group"].unique())]
    assert sorted(zip(drawn["group"], drawn["step_index"], drawn["customers"])) == sorted(
        zip(expected["group"], expected["step_index"], expected["customers"]))
    table_shown = at.dataframe[0].value
    assert table_shown["group"].tolist() == [g for g, _ in groups]
    assert table_shown["entered"].tolist() == [r.entered for _, r in groups]
    assert table_shown["low_sample"].tolist() == [r.entered < 30 for _, r in groups]

    at = open_page("funnel", fn_tab="Time to convert")
    result = funnel.compute_funnel(cur, info.table, steps)
    assert metrics(at)["Median"] == charts.format_duration(
        result.steps[1].median_seconds_from_previous)
    hist = funnel.step_durations_histogram(cur, info.table, steps, 2)
    drawn = charts_by_title(at)[f"Time from {steps[0]} to {steps[1]}"]
    assert drawn["customers"].tolist() == hist["customers"].tolist()

    at = open_page("funnel", fn_tab="Over time", fn_grain="month")
    trend = funnel.funnel_trend(cur, info.table, steps, "month")
    drawn = charts_by_title(at)["Conversion over time"]
    assert drawn["entered"].tolist() == trend["entered"].tolist()
    assert drawn["conversion_label"].tolist() == [charts.format_percent(v)
                                                  for v in trend["conversion"]]


def test_funnel_needs_two_steps_and_says_so(workspace):
    at = open_page("funnel", TINY, fn_by="Touchpoint")
    # Touchpoints have no stage order: the page starts from the suggested path.  Search ad
    # is met first (c1, c2); after it Product page (c1), Reviews (c2) and Checkout (c1)
    # tie on one customer; Product page and Reviews are usually met earlier (2nd) than
    # Checkout (3rd), and Product page comes first by name; after Product page: Checkout.
    assert at.multiselect(key="fn_steps_touchpoint").value == ["Search ad", "Product page", "Checkout"]
    assert funnel_frame_on_page(at)["customers"].tolist() == [2, 1, 1]
    at.multiselect(key="fn_steps_touchpoint").set_value(["Search ad"]).run()
    assert "Pick at least two steps to see a funnel." in info_texts(at)
    at.multiselect(key="fn_steps_touchpoint").set_value(["Search ad", "Reviews"]).run()
    # c1 and c2 saw the Search ad; only c2 then read Reviews: 2 -> 1 (50.0%).
    assert funnel_frame_on_page(at)["bar_label"].tolist() == ["2 (100.0%)", "1 (50.0%)"]


def test_funnel_can_count_a_value_again_as_a_later_step(workspace):
    at = open_page("funnel", TINY, fn_by="Touchpoint")
    assert "Search ad · 2nd time" in at.multiselect(key="fn_steps_touchpoint").options
    at.multiselect(key="fn_steps_touchpoint").set_value(["Search ad", "Product page",
                                                         "Search ad · 2nd time"]).run()
    assert not at.exception, at.exception
    # c1 and c2 saw one Search ad each; c1 then the Product page; nobody saw a second ad.
    shown = funnel_frame_on_page(at)
    assert shown["step"].tolist() == ["Search ad", "Product page", "Search ad · 2nd time"]
    assert shown["customers"].tolist() == [2, 1, 0]
    at.selectbox(key="fn_drop").set_value(2).run()
    assert metrics(at)["Did not reach Search ad · 2nd time"] == "1"
    # The breakdown names the steps the same way: c1 and c2 entered on the Web channel.
    at = open_page("funnel", TINY, fn_by="Touchpoint", fn_tab="Breakdown",
                   fn_steps_touchpoint=["Search ad", "Product page", "Search ad · 2nd time"])
    drawn = charts_by_title(at)["Funnel by channel"]
    # two entrants: a low sample, marked *
    assert sorted(zip(drawn["group"], drawn["step"], drawn["customers"])) == [
        ("Web (n = 2) *", "Product page", 1), ("Web (n = 2) *", "Search ad", 2),
        ("Web (n = 2) *", "Search ad · 2nd time", 0)]
    assert "1 group with fewer than 30 entrants (marked *, low sample)" in " ".join(
        c.value for c in at.caption)
    cur = workspace.cursor()
    expected = funnel.compute_funnel(cur, table(workspace, TINY), ["Search ad", "Product page", "Search ad"],
                                     by="touchpoint")
    assert shown["customers"].tolist() == [s.customers for s in expected.steps]


def test_relabelled_names_steps_by_their_labels():
    from cxdata.ui.steps import relabelled
    result = funnel.FunnelResult(entered=2, steps=[
        funnel.FunnelStep("A", 2, 1.0, 1.0, 1, None, None, None),
        funnel.FunnelStep("A", 1, 0.5, 0.5, 1, 60.0, 60.0, 60.0)])
    renamed = relabelled(result, ["A", "A · 2nd time"])
    assert [s.step for s in renamed.steps] == ["A", "A · 2nd time"]
    assert [s.customers for s in renamed.steps] == [2, 1]
    assert relabelled(result, ["A", "A"]) is result
    assert relabelled(result, ["only one"]) is result


def test_step_choices_offer_repeats_after_the_values():
    from cxdata.ui.steps import step_choices
    assert step_choices(["A", "B"]) == {"A": "A", "B": "B", "A · 2nd time": "A", "B · 2nd time": "B",
                                        "A · 3rd time": "A", "B · 3rd time": "B"}
    # a real value that looks like a repeat keeps its own meaning
    assert step_choices(["A", "A · 2nd time"])["A · 2nd time"] == "A · 2nd time"


def test_funnel_exclusions_remove_customers_and_say_how_many(workspace):
    at = open_page("funnel", TINY)
    assert funnel_frame_on_page(at)["customers"].tolist() == [3, 2, 1]
    at.selectbox(key="fn_ex_by").set_value("touchpoint").run()
    at.multiselect(key="fn_ex_values_touchpoint").set_value(["Reviews"]).run()
    assert not at.exception, at.exception
    # Between Aware and Purchase (the defaults): c2 read Reviews on 5 Jan after their Aware
    # of 1 Jan and never reached Purchase (no window: until the end) -> excluded.  c1 and
    # c3 had no Reviews: Aware 2 (c1, c3), Consideration 1, Purchase 1.
    assert funnel_frame_on_page(at)["customers"].tolist() == [2, 1, 1]
    assert "Excluded: 1 of 3 customers, who had 'Reviews' between Aware and Purchase." in [
        c.value for c in at.caption]
    # Product page is c1's Consideration event itself, not an interaction after it: from
    # step 2 to step 3 nobody is excluded.
    at.multiselect(key="fn_ex_values_touchpoint").set_value(["Product page"]).run()
    at.selectbox(key="fn_ex_after").set_value(2).run()
    assert funnel_frame_on_page(at)["customers"].tolist() == [3, 2, 1]
    # An end before the start is a plain warning, and excludes nobody.
    at.selectbox(key="fn_ex_before").set_value(2).run()
    # (the step's name is user text, escaped for Markdown: "2\\." shows as "2.")
    assert "Pick a later step than 2\\. Consideration to end the exclusion" in at.warning[0].value
    assert funnel_frame_on_page(at)["customers"].tolist() == [3, 2, 1]
    # Values of another column, here both channels: only the customers who had a further
    # interaction after Aware leave.
    at.selectbox(key="fn_ex_after").set_value(1).run()
    at.selectbox(key="fn_ex_before").set_value(3).run()
    at.selectbox(key="fn_ex_by").set_value("channel").run()
    at.multiselect(key="fn_ex_values_channel").set_value(["Web", "Store"]).run()
    # c1 and c2 had Web interactions after Aware; c3 had none after theirs: c3 stays.
    assert funnel_frame_on_page(at)["customers"].tolist() == [1, 0, 0]
    assert "Excluded: 2 of 3 customers, who had 'Web' or 'Store' between Aware and Purchase." in [
        c.value for c in at.caption]


def test_funnel_of_a_log_without_stages_starts_from_the_suggested_steps(workspace):
    at = open_page("funnel", EVENTS)
    assert at.selectbox(key="fn_by").value == "event"
    assert at.multiselect(key="fn_steps_event").value == ["signup", "verify", "order"]
    assert funnel_frame_on_page(at)["customers"].tolist() == [3, 2, 1]


def test_funnel_bad_custom_window_is_a_plain_warning(workspace):
    at = open_page("funnel", TINY, fn_window="Custom…", fn_window_custom="soon")
    assert at.warning and "Using no limit" in at.warning[0].value
    assert funnel_frame_on_page(at)["customers"].tolist() == [3, 2, 1]


# ---------------------------------------------------------------------------------------
# Touchpoints

def test_touchpoints_metric_switch_equals_cxdata(workspace):
    at = open_page("touchpoints")
    at.segmented_control(key="tp_metric").set_value("csat").run()
    assert not at.exception
    info = workspace.get_dataset(SAMPLE_NAME)
    cur = workspace.cursor()
    overall = scores.score_summary(cur, info.table, "csat")
    assert metrics(at)["CSAT overall"] == charts.format_score("csat", overall.score)
    by = scores.scores_by(cur, info.table, "csat", "touchpoint")
    drawn = charts_by_title(at)["CSAT by touchpoint"]
    assert drawn["group"].tolist() == by["group"].tolist()        # worst first
    assert drawn["n"].tolist() == by["n"].tolist()
    assert drawn["score"].round(9).tolist() == by["score"].round(9).tolist()
    assert drawn["low_sample"].tolist() == by["low_sample"].tolist()


def test_touchpoints_low_sample_threshold_and_filter(workspace):
    at = open_page("touchpoints", channel=["Email"], tp_min="200")
    info = workspace.get_dataset(SAMPLE_NAME)
    ef = EventFilter.build(equals={"channel": ["Email"]})
    by = scores.scores_by(workspace.cursor(), info.table, "nps", "touchpoint",
                          event_filter=ef, low_sample=200)
    drawn = charts_by_title(at)["NPS by touchpoint"]
    assert drawn["n"].tolist() == by["n"].tolist()
    assert drawn["low_sample"].tolist() == [n < 200 for n in by["n"]]


def test_touchpoints_compare_segments_shows_cxdata_difference(workspace):
    at = open_page("touchpoints", tp_tab="Compare segments")
    a, b = at.selectbox(key="tp_a").value, at.selectbox(key="tp_b").value
    info = workspace.get_dataset(SAMPLE_NAME)
    result = scores.compare_groups(workspace.cursor(), info.table, "nps", "channel", a, b)
    shown = metrics(at)
    assert shown[f"A: {a}"] == charts.format_score("nps", result.score_a)
    assert shown["Difference A − B"] == charts.format_difference("nps", result.difference)
    assert any(charts.format_p(result.p_value) in c.value for c in at.caption)
    # Customer segments on one touchpoint only (Review request is all Email, so a channel
    # comparison there says there is nothing to compare).
    at.selectbox(key="tp_at").set_value("Review request").run()
    assert any("Fewer than two channel values" in t for t in info_texts(at))
    at.selectbox(key="tp_seg").set_value("segment").run()
    a, b = at.selectbox(key="tp_a").value, at.selectbox(key="tp_b").value
    ef = EventFilter.build(equals={"touchpoint": ["Review request"]})
    result = scores.compare_groups(workspace.cursor(), info.table, "nps", "segment", a, b,
                                   event_filter=ef)
    assert metrics(at)["Difference A − B"] == charts.format_difference("nps", result.difference)
    assert metrics(at)[f"B: {b}"] == charts.format_score("nps", result.score_b)


def test_touchpoints_heatmap_trend_and_comments(workspace):
    info = workspace.get_dataset(SAMPLE_NAME)
    cur = workspace.cursor()
    at = open_page("touchpoints", tp_tab="Heatmap")
    # Default "across": the first customer attribute (for whom), here segment.
    assert at.selectbox(key="tp_across").value == "segment"
    matrix = scores.scores_matrix(cur, info.table, "nps", "touchpoint", "segment")
    drawn = charts_by_title(at)["NPS by touchpoint and segment"]
    assert sorted(zip(drawn["row"], drawn["col"], drawn["n"])) == sorted(
        zip(matrix["row"], matrix["col"], matrix["n"]))

    at = open_page("touchpoints", tp_tab="Trend")
    trend = scores.scores_trend(cur, info.table, "nps", "month")
    assert charts_by_title(at)["NPS over time"]["n"].tolist() == trend["n"].tolist()

    at = open_page("touchpoints", tp_tab="Comments")
    worst = scores.scores_by(cur, info.table, "nps", "touchpoint")["group"].iloc[0]
    assert at.selectbox(key="tp_comments_of").value == worst
    # The first page of 50 comments (see test_touchpoints_comments_true_count_pages_and_csv).
    expected = scores.comments(cur, info.table, column="touchpoint", value=worst, metric="nps",
                               limit=50)
    assert at.dataframe[-1].value["comment"].tolist() == expected["comment"].tolist()


def chart_spec(at: AppTest, title: str) -> dict:
    for element in at.get("vega_lite_chart"):
        spec = json.loads(element.proto.spec)
        shown = spec.get("title")
        if (shown.get("text") if isinstance(shown, dict) else shown) == title:
            return spec
    raise AssertionError(f"no chart titled {title!r}")


def test_touchpoints_compare_chart_follows_the_cards_order_and_colours(workspace):
    at = open_page("touchpoints", tp_tab="Compare segments")
    # Segment values are offered sorted: A = Email, B = Mobile app.  Email scores higher,
    # so a worst-first chart would draw Mobile app first; the chart follows the cards.
    a, b = at.selectbox(key="tp_a").value, at.selectbox(key="tp_b").value
    assert (a, b) == ("Email", "Mobile app")
    assert [m.label for m in at.metric][1:3] == ["A: Email", "B: Mobile app"]
    captions = [c.value for c in at.caption]
    info = workspace.get_dataset(SAMPLE_NAME)
    result = scores.compare_groups(workspace.cursor(), info.table, "nps", "channel", a, b)
    assert f":blue[■] n = {result.n_a:,}" in captions
    assert f":orange[■] n = {result.n_b:,}" in captions
    title = "NPS: segment A and segment B"
    drawn = charts_by_title(at)[title]
    expected = [f"A: Email (n={result.n_a:,})", f"B: Mobile app (n={result.n_b:,})"]
    assert drawn["row_label"].tolist() == expected
    spec = json.dumps(chart_spec(at, title))
    assert json.dumps({"domain": expected, "range": ["#0072B2", "#E69F00"]}) in spec
    assert f'"sort": {json.dumps(expected)}' in spec
    # Swapped: the chart swaps too.
    at.selectbox(key="tp_a").set_value("Mobile app").run()
    at.selectbox(key="tp_b").set_value("Email").run()
    assert not at.exception, at.exception
    assert charts_by_title(at)[title]["row_label"].tolist() == [
        f"A: Mobile app (n={result.n_b:,})", f"B: Email (n={result.n_a:,})"]


def deferred_downloads(monkeypatch) -> dict:
    """file id -> the callable of each deferred ``st.download_button`` the app registers
    (AppTest's media manager is gone after a run; this keeps the callables)."""
    from streamlit.runtime.media_file_manager import MediaFileManager
    found = {}
    original = MediaFileManager.add_deferred

    def keep(self, data_callable, *args, **kwargs):
        file_id = original(self, data_callable, *args, **kwargs)
        found[file_id] = data_callable
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", keep)
    return found


# The Comments tab opens with the sentiment and topics of the comments (cxdata.why.comments);
# the paged list of every comment is the tab's last table.
def test_touchpoints_comments_true_count_pages_and_csv(workspace, monkeypatch):
    downloads = deferred_downloads(monkeypatch)
    info = workspace.get_dataset(SAMPLE_NAME)
    cur = workspace.cursor()
    at = open_page("touchpoints", tp_tab="Comments")
    at.segmented_control(key="tp_metric").set_value("csat").run()    # Delivery is rated by CSAT
    at.selectbox(key="tp_comments_of").set_value("Delivery").run()
    assert not at.exception, at.exception
    # The sample has 323 non-blank comments on Delivery (counted in the CSV by hand with
    # DuckDB: count(*) where touchpoint = 'Delivery' and trim(comment) <> '').
    every = scores.comments(cur, info.table, column="touchpoint", value="Delivery",
                            metric="csat", limit=None)
    assert len(every) == 323
    captions = [c.value for c in at.caption]
    assert "323 comments on Delivery, lowest CSAT first · showing 1–50." in captions
    assert not any("at most 200" in c for c in captions)
    # 323 comments in pages of 50: 7 pages, the last holds 301–323.
    page = at.number_input(key="tp_comments_page")
    assert (page.value, page.max, page.label) == (1, 7, "Page (of 7)")
    shown = at.dataframe[-1].value
    assert shown["comment"].tolist() == every["comment"].head(50).tolist()
    assert "_row" not in shown.columns
    page.set_value(7).run()
    assert not at.exception, at.exception
    assert "323 comments on Delivery, lowest CSAT first · showing 301–323." in [
        c.value for c in at.caption]
    assert at.dataframe[-1].value["comment"].tolist() == every["comment"].iloc[300:].tolist()
    # The download holds all 323 comments of the selection, not only the page shown.
    [button] = [b for b in at.get("download_button") if b.proto.id.endswith("tp_comments_csv")]
    assert button.proto.label == "Download all 323 comments (CSV)"
    data = downloads[button.proto.deferred_file_id]()
    csv = pd.read_csv(__import__("io").BytesIO(data), encoding="utf-8-sig")
    assert list(csv.columns) == ["Touchpoint", "Time (UTC)", "Customer", "CSAT", "Comment"]
    assert len(csv) == 323 and set(csv["Touchpoint"]) == {"Delivery"}
    assert csv["Comment"].tolist() == every["comment"].tolist()
    # Another touchpoint starts again on page 1.
    at.selectbox(key="tp_comments_of").set_value("Returns").run()
    assert at.number_input(key="tp_comments_page").value == 1
    assert "26 comments on Returns, lowest CSAT first · showing 1–26." in [
        c.value for c in at.caption]


def test_touchpoints_comments_are_plain_text(workspace, tmp_path):
    from cxdata.ui.filters import plain
    # A comment and a touchpoint that look like Markdown / HTML are shown as typed.
    log = tmp_path / "markup.csv"
    log.write_text("customer_id,timestamp,touchpoint,nps,comment\n"
                   "m1,2025-01-01T10:00:00Z,**Bold** <b>desk</b>,3,"
                   "\"<script>alert(1)</script> **not bold** [link](http://x)\"\n",
                   encoding="utf-8")
    workspace.ingest(log, "Markup", replace=True)
    at = open_page("touchpoints", "Markup", tp_tab="Comments")
    assert at.dataframe[-1].value["comment"].tolist() == [
        "<script>alert(1)</script> **not bold** [link](http://x)"]
    caption = next(c.value for c in at.caption if "comment on" in c.value)
    # The touchpoint's name is escaped for Markdown, so it shows as typed.
    assert caption.startswith("1 comment on " + plain("**Bold** <b>desk</b>") + ", lowest NPS")
    assert plain("**Bold** <b>desk</b>") == "\\*\\*Bold\\*\\* \\<b\\>desk\\</b\\>"
    assert not at.markdown or all("<script>" not in m.value for m in at.markdown)


def test_touchpoints_without_scores_is_an_empty_state(workspace):
    at = open_page("touchpoints", TINY)
    assert any("no NPS, CSAT or CES responses" in t for t in info_texts(at))
    assert not at.get("vega_lite_chart")


# ---------------------------------------------------------------------------------------
# Paths

def test_paths_tabs_equal_cxdata(workspace):
    info = workspace.get_dataset(SAMPLE_NAME)
    cur = workspace.cursor()
    at = open_page("paths")
    trans = paths.transitions(cur, info.table, "stage", collapse_repeats=True)
    drawn = charts_by_title(at)["Where customers go next"]
    assert sorted(zip(drawn["source"], drawn["target"], drawn["customers"])) == sorted(
        zip(trans["from"], trans["to"], trans["customers"]))

    at = open_page("paths", pa_tab="Common journeys", pa_top="5")
    variants = paths.variants(cur, info.table, "stage", top=5)
    drawn = charts_by_title(at)["Most common journeys"]
    assert drawn["path_label"].tolist() == variants["path_label"].tolist()
    assert drawn["customers"].tolist() == variants["customers"].tolist()

    at = open_page("paths", pa_tab="After drop-off")
    steps = list(info.stage_order)
    after = paths.after_dropoff(cur, info.table, steps, 1)
    drawn = charts_by_title(at)
    for title, frame in ((f"Where they left {steps[0]}", after.left_at),
                         ("What they did next", after.next)):
        assert dict(zip(drawn[title]["label"], drawn[title]["customers"])) == dict(
            zip(frame["value"].head(15), frame["customers"].head(15)))


def test_paths_tiny_transitions_by_hand(workspace):
    at = open_page("paths", TINY, pa_by="Touchpoint")
    drawn = charts_by_title(at)["Where customers go next"]
    moves = dict(zip(zip(drawn["source"], drawn["target"]), drawn["customers"]))
    # start → Search ad: c1, c2; start → Social ad: c3; start → Store visit: c4.
    assert moves[("start", "Search ad")] == 2
    assert moves[("start", "Social ad")] == 1
    # c1: Search ad → Product page → Checkout → end; c2: Search ad → Reviews → end.
    assert moves[("Search ad", "Product page")] == 1
    assert moves[("Checkout", "end")] == 1
    assert sum(v for (src, dst), v in moves.items() if dst == "end") == 4


def test_paths_of_events_follow_the_process_order_by_hand(workspace):
    at = open_page("paths", EVENTS)
    assert at.selectbox(key="pa_by").value == "event"
    spec = chart_spec(at, "Where customers go next")
    rect = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "rect")
    # First-occurrence ranks: signup 1 (u1, u2, u3), browse 1 (u4), verify 2 (u1, u2),
    # order 3 (u1).  Median rank, then more customers first: signup, browse, verify, order
    # (alphabetical would be browse, order, signup, verify).
    assert rect["encoding"]["y"]["sort"] == ["start", "signup", "browse", "verify", "order"]
    assert rect["encoding"]["x"]["sort"] == ["signup", "browse", "verify", "order", "end"]
    assert rect["encoding"]["x"]["title"] == "To event"
    assert "from one event (rows) to the next (columns), in process order" in spec["title"][
        "subtitle"]
    [caption] = [c.value for c in at.caption if "process order" in c.value]
    assert "each event where it typically comes" in caption and "stage" not in caption

    at = open_page("paths", EVENTS, pa_tab="Common journeys")
    drawn = charts_by_title(at)["Most common journeys"]
    # u1 signup → verify → order, u2 signup → verify, u3 signup, u4 browse: one each.
    assert sorted(drawn["path_label"]) == ["browse", "signup", "signup → verify",
                                           "signup → verify → order"]
    assert chart_spec(at, "Most common journeys")["title"]["subtitle"].startswith(
        "Event sequences")
    table = at.dataframe[0].value
    assert list(table.columns) == ["#", "Customers", "Share of customers", "Events",
                                   "Median duration", "Journey"]
    assert table["Journey"].tolist() == drawn["path_label"].tolist()
    assert table["#"].tolist() == [1, 2, 3, 4]


def test_paths_of_stages_say_stage_order(workspace):
    at = open_page("paths", TINY)
    spec = chart_spec(at, "Where customers go next")
    subtitle = spec["title"]["subtitle"]
    assert "in the dataset's stage order" in subtitle and "typically" not in subtitle
    rect = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "rect")
    assert rect["encoding"]["x"]["sort"] == ["Aware", "Consideration", "Purchase", "end"]


RECEIPT = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "receipt.csv.gz"


@pytest.mark.skipif(not RECEIPT.exists(), reason="the shared receipt log is not here")
def test_paths_of_the_receipt_process_log(workspace):
    if "Receipt" not in [d.name for d in workspace.list_datasets()]:
        workspace.ingest(RECEIPT, "Receipt")
    info = workspace.get_dataset("Receipt")
    cur = workspace.cursor()
    at = open_page("paths", "Receipt")
    spec = chart_spec(at, "Where customers go next")
    rect = next(layer for layer in spec["layer"] if layer["mark"]["type"] == "rect")
    order = paths.value_order(cur, info.table, "event")["value"].tolist()
    targets = rect["encoding"]["x"]["sort"]
    assert targets == [v for v in order if v in targets] + ["end"]
    # Process order, not alphabetical: T04 (typically 3rd) before T03 (an occasional
    # correction that comes later).
    assert targets.index("T04 Determine confirmation of receipt") < targets.index(
        "T03 Adjust confirmation of receipt")
    assert rect["encoding"]["x"]["axis"]["labelAngle"] == -90       # 28 columns: upright

    at = open_page("paths", "Receipt", pa_tab="Common journeys")
    drawn = charts_by_title(at)["Most common journeys"]
    variants = paths.variants(cur, info.table, "event", top=15)
    assert drawn["path_label"].tolist() == variants["path_label"].tolist()
    # The journeys share long starts: cut where the axis cut them (about 70 characters),
    # the 15 labels read as 5 or fewer different ones; now each reads differently even
    # without its number.
    assert len({label[:70] for label in variants["path_label"]}) < 8
    bare = [label.split(" · ", 1)[1] for label in drawn["bar_label"]]
    assert len(set(bare)) == 15
    assert at.dataframe[0].value["Journey"].tolist() == variants["path_label"].tolist()


# ---------------------------------------------------------------------------------------
# Across pages

def test_switching_dataset_keeps_valid_filters_and_drops_the_rest(workspace):
    at = open_page("funnel", channel=["Web"])
    at.multiselect(key="channel").set_value(["Web", "Email"]).run()
    at.selectbox(key="_dataset_picker").set_value(TINY).run()
    assert not at.exception, at.exception
    # The tiny log has no Email interactions: only Web stays.  Web funnel over its stage
    # order (Aware, Consideration, Purchase): c1 and c2 enter, both consider, c1 buys.
    assert at.multiselect(key="channel").value == ["Web"]
    assert at.multiselect(key="fn_steps_stage").value == ["Aware", "Consideration", "Purchase"]
    assert funnel_frame_on_page(at)["customers"].tolist() == [2, 2, 1]


def test_filter_bar_helpers():
    import datetime as dt

    from cxdata.ui import filters

    span = (dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    # The full span is no filter at all (shares the cache with the unfiltered view).
    assert filters.build_event_filter(span, span).is_empty()
    # Inclusive days for the user; the filter's end is exclusive: the next midnight.
    chosen = filters.build_event_filter((dt.date(2025, 2, 1), dt.date(2025, 2, 28)), span,
                                        {"channel": ["Web"], "segment": []})
    assert chosen.start == dt.datetime(2025, 2, 1)
    assert chosen.end == dt.datetime(2025, 3, 1)
    assert chosen.equals == (("channel", ("Web",)),)          # empty list = all values
    # Only the first day picked so far: a start, no end.
    half = filters.build_event_filter((dt.date(2025, 3, 1),), span)
    assert (half.start, half.end) == (dt.datetime(2025, 3, 1), None)
    assert filters.describe(chosen, {"channel": "Channel"}) == (
        "01 Feb 2025 – 28 Feb 2025 · Channel: Web")
    assert filters.describe(EventFilter()) == "All interactions"
    # Narrowing keeps what the bar allows: Web and Store asked, bar allows Web only.
    narrowed = filters.with_values(chosen, "channel", ["Web", "Store"])
    assert narrowed.equals == (("channel", ("Web",)),) and narrowed.start == chosen.start
    assert filters.with_values(EventFilter(), "touchpoint", ["(none)"]).equals == (
        ("touchpoint", (None,)),)
    with pytest.raises(ValueError, match="exclude"):
        filters.with_values(chosen, "channel", ["Store"])
    assert filters.plain("*Web* [x](y)") == "\\*Web\\* \\[x\\]\\(y\\)"


def test_grouping_columns_are_mapped_roles_then_attributes(workspace):
    from cxdata.ui.filters import grouping_columns
    assert grouping_columns(workspace.get_dataset(TINY)) == {
        "stage": "Journey stage", "touchpoint": "Touchpoint", "channel": "Channel"}
    sample = grouping_columns(workspace.get_dataset(SAMPLE_NAME))
    assert list(sample) == ["stage", "touchpoint", "channel", "segment", "region"]


def test_touchpoints_key_drivers_tab_shows_the_planted_story(workspace):
    at = open_page("touchpoints", tp_tab="Key drivers", tp_metric="NPS")
    assert not at.exception, at.exception
    drawn = charts_by_title(at)
    # the sample plants it: a low Delivery CSAT carries most of NPS's explained variance
    chart = next(frame for title, frame in drawn.items() if title and "driver" in title.lower())
    top = chart.sort_values("share", ascending=False).iloc[0]
    assert "Delivery" in str(top.to_dict())


def test_work_past_the_memory_limit_is_one_sentence_on_the_page(workspace, monkeypatch):
    """An analysis that runs out of memory (DuckDB past its limit even by spilling) shows
    what to do, not a traceback; the page's filter bar and title stay."""
    import streamlit as st

    from cxdata.store import memory

    def too_big(*args, **kwargs):
        raise memory.OutOfMemory("3.0 GiB")

    st.cache_data.clear()
    monkeypatch.setattr(paths, "transitions", too_big)
    at = open_page("paths", dataset=TINY)
    errors = [e.value for e in at.error]
    assert errors == [memory.OutOfMemory("3.0 GiB").web_message]
    assert at.title and at.sidebar.date_input
    st.cache_data.clear()
