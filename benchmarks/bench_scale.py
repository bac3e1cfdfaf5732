"""Benchmark: how far one machine goes — every subcommand on 1M, 10M and 100M events.

Usage (from the repository root)::

    python benchmarks/bench_scale.py [--events 1M,10M,100M] [--memory-limit 3G]

The logs are the ones of ``bench_ingest.py`` (generated once with DuckDB ``COPY`` into
``benchmarks/_data/bench_ingest_<events>.csv`` and reused): about 10 events per
customer, 5 stages, 20 touchpoints, 6 channels, sparse NPS / CSAT / CES with a few
invalid scores (those rows are rejected).  100M events is a 6.3 GB file.

For each size, each step runs in a fresh process and is measured from outside: wall
seconds, and the peak resident memory of that process alone (``ru_maxrss`` of the child,
read with ``os.wait4``).  The steps, in order:

* ``bare``: DuckDB's bare read, ``CREATE TABLE t AS SELECT * FROM read_csv(file)`` into a
  new database file (DuckDB's own settings: the floor of any ingest);
* ``ingest``: ``python -m cxdata ingest FILE --name scale`` into a new workspace;
* ``floor``: one aggregation over the stored dataset — each customer's first time per
  stage (the least work any funnel must do), in a fresh DuckDB process with the same
  memory limit as the command line;
* ``funnel``: ``funnel ws:scale`` with the 5 stages as steps, ordered, 30-day window;
* ``scores``: ``scores ws:scale --metric nps --by touchpoint``;
* ``paths``: ``paths ws:scale --by stage``.

Printed: a line per step (seconds, peak RSS, µs and bytes of peak RSS per event), the
machine load (``uptime``) before and after each size, and the targets: ingest ≤ 2× the
bare read, funnel ≤ 1.5× the floor, paths ≤ 2× the funnel, every subcommand's peak RSS
≤ 4 GiB.  ``--memory-limit`` is passed to every subcommand (default: the command line's
own default, see docs/cli.md).  The workspace of the largest size is kept in
``benchmarks/_data/scale_<events>.duckdb`` (to open it in the app); ``--steps`` runs a
subset (a workspace from an earlier run is reused when ``ingest`` is left out).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from bench_ingest import DATA_DIR, STAGES, ensure_data, uptime  # noqa: E402  (generator shared)

STEPS = ("bare", "ingest", "floor", "funnel", "scores", "paths")
COMMANDS = ("ingest", "funnel", "scores", "paths")
DATASET = "scale"
TARGET_PEAK_GIB = 4.0
TARGETS = {"ingest": ("bare", 2.0), "funnel": ("floor", 1.5), "paths": ("funnel", 2.0)}


def parse_count(text: str) -> int:
    """``"1M"`` / ``"100m"`` / ``"250K"`` / ``"5000"`` -> a number of events."""
    clean = text.strip().upper()
    factor = {"K": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9}.get(clean[-1:], 1)
    return int(float(clean[:-1] if factor > 1 else clean) * factor)


def label(events: int) -> str:
    return f"{events // 10 ** 6}M" if events % 10 ** 6 == 0 else f"{events:,}"


def workspace_file(events: int) -> Path:
    return DATA_DIR / f"scale_{events}.duckdb"


# -- child side: the bare read and the floor -------------------------------------------

def child_bare(csv_path: str) -> None:
    import duckdb
    workdir = tempfile.mkdtemp(prefix="scale_bare_", dir=DATA_DIR)
    try:
        con = duckdb.connect(os.path.join(workdir, "bare.duckdb"))
        con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?)", [csv_path])
        print(json.dumps({"rows": con.execute("SELECT count(*) FROM t").fetchone()[0]}))
        con.close()     # the checkpoint is part of the work, as for the ingest
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def child_floor(workspace: str, memory_limit: str | None) -> None:
    """Each customer's first time per stage, consumed (its maximum) so that DuckDB
    cannot prune the min() away; on a connection set up as the command line's."""
    sys.path.insert(0, str(ROOT))
    from cxdata.store.workspace import Workspace
    try:
        from cxdata.store.memory import set_memory_limit
        set_memory_limit(memory_limit)
    except ImportError:        # the code before memory limits existed
        pass
    ws = Workspace(workspace, read_only=True)
    table = ws.get_dataset(DATASET).table
    row = ws.cursor().execute(f"""SELECT count(*), max(first_time) FROM (
        SELECT customer_id, stage, min(ts) AS first_time FROM "{table}"
        WHERE stage IS NOT NULL GROUP BY customer_id, stage)""").fetchone()
    print(json.dumps({"groups": row[0]}))
    ws.close()


# -- parent side -----------------------------------------------------------------------

