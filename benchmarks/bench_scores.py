"""Benchmark: NPS / CSAT / CES per touchpoint on 10 million events.

Usage (from the repository root)::

    python benchmarks/bench_scores.py [--rows 10000000] [--runs 7]

The data set is generated once with DuckDB SQL (deterministic, about 20 touchpoints,
about 15% of rows carrying each score) into ``benchmarks/_data/bench_scores_<rows>.duckdb``
(gitignored) and reused afterwards.  Generation runs in a child process so that the peak
RSS printed at the end belongs to the queries only.  Target: ≤ 0.3 s per metric.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cxdata.analytics.scores import METRICS, scores_by  # noqa: E402

DATA_DIR = Path(__file__).resolve().parent / "_data"
TOUCHPOINTS = 20
SCORED_PERCENT = 15


def data_path(rows: int) -> Path:
    return DATA_DIR / f"bench_scores_{rows}.duckdb"


def generate(rows: int) -> None:
    """Write the canonical dataset table ``ds_bench`` with ``rows`` events."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = data_path(rows)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    con = duckdb.connect(str(partial))
    con.execute("SET TimeZone='UTC'")
    # hash(i, salt) gives independent, reproducible pseudo-random draws per column.
    con.execute("""
        CREATE TABLE ds_bench AS
        SELECT i + 1 AS _row,
               'c' || CAST(i // 10 AS VARCHAR) AS customer_id,
               TIMESTAMP '2024-01-01' + to_seconds(CAST(hash(i, 't') % 31536000 AS BIGINT)) AS ts,
               ['Aware', 'Consideration', 'Purchase', 'Retention', 'Advocacy']
                   [1 + CAST(hash(i, 's') % 5 AS INTEGER)] AS stage,
               NULL::VARCHAR AS event,
               'Touchpoint ' || CAST(1 + hash(i, 'tp') % ? AS VARCHAR) AS touchpoint,
               ['Web', 'App', 'Store', 'Phone'][1 + CAST(hash(i, 'ch') % 4 AS INTEGER)] AS channel,
               CASE WHEN hash(i, 'n') % 100 < ? THEN CAST(hash(i, 'nv') % 11 AS INTEGER) END AS nps,
               CASE WHEN hash(i, 'c') % 100 < ? THEN CAST(1 + hash(i, 'cv') % 5 AS INTEGER) END
                   AS csat,
               CASE WHEN hash(i, 'e') % 100 < ? THEN CAST(1 + hash(i, 'ev') % 7 AS INTEGER) END
                   AS ces,
               NULL::VARCHAR AS comment
        FROM range(?) r(i)
        ORDER BY ts
    """, [TOUCHPOINTS, SCORED_PERCENT, SCORED_PERCENT, SCORED_PERCENT, rows])
    con.close()
    partial.rename(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_only:
        generate(args.rows)
        return
    path = data_path(args.rows)
    if not path.exists():
        print(f"generating {args.rows:,} events into {path} …", flush=True)
        started = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--generate-only"],
                       check=True)
        print(f"  generated in {time.perf_counter() - started:.1f} s")

    con = duckdb.connect(str(path), read_only=True)
    con.execute("SET TimeZone='UTC'")
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    print(f"{args.rows:,} events, {TOUCHPOINTS} touchpoints, ~{SCORED_PERCENT}% of rows "
          f"per score, DuckDB {duckdb.__version__}, {threads} threads, {args.runs} runs")
    for metric in METRICS:
        timings = []
        for _ in range(args.runs + 1):  # the first run warms caches and is dropped
            cur = con.cursor()
            started = time.perf_counter()
            frame = scores_by(cur, "ds_bench", metric, "touchpoint")
            timings.append(time.perf_counter() - started)
            cur.close()
        timings = timings[1:]
        print(f"  {metric.upper():4s} by touchpoint: median {statistics.median(timings):.3f} s "
              f"(min {min(timings):.3f}, max {max(timings):.3f}); {len(frame)} groups, "
              f"n = {int(frame['n'].sum()):,}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
