"""How fast do the analysis pages redraw after a filter change on a big log?

Builds (once) a workspace with a log of about ``--events`` events made by the sample
generator (the number of customers comes from the generator's events per customer,
measured on a pilot sample), then, for each analysis page, runs the real app script with
Streamlit's AppTest: a first load, then several runs that each change the channel filter
to a combination not seen before (so every analytics result is computed, not served from
the cache, which is emptied before each page), and one rerun with an unchanged filter
(served from the cache); then the Funnel page as opened from the Overview after each
filter change (what the two share served from the cache).  AppTest runs the page script
exactly as the server does, minus the browser's drawing, and the page as a user opens it
(sections that wait for a toggle on a big log stay closed).  It also times the analytics
calls the pages make, one by one and uncached, to show where the time goes.

    python benchmarks/bench_pages.py                  # ~1M events, 5 filter changes
    python benchmarks/bench_pages.py --events 10000000 --changes 3

Prints figures; asserts nothing (speed is reported, not tested).  Target: every analysis
page redraws in ≤ 1 s median and ≤ 2 s at worst after a filter change at 10M events, and
loads in ≤ 5 s the first time.
"""
from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: Customers of the pilot sample that measures the generator's events per customer.
PILOT_CUSTOMERS = 20_000
SEED = 11
PAGES = ("funnel", "touchpoints", "overview", "paths")
CHANNELS = ("Web", "Mobile app", "Email", "Social", "Store", "Call centre")


def events_per_customer() -> float:
    """The sample generator's average events per customer, measured on a pilot sample
    (its journeys change as stories are added: no constant to keep up to date)."""
    from cxdata.io.sample import generate_sample
    return len(generate_sample(customers=PILOT_CUSTOMERS, seed=SEED)) / PILOT_CUSTOMERS


def prepare(workdir: Path, events: int) -> tuple[Path, str]:
    """A workspace holding the big log as a dataset; reused when it exists."""
    from cxdata.bootstrap import install_sample_once
    from cxdata.io.sample import write_sample
    from cxdata.store.workspace import Workspace

    workdir.mkdir(parents=True, exist_ok=True)
    name = f"bench-{events}"
    path = workdir / "workspace.duckdb"
    ws = Workspace(path)
    try:
        install_sample_once(ws)          # what the app would do on first start
        if not ws.has_dataset(name):
            log = workdir / f"log-{events}.parquet"
            if not log.exists():
                started = time.perf_counter()
                rows = write_sample(log, customers=max(1, round(events / events_per_customer())),
                                    seed=SEED)
                print(f"generated {rows:,} events in {time.perf_counter() - started:.1f} s")
            started = time.perf_counter()
            _, info = ws.ingest(log, name)
            print(f"ingested {info.rows_accepted:,} events in "
                  f"{time.perf_counter() - started:.1f} s")
        info = ws.get_dataset(name)
        print(f"dataset {name!r}: {info.rows_accepted:,} events")
        _refresh_timeline(ws, info.table)
        # what the app's import does after reading the file (a no-op once stored)
        started = time.perf_counter()
        ws.prepare_views(name)
        print(f"drop-off views ready in {time.perf_counter() - started:.1f} s")
    finally:
        ws.close()
    return path, name


def _refresh_timeline(ws, table: str) -> None:
    """Rebuild the dataset's stored timeline when it lacks a filter list that ingest builds
    today (a workspace made by an older version): the figures are those of a freshly
    ingested log."""
    from cxdata.store import timelines
    cur = ws.cursor()
    column = timelines.default_step_column(cur, table)
    found = timelines.find_timeline(cur, table, column) if column else None
    present = set(timelines._columns(cur, table))
    wanted = {c for c in timelines.FILTER_COLUMNS if c in present and c != column}
    if column and (found is None or not wanted <= set(found.filters)):
        started = time.perf_counter()
        timelines.build_timeline(cur, table, column)
        print(f"rebuilt the {column} timeline in {time.perf_counter() - started:.1f} s")


def filter_changes(count: int):
    """Channel selections, each different from all before it."""
    singles = [[c] for c in CHANNELS]
    pairs = [list(p) for p in itertools.combinations(CHANNELS, 2)]
    return (singles + pairs)[:count]


def time_page(page: str, dataset: str, changes: int) -> dict:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    # Each page computes its own results: none left in the cache by the page before.
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.query_params["dataset"] = dataset
    at.switch_page(f"pages/{page}.py")
    started = time.perf_counter()
    at.run()
    first = time.perf_counter() - started
    if at.exception:
        raise RuntimeError(f"{page}: {at.exception[0].message}")
    times = []
    for channels in filter_changes(changes):
        at.multiselect(key="channel").set_value(channels)
        started = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - started)
        if at.exception:
            raise RuntimeError(f"{page}: {at.exception[0].message}")
    started = time.perf_counter()
    at.run()                                            # same filter: from the cache
    cached = time.perf_counter() - started
    return {"first": first, "changes": times, "cached": cached}


