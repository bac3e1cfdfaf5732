"""The app on a connected Spark dataset (SPEC §7): the Data page's connect form, the
connection catalog of the workspace, the pages' numbers on Spark against the same file
uploaded, and the sample label on charts and exports.

The store tests need no Spark.  The app tests share the one local Spark Connect session
of the test run (``local[2]``, tests/test_engines_spark.py's fixture: the session is
made once per process); they need pyspark, as the agreement tests do.
"""
from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from cxdata.engines.spark_engine import Narrowing, redact
from cxdata.errors import UnusableInput
from cxdata.store import connections
from cxdata.store.connections import Connection, is_connected
from cxdata.store.workspace import Workspace
from cxdata.ui.filters import plain
from tests.helpers_app import APP, warm_server  # noqa: F401  (fixture)
from tests.test_engines_spark import spark  # noqa: F401  (the session-wide fixture)
from tests.test_pages_analysis import charts_by_title

TIMEOUT = 240
TOKEN_URL = "sc://spark.example.com:15002/;token=dapi0123456789abcdef"
# Twelve customers (hand-made): k01…k06 go Aware → Consideration → Purchase on 2025-03-01…03,
# k07…k09 Aware → Consideration, k10…k12 only Aware.  Web for k01…k06, Store for the rest.
# NPS 10 from k01…k03 and 3 from k10.  Customers 12, interactions 6·3 + 3·2 + 3 = 27.
_ROWS = []
for i in range(1, 13):
    stages = ["Aware", "Consideration", "Purchase"][: 3 if i <= 6 else 2 if i <= 9 else 1]
    for day, stage in enumerate(stages, start=1):
        nps = "10" if i <= 3 and stage == "Purchase" else "3" if i == 10 else ""
        _ROWS.append(f"k{i:02d},2025-03-0{day}T1{day}:00:00Z,{stage},{'Web' if i <= 6 else 'Store'},{nps}")
LOG_CSV = "client_id,event_time,milestone,sales_channel,nps\n" + "\n".join(_ROWS) + "\n"


# ---------------------------------------------------------------------------------------
# The connection catalog (no Spark)

def _connection(name="Lake log", url="local[2]", **changes) -> Connection:
    base = dict(name=name, url=url, source="spark:parquet:/lake/events/",
                roles={"customer_id": "client", "timestamp": "when", "stage": "phase"},
                stage_order=("Aware", "Purchase"), attributes=("segment",), rows_read=10, rows_rejected=2)
    base.update(changes)
    return Connection(**base)


def test_connections_are_listed_with_the_workspace_datasets(tmp_path):
    ws = Workspace(tmp_path / "ws.duckdb")
    assert connections.list_connections(ws) == []      # no catalog table yet: nothing
    stored = connections.save(ws, _connection(url=TOKEN_URL, sample_percent=10))
    info = ws.get_dataset("Lake log")
    assert is_connected(info) and info.table == f"spark-connection:{stored.id}" and info.id == -stored.id
    assert (info.rows_read, info.rows_accepted, info.rows_rejected) == (10, 8, 2)
    assert info.stage_order == ("Aware", "Purchase") and info.roles["stage"] == "phase"
    assert ws.has_dataset("Lake log") and "Lake log" in [d.name for d in ws.list_datasets()]
    # The token is kept (reconnecting needs it) but shown cut short.
    assert connections.get(ws, "Lake log").url == TOKEN_URL
    assert "0123456789abcdef" not in redact(TOKEN_URL) and redact(TOKEN_URL).startswith("sc://spark.example")
    assert "token" not in info.source and "dapi" not in info.source
    with pytest.raises(UnusableInput, match="already exists"):
        connections.save(ws, _connection())


def test_a_connection_is_renamed_narrowed_and_deleted_through_the_workspace(tmp_path):
    ws = Workspace(tmp_path / "ws.duckdb")
    first = connections.save(ws, _connection())
    renamed = ws.rename_dataset("Lake log", "Lake")
    assert renamed.name == "Lake" and not ws.has_dataset("Lake log")
    narrowed = connections.update(ws, "Lake", sample_percent=25, start_day=dt.date(2025, 3, 1))
    assert (narrowed.sample_percent, narrowed.start_day, narrowed.end_day) == (25, dt.date(2025, 3, 1), None)
    assert narrowed.version != first.version            # cached results of the old one are not served
    ws.delete_dataset("Lake")
    assert not ws.has_dataset("Lake") and connections.list_connections(ws) == []


