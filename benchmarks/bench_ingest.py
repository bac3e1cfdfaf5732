"""Benchmark: ingest a 10-million-row interaction log, against DuckDB's bare CSV read.

Usage (from the repository root)::

    python benchmarks/bench_ingest.py [--rows 10000000] [--runs 3]

The log is generated once with DuckDB SQL (``COPY … TO``, deterministic) into
``benchmarks/_data/bench_ingest_<rows>.csv`` (gitignored, about 70 bytes a row) and reused
while its side file ``….csv.json`` records the same row count and generator version.
Columns: customer_id, timestamp (ISO-8601 ending in ``Z``), stage (5 values), touchpoint
(20), channel (6), nps / csat / ces (each about 15% filled, a few out-of-range or
fractional values so that rows are rejected, a few ``n/a`` that mean "no response"),
comment (about 5% of rows, some quoted because they hold a comma), segment, region.

Each method runs in a fresh child process, so the peak RSS printed is that method's own
(the child reports ``ru_maxrss`` of itself).  Times cover the work and the closing of the
database (its checkpoint), not the imports:

* ``bare``: ``CREATE TABLE t AS SELECT * FROM read_csv(file)`` into a new DuckDB file;
* ``ingest``: ``Workspace(new file).ingest(file, "bench")`` (cxdata/io/ingest.py).

Printed: median wall seconds and CPU seconds, rows per second, peak RSS (MiB), rows read /
accepted / rejected and the ratios ingest / bare.  Targets: ingest ≤ 2× the bare read (wall),
peak RSS ≤ 2 GB.  The machine load (``uptime``) is printed before, during and after: on a
shared machine the wall times move with it, the CPU seconds much less.
``--cxdata-root DIR`` measures the cxdata package found in DIR (a modified copy) instead.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(__file__).resolve().parent / "_data"
#: Bump when the generated file's content changes, so that old copies are regenerated.
GENERATOR_VERSION = 1
METHODS = ("bare", "ingest")
TARGET_RATIO = 2.0
TARGET_PEAK_MIB = 2048

STAGES = ["Aware", "Consideration", "Purchase", "Retention", "Advocacy"]
TOUCHPOINTS = ["Ad", "Search", "Website", "Blog", "Email", "Newsletter", "App", "Push",
               "Store", "Checkout", "Cart", "Delivery", "Invoice", "Support", "Chat", "Call",
               "Survey", "Review", "Referral", "Renewal"]
CHANNELS = ["Web", "App", "Email", "Phone", "Store", "Social"]
SEGMENTS = ["Consumer", "SMB", "Enterprise"]
REGIONS = ["EU", "NA", "APAC", "LATAM", "MEA"]
COMMENTS = ["Great service", "Too slow", "Could not find the page", "Friendly, helpful staff",
            "Delivery was late", "Easy checkout", "Price too high, will look elsewhere", "OK"]
#: Per-mille of rows carrying each score, and per-mille of those carrying an invalid one.
SCORED_PER_MILLE = 150
INVALID_PER_MILLE = 2


def data_path(rows: int) -> Path:
    return DATA_DIR / f"bench_ingest_{rows}.csv"


def _meta_path(csv_path: Path) -> Path:
    return csv_path.with_name(csv_path.name + ".json")


def _pick(values: list[str], salt: str) -> str:
    """SQL picking one of ``values`` by a hash of the row number (values are constants
    of this file, so they are written inline)."""
    items = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"[{items}][1 + CAST(hash(i, '{salt}') % {len(values)} AS INTEGER)]"


def _score(salt: str, low: int, high: int, invalid: str) -> str:
    """SQL for one score column: empty on most rows, ``low…high`` on SCORED_PER_MILLE,
    ``invalid`` on INVALID_PER_MILLE of those and ``n/a`` (no response) on as many."""
    return f"""CASE
        WHEN hash(i, '{salt}') % 1000 >= {SCORED_PER_MILLE} THEN NULL
        WHEN hash(i, '{salt}x') % 1000 < {INVALID_PER_MILLE} THEN '{invalid}'
        WHEN hash(i, '{salt}x') % 1000 < {2 * INVALID_PER_MILLE} THEN 'n/a'
        ELSE CAST({low} + hash(i, '{salt}v') % {high - low + 1} AS VARCHAR) END"""


def generate(rows: int) -> dict:
    """Write the CSV for ``rows`` rows and its side file; returns the side file's content."""
    import duckdb
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = data_path(rows)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    # hash(i, salt) gives reproducible, independent pseudo-random draws per column.  Rows
    # are in time order (3 s apart, ±1 s), about 10 events per customer.
    select = f"""
        SELECT 'C' || CAST(hash(i, 'cust') % {max(rows // 10, 1)} AS VARCHAR) AS customer_id,
               strftime(TIMESTAMP '2024-01-01' + to_seconds(i * 3 + hash(i, 'ts') % 3),
                        '%Y-%m-%dT%H:%M:%SZ') AS timestamp,
               {_pick(STAGES, 'stage')} AS stage,
               {_pick(TOUCHPOINTS, 'tp')} AS touchpoint,
               {_pick(CHANNELS, 'ch')} AS channel,
               {_score('nps', 0, 10, '11')} AS nps,
               {_score('csat', 1, 5, '4.5')} AS csat,
               {_score('ces', 1, 7, '8')} AS ces,
               CASE WHEN hash(i, 'cm') % 100 < 5 THEN {_pick(COMMENTS, 'cmv')} END AS comment,
               {_pick(SEGMENTS, 'seg')} AS segment,
               {_pick(REGIONS, 'reg')} AS region
        FROM range(CAST(? AS BIGINT)) r(i)"""
    target = str(partial).replace("'", "''")  # COPY takes no bound file name
    con.execute(f"COPY ({select}) TO '{target}' (FORMAT csv, HEADER true, DELIMITER ',')", [rows])
    # What the ingest should find: a row is rejected when any score is invalid.
    expected = con.execute(f"""
        SELECT count(*) FILTER (WHERE nps = '11' OR csat = '4.5' OR ces = '8'),
               count(*) FILTER (WHERE nps = '11'), count(*) FILTER (WHERE csat = '4.5'),
               count(*) FILTER (WHERE ces = '8')
        FROM ({select})""", [rows]).fetchone()
    con.close()
    meta = {"rows": rows, "generator_version": GENERATOR_VERSION,
            "bytes": partial.stat().st_size, "rows_with_invalid_score": expected[0],
            "invalid_nps": expected[1], "invalid_csat": expected[2], "invalid_ces": expected[3]}
    partial.rename(path)
    _meta_path(path).write_text(json.dumps(meta, indent=1))
    return meta


