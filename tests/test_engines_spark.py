"""The Spark engine agrees with the DuckDB engine (SPEC §7): the same rows, read once by
each, give the same counts, steps, groups, variants, transitions, scores and intervals.

One local Spark Connect session (``local[2]``) serves the whole run.  Each log is written
twice — a CSV that the DuckDB engine ingests as a file is read, and a Parquet file of the
same text that Spark reads — and every analysis runs on both.  The logs cover ties with an
order key, repeated steps, windows, the strict and unordered modes, exclusions,
breakdowns, timestamps with offsets, customers spread over several partitions and empty
results.  These tests need pyspark (``requirements-spark.txt``): in CI a missing pyspark
fails them; elsewhere they are skipped with a message.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cxdata.analytics import funnel, insights, paths, scores
from cxdata.maps import data_lanes
from cxdata.engines.base import Engine
from cxdata.engines.duckdb_engine import DuckDBEngine
from cxdata.errors import UnusableInput
from cxdata.analytics.funnel import Exclusion
from cxdata.io.ingest import ingest_file
from cxdata.sql import EventFilter, event_counts

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "interactions.csv"
STAGES = ["Aware", "Consideration", "Purchase", "Retention", "Advocacy"]
DAY = 86400


@pytest.fixture(scope="session")
def spark():
    try:
        import pyspark  # noqa: F401
    except ImportError:
        message = "pyspark is not installed (pip install -r requirements-spark.txt); Spark tests need it."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from cxdata.engines.spark_engine import session
    return session("local[2]")


def _both(spark, tmp_path: Path, csv_text: str | None = None, *, csv_path: Path | None = None,
          order_key: str | None = None, partitions: int = 4, name: str = "log"):
    """(DuckDB engine over the ingested CSV, Spark engine over the same text as Parquet)."""
    from cxdata.engines.spark_engine import SparkEngine, SparkSource
    if csv_path is None:
        csv_path = tmp_path / f"{name}.csv"
        csv_path.write_text(csv_text, encoding="utf-8")
    parquet = tmp_path / f"{name}.parquet"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"COPY (SELECT * FROM read_csv('{csv_path}', all_varchar = true)) TO '{parquet}' "
                "(FORMAT parquet)")
    ingest_file(con, csv_path, table="events", rejects_table="rejects")
    key = None
    if order_key is not None:
        key = order_key
    local = DuckDBEngine(con, "events", order_key=key)
    remote = SparkEngine(spark, SparkSource.parse(f"spark:parquet:{parquet}"), order_key=order_key,
                         partitions=partitions)
    return local, remote


def _same_frames(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True),
                                  check_dtype=False, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------------------------------
# The sample: 5,000 customers, every analysis

@pytest.fixture(scope="module")
def sample_engines(spark, tmp_path_factory):
    return _both(spark, tmp_path_factory.mktemp("sample"), csv_path=SAMPLE, partitions=5)


FUNNEL_OPTIONS = [
    dict(),
    dict(window_seconds=30 * DAY),
    dict(order="strict", window_seconds=14 * DAY),
    dict(order="unordered", window_seconds=7 * DAY),
    dict(entry_start=dt.datetime(2025, 3, 1), entry_end=dt.datetime(2025, 9, 1), window_seconds=30 * DAY),
    dict(exclusions=(Exclusion("Live chat", "touchpoint", 2, 3),)),
    dict(event_filter=EventFilter.build(equals={"channel": ["Web", "Mobile app"]})),
]


@pytest.mark.parametrize("options", FUNNEL_OPTIONS, ids=lambda o: ",".join(o) or "plain")
def test_funnels_agree_on_the_sample(sample_engines, options):
    local, remote = sample_engines
    assert funnel.compute_funnel(remote, None, STAGES, **options) == \
        funnel.compute_funnel(local, None, STAGES, **options)
    assert funnel.funnel_breakdown(remote, None, STAGES, "channel", **options) == \
        funnel.funnel_breakdown(local, None, STAGES, "channel", **options)


def test_trend_histogram_and_dropoffs_agree_on_the_sample(sample_engines):
    local, remote = sample_engines
    options = dict(window_seconds=30 * DAY)
    _same_frames(funnel.funnel_trend(remote, None, STAGES, "week", **options),
                 funnel.funnel_trend(local, None, STAGES, "week", **options))
    _same_frames(funnel.step_durations_histogram(remote, None, STAGES, 3, **options),
                 funnel.step_durations_histogram(local, None, STAGES, 3, **options))
    a = funnel.dropoff_summary(remote, None, STAGES, 3, **options)
    b = funnel.dropoff_summary(local, None, STAGES, 3, **options)
    assert (a.customers, a.in_progress) == (b.customers, b.in_progress) and a.in_progress > 0
    _same_frames(a.left_at, b.left_at)
    _same_frames(a.next, b.next)
    _same_frames(funnel.dropoff_customers(remote, None, STAGES, 2, column="touchpoint", limit=500),
                 funnel.dropoff_customers(local, None, STAGES, 2, column="touchpoint", limit=500))
    assert funnel.suggest_steps(remote, None, "touchpoint") == funnel.suggest_steps(local, None, "touchpoint")


def test_paths_agree_on_the_sample(sample_engines):
    local, remote = sample_engines
    for by in ("stage", "touchpoint"):
        _same_frames(paths.transitions(remote, None, by), paths.transitions(local, None, by))
        _same_frames(paths.value_order(remote, None, by), paths.value_order(local, None, by))
    for keep in (False, True):
        _same_frames(paths.variants(remote, None, "stage", top=30, keep_repeats=keep),
                     paths.variants(local, None, "stage", top=30, keep_repeats=keep))
    for a, b in zip(paths.transitions_and_variants(remote, None, "stage", top=10),
                    paths.transitions_and_variants(local, None, "stage", top=10)):
        _same_frames(a, b)


def test_scores_agree_on_the_sample(sample_engines):
    local, remote = sample_engines
    for metric in ("nps", "csat", "ces"):
        assert scores.score_summary(remote, None, metric) == scores.score_summary(local, None, metric)
        _same_frames(scores.scores_by(remote, None, metric, "touchpoint"),
                     scores.scores_by(local, None, metric, "touchpoint"))
        _same_frames(scores.scores_trend(remote, None, metric, "month"),
                     scores.scores_trend(local, None, metric, "month"))
    assert scores.compare_groups(remote, None, "csat", "channel", "Web", "Mobile app") == \
        scores.compare_groups(local, None, "csat", "channel", "Web", "Mobile app")
    _same_frames(scores.comments(remote, None, column="touchpoint", value="Delivery", metric="csat",
                                 limit=20, offset=40),
                 scores.comments(local, None, column="touchpoint", value="Delivery", metric="csat",
                                 limit=20, offset=40))
    assert scores.comment_count(remote, None, column="touchpoint", value="Delivery") == \
        scores.comment_count(local, None, column="touchpoint", value="Delivery")


def test_findings_counts_and_map_numbers_agree_on_the_sample(sample_engines):
    local, remote = sample_engines
    assert event_counts(remote, None) == event_counts(local, None)
    assert insights.dataset_insights(remote, None, STAGES) == insights.dataset_insights(local, None, STAGES)
    assert data_lanes.stage_numbers(remote, None, STAGES) == data_lanes.stage_numbers(local, None, STAGES)


# ---------------------------------------------------------------------------------------
# Small logs for the edges

TIES = """customer_id,timestamp,stage,touchpoint,channel,seq
a,2025-01-01T10:00:00+02:00,Aware,Ad,Web,2
a,2025-01-01T10:00:00+02:00,Consideration,Page,Web,1
a,2025-01-01T11:00:00+02:00,Purchase,Cart,Web,3
b,2025-01-02T09:00:00Z,Aware,Ad,Email,1
b,2025-01-02T09:00:00Z,Aware,Mail,Email,2
b,2025-01-02T09:00:00Z,Consideration,Page,Web,3
b,2025-01-03T09:00:00Z,Consideration,Chat,Web,4
c,2025-01-02T09:00:00Z,Aware,Ad,Web,1
c,2025-01-02T09:30:00Z,Aware,Ad,Web,2
c,2025-01-09T09:30:00Z,Aware,Ad,Web,3
c,2025-01-09T10:00:00Z,Consideration,Page,Web,4
d,2025-01-05T09:00:00Z,Purchase,Cart,Store,1
"""


@pytest.mark.parametrize("options", [
    dict(), dict(order="strict"), dict(order="unordered"), dict(window_seconds=DAY),
    dict(window_seconds=3600, order="unordered"),
    dict(exclusions=(Exclusion("Mail", "touchpoint", 1, 2),)),
], ids=lambda o: ",".join(o) or "plain")
def test_ties_with_an_order_key_agree(spark, tmp_path, options):
    local, remote = _both(spark, tmp_path, TIES, order_key="seq", partitions=3)
    steps = ["Aware", "Consideration", "Purchase"]
    expected = funnel.compute_funnel(local, None, steps, **options)
    assert funnel.compute_funnel(remote, None, steps, **options) == expected
    assert funnel.funnel_breakdown(remote, None, steps, "touchpoint", **options) == \
        funnel.funnel_breakdown(local, None, steps, "touchpoint", **options)
    _same_frames(funnel.dropoff_customers(remote, None, steps, 1, column="touchpoint", **options),
                 funnel.dropoff_customers(local, None, steps, 1, column="touchpoint", **options))
    assert funnel.tied_customers(remote, None, steps) == funnel.tied_customers(local, None, steps) == 2


def test_repeated_steps_and_offsets_agree(spark, tmp_path):
    local, remote = _both(spark, tmp_path, TIES, order_key="seq", partitions=2)
    # a value used twice: each step needs its own event
    steps = ["Aware", "Aware", "Consideration"]
    for options in (dict(), dict(window_seconds=DAY), dict(order="unordered")):
        assert funnel.compute_funnel(remote, None, steps, **options) == \
            funnel.compute_funnel(local, None, steps, **options)
    # a's times carry +02:00: 08:00 UTC; both engines see the same instants
    assert remote.time_range_us() == local.time_range_us()
    _same_frames(paths.transitions(remote, None, "touchpoint"), paths.transitions(local, None, "touchpoint"))


def test_a_funnel_nobody_enters_agrees(spark, tmp_path):
    local, remote = _both(spark, tmp_path, TIES, partitions=2)
    empty = funnel.compute_funnel(remote, None, ["Nowhere", "Aware"])
    assert empty == funnel.compute_funnel(local, None, ["Nowhere", "Aware"])
    assert empty.entered == 0 and empty.steps[1].conversion_from_start is None
    assert funnel.funnel_trend(remote, None, ["Nowhere", "Aware"]).empty
    assert scores.scores_by(remote, None, "nps", "touchpoint").empty


def test_typed_parquet_timestamps_are_the_same_instants(spark, tmp_path):
    """A lake table's real TIMESTAMP column (not text) reads as the same UTC instants."""
    from cxdata.engines.spark_engine import SparkEngine, SparkSource
    csv_path = tmp_path / "typed.csv"
    csv_path.write_text(TIES, encoding="utf-8")
    typed = tmp_path / "typed.parquet"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"COPY (SELECT * REPLACE (CAST(timestamp AS TIMESTAMPTZ) AS timestamp) FROM "
                f"read_csv('{csv_path}', all_varchar = true)) TO '{typed}' (FORMAT parquet)")
    ingest_file(con, csv_path, table="events", rejects_table="rejects")
    local = DuckDBEngine(con, "events", order_key="seq")
    remote = SparkEngine(spark, SparkSource.parse(f"spark:parquet:{typed}"), order_key="seq", partitions=2)
    assert remote.time_range_us() == local.time_range_us()
    steps = ["Aware", "Consideration", "Purchase"]
    assert funnel.compute_funnel(remote, None, steps, window_seconds=DAY) == \
        funnel.compute_funnel(local, None, steps, window_seconds=DAY)


