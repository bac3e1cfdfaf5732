"""AppTest of the app-wide state (cxdata/ui/state.py, the sidebar filter bar): links to a
dataset the workspace lacks, the URL as the record of the dataset, URL parameters that no
longer apply, and id-like columns kept out of the pickers."""
from __future__ import annotations

import pytest

from cxdata.bootstrap import SAMPLE_NAME, install_sample_once
from cxdata.ui.filters import plain
from cxdata.store.workspace import Workspace
from tests.helpers_app import open_app_page, warm_server  # noqa: F401  (fixture)
from tests.test_pages_analysis import TINY_CSV
from tests.test_schema_profile import ID_LIKE, KEPT, id_log_csv

#: The analysis tests' tiny log (TINY_CSV): four hand-made customers, c1 Aware →
#: Consideration → Purchase, c2 Aware → Consideration, c3 only Aware, c4 only
#: Consideration; 7 interactions, January 2025.
TINY = "Tiny"
IDS = "Ids"


@pytest.fixture(autouse=True)
def workspace(warm_server, tmp_path):
    """The sample, the tiny log and the id log (tests/test_schema_profile.py) in this
    test's workspace (conftest points CXDATA_WORKSPACE at it)."""
    ws = Workspace()
    install_sample_once(ws)
    (tmp_path / "tiny.csv").write_text(TINY_CSV, encoding="utf-8")
    ws.ingest(tmp_path / "tiny.csv", TINY)
    (tmp_path / "ids.csv").write_text(id_log_csv(), encoding="utf-8")
    ws.ingest(tmp_path / "ids.csv", IDS)
    ws.close()


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def charts(at) -> int:
    return len(at.get("vega_lite_chart"))


# ---------------------------------------------------------------------------------------
# A link to a dataset the workspace does not have

def test_link_to_a_missing_dataset_names_it_and_shows_no_other_numbers():
    at = open_app_page("overview", dataset="Q4 churn")
    assert at.warning[0].value == (
        "This link is to the dataset “Q4 churn”, which is not in this workspace: it may have "
        "been renamed or deleted. Nothing is shown until you choose a dataset.")
    # No figure of the default dataset (the sample) under this link.
    assert metrics(at) == {} and charts(at) == 0
    assert at.selectbox(key="_dataset_picker").value is None
    assert any("“Q4 churn”, which is not in this workspace" in c.value for c in at.sidebar.caption)
    assert at.query_params["dataset"] == "Q4 churn"
    # The user chooses: the page opens on that dataset and the URL names it.
    choices = {b.label: b for b in at.button if (b.key or "").startswith("_open_dataset_")}
    assert sorted(choices) == sorted(plain(n) for n in (SAMPLE_NAME, TINY, IDS))
    choices[TINY].click()
    at.run()
    assert not at.exception and not at.warning
    assert at.query_params["dataset"] == TINY
    assert metrics(at)["Customers"] == "4" and metrics(at)["Interactions"] == "7"
    assert at.selectbox(key="_dataset_picker").value == TINY


@pytest.mark.parametrize("page", ["funnel", "touchpoints", "paths", "report"])
def test_no_analysis_page_shows_numbers_under_a_missing_dataset(page):
    at = open_app_page(page, dataset="Gone")
    assert at.warning[0].value.startswith("This link is to the dataset “Gone”")
    assert metrics(at) == {} and charts(at) == 0 and not at.dataframe
    # No filter bar either: its dates and values would be another dataset's.
    assert not at.sidebar.multiselect and not at.sidebar.date_input


def test_the_missing_name_is_shown_as_text():
    name = "**Q4** [board](http://example.com) <b>x</b>"
    at = open_app_page("overview", dataset=name)
    assert f"“{plain(name)}”" in at.warning[0].value


# ---------------------------------------------------------------------------------------
# The URL is the record of the dataset (links, Back and Forward)

