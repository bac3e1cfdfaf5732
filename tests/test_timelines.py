"""Stored per-customer timelines (cxdata.store.timelines): what they hold, when they are used,
when they are ignored or dropped, and that funnels give the same numbers with them."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cxdata.engines import as_engine
from cxdata.analytics import funnel, paths
from cxdata.store import timelines
from cxdata.io.ingest import StageMapping
from cxdata.sql import EventFilter
from cxdata.store.workspace import Workspace
from tests.helpers_events import at, make_events_table

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).parent / "corpus"
US = 1_000_000


@pytest.fixture
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def _keys(con, timeline):
    rows = con.execute(f'SELECT customer_id, list_sort(K) FROM "{timeline.table}" ORDER BY 1').fetchall()
    return {customer: keys for customer, keys in rows}


def test_a_timeline_holds_each_customers_keys(con):
    make_events_table(con, [("c1", 10, "B"), ("c2", 40, "A"), ("c1", 70, "A"),
                            ("c1", 100, None), ("c3", 0, None)])
    timeline = timelines.build_timeline(con, "ev", "stage")
    # Values in text order get codes 1, 2; two values need 2 bits.  Times count from the
    # earliest event of the table (c3 at 0 s, although it has no stage).
    assert timeline.codes == {"A": 1, "B": 2} and timeline.code_bits == 2
    assert timeline.time_min_us == int(at(0).replace(tzinfo=dt.timezone.utc).timestamp()) * US
    # c1: B at 10 s -> (10e6 << 2) | 2; A at 70 s -> (70e6 << 2) | 1.  The events without
    # a stage are left out, so c3 has no row.
    assert _keys(con, timeline) == {"c1": [(10 * US << 2) | 2, (70 * US << 2) | 1],
                                    "c2": [(40 * US << 2) | 1]}


def test_a_timeline_keeps_each_keys_channel_beside_it(con):
    make_events_table(con, [("c1", 10, "B", None, "Form", "Web"), ("c2", 40, "A", None, None, None),
                            ("c1", 70, "A", None, None, "Store"), ("c1", 100, None, None, None, "Web"),
                            ("c2", 50, "B", None, None, "Web"), ("c3", 0, None, None, None, "Phone")])
    timeline = timelines.build_timeline(con, "ev", "stage")
    # Times count from c3's event at 0 s (no stage, so no row of its own).  The channels
    # in text order get codes 1, 2, 3 (0: no channel); touchpoint is no filter column.
    assert set(timeline.filters) == {"channel"}
    channel = timeline.filters["channel"]
    assert channel.codes == {"Phone": 1, "Store": 2, "Web": 3}
    rows = con.execute(f'SELECT customer_id, K, "{channel.list_column}" FROM "{timeline.table}" '
                       f'ORDER BY 1').fetchall()
    # Position by position: c1's B at 10 s was on the Web, its A at 70 s in the Store;
    # c2's A at 40 s had no channel, its B at 50 s was on the Web.
    by_key = {customer: sorted(zip(keys, codes)) for customer, keys, codes in rows}
    assert by_key == {"c1": [((10 * US) << 2 | 2, 3), ((70 * US) << 2 | 1, 2)],
                      "c2": [((40 * US) << 2 | 1, 0), ((50 * US) << 2 | 2, 3)]}

    def kept(**equals):
        source = timeline.keys_source(EventFilter.build(equals=equals))
        return {c: sorted(k) for c, k in con.execute(f"SELECT customer_id, K FROM {source}").fetchall()}

    assert kept(channel=["Web"]) == {"c1": [(10 * US) << 2 | 2], "c2": [(50 * US) << 2 | 2]}
    assert kept(channel=["Store", None]) == {"c1": [(70 * US) << 2 | 1], "c2": [(40 * US) << 2 | 1]}
    assert kept(channel=["Phone"]) == {"c1": [], "c2": []}          # only events without a stage
    assert kept(channel=["Fax"]) == {"c1": [], "c2": []}            # a channel the log lacks
    assert not timeline.serves(EventFilter.build(equals={"touchpoint": ["Form"]}))
    with pytest.raises(ValueError, match="no list"):
        timeline.keys_source(EventFilter.build(equals={"touchpoint": ["Form"]}))


def test_a_timeline_is_used_only_where_it_can_stand_in_for_the_events(con):
    make_events_table(con, [("c1", 0, "A", None, "Form", "Web"), ("c1", 60, "B", None, None, "Web")])
    timelines.build_timeline(con, "ev", "stage")

    def used(**options):
        return funnel.spec._spec(as_engine(con, "ev"), ["A", "B"], **options).timeline is not None

    assert used() and used(order="unordered")
    assert used(event_filter=EventFilter(start=at(0), end=at(30)))   # a time range becomes list filters
    assert used(event_filter=EventFilter.build(equals={"channel": ["Web"]}))   # its channel list
    assert not used(order="strict")                                 # strict needs every event
    assert not used(event_filter=EventFilter.build(equals={"touchpoint": ["Form"]}))
    assert not used(event_filter=EventFilter.build(equals={"channel": ["Web"], "touchpoint": ["Form"]}))
    assert not used(by="channel")                                   # no timeline of that column


def test_a_timeline_stored_without_channel_lists_serves_only_unfiltered_views(con):
    # As a workspace made before timelines kept channels has them: no filter catalog.
    make_events_table(con, [("c1", 0, "A", None, None, "Web"), ("c1", 60, "B", None, None, "Web")])
    timelines.build_timeline(con, "ev", "stage")
    con.execute(f"DROP TABLE {timelines.FILTER_CATALOG}")
    timeline = timelines.find_timeline(con, "ev", "stage")
    assert timeline is not None and timeline.filters == {}
    assert timeline.serves(None) and timeline.serves(EventFilter(start=at(0)))
    assert not timeline.serves(EventFilter.build(equals={"channel": ["Web"]}))
    assert funnel.spec._spec(as_engine(con, "ev"), ["A", "B"], event_filter=EventFilter.build(
        equals={"channel": ["Web"]})).timeline is None
    timelines.drop_timelines(con, "ev")                              # no filter catalog: fine too
    assert timelines.find_timeline(con, "ev", "stage") is None


def test_a_changed_table_makes_its_timeline_ignored_and_drop_removes_it(con):
    make_events_table(con, [("c1", 10, "A", None, None, "Web"), ("c1", 70, "B", None, None, "Store")])
    assert timelines.build_timeline(con, "ev", "stage") is not None
    con.execute("INSERT INTO ev (_row, customer_id, ts, stage) VALUES (3, 'c2', ?, 'A')", [at(90)])
    assert timelines.find_timeline(con, "ev", "stage") is None       # one row more
    timelines.build_timeline(con, "ev", "stage")
    con.execute("UPDATE ev SET ts = ? WHERE _row = 1", [at(5)])
    assert timelines.find_timeline(con, "ev", "stage") is None       # a new earliest time
    table = timelines.build_timeline(con, "ev", "stage").table
    assert "channel" in timelines.find_timeline(con, "ev", "stage").filters
    timelines.drop_timelines(con, "ev")
    assert timelines.find_timeline(con, "ev", "stage") is None
    # the timeline, its dictionary and its channel list's dictionary, and their catalog rows
    left = con.execute("SELECT count(*) FROM duckdb_tables() WHERE starts_with(table_name, ?)", [table]).fetchone()
    assert left[0] == 0
    assert con.execute(f"SELECT count(*) FROM {timelines.FILTER_CATALOG}").fetchone()[0] == 0


def test_no_timeline_for_empty_or_free_text_columns(con, monkeypatch):
    make_events_table(con, [("c1", 0, "A", None, "Web"), ("c1", 5, "B", None, "Shop"), ("c2", 9, "C", None, "App")])
    assert timelines.build_timeline(con, "ev", "event") is None              # no values
    monkeypatch.setattr(timelines, "MAX_VALUES", 2)
    assert timelines.build_timeline(con, "ev", "touchpoint") is None         # 3 values > 2
    assert timelines.find_timeline(con, "ev", "touchpoint") is None
    with pytest.raises(ValueError, match="not in the dataset"):
        timelines.build_timeline(con, "ev", "nothing")


def test_default_step_column(con):
    make_events_table(con, [("c1", 0, None, "Open", "Web")])
    assert timelines.default_step_column(con, "ev") == "event"
    make_events_table(con, [("c1", 0, "Aware", "Open", "Web")])
    assert timelines.default_step_column(con, "ev") == "stage"
    make_events_table(con, [("c1", 0)])
    assert timelines.default_step_column(con, "ev") is None


# ---------------------------------------------------------------------------------------
# The workspace keeps them in step with the data

def _timeline_tables(ws):
    return {r[0] for r in ws.cursor().execute(
        "SELECT table_name FROM duckdb_tables() WHERE contains(table_name, '__timeline_')").fetchall()}


def test_the_workspace_builds_drops_and_rebuilds_timelines(tmp_path):
    ws = Workspace(tmp_path / "ws.duckdb")
    _, info = ws.ingest(CORPUS / "process_mining.csv", "Cases")      # no stages: events
    cur = ws.cursor()
    assert timelines.find_timeline(cur, info.table, "event") is not None
    assert timelines.find_timeline(cur, info.table, "stage") is None
    mapped = ws.set_stage_mapping("Cases", StageMapping.from_dict("event", {"Submit": "Apply", "Review": "Decide"}))
    # the mapping filled the stage column: its timeline replaces the event one
    staged = timelines.find_timeline(cur, mapped.table, "stage")
    assert staged is not None and set(staged.codes) == {"Apply", "Decide"}
    assert timelines.find_timeline(cur, mapped.table, "event") is None
    assert funnel.spec._spec(as_engine(cur, mapped.table), ["Apply", "Decide"]).timeline == staged
    ws.delete_dataset("Cases")
    assert _timeline_tables(ws) == set()


def _assert_same(a, b):
    """Funnel results (or frames) equal, times to a microsecond."""
    if isinstance(a, list):
        assert [group for group, _ in a] == [group for group, _ in b]
        for (_, x), (_, y) in zip(a, b):
            _assert_same(x, y)
        return
    if isinstance(a, funnel.FunnelResult):
        a, b = a.to_frame(), b.to_frame()
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=0, atol=1e-6)


@pytest.mark.parametrize("options", [
    dict(),
    dict(window_seconds=7 * 86400),
    dict(window_seconds=2 * 86400, order="unordered"),
    dict(window_seconds=14 * 86400, entry_start=dt.datetime(2025, 3, 1), entry_end=dt.datetime(2025, 6, 1)),
    dict(window_seconds=30 * 86400, event_filter=EventFilter(start=dt.datetime(2025, 2, 1),
                                                            end=dt.datetime(2025, 9, 1))),
    dict(steps=["Aware", "Consideration", "Aware", "Purchase"], window_seconds=30 * 86400),
    dict(by="touchpoint", steps=["Social ad", "Product page", "Checkout"], window_seconds=30 * 86400),
    # filters on the channel: the timeline's channel list stands in for the events
    dict(event_filter=EventFilter.build(equals={"channel": ["Web"]})),
    dict(window_seconds=7 * 86400, event_filter=EventFilter.build(equals={"channel": ["Web", "Email"]})),
    dict(window_seconds=2 * 86400, order="unordered",
         event_filter=EventFilter.build(equals={"channel": ["Mobile app"]})),
    dict(steps=["Aware", "Consideration", "Aware", "Purchase"], window_seconds=30 * 86400,
         event_filter=EventFilter.build(equals={"channel": ["Web", "Store"]})),
    dict(window_seconds=30 * 86400, event_filter=EventFilter.build(
        start=dt.datetime(2025, 2, 1), end=dt.datetime(2025, 9, 1), equals={"channel": ["Email", "Social"]})),
    dict(by="touchpoint", steps=["Social ad", "Product page", "Checkout"],
         event_filter=EventFilter.build(equals={"channel": ["Social", "Web"]})),
])
def test_funnels_on_the_sample_agree_with_and_without_timelines(tmp_path, options):
    ws = Workspace(tmp_path / "ws.duckdb")
    _, info = ws.ingest(ROOT / "sample_data" / "interactions.csv", "Sample")
    cur = ws.cursor()
    options = dict(options)
    steps = options.pop("steps", ["Aware", "Consideration", "Purchase", "Retention", "Advocacy"])
    options.setdefault("by", "stage")
    timelines.build_timeline(cur, info.table, options["by"])
    assert funnel.spec._spec(as_engine(cur, info.table), steps, **options).timeline is not None

    def everything():
        summary = funnel.dropoff_summary(cur, info.table, steps, 2, **options)
        return [funnel.compute_funnel(cur, info.table, steps, **options),
                funnel.funnel_breakdown(cur, info.table, steps, "channel", **options),
                funnel.funnel_trend(cur, info.table, steps, "month", **options),
                funnel.dropoff_customers(cur, info.table, steps, 2, **options),
                funnel.step_durations_histogram(cur, info.table, steps, 2, **options),
                summary.left_at, summary.next,
                pd.DataFrame([[summary.customers, summary.in_progress]])]

    with_timeline = everything()
    timelines.drop_timelines(cur, info.table)
    assert funnel.spec._spec(as_engine(cur, info.table), steps, **options).timeline is None
    from_events = everything()
    assert with_timeline[0].entered > 100      # a real funnel, not an empty one
    for a, b in zip(with_timeline, from_events):
        _assert_same(a, b)


@pytest.mark.parametrize("equals", [{"channel": ["Web"]}, {"channel": ["Email", "Social", None]}])
def test_paths_on_the_sample_agree_with_and_without_the_channel_list(tmp_path, equals):
    ws = Workspace(tmp_path / "ws.duckdb")
    _, info = ws.ingest(ROOT / "sample_data" / "interactions.csv", "Sample")
    cur = ws.cursor()
    ef = EventFilter.build(start=dt.datetime(2025, 2, 1), equals=equals)
    assert timelines.find_timeline(cur, info.table, "stage").serves(ef)

    def everything():
        return [paths.transitions(cur, info.table, "stage", event_filter=ef, collapse_repeats=True),
                paths.transitions(cur, info.table, "stage", event_filter=ef),
                paths.variants(cur, info.table, "stage", event_filter=ef, top=15)]

    with_timeline = everything()
    timelines.drop_timelines(cur, info.table)
    from_events = everything()
    assert with_timeline[0]["customers"].sum() > 100          # real paths, not none
    for a, b in zip(with_timeline, from_events):
        pd.testing.assert_frame_equal(a, b)
