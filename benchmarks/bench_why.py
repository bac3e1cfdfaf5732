"""Benchmark: conversion drivers and trends with control limits (SPEC §8.1, §8.3) against
the funnel they are built on, on the benchmark log of ``bench_funnel.py``.

Usage (from the repository root)::

    python benchmarks/bench_why.py [--events 10000000] [--customers 1000000] [--runs 3]
                                   [--only funnel,drivers,…]

The log (5 stages, 30-day window, channel and touchpoint per event, NPS on 15% of events)
is generated once by :func:`bench_funnel.generate` and reused; the benchmark works on a
temporary copy of it (deleted at the end), since the drivers store the touchpoint's
timeline in the workspace on first use: that first call (``drivers_first``, timeline
built inside it) is timed once, before the warm-up.  Timed in one process:
a warm-up run of each, then ``--runs`` rounds that each run every analysis in turn (so
that a burst of other work on the machine hits all of them alike); the median wall
seconds and the median CPU seconds of the process (DuckDB's threads included) of each:

* ``funnel``         ``compute_funnel`` ordered, 30 days (from the stored timeline);
* ``drivers``        ``conversion_drivers`` after a given step (one query), reading the
  touchpoint timeline (:mod:`cxdata.why.drivers_lists`);
* ``drivers_events`` the same reading the events instead, as on a read-only workspace,
  under a filter or on Spark (:mod:`cxdata.why.drivers_span`);
* ``drivers_default`` the same choosing the step with the most drop-outs (a first pass
  counting who reaches each step, :func:`cxdata.why.drivers.step_reach`);
* ``trend``          ``funnel_trend`` per week, then ``conversion_trend_limits`` on top;
* ``trend_explained`` ``conversion_trend_limits`` with the entry-group query forced on;
* ``score_trend``    ``score_trend_limits`` NPS per week;
* ``keydrivers``     ``key_drivers`` of NPS (200 bootstrap resamples);
* ``comments``       ``comment_topics`` per touchpoint (the benchmark log has no comments:
  the two queries over an empty column);
* ``conformance``    ``conformance`` of the journeys to the 5 stages;
* ``findings``       the Overview's Why findings (:func:`cxdata.why.findings.why_findings`
  with the drop-off step known, as the Overview passes it): drivers, key drivers of NPS,
  weekly control charts of the 4 stage pairs, conformance — for information.

Target: drivers and trends each within 2× the funnel's time.  The machine's load
average is printed first: figures taken while other work runs are not comparable.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_funnel import STAGES, TABLE, WINDOW_SECONDS, data_path, generate  # noqa: E402


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(work) -> tuple[float, float, object]:
    """Wall and CPU seconds of one call, and its result."""
    started, cpu = time.perf_counter(), _cpu_seconds()
    out = work()
    return time.perf_counter() - started, _cpu_seconds() - cpu, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=None,
                        help="default: one customer per 10 events")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default=None,
                        help="comma-separated analyses to time (the funnel is always timed)")
    args = parser.parse_args()
    customers = args.customers or max(1, args.events // 10)
    path = data_path(args.events, customers)
    if not path.exists():
        print(f"generating {path.name} …", flush=True)
        generate(args.events, customers)

    print(f"load average before: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}"
          if Path("/proc/loadavg").exists() else "", flush=True)

    # a writable copy: the drivers keep the touchpoint timeline they build on first use
    handle, copy_name = tempfile.mkstemp(suffix=".duckdb", prefix="bench_why_")
    os.close(handle)
    copy = Path(copy_name)
    try:
        shutil.copyfile(path, copy)
        _run(args, parser, copy, customers)
    finally:
        for leftover in (copy, copy.with_name(copy.name + ".wal")):
            leftover.unlink(missing_ok=True)


def _run(args, parser, copy: Path, customers: int) -> None:
    from cxdata.analytics import funnel
    from cxdata.engines import as_engine
    from cxdata.why import comments, conformance, drivers, findings, keydrivers, trends
    con = duckdb.connect(str(copy))
    con.execute("SET TimeZone='UTC'")
    options = dict(window_seconds=WINDOW_SECONDS)

    def on_cursor(call):
        def work():
            cur = con.cursor()
            try:
                return call(cur)
            finally:
                cur.close()
        return work

    explained = {}

    def forced_explanation(cur):
        # the entry-group query runs only when there is a signal: time it regardless
        return trends._entry_groups(cur, TABLE, STAGES, "week", "channel", **options)

    def from_events(cur):
        # what a workspace without the touchpoint timeline gets (read-only, Spark)
        kept = drivers.factor_timeline
        drivers.factor_timeline = lambda engine, column: None
        try:
            return drivers.conversion_drivers(cur, TABLE, STAGES, 2, **options)
        finally:
            drivers.factor_timeline = kept

    cases = {
        "funnel": lambda cur: funnel.compute_funnel(cur, TABLE, STAGES, **options),
        "drivers": lambda cur: drivers.conversion_drivers(cur, TABLE, STAGES, 2, **options),
        "drivers_events": from_events,
        "drivers_default": lambda cur: drivers.conversion_drivers(cur, TABLE, STAGES, **options),
        "trend": lambda cur: trends.conversion_trend_limits(cur, TABLE, STAGES, "week", **options),
        "trend_explained": lambda cur: (trends.conversion_trend_limits(cur, TABLE, STAGES, "week", **options),
                                        forced_explanation(cur)),
        "score_trend": lambda cur: trends.score_trend_limits(cur, TABLE, "nps", "week",
                                                             explain_by="channel"),
        "keydrivers": lambda cur: keydrivers.key_drivers(cur, TABLE, "nps"),
        "comments": lambda cur: comments.comment_topics(cur, TABLE, metric="nps"),
        "conformance": lambda cur: conformance.conformance(cur, TABLE, STAGES),
        "findings": lambda cur: findings.why_findings(cur, TABLE, STAGES, after_step=2),
    }
    if args.only:
        wanted = {"funnel"} | {name.strip() for name in args.only.split(",")}
        unknown = wanted - set(cases)
        if unknown:
            parser.error(f"unknown analyses: {', '.join(sorted(unknown))} (choose from {', '.join(cases)})")
        cases = {name: call for name, call in cases.items() if name in wanted}
    if {"drivers", "drivers_default", "findings"} & set(cases):
        # the first drivers question on this copy builds the timeline; later ones read it
        wall, cpu, _ = _timed(on_cursor(lambda cur: drivers.conversion_drivers(cur, TABLE, STAGES, 2,
                                                                               **options)))
        built = as_engine(con.cursor(), TABLE).timeline("touchpoint")
        print(f"drivers_first (builds the touchpoint timeline): {wall:.3f} s wall, {cpu:.3f} s CPU"
              f"{'' if built is not None else ' (no timeline could be built)'}", flush=True)
    walls = {name: [] for name in cases}
    cpus = {name: [] for name in cases}
    for name, call in cases.items():          # warm-up: caches, first plans
        explained[name] = on_cursor(call)()
    for _ in range(args.runs):
        for name, call in cases.items():
            if name == "findings" and walls[name]:
                continue                      # ~20 s: once is enough for information
            wall, cpu, explained[name] = _timed(on_cursor(call))
            walls[name].append(wall)
            cpus[name].append(cpu)
    results = {name: statistics.median(values) for name, values in walls.items()}
    cpu_results = {name: statistics.median(values) for name, values in cpus.items()}
    base, cpu_base = results["funnel"], cpu_results["funnel"]
    print(f"{args.events:,} events, {customers:,} customers, median of {args.runs} rounds:")
    print(f"  {'':<16} {'wall s':>8}  {'× funnel':>8}  {'CPU s':>8}  {'× funnel':>8}")
    for name, seconds in results.items():
        print(f"  {name:<16} {seconds:8.3f}  {seconds / base:7.2f}×  {cpu_results[name]:8.3f}  "
              f"{cpu_results[name] / cpu_base:7.2f}×")
    if "drivers" in explained:
        d = explained["drivers"]
        print(f"drivers after {d.step_from}: {d.customers:,} customers, {len(d.drivers)} factors")
    if "drivers" in explained and "drivers_events" in explained:
        same = explained["drivers"].to_json_dict() == explained["drivers_events"].to_json_dict()
        print(f"drivers from the timeline and from the events: {'same' if same else 'DIFFERENT'} figures")
    if "trend" in explained:
        t = explained["trend"]
        print(f"trend: {len(t.buckets)} weeks, {int(t.buckets['signal'].notna().sum())} signals")
    if "findings" in explained:
        print("findings: " + ", ".join(f.kind for f in explained["findings"]))
    print(f"load average after: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}"
          if Path("/proc/loadavg").exists() else "", flush=True)


if __name__ == "__main__":
    main()