def test_narrowing_labels_and_conditions():
    n = Narrowing(10, dt.date(2025, 1, 1), dt.date(2025, 3, 31))
    assert n.label() == ("Sample: 10% of customers (by hash of the customer id), "
                         "events 2025-01-01 to 2025-03-31 (UTC)")
    assert n.slug() == "sample-10pct-2025-01-01_2025-03-31"
    # The last day is inclusive: events before the next midnight.
    assert n.ts_condition() == "ts >= TIMESTAMP '2025-01-01' AND ts < TIMESTAMP '2025-04-01'"
    assert not Narrowing().active and Narrowing().label() == ""
    with pytest.raises(UnusableInput):
        Narrowing(100)


# ---------------------------------------------------------------------------------------
# The app on Spark

@pytest.fixture
def log_files(tmp_path):
    csv = tmp_path / "lake log.csv"
    csv.write_text(LOG_CSV, encoding="utf-8")
    parquet = tmp_path / "events.parquet"
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM read_csv('{csv}', all_varchar = true)) TO '{parquet}' (FORMAT parquet)")
    con.close()
    return csv, parquet


def _app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT)


def _data_page(at: AppTest | None = None) -> AppTest:
    at = at or _app()
    at.switch_page("pages/data.py")
    at.run()
    assert not at.exception, at.exception
    return at


def _test_connection(at: AppTest, source: str) -> AppTest:
    at.text_input(key="spark_url").set_value("local[2]")
    at.text_input(key="spark_source").set_value(source)
    at.button(key="spark_test").click()
    at.run()
    assert not at.exception, at.exception
    return at


def _texts(at: AppTest, *kinds: str) -> list[str]:
    return [e.value for kind in kinds for e in at.get(kind)]


def test_test_connection_names_a_missing_path(spark, warm_server, tmp_path):  # noqa: F811
    at = _test_connection(_data_page(), f"parquet:{tmp_path / 'nowhere'}")
    errors = _texts(at, "error")
    assert errors == [plain(f"Spark cannot find parquet files at {tmp_path / 'nowhere'}: check the name or path.")]
    assert not [b for b in at.button if (b.key or "").endswith("_connect")]


def _connect(at: AppTest, parquet: Path, name: str, *, sample: int | None) -> AppTest:
    at = _test_connection(at, f"parquet:{parquet}")
    pickers = {s.label: s for s in at.selectbox}
    # Guessed from the names as for an upload; "milestone" and "sales_channel" are not known names.
    assert pickers["Customer ✱"].value == "client_id" and pickers["Time ✱"].value == "event_time"
    assert pickers["Journey stage"].value == "— none —" and pickers["Channel"].value == "— none —"
    assert pickers["NPS (0–10)"].value == "nps"
    pickers["Journey stage"].set_value("milestone")          # edited
    pickers["Channel"].set_value("sales_channel")        # edited
    pickers["NPS (0–10)"].set_value("— none —")          # edited: no score on this dataset
    name_box = next(t for t in at.text_input if t.label == "Dataset name")
    name_box.set_value(name)
    at.run()                # as a browser does after each choice: Connect is enabled now
    if sample is None:
        next(r for r in at.radio if r.label == "Customers").set_value("All customers")
    else:
        next(n for n in at.number_input if n.label == "Sample (% of customers)").set_value(sample)
    next(b for b in at.button if (b.key or "").endswith("_connect")).click()
    at.run()
    assert not at.exception, at.exception
    return at


def test_connect_and_the_overview_equals_the_same_file_uploaded(spark, warm_server, log_files, tmp_path,  # noqa: F811
                                                                 monkeypatch):
    csv, parquet = log_files
    at = _connect(_data_page(), parquet, "Lake log", sample=None)
    assert any("Connected **Lake log**" in s for s in _texts(at, "success"))
    ws = _app_workspace()
    stored = connections.get(ws, "Lake log")
    assert stored.roles == {"customer_id": "client_id", "timestamp": "event_time", "stage": "milestone",
                            "channel": "sales_channel"}
    assert (stored.rows_read, stored.rows_rejected, stored.sample_percent) == (27, 0, None)
    assert stored.stage_order == ("Aware", "Consideration", "Purchase")
    assert "spark:parquet:" + str(parquet) == stored.source
    ws.ingest(csv, "Uploaded", overrides=stored.overrides)     # NPS left out, as on Spark

    def overview(name: str) -> AppTest:
        page = _app()
        page.query_params["dataset"] = name
        page.switch_page("pages/overview.py")
        page.run()
        assert not page.exception, page.exception
        return page

    import cxdata.sql
    per_channel, own = [], cxdata.sql.event_counts_per
    monkeypatch.setattr(cxdata.sql, "event_counts_per",
                        lambda *a, **k: per_channel.append(a[1]) or own(*a, **k))
    on_spark, uploaded = overview("Lake log"), overview("Uploaded")
    # the interactions per channel only where the timeline counts the customers (not Spark)
    assert per_channel == [ws.get_dataset("Uploaded").table]
    shown = {m.label: m.value for m in on_spark.metric}
    assert shown["Customers"] == "12" and shown["Interactions"] == "27"
    # 12 entered at Aware, 6 reached Purchase.
    assert shown["Reached Purchase"] == "50.0%"
    assert shown == {m.label: m.value for m in uploaded.metric}
    spark_charts, uploaded_charts = charts_by_title(on_spark), charts_by_title(uploaded)
    assert "Stage funnel" in spark_charts and spark_charts.keys() == uploaded_charts.keys()
    for title, frame in spark_charts.items():
        pd.testing.assert_frame_equal(frame, uploaded_charts[title])
    assert not any("Sample:" in c for c in _texts(on_spark, "caption", "warning"))
    assert "On Spark: queried in place, all customers." in _texts(on_spark, "caption")
    # The page's Spark queries are summed up in one line, not one toast each.
    assert not on_spark.toast
    summaries = [c for c in _texts(on_spark, "caption") if c.startswith("Spark: ")]
    assert len(summaries) == 1, summaries
    assert re.fullmatch(r"Spark: \d+ queries on this page, [\d.,]+ s in all \(longest: [a-z ]+, "
                        r"[\d.,]+ s\)", summaries[0]), summaries[0]
    assert not [c for c in _texts(uploaded, "caption") if c.startswith("Spark: ")]