def time_followed(dataset: str, changes: int) -> dict:
    """The Funnel page as a user opens it from the Overview (its drop-off finding links
    there), after each filter change: the Overview runs first on the new filter, then the
    Funnel page is timed — what the two pages share comes from the cache."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_data.clear()
    apps = {}
    for page in ("overview", "funnel"):
        apps[page] = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        apps[page].query_params["dataset"] = dataset
        apps[page].switch_page(f"pages/{page}.py")
    apps["overview"].run()
    started = time.perf_counter()
    apps["funnel"].run()
    first = time.perf_counter() - started
    times = []
    for channels in filter_changes(changes):
        for page in ("overview", "funnel"):
            apps[page].multiselect(key="channel").set_value(channels)
            started = time.perf_counter()
            apps[page].run()
            if apps[page].exception:
                raise RuntimeError(f"{page}: {apps[page].exception[0].message}")
        times.append(time.perf_counter() - started)
    return {"first": first, "changes": times, "cached": float("nan")}


def time_calls(path: Path, dataset: str) -> list[tuple[str, float]]:
    """The analytics the pages call, uncached, one by one, for one filter (channel = Web;
    the Overview's findings also with two channels kept, which compares entry channels)."""
    from cxdata.analytics import funnel, insights, paths, scores
    from cxdata.sql import EventFilter, event_counts
    from cxdata.store.workspace import Workspace

    ws = Workspace(path, read_only=True)
    info = ws.get_dataset(dataset)
    steps = list(info.stage_order)
    ef = EventFilter.build(equals={"channel": ["Web"]})
    pair = EventFilter.build(equals={"channel": ["Web", "Email"]})
    journey = []            # the Overview's journey, which its findings are given
    cur = ws.cursor()
    calls = [
        ("sql.event_counts (filter bar, cards)", lambda: event_counts(cur, info.table, ef)),
        ("funnel.compute_funnel", lambda: funnel.compute_funnel(cur, info.table, steps,
                                                                event_filter=ef)),
        ("funnel.funnel_breakdown by channel, Web + Email", lambda: funnel.funnel_breakdown(
            cur, info.table, steps, "channel", event_filter=pair)),
        ("funnel.dropoff_summary (next touchpoints)", lambda: funnel.dropoff_summary(
            cur, info.table, steps, 2, event_filter=ef)),
        ("funnel.dropoff_customers (on request)", lambda: funnel.dropoff_customers(
            cur, info.table, steps, 2, column="touchpoint", limit=10_000, event_filter=ef)),
        ("scores.score_summary", lambda: scores.score_summary(cur, info.table, "nps",
                                                              event_filter=ef)),
        ("scores.scores_by", lambda: scores.scores_by(cur, info.table, "nps", "touchpoint",
                                                      event_filter=ef)),
        ("paths.transitions", lambda: paths.transitions(cur, info.table, "stage",
                                                        event_filter=ef, collapse_repeats=True)),
        ("paths.variants", lambda: paths.variants(cur, info.table, "stage", event_filter=ef,
                                                  top=15)),
        ("insights.compute_journey (Overview funnel)", lambda: journey.append(
            insights.compute_journey(cur, info.table, steps, ef))),
        ("insights.dataset_insights (Overview)", lambda: insights.dataset_insights(
            cur, info.table, steps, event_filter=ef, journey=journey[-1])),
        ("  the same, Web + Email kept", lambda: insights.dataset_insights(
            cur, info.table, steps, event_filter=pair)),
    ]
    out = []
    for label, call in calls:
        started = time.perf_counter()
        call()
        out.append((label, time.perf_counter() - started))
    ws.close()
    return out


def _load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--changes", type=int, default=5, help="filter changes per page")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/cxdata-bench-pages"))
    parser.add_argument("--pages", nargs="*", default=list(PAGES), choices=PAGES)
    args = parser.parse_args(argv)

    path, dataset = prepare(args.workdir, args.events)
    print(f"cpu cores: {os.cpu_count()}, load average: {_load()}")
    os.environ["CXDATA_WORKSPACE"] = str(path)
    print("\nAnalytics calls, uncached, channel = Web:")
    for label, seconds in time_calls(path, dataset):
        print(f"  {label:44s} {seconds:6.3f} s")
    print(f"\nPage redraw (AppTest), seconds; {args.changes} filter changes per page:")
    print(f"  {'page':12s} {'first load':>10s} {'median':>8s} {'max':>8s} {'cached':>8s}")
    runs = [(page, lambda page=page: time_page(page, dataset, args.changes)) for page in args.pages]
    if {"overview", "funnel"} <= set(args.pages):
        runs.append(("funnel←ovw", lambda: time_followed(dataset, args.changes)))
    for label, run in runs:
        result = run()
        changes = result["changes"]
        print(f"  {label:12s} {result['first']:10.3f} {statistics.median(changes):8.3f} "
              f"{max(changes):8.3f} {result['cached']:8.3f}   "
              + " ".join(f"{seconds:.2f}" for seconds in changes))
    print("\n'median'/'max': redraw after a filter change (new results computed), each "
          "change's after them in order; 'cached': the same view again; 'funnel←ovw': the "
          "Funnel page opened after the Overview on the same filter (as from its drop-off "
          "finding).")
    print(f"load average at the end: {_load()}")


if __name__ == "__main__":
    main()
