"""Charts with their download buttons (cxdata.ui.downloads): a sample's chart says so in
its caption, file names and CSV, and the sample is looked up once per chart."""
from __future__ import annotations

import io

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from cxdata.engines.spark_engine import Narrowing


def _page():
    import altair as alt
    import pandas as pd

    from cxdata.ui.downloads import chart_with_downloads
    frame = pd.DataFrame({"step": ["Aware", "Purchase"], "customers": [10, 4]})
    chart = alt.Chart(frame).mark_bar().encode(x="customers:Q", y="step:N")
    chart_with_downloads(chart, "Stage funnel", key="k", data=frame)


@pytest.fixture
def files(monkeypatch) -> dict:
    """file name -> the callable of each deferred download the script registers."""
    from streamlit.runtime.media_file_manager import MediaFileManager
    found = {}
    original = MediaFileManager.add_deferred

    def keep(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        found[file_name] = data_callable
        return original(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", keep)
    return found


def _looked_up(monkeypatch, narrowing) -> list:
    from cxdata.ui import spark_run
    calls = []

    def shown(info=None):
        calls.append(info)
        return narrowing
    monkeypatch.setattr(spark_run, "narrowing_shown", shown)
    return calls


def test_a_samples_chart_looks_its_sample_up_once_and_says_so_everywhere(monkeypatch, files):
    calls = _looked_up(monkeypatch, Narrowing(10))
    at = AppTest.from_function(_page, default_timeout=60).run()
    assert not at.exception, at.exception
    # Once for the caption, the PNG, the SVG and the CSV (it used to be about a dozen
    # catalog look-ups per chart on every rerun).
    assert len(calls) == 1
    assert [c.value for c in at.caption] == [
        "Sample: 10% of customers (by hash of the customer id): the numbers are this "
        "sample's, not the whole log's."]
    assert sorted(files) == ["stage-funnel-sample-10pct.csv", "stage-funnel-sample-10pct.png",
                             "stage-funnel-sample-10pct.svg"]
    csv = pd.read_csv(io.BytesIO(files["stage-funnel-sample-10pct.csv"]()), encoding="utf-8-sig")
    assert csv.to_dict("list") == {"step": ["Aware", "Purchase"], "customers": [10, 4],
                                   "sample": ["Sample: 10% of customers (by hash of the customer id)"] * 2}


def test_a_whole_datasets_chart_has_plain_names_and_no_caption(monkeypatch, files):
    calls = _looked_up(monkeypatch, None)
    at = AppTest.from_function(_page, default_timeout=60).run()
    assert not at.exception, at.exception
    assert len(calls) == 1 and not at.caption
    assert sorted(files) == ["stage-funnel.csv", "stage-funnel.png", "stage-funnel.svg"]
    csv = pd.read_csv(io.BytesIO(files["stage-funnel.csv"]()), encoding="utf-8-sig")
    assert list(csv.columns) == ["step", "customers"]


def test_the_app_draws_charts_without_the_schema_check_and_the_tests_with_it(monkeypatch):
    import altair as alt
    from cxdata.presentation import charts
    from cxdata.ui import downloads
    from tests.test_charts import funnel_frame
    chart = charts.funnel_bars(funnel_frame(), selectable=True, selected_step=2)
    # the tests check every chart drawn (tests/conftest.py) ...
    assert downloads._as_drawn(chart) is chart
    broken = alt.Chart(pd.DataFrame({"x": [1]})).mark_bar().encode(x=alt.X("x:Q", bin="no"))
    with pytest.raises(Exception):
        downloads._as_drawn(broken).to_dict()
    # ... the app does not: the same spec, and a wrong one goes through unchecked
    expected = chart.to_dict()
    monkeypatch.delenv(downloads.CHECK_CHARTS_VARIABLE)
    assert downloads._as_drawn(chart).to_dict() == expected
    assert downloads._as_drawn(broken).to_dict()["encoding"]["x"]["bin"] == "no"
    # asked to check, it still can
    with pytest.raises(Exception):
        broken.to_dict(validate=True)