def test_a_sample_is_labelled_and_counts_the_hashed_customers(spark, warm_server, log_files):  # noqa: F811
    csv, parquet = log_files
    at = _connect(_data_page(), parquet, "Lake sample", sample=50)
    from pyspark.sql import functions as F
    ids = spark.createDataFrame([(f"k{i:02d}",) for i in range(1, 13)], ["c"])
    expected = sorted(r.c for r in ids.filter(F.pmod(F.hash("c"), F.lit(100)) < 50).collect())
    assert 0 < len(expected) < 12
    page = _app()
    page.query_params["dataset"] = "Lake sample"
    page.switch_page("pages/overview.py")
    page.run()
    assert not page.exception, page.exception
    shown = {m.label: m.value for m in page.metric}
    assert shown["Customers"] == str(len(expected))
    # Each sampled customer's events are all there: 3 for k01…k06, 2 for k07…k09, 1 after.
    events = sum(3 if int(c[1:]) <= 6 else 2 if int(c[1:]) <= 9 else 1 for c in expected)
    assert shown["Interactions"] == str(events)
    label = "Sample: 50% of customers (by hash of the customer id)"
    assert f"{label}: the numbers are this sample's, not the whole log's." in _texts(page, "caption")
    assert any(label in w for w in _texts(page, "warning"))         # the sidebar says it too
    from cxdata.ui.spark_run import sample_slug
    info = _app_workspace().get_dataset("Lake sample")
    assert sample_slug(info) == "sample-50pct"
    # Then the full thing: all customers, on the dataset's Connection tab.
    data = _data_page()
    data.selectbox(key="manage_dataset").set_value("Lake sample")
    data.run()
    key = f"conn_{-info.id}"
    data.radio(key=f"{key}_scope").set_value("All customers")
    data.run()
    data.button(key=f"{key}_apply").click()
    data.run()
    assert not data.exception, data.exception
    full = _app_workspace().get_dataset("Lake sample")
    assert full.rows_read == 27 and full.stage_order == ("Aware", "Consideration", "Purchase")
    page.run()
    assert {m.label: m.value for m in page.metric}["Customers"] == "12"
    assert not any("Sample:" in c for c in _texts(page, "caption", "warning"))


def test_a_samples_csv_export_says_so_in_its_name_and_rows(monkeypatch):
    import pandas as pd

    from cxdata.ui import downloads, spark_run
    monkeypatch.setattr(spark_run, "narrowing_shown", lambda info=None: Narrowing(10))
    made = {}
    monkeypatch.setattr(downloads.st, "download_button",
                        lambda label, data, file_name, **kw: made.update(name=file_name, data=data()))
    downloads.csv_button(pd.DataFrame({"step": ["Aware"], "customers": [3]}), "Stage funnel", key="k")
    assert made["name"] == "stage-funnel-sample-10pct.csv"
    lines = made["data"].decode("utf-8-sig").splitlines()
    assert lines == ["step,customers,sample", "Aware,3,Sample: 10% of customers (by hash of the customer id)"]


def _app_workspace() -> Workspace:
    """The app's own workspace object (one per process and file)."""
    from cxdata.store.workspace import workspace_path
    from cxdata.ui.state import _open_workspace
    return _open_workspace(str(workspace_path()))


# ---------------------------------------------------------------------------------------
# The narrowing on the engine: the sample's numbers are DuckDB's on the same customers and days