BAD_ROWS = """customer_id,timestamp,stage,nps
a,2025-01-01T10:00:00Z,Aware,9
a,not a time,Aware,9
b,2025-01-01T10:00:00Z,Aware,11
,2025-01-01T10:00:00Z,Aware,
c,2025-01-02T10:00:00Z,Purchase,n/a
"""


def test_validation_counts_the_rows_the_ingest_rejects(spark, tmp_path):
    local, remote = _both(spark, tmp_path, BAD_ROWS, partitions=2)
    report = remote.validation()
    # the empty time, the NPS of 11 and the empty customer reject 3 of 5 rows; n/a is no answer
    assert (report["rows_read"], report["rows_accepted"], report["rows_rejected"]) == (5, 2, 3)
    assert sorted(p["reason"] for p in report["problems"]) == [
        "NPS is outside 0–10", "customer is empty", "time is not a readable date/time"]
    assert event_counts(remote, None) == event_counts(local, None)


@pytest.mark.parametrize("source, sentence", [
    ("spark:parquet:/no/such/dir", "Spark cannot find parquet files at /no/such/dir"),
    ("spark:no_such_table", "Spark cannot find Spark table no_such_table"),
    ("spark:xml:/tmp/x", "Unknown Spark format 'xml'"),
    ("spark:", "Name a Spark table"),
])
def test_unusable_spark_sources_are_one_sentence(spark, source, sentence):
    from cxdata.engines.spark_engine import SparkEngine, SparkSource
    with pytest.raises(UnusableInput) as caught:
        SparkEngine(spark, SparkSource.parse(source))
    assert str(caught.value).startswith(sentence)