def ensure_data(rows: int) -> tuple[Path, dict]:
    """The CSV for ``rows`` rows, generated unless a matching copy exists."""
    path = data_path(rows)
    meta_file = _meta_path(path)
    if path.exists() and meta_file.exists():
        meta = json.loads(meta_file.read_text())
        if (meta.get("rows") == rows and meta.get("generator_version") == GENERATOR_VERSION
                and meta.get("bytes") == path.stat().st_size):
            return path, meta
    print(f"generating {rows:,} rows into {path} …", flush=True)
    started = time.perf_counter()
    meta = generate(rows)
    print(f"  generated in {time.perf_counter() - started:.1f} s", flush=True)
    return path, meta


# -- child side: one measured run ------------------------------------------------------

class _Clock:
    """Wall seconds and CPU seconds (user + system, all threads) of this process since
    creation.  CPU seconds are less disturbed than wall seconds when other programs share
    the cores; wall ÷ CPU shows how many cores the work kept busy."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), self._cpu()

    @staticmethod
    def _cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def stop(self) -> dict:
        return {"seconds": time.perf_counter() - self.wall, "cpu_seconds": self._cpu() - self.cpu}


def _child_bare(csv_path: str, workdir: str) -> dict:
    import duckdb
    con = duckdb.connect(os.path.join(workdir, "bare.duckdb"))
    con.execute("SET enable_progress_bar = false")
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    clock = _Clock()
    con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?)", [csv_path])
    rows = con.execute("SELECT count(*) FROM t").fetchone()[0]
    con.close()  # the close checkpoints: the table is then safely in the file
    return {**clock.stop(), "rows_read": rows, "rows_accepted": rows, "rows_rejected": 0,
            "threads": threads}


def _child_ingest(csv_path: str, workdir: str, cxdata_root: str) -> dict:
    sys.path.insert(0, cxdata_root)
    from cxdata.store.workspace import Workspace
    ws = Workspace(os.path.join(workdir, "workspace.duckdb"))
    threads = ws.cursor().execute("SELECT current_setting('threads')").fetchone()[0]
    clock = _Clock()
    result, _info = ws.ingest(csv_path, "bench")
    ws.close()  # as for the bare read, the close (a checkpoint) is part of the time
    return {**clock.stop(), "rows_read": result.rows_read, "rows_accepted": result.rows_accepted,
            "rows_rejected": result.rows_rejected, "reasons": result.reasons, "threads": threads}


def run_child(method: str, csv_path: str, cxdata_root: str) -> None:
    """Run one method in this (fresh) process and print its figures as one JSON line."""
    workdir = tempfile.mkdtemp(prefix=f"bench_ingest_{method}_", dir=DATA_DIR)
    try:
        if method == "bare":
            figures = _child_bare(csv_path, workdir)
        else:
            figures = _child_ingest(csv_path, workdir, cxdata_root)
        db_bytes = sum(p.stat().st_size for p in Path(workdir).rglob("*") if p.is_file())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    # ru_maxrss is in KiB on Linux: the peak resident memory of this process.
    figures["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["db_mib"] = db_bytes / 2 ** 20
    print(json.dumps(figures))


# -- parent side -----------------------------------------------------------------------

def measure(method: str, csv_path: Path, cxdata_root: str) -> dict:
    """One run of ``method`` in a fresh Python process; its JSON figures."""
    done = subprocess.run([sys.executable, __file__, "--child", method, "--file", str(csv_path),
                           "--cxdata-root", cxdata_root], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{method} run failed:\n{done.stderr[-3000:]}")
    # The figures are the last JSON line (anything printed before it is ignored).
    figures = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not figures:
        raise SystemExit(f"{method} run printed no figures:\n{done.stdout[-2000:]}")
    return json.loads(figures[-1])


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def _load() -> str:
    return uptime().split("load average:")[-1].strip()


def summarise(method: str, runs: list[dict]) -> dict:
    """Print and return the medians of ``runs`` (peak RSS: the largest of the runs)."""
    seconds = statistics.median(r["seconds"] for r in runs)
    cpu = statistics.median(r["cpu_seconds"] for r in runs)
    peak = max(r["peak_rss_mib"] for r in runs)
    last = runs[-1]
    print(f"{method:6s}: median {seconds:.1f} s (min {min(r['seconds'] for r in runs):.1f}, "
          f"max {max(r['seconds'] for r in runs):.1f}; median CPU {cpu:.1f} s), "
          f"{last['rows_read'] / seconds:,.0f} rows/s, peak RSS {peak:.0f} MiB; "
          f"rows read {last['rows_read']:,}, accepted {last['rows_accepted']:,}, "
          f"rejected {last['rows_rejected']:,}")
    if last.get("reasons"):
        print("        problems by reason: "
              + "; ".join(f"{k}: {v:,}" for k, v in last["reasons"].items()))
    return {**last, "seconds": seconds, "cpu": cpu, "peak": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3, help="runs per method (median printed)")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help="comma-separated subset of: " + ", ".join(METHODS))
    parser.add_argument("--cxdata-root", default=str(ROOT),
                        help="folder holding the cxdata package to measure (default: this "
                             "repository; point it at a modified copy to measure a change)")
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.file, args.cxdata_root)
        return
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise SystemExit(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")

    import duckdb
    csv_path, meta = ensure_data(args.rows)
    print(f"file: {csv_path} ({meta['bytes'] / 2 ** 20:.0f} MiB, {meta['rows']:,} rows; "
          f"{meta['rows_with_invalid_score']:,} rows carry an invalid score: nps 11 × "
          f"{meta['invalid_nps']:,}, csat 4.5 × {meta['invalid_csat']:,}, ces 8 × {meta['invalid_ces']:,})")
    print(f"DuckDB {duckdb.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"{args.runs} runs per method, each in a fresh process, methods interleaved; "
          f"cxdata from {args.cxdata_root}")
    print(f"before: {uptime()}", flush=True)

    # Methods alternate run by run so that a change in the machine's load hits both alike.
    runs: dict[str, list[dict]] = {m: [] for m in methods}
    for n in range(args.runs):
        for method in methods:
            figures = measure(method, csv_path, args.cxdata_root)
            runs[method].append(figures)
            print(f"  {method:6s} run {n + 1}: {figures['seconds']:6.1f} s "
                  f"({figures['cpu_seconds']:5.1f} s CPU), peak RSS {figures['peak_rss_mib']:5.0f} MiB, "
                  f"database {figures['db_mib']:.0f} MiB ({figures['threads']} DuckDB threads; "
                  f"load {_load()})", flush=True)
    print(f"after:  {uptime()}")
    summary = {method: summarise(method, runs[method]) for method in methods}
    if "bare" in summary and "ingest" in summary:
        ratio = summary["ingest"]["seconds"] / summary["bare"]["seconds"]
        cpu_ratio = summary["ingest"]["cpu"] / summary["bare"]["cpu"]
        peak = summary["ingest"]["peak"]
        print(f"ratio ingest / bare: {ratio:.2f}× wall (target ≤ {TARGET_RATIO:.0f}×: "
              f"{'met' if ratio <= TARGET_RATIO else 'MISSED'}), {cpu_ratio:.2f}× CPU; "
              f"ingest peak RSS {peak:.0f} MiB "
              f"(target ≤ {TARGET_PEAK_MIB} MiB: {'met' if peak <= TARGET_PEAK_MIB else 'MISSED'})")


if __name__ == "__main__":
    main()