def test_a_narrowed_engine_equals_duckdb_on_the_same_customers_and_days(spark, tmp_path):  # noqa: F811
    from pyspark.sql import functions as F

    from cxdata.analytics import funnel, scores
    from cxdata.engines.duckdb_engine import DuckDBEngine
    from cxdata.engines.spark_engine import SparkEngine, SparkSource
    from cxdata.sql import event_counts
    from tests.test_engines_spark import SAMPLE, STAGES, _both
    local, _ = _both(spark, tmp_path, csv_path=SAMPLE, partitions=3)
    narrowing = Narrowing(30, dt.date(2025, 3, 1), dt.date(2025, 6, 30))
    narrowed = SparkEngine(spark, SparkSource.parse(f"spark:parquet:{tmp_path / 'log.parquet'}"),
                           narrowing=narrowing, partitions=3)
    ids = spark.createDataFrame([(c,) for (c,) in local.cur.execute(
        "SELECT DISTINCT customer_id FROM events").fetchall()], ["c"])
    kept = [r.c for r in ids.filter(F.pmod(F.hash("c"), F.lit(100)) < 30).collect()]
    assert 1000 < len(kept) < 2000          # about 30% of the 5,000 customers
    local.cur.execute("CREATE TABLE narrowed AS SELECT * FROM events WHERE customer_id IN "
                      "(SELECT unnest(?)) AND ts >= '2025-03-01' AND ts < '2025-07-01'", [kept])
    same = DuckDBEngine(local.cur, "narrowed")
    assert event_counts(narrowed, None) == event_counts(same, None)
    assert event_counts(narrowed, None)["last"] < dt.datetime(2025, 7, 1)
    assert funnel.compute_funnel(narrowed, None, STAGES) == funnel.compute_funnel(same, None, STAGES)
    assert scores.score_summary(narrowed, None, "nps") == scores.score_summary(same, None, "nps")


def test_a_role_set_to_none_is_not_guessed_again_on_import(warm_server):  # noqa: F811
    """The role pickers are the whole mapping (uploads and Spark sources alike): a column
    the guess would take (nps) stays out when the user chose "— none —" for it."""
    from tests.test_pages_data import button, data_page, upload
    at = upload(data_page(), "log.csv", LOG_CSV.encode())
    pickers = {s.label: s for s in at.selectbox}
    assert pickers["NPS (0–10)"].value == "nps"
    pickers["Journey stage"].set_value("milestone")
    pickers["NPS (0–10)"].set_value("— none —")
    at.run()
    button(at, "_import").click()
    at.run()
    assert not at.exception, at.exception
    info = _app_workspace().get_dataset("log")
    assert info.roles == {"customer_id": "client_id", "timestamp": "event_time", "stage": "milestone"}
    assert "nps (attribute)" in info.attributes      # kept as text, not read as scores


def test_the_summary_line_reads_as_a_sentence():
    from cxdata.ui.spark_run import summary_text
    assert summary_text(1, 2.06, ("the funnel", 2.06)) == "Spark: the funnel in 2.1 s"
    assert summary_text(3, 4.25, ("the funnel", 2.5)) == ("Spark: 3 queries on this page, 4.2 s in all "
                                                         "(longest: the funnel, 2.5 s)")


def test_a_query_whose_page_is_left_is_cancelled_on_spark(spark, monkeypatch):  # noqa: F811
    """Streamlit stops the run of a page the user leaves at its next call (here the status
    update): the query's Spark job is then interrupted instead of running on."""
    from streamlit.runtime.scriptrunner_utils.exceptions import StopException
    from cxdata.ui import spark_run

    class Status:
        def update(self, **_):
            raise StopException()

    class Box:
        def status(self, *_, **__):
            return Status()

        def empty(self):
            pass

    monkeypatch.setattr(spark_run.st, "empty", lambda: Box())
    monkeypatch.setattr(spark_run, "TICK", 0.5)
    ended: list = []

    def endless():      # 10^13 rows: over an hour on local[2]
        try:
            spark.range(0, 10 ** 13, 1, 2).selectExpr("max(id % 7) AS m").collect()
            ended.append("finished")
        except Exception as exc:
            ended.append(exc)

    start = time.monotonic()
    try:
        with pytest.raises(StopException):
            spark_run.with_progress("a long count", endless, spark=spark)
        while not ended and time.monotonic() - start < 60:
            time.sleep(0.2)
    finally:
        if not ended:
            spark.interruptAll()            # do not leave the session busy for later tests
    assert ended and isinstance(ended[0], Exception), ended
    assert "CANCEL" in str(ended[0]).upper() or "INTERRUPT" in str(ended[0]).upper(), ended[0]