def run_measured(command: list[str], timeout: float | None = None) -> dict:
    """Run ``command`` in a fresh process; its wall seconds, peak RSS (of that process
    only: ``os.wait4`` returns the rusage of the one child waited for), exit code and
    output.  After ``timeout`` seconds the process is killed (exit code None)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=ROOT)
        timed_out = False
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if timeout is not None and time.perf_counter() - started > timeout:
                process.kill()
                timed_out = True
                _pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        process.returncode = None if timed_out else os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {"seconds": seconds, "peak_gib": usage.ru_maxrss / 2 ** 20,   # KiB on Linux
                "cpu_seconds": usage.ru_utime + usage.ru_stime, "exit": process.returncode,
                "stdout": out.read().decode(errors="replace"),
                "stderr": err.read().decode(errors="replace")}


def step_command(step: str, csv_path: Path, workspace: Path, memory_limit: str | None) -> list[str]:
    py = sys.executable
    if step == "bare":
        return [py, __file__, "--child", "bare", "--file", str(csv_path)]
    if step == "floor":
        return [py, __file__, "--child", "floor", "--file", str(workspace)] + (
            ["--memory-limit", memory_limit] if memory_limit else [])
    common = ["--workspace", str(workspace)] + (["--memory-limit", memory_limit] if memory_limit else [])
    if step == "ingest":
        return [py, "-m", "cxdata", "ingest", str(csv_path), "--name", DATASET, "--replace", *common]
    if step == "funnel":
        steps = [a for s in STAGES for a in ("--step", s)]
        return [py, "-m", "cxdata", "funnel", f"ws:{DATASET}", *steps, "--window", "30d", *common]
    if step == "scores":
        return [py, "-m", "cxdata", "scores", f"ws:{DATASET}", "--metric", "nps", "--by", "touchpoint", *common]
    return [py, "-m", "cxdata", "paths", f"ws:{DATASET}", "--by", "stage", *common]


def measure_size(events: int, steps: list[str], memory_limit: str | None, keep: bool,
                 timeout: float | None) -> dict:
    csv_path, meta = ensure_data(events)
    workspace = workspace_file(events)
    if "ingest" in steps:
        for stale in (workspace, workspace.with_name(workspace.name + ".wal")):
            stale.unlink(missing_ok=True)
    print(f"\n{label(events)} events: {csv_path.name} ({meta['bytes'] / 2 ** 30:.2f} GiB); "
          f"before: {uptime()}", flush=True)
    figures: dict[str, dict] = {}
    for step in steps:
        result = run_measured(step_command(step, csv_path, workspace, memory_limit), timeout)
        # ingest exits 1 when rows were rejected (this log has a few invalid scores).
        ok = result["exit"] == 0 or (step == "ingest" and result["exit"] == 1)
        figures[step] = {**result, "ok": ok}
        note = "" if ok else (f"  NOT FINISHED within {timeout:.0f} s" if result["exit"] is None else
                              f"  FAILED (exit {result['exit']}): {result['stderr'].strip()[:300]}")
        print(f"  {step:7s} {result['seconds']:8.1f} s  (CPU {result['cpu_seconds']:7.1f} s)  "
              f"peak RSS {result['peak_gib']:6.2f} GiB  "
              f"{result['seconds'] / events * 1e6:7.3f} µs/event  "
              f"{result['peak_gib'] * 2 ** 30 / events:7.1f} B/event{note}", flush=True)
    print(f"  after: {uptime()}")
    report_targets(figures)
    if not keep:
        for stale in (workspace, workspace.with_name(workspace.name + ".wal")):
            stale.unlink(missing_ok=True)
    return figures


def report_targets(figures: dict[str, dict]) -> None:
    for step, (floor, target) in TARGETS.items():
        if step in figures and floor in figures:
            if not (figures[step]["ok"] and figures[floor]["ok"]):
                print(f"  {step} / {floor}: not measured (a step did not finish)")
                continue
            ratio = figures[step]["seconds"] / figures[floor]["seconds"]
            print(f"  {step} / {floor}: {ratio:.2f}× (target ≤ {target}×: "
                  f"{'met' if ratio <= target else 'MISSED'})")
    peaks = {s: f["peak_gib"] for s, f in figures.items() if s in COMMANDS}
    unfinished = [s for s, f in figures.items() if not f["ok"]]
    if unfinished:
        print(f"  did not finish: {', '.join(unfinished)} (peak RSS until then)")
    if peaks:
        worst = max(peaks, key=peaks.get)
        print(f"  largest subcommand peak RSS: {worst} {peaks[worst]:.2f} GiB (target ≤ "
              f"{TARGET_PEAK_GIB:.0f} GiB: {'met' if peaks[worst] <= TARGET_PEAK_GIB else 'MISSED'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default="1M,10M,100M", help="comma-separated sizes, e.g. 1M,10M")
    parser.add_argument("--memory-limit", default=None, metavar="SIZE",
                        help="passed to every subcommand (default: the command line's default)")
    parser.add_argument("--steps", default=",".join(STEPS), help="subset of: " + ", ".join(STEPS))
    parser.add_argument("--timeout", type=float, default=1800,
                        help="seconds after which a step is stopped and reported unfinished (default 1800)")
    parser.add_argument("--keep-workspaces", action="store_true",
                        help="keep every size's workspace (default: only the largest)")
    parser.add_argument("--child", choices=("bare", "floor"), help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "bare":
        child_bare(args.file)
        return
    if args.child == "floor":
        child_floor(args.file, args.memory_limit)
        return
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    if not steps or any(s not in STEPS for s in steps):
        raise SystemExit(f"--steps takes a subset of {', '.join(STEPS)}")
    sizes = sorted(parse_count(e) for e in args.events.split(",") if e.strip())
    import duckdb
    print(f"DuckDB {duckdb.__version__}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2 ** 30:.1f} GiB RAM; "
          f"memory limit: {args.memory_limit or 'the default'}; each step a fresh process")
    table = {}
    for events in sizes:
        table[events] = measure_size(events, steps, args.memory_limit,
                                     keep=args.keep_workspaces or events == sizes[-1],
                                     timeout=args.timeout)
    print("\n| events | " + " | ".join(steps) + " |")
    print("|---|" + "---|" * len(steps))
    for events, figures in table.items():
        cells = [("" if figures[s]["ok"] else "unfinished: ")
                 + f"{figures[s]['seconds']:.1f} s, {figures[s]['peak_gib']:.2f} GiB" for s in steps]
        print(f"| {label(events)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