def test_a_first_visit_writes_nothing_to_the_url():
    at = open_app_page("overview")
    assert "dataset" not in at.query_params
    assert at.selectbox(key="_dataset_picker").value == SAMPLE_NAME
    assert metrics(at)["Customers"] == "5,000"


def test_the_picker_follows_the_url_as_back_and_forward_change_it():
    at = open_app_page("overview", dataset=TINY)
    assert at.selectbox(key="_dataset_picker").value == TINY
    # Back to an entry naming the sample (what the browser sends on Back).
    at.query_params["dataset"] = SAMPLE_NAME
    at.run()
    assert not at.exception
    assert at.selectbox(key="_dataset_picker").value == SAMPLE_NAME
    assert metrics(at)["Customers"] == "5,000"
    # Back to the first entry, which named no dataset: the default one.
    del at.query_params["dataset"]
    at.run()
    assert at.selectbox(key="_dataset_picker").value == SAMPLE_NAME
    at.query_params["dataset"] = TINY
    at.run()
    assert metrics(at)["Customers"] == "4"


def test_choosing_a_dataset_writes_it_to_the_url():
    at = open_app_page("overview")
    at.selectbox(key="_dataset_picker").set_value(TINY).run()
    assert not at.exception
    assert at.query_params["dataset"] == TINY
    assert metrics(at)["Customers"] == "4"


# ---------------------------------------------------------------------------------------
# URL parameters that no longer apply

def test_filter_params_of_columns_the_dataset_lacks_are_dropped_without_error():
    # A link made on the sample (segment and region filters) opened on the tiny log,
    # which has neither column; its dates lie outside the tiny log's January 2025.
    at = open_app_page("overview", dataset=TINY, filter_on=["segment", "region"],
                       f_segment=["Returning"], f_region=["North"],
                       dates=["2025-06-01", "2025-06-30"])
    assert not at.exception and not at.error
    for key in ("filter_on", "f_segment", "f_region"):
        assert key not in at.query_params
    assert at.multiselect(key="filter_on").value == []
    # Nothing of the old link filters the tiny log: all 4 customers, 7 interactions.
    assert (metrics(at)["Customers"], metrics(at)["Interactions"]) == ("4", "7")


def test_switching_dataset_drops_filters_naming_the_old_ones_values():
    at = open_app_page("overview", filter_on=["segment"], f_segment=["Returning"])
    assert at.multiselect(key="f_segment").value == ["Returning"]
    at.selectbox(key="_dataset_picker").set_value(TINY).run()
    assert not at.exception
    assert "f_segment" not in at.query_params and "filter_on" not in at.query_params
    assert (metrics(at)["Customers"], metrics(at)["Interactions"]) == ("4", "7")


def test_the_filter_bar_is_drawn_once_and_the_page_uses_it():
    at = open_app_page("funnel", dataset=TINY, channel=["Web"])
    assert [m.label for m in at.sidebar.multiselect].count("Channel") == 1
    # The page uses the app's filter: Web only, c1 and c2 enter; both consider; c1 buys.
    assert at.multiselect(key="channel").value == ["Web"]
    frame = next(e for e in at.get("vega_lite_chart"))
    assert frame is not None
    assert any("Channel: Web" in c.value.replace("\\", "") for c in at.caption)


# ---------------------------------------------------------------------------------------
# Id-like columns are not offered as breakdowns or filters

def test_id_like_columns_are_not_offered_as_filters_or_breakdowns():
    at = open_app_page("funnel", dataset=IDS, fn_tab="Breakdown")
    offered = at.multiselect(key="filter_on").options
    breakdown = at.selectbox(key="fn_breakdown").options
    for column in ID_LIKE:
        assert column not in offered and column not in breakdown
    assert [c for c in offered if c in KEPT + ID_LIKE] == KEPT
    assert [c for c in breakdown if c in KEPT + ID_LIKE] == KEPT
    at = open_app_page("touchpoints", dataset=IDS)
    assert [c for c in at.selectbox(key="tp_by").options if c in KEPT + ID_LIKE] == KEPT
