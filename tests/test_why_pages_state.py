"""AppTest: every view of the Why sections is in the shareable URL (SPEC §8 in the app) —
a link opens the same step, factor, explanation, key-driver axis and comment group.  (The
browser writes a changed widget to the URL: tests/test_browser_state.py checks that.)
Figures are the sample's planted stories (sample_data/README.md)."""
from __future__ import annotations

import pytest

from cxdata.bootstrap import install_sample_once
from cxdata.store.workspace import Workspace
from tests.helpers_app import open_app_page, warm_server  # noqa: F401  (fixture)


@pytest.fixture(autouse=True)
def workspace(warm_server):
    ws = Workspace()
    install_sample_once(ws)
    ws.close()


def texts(at) -> list[str]:
    return [t.value for t in at.text]


def test_a_link_opens_the_step_and_the_factor_it_names():
    at = open_app_page("funnel", fn_drop="3. Purchase", why_factor="Did Live chat")
    assert at.selectbox(key="why_factor").value == "Did Live chat"
    # story 4 in the stage funnel: 258 customers chatted between Purchase and Retention
    assert ("Customers who used Live chat after Purchase converted 0.4× as often (95% 0.3–0.6, "
            "n = 258); adjusted p < 0.001.") in texts(at)
    table = next(d.value for d in at.dataframe if "Share who went on" in d.value.columns)
    assert table[["Customers", "Went on"]].values.tolist() == [[258, 70], [1863, 859]]


def test_without_a_factor_in_the_link_the_strongest_is_shown_and_another_can_be_picked():
    at = open_app_page("funnel", fn_drop="3. Purchase")
    assert at.selectbox(key="why_factor").value == "Did Live chat"       # the strongest first
    at.selectbox(key="why_factor").select("Did Newsletter").run()
    assert any(t.startswith("Customers who used Newsletter after Purchase converted 0.4× as "
                            "often (95% 0.2–0.6, n = 94)") for t in texts(at))


def test_the_explanation_of_a_conversion_signal_comes_from_the_url():
    at = open_app_page("funnel", fn_tab="Over time", fn_steps_stage=["Consideration", "Purchase"],
                       why_explain="segment")
    assert at.selectbox(key="why_explain").value == "segment"
    assert any(m.value.startswith("**Week of 6 Oct 2025: beyond limits**") for m in at.markdown)


def test_the_key_driver_axis_and_the_comment_group_come_from_the_url():
    at = open_app_page("touchpoints", tp_tab="Key drivers", tp_metric="NPS",
                       why_kd_y_nps="How common")
    assert at.radio(key="why_kd_y_nps").value == "common"
    chart = [c for c in at.get("vega_lite_chart") if "Customers with it (%)" in c.proto.spec]
    assert len(chart) == 1
    at = open_app_page("touchpoints", tp_tab="Comments", tp_metric="CSAT",
                       why_comments_group_touchpoint="Delivery")
    assert at.selectbox(key="why_comments_group_touchpoint").value == "Delivery"


def _downloads(at) -> set[str]:
    return {b.proto.id.rsplit("-", 1)[-1] for b in at.get("download_button")}


@pytest.mark.parametrize("page, query, keys", [
    ("funnel", {"fn_drop": "3. Purchase"}, {"why_forest_png", "why_forest_svg", "why_forest_csv"}),
    ("funnel", {"fn_tab": "Over time", "fn_steps_stage": ["Consideration", "Purchase"]},
     {"why_control_png", "why_control_svg", "why_control_csv", "why_explain_csv"}),
    ("touchpoints", {"tp_tab": "Key drivers"}, {"why_kd_chart_nps_png", "why_kd_chart_nps_csv"}),
    ("touchpoints", {"tp_tab": "Trend", "tp_metric": "CSAT"},
     {"why_score_control_png", "why_score_control_csv"}),
    ("touchpoints", {"tp_tab": "Comments"}, {"why_topics_chart_touchpoint_csv"}),
])
def test_every_why_chart_has_its_downloads(page, query, keys):
    at = open_app_page(page, **query)
    assert keys <= _downloads(at), sorted(_downloads(at))
