"""Benchmark: every analysis on the DuckDB engine and on Spark ``local[2]``, same rows.

Usage (from the repository root; needs ``pip install -r requirements-spark.txt``)::

    python benchmarks/bench_spark.py [--events 1000000 10000000] [--runs 3] [--sample 10]

The log is the funnel benchmark's (``bench_funnel.generate``: 5 stages, 4 channels, NPS on
15% of events, 10 events per customer), generated once into ``benchmarks/_data`` and
written once more as Parquet for Spark.  DuckDB runs each analysis on the workspace
table (with its stored stage timeline, as the app does); Spark reads the Parquet file in
place through a local Spark Connect session, parses it with the ingest's own rules on
every partition and keeps the canonical events in its cache, then runs the same SQL per
partition.  Printed: the session start, the first read (parse + cache), then per
analysis the median wall time on each engine, the ratio Spark / DuckDB, and whether the
results are equal.  Target on this 2-core machine: after the session start, Spark local
within 5× DuckDB.  ``--sample PCT`` then times Spark once more on a customer sample (the
app's "ask about a sample first": ``Narrowing(PCT)``, filtered before the shuffle).  No
asserts.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_funnel  # noqa: E402  (the shared generator)

from cxdata.analytics import funnel, paths, scores  # noqa: E402
from cxdata.engines.duckdb_engine import DuckDBEngine  # noqa: E402

STAGES = bench_funnel.STAGES
WINDOW = 30 * 86400


def analyses():
    """(name, call(engine) -> result) for every analysis measured."""
    return [
        ("funnel ordered 30d", lambda e: funnel.compute_funnel(e, None, STAGES, window_seconds=WINDOW)),
        ("funnel strict 30d", lambda e: funnel.compute_funnel(e, None, STAGES, window_seconds=WINDOW,
                                                              order="strict")),
        ("funnel unordered 30d", lambda e: funnel.compute_funnel(e, None, STAGES, window_seconds=WINDOW,
                                                                 order="unordered")),
        ("breakdown by channel", lambda e: funnel.funnel_breakdown(e, None, STAGES, "channel",
                                                                   window_seconds=WINDOW)),
        ("conversion per week", lambda e: funnel.funnel_trend(e, None, STAGES, "week",
                                                              window_seconds=WINDOW).values.tolist()),
        ("drop-offs after step 2", lambda e: _summary(funnel.dropoff_summary(e, None, STAGES, 2,
                                                                             window_seconds=WINDOW))),
        ("transitions by stage", lambda e: paths.transitions(e, None, "stage").values.tolist()),
        ("variants by stage", lambda e: paths.variants(e, None, "stage").values.tolist()),
        ("NPS by touchpoint", lambda e: scores.scores_by(e, None, "nps", "touchpoint").values.tolist()),
    ]


def _summary(s):
    return (s.customers, s.in_progress, s.left_at.values.tolist(), s.next.values.tolist())


def _same(a, b) -> bool:
    """Equal results, a missing value (NaN) equal to a missing value."""
    return repr(_plain(a)) == repr(_plain(b))


def _plain(value):
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value != value:
        return None
    return value


def parquet_path(events: int, customers: int) -> Path:
    return bench_funnel.DATA_DIR / f"bench_spark_{events}_{customers}.parquet"


def prepare(events: int, customers: int) -> tuple[Path, Path]:
    db = bench_funnel.data_path(events, customers)
    if not db.exists():
        print(f"generating {events:,} events …", flush=True)
        bench_funnel.generate(events, customers)
    parquet = parquet_path(events, customers)
    if not parquet.exists():
        con = duckdb.connect(str(db), read_only=True)
        con.execute("SET TimeZone='UTC'")
        con.execute(f"COPY (SELECT * EXCLUDE (_row) FROM {bench_funnel.TABLE} ORDER BY _row) "
                    f"TO '{parquet}' (FORMAT parquet)")
        con.close()
    return db, parquet


def timed(call, runs: int):
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sample", type=int, default=None, metavar="PCT",
                        help="also time Spark on this percent of the customers")
    args = parser.parse_args()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from cxdata.engines.spark_engine import SparkEngine, SparkSource, session
    start = time.perf_counter()
    spark = session("local[2]")
    print(f"Spark local[2] session start: {time.perf_counter() - start:.1f} s   "
          f"(load average {os.getloadavg()[0]:.2f})", flush=True)
    for events in args.events:
        customers = events // 10
        db, parquet = prepare(events, customers)
        con = duckdb.connect(str(db), read_only=True)
        con.execute("SET TimeZone='UTC'")
        local = DuckDBEngine(con, bench_funnel.TABLE)
        start = time.perf_counter()
        remote = SparkEngine(spark, SparkSource.parse(f"spark:parquet:{parquet}"))
        remote.time_range_us()          # the first query reads, parses and caches the events
        first = time.perf_counter() - start
        cached = remote.cached_bytes()
        print(f"\n{events:,} events, {customers:,} customers — Spark's first read, parse and "
              f"cache: {first:.1f} s; cached {cached / 1e6:,.0f} MB ({cached / events:.0f} bytes "
              f"an event), {remote.partitions} partitions   (load average {os.getloadavg()[0]:.2f})",
              flush=True)
        print(f"{'analysis':<26}{'DuckDB s':>10}{'Spark s':>10}{'ratio':>8}  same")
        ratios = []
        for name, call in analyses():
            d_time, d_result = timed(lambda: call(local), args.runs)
            s_time, s_result = timed(lambda: call(remote), args.runs)
            ratios.append(s_time / d_time)
            print(f"{name:<26}{d_time:>10.2f}{s_time:>10.2f}{s_time / d_time:>7.1f}×  "
                  f"{'yes' if _same(d_result, s_result) else 'NO'}", flush=True)
        print(f"median ratio {statistics.median(ratios):.1f}×, worst {max(ratios):.1f}×  "
              f"(target ≤ 5×)   {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, load average "
              f"{os.getloadavg()[0]:.2f}", flush=True)
        con.close()
        if args.sample:
            time_sample(spark, parquet, args.sample, args.runs)


def time_sample(spark, parquet: Path, percent: int, runs: int) -> None:
    """Spark's times on ``percent`` % of the customers (the full log's engine released)."""
    from cxdata.engines.spark_engine import Narrowing, SparkEngine, SparkSource
    spark.catalog.clearCache()
    start = time.perf_counter()
    sampled = SparkEngine(spark, SparkSource.parse(f"spark:parquet:{parquet}"), narrowing=Narrowing(percent))
    sampled.time_range_us()
    print(f"\nSample of {percent}% of the customers — first read, parse and cache: "
          f"{time.perf_counter() - start:.1f} s", flush=True)
    for name, call in analyses():
        print(f"{name:<26}{timed(lambda: call(sampled), runs)[0]:>10.2f} s", flush=True)


if __name__ == "__main__":
    main()