def test_a_mapped_column_the_source_lacks_is_one_sentence(spark, tmp_path):
    from cxdata.engines.spark_engine import SparkEngine, SparkSource
    local, remote = _both(spark, tmp_path, TIES, partitions=2)
    parquet = tmp_path / "log.parquet"
    with pytest.raises(UnusableInput) as caught:
        SparkEngine(spark, SparkSource.parse(f"spark:parquet:{parquet}"), {"channel": "medium"})
    assert "no column 'medium'" in str(caught.value)


# ---------------------------------------------------------------------------------------
# The command line: the same output for the file and for the Spark source

def _connect_port(spark) -> int:
    try:
        return int(spark.conf.get("spark.connect.grpc.binding.port"))
    except Exception:
        return 15002


def _cli(*args, env=None):
    full_env = dict(os.environ, **(env or {}))
    proc = subprocess.run([sys.executable, "-m", "cxdata", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, env=full_env, timeout=600)
    return proc.returncode, proc.stdout, proc.stderr


def test_cli_prints_the_same_for_the_file_and_the_spark_source(spark, tmp_path):
    csv_path = tmp_path / "ties.csv"
    csv_path.write_text(TIES, encoding="utf-8")
    _both(spark, tmp_path, csv_path=csv_path, name="ties")      # writes ties.parquet
    parquet = tmp_path / "ties.parquet"
    args = ["funnel", "--step", "Aware", "--step", "Consideration", "--step", "Purchase",
            "--window", "1d", "--breakdown", "channel", "--order-key", "seq", "--format", "json"]
    code, from_file, err = _cli(args[0], csv_path, *args[1:])
    assert code == 0, err
    # Through Spark Connect: the test session's local server, with its token.
    token = {"SPARK_CONNECT_AUTHENTICATE_TOKEN": os.environ.get("SPARK_CONNECT_AUTHENTICATE_TOKEN", "")}
    code, from_spark, err = _cli(args[0], f"spark:parquet:{parquet}", *args[1:],
                                 "--spark", f"sc://localhost:{_connect_port(spark)}", env=token)
    assert code == 0, err
    assert from_spark == from_file
    assert json.loads(from_file)["entered"] == 3
    # without an order key both say how many customers have ties that touch the steps
    code, out, _ = _cli("funnel", csv_path, "--format", "json")
    assert json.loads(out)["tied_customers"] == 2


def test_cli_spark_errors_are_one_sentence(tmp_path):
    code, out, err = _cli("funnel", "spark:parquet:/tmp/x", "--spark", "sc://127.0.0.1:9")
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.startswith("The Spark Connect server at 127.0.0.1:9 did not answer")
    code, out, err = _cli("ingest", "spark:parquet:/tmp/x", "--name", "x", "--workspace", tmp_path / "w.duckdb")
    assert code == 2 and err.startswith("A Spark source is queried where it lives")
    # pyspark missing: the sentence says how to install it
    hide = ("import sys; sys.modules['pyspark'] = None; from cxdata.cli import main; "
            "sys.exit(main(['funnel', 'spark:parquet:/tmp/x']))")
    proc = subprocess.run([sys.executable, "-c", hide], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 2
    assert "pip install -r requirements-spark.txt" in proc.stderr and "Traceback" not in proc.stderr


def test_packed_events_reach_the_kernel_whole(monkeypatch):
    """The cached events travel as packed blocks, one per column (no Spark needed to check
    the packing): a partition of 5 events in blocks of 2 is 3 rows of 2 packed columns,
    and a kernel given only column ``n`` of them sees all 5 events; an empty partition
    packs to nothing and its kernel still answers, over no events."""
    import pyarrow as pa
    from cxdata.engines import spark_partitions
    monkeypatch.setattr(spark_partitions, "PACK_ROWS", 2)
    rows = pa.table({"customer_id": ["a", "a", "b", "c", "c"], "n": [1, 2, 3, 4, 5]})
    schema = rows.schema.serialize().to_pybytes()
    pack = spark_partitions.partition_runner([("events", "SELECT * FROM input", [])], schema,
                                          pack_output=True)
    blocks = list(pack(iter(rows.to_batches())))
    assert [b.num_rows for b in blocks] == [1, 1, 1] and blocks[0].schema.names == ["c0", "c1"]
    only_n = [pa.RecordBatch.from_arrays([b.column(1)], ["c1"]) for b in blocks]
    kernel = spark_partitions.partition_runner(
        [("kernel_out", "SELECT count(*) AS events, sum(n)::BIGINT AS total FROM events", [])],
        pa.schema([rows.schema.field("n")]).serialize().to_pybytes(), "events", packed_input=["n"])
    assert [b.to_pylist() for b in kernel(iter(only_n))] == [[{"events": 5, "total": 15}]]
    assert list(pack(iter([]))) == []
    assert [b.to_pylist() for b in kernel(iter([]))] == [[{"events": 0, "total": None}]]


def test_a_question_takes_only_the_columns_its_sql_reads():
    """DuckDB's plan names the columns a kernel reads: those it projects and those only its
    filters use; all of them for ``SELECT *``; one when it reads none (the rows count)."""
    import pyarrow as pa
    from cxdata.engines.spark_partitions import columns_read
    events = pa.schema([("_row", pa.int64()), ("customer_id", pa.string()), ("ts", pa.timestamp("us")),
                        ("stage", pa.string()), ("nps", pa.int32()), ("region (attribute)", pa.string())])
    per_customer = ("SELECT customer_id, list(ts ORDER BY ts) FILTER (WHERE stage = ?) AS t "
                    "FROM events GROUP BY customer_id")
    assert columns_read(per_customer, ["Aware"], events) == ["customer_id", "ts", "stage"]
    assert columns_read("SELECT count(*) AS n FROM events WHERE nps >= 9", [], events) == ["nps"]
    assert columns_read('SELECT "region (attribute)" AS r, count(*) AS n FROM events GROUP BY 1', [],
                        events) == ["region (attribute)"]
    assert columns_read("SELECT * FROM events", [], events) == events.names
    assert columns_read("SELECT count(*) AS n FROM events", [], events) == ["_row"]


def test_every_kernel_gives_the_same_rows_over_the_columns_it_reads(tmp_path):
    """What a Spark question hands its partitions (only ``columns_read``) is enough: each
    kernel the analyses send, run on the sample log's events reduced to those columns,
    gives the rows it gives over all of them (no Spark needed: DuckDB runs the kernels)."""
    from cxdata.analytics.funnel import dropoff_summary
    from cxdata.engines.spark_partitions import columns_read
    from cxdata.why import comments, conformance
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    ingest_file(con, SAMPLE, table="events", rejects_table="rejects")
    every = con.sql("SELECT * FROM events").to_arrow_table()
    checked: list[tuple[str, list[str]]] = []

    def canonical(rows):      # list aggregates without ORDER BY may come in any order
        return sorted(repr(tuple(sorted(map(repr, v)) if isinstance(v, list) else v for v in row))
                      for row in rows)

    class Checked(DuckDBEngine):
        def timeline(self, column):
            return None         # Spark has no stored timelines: the kernels that read events

        kept = Engine.kept      # nor does it keep results between queries

        def rows(self, kernel, params=(), then=None, then_params=()):
            read = columns_read(kernel, params, every.schema)
            narrow = duckdb.connect()
            narrow.execute("SET TimeZone = 'UTC'")
            narrow.register("events", every.select(read))
            assert canonical(narrow.execute(kernel, list(params)).fetchall()) == \
                canonical(con.cursor().execute(kernel, list(params)).fetchall()), read
            checked.append((kernel, read))
            return super().rows(kernel, params, then, then_params)

        def run(self, kernel, params=(), then=None, then_params=()):
            self.rows(kernel, params)
            return super().run(kernel, params, then, then_params)

    engine = Checked(con, "events")
    analyses = [lambda order=order: funnel.compute_funnel(engine, None, STAGES, window_seconds=30 * DAY,
                                                          order=order)
                for order in ("ordered", "strict", "unordered")] + [
        lambda: funnel.funnel_breakdown(engine, None, STAGES, "channel", window_seconds=30 * DAY),
        lambda: funnel.funnel_trend(engine, None, STAGES, "week"),
        lambda: dropoff_summary(engine, None, STAGES, 2, window_seconds=30 * DAY),
        lambda: paths.transitions(engine, None, "stage"),
        lambda: paths.variants(engine, None, "touchpoint"),
        lambda: paths.transitions_and_variants(engine, None, "stage"),
        lambda: scores.scores_by(engine, None, "nps", "touchpoint"),
        lambda: comments.comment_counts(engine, None),
        lambda: conformance.conformance(engine, None, STAGES),
        lambda: insights.dataset_insights(engine, None, STAGES),
    ]
    for number, analysis in enumerate(analyses):
        before = len(checked)
        analysis()
        assert len(checked) > before, f"analysis {number} sent no kernel through the engine"
    # and the reduction is real: a funnel reads 4 of the sample's columns, NPS by touchpoint 2
    assert any(read == ["_row", "customer_id", "ts", "stage"] for _, read in checked)
    assert any(read == ["touchpoint", "nps"] for _, read in checked)
    assert len(every.schema) > 10
