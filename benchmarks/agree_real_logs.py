"""Agreement check: the command line's numbers on a real log against independent code.

Usage (from the repository root; needs the test requirements)::

    python benchmarks/agree_real_logs.py LOG [--map ROLE=COLUMN …] [--step VALUE …]
        [--by COLUMN] [--windows 7d,30d,none] [--top 5000]

For one log, as a user would run them, the ``python -m cxdata`` subcommands
``validate``, ``funnel`` (ordered, strict and unordered, several windows, with a
breakdown by channel when the log has one), ``scores`` (every score the log has, by
month and by channel or touchpoint) and ``paths`` are checked against code that shares
nothing with ``cxdata`` but the accepted rows it reads:

* funnels, from the file and from a workspace dataset (whose funnels read the timeline
  stored at ingest): the pure-Python reading of SPEC §2 in ``tests/test_funnel_properties.py``
  (brute-force ordered depth, strict on the (time, file row) sequence, unordered windows);
* scores: SPEC §4's formulas written out again below in plain Python (NPS with the
  adjusted-Wald interval, CSAT top-2-box with the Wilson interval, CES mean with the
  t interval from SciPy);
* paths: consecutive pairs and collapsed variants counted with Python dicts.

The steps default to the path most customers follow (``cxdata.analytics.funnel.suggest_steps``,
the app's default for a log without stages; the stage order when the log has stages).
Prints one line per check and a closing ``N passed, N failed`` line; exits 1 when
anything disagrees.  Nothing here is timed: see the other scripts for speed.
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cxdata.analytics import funnel  # noqa: E402
from cxdata.cli import parse_maps  # noqa: E402
from cxdata.io.ingest import ingest_file  # noqa: E402
from tests.helpers_events import BASE_TIME  # noqa: E402
from tests.test_funnel_properties import (Ev, reference_counted, reference_steps,  # noqa: E402
                                          reference_window)

DATASET = "agreement"
#: The SPEC's "1.96", unrounded (as cxdata uses it): the standard normal 0.975 quantile.
#: Rounded, the NPS interval ends move by less than 0.001 points.
Z = statistics.NormalDist().inv_cdf(0.975)


def cli(*args: str) -> dict:
    """Run ``python -m cxdata … --format json`` and return its JSON (exit 0 or 1)."""
    proc = subprocess.run([sys.executable, "-m", "cxdata", *args, "--format", "json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"python -m cxdata {' '.join(args)} failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


class Checks:
    """Collects agreement checks and prints each as it is made."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, what: str, ours, reference, close: bool = False) -> None:
        same = _close(ours, reference) if close else ours == reference
        self.passed += same
        self.failed += not same
        shown = _short(ours)
        print(f"  {'ok  ' if same else 'FAIL'} {what}: {shown}"
              + ("" if same else f"\n         reference: {_short(reference)}"))


def _close(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def _short(value, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


# -- the accepted rows, read once --------------------------------------------------------

def accepted_rows(log: Path, maps: dict) -> tuple[list[dict], list[str], list[str], dict]:
    """The log's accepted rows as dicts (customer, t in seconds after BASE_TIME, row,
    month, and every role column present), the roles present, the stage order, and the
    suggested steps per event / touchpoint column."""
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    result = ingest_file(con, log, table="ev", rejects_table="rej", overrides=maps)
    roles = list(result.roles)
    base_us = int((BASE_TIME - dt.datetime(1970, 1, 1)).total_seconds()) * 1_000_000
    columns = [c for c in ("stage", "event", "touchpoint", "channel", "nps", "csat", "ces")
               if c in roles]
    sql = (f"SELECT customer_id, epoch_us(ts), _row, strftime(ts, '%Y-%m'), "
           f"{', '.join(columns) if columns else 'NULL'} FROM ev")
    rows = []
    for customer, us, row, month, *values in con.execute(sql).fetchall():
        record = {"customer": customer, "t": (us - base_us) / 1_000_000, "row": row, "month": month}
        record.update(zip(columns, values))
        rows.append(record)
    stage_order = list(result.stage_order)
    suggested = {}
    for column in ("event", "touchpoint"):
        if column in roles:
            suggested[column] = funnel.suggest_steps(con, "ev", column)
    con.close()
    return rows, roles, stage_order, suggested


def _text(value) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text != "" else None


# -- funnels ---------------------------------------------------------------------------

def funnel_checks(checks: Checks, source: str, log_args: list[str], rows: list[dict], by: str,
                  steps: list[str], windows: list[str], has_channel: bool) -> None:
    """Every order mode and window, from ``log_args`` (the file, or ``ws:NAME``)."""
    events = [Ev(customer=r["customer"], t=r["t"], row=r["row"], stage=_text(r.get(by)),
                 channel=_text(r.get("channel")), touchpoint=None) for r in rows]
    settings = [("ordered", w) for w in windows] + [("strict", "none"), ("unordered", windows[0])]
    step_args = [a for s in steps for a in ("--step", s)]
    for order, window in settings:
        got = cli("funnel", *log_args, "--by", by, "--order", order, "--window", window, *step_args)
        counted = reference_counted(events, steps, order, reference_window(window), (None, None))
        expected = reference_steps(list(counted.values()), len(steps))
        label = f"funnel ({source}) {order}, window {window}"
        checks.check(f"{label}: customers per step", [s["customers"] for s in got["steps"]],
                     [e[0] for e in expected])
        checks.check(f"{label}: median seconds from previous step",
                     [s["median_seconds_from_previous"] for s in got["steps"]],
                     [e[1] for e in expected], close=True)
        if order == "ordered" and window == windows[-1] and has_channel:
            got = cli("funnel", *log_args, "--by", by, "--order", order, "--window", window,
                      "--breakdown", "channel", *step_args)
            groups = collections.defaultdict(list)
            for attempt in counted.values():
                groups[attempt.entry.channel or "(none)"].append(attempt)
            ours = {g["group"]: [s["customers"] for s in g["steps"]] for g in got["groups"]}
            reference = {g: [e[0] for e in reference_steps(a, len(steps))] for g, a in groups.items()}
            checks.check(f"{label}: customers per step per entry channel", ours, reference)


# -- scores ----------------------------------------------------------------------------

def nps_reference(values: list[int]) -> tuple[float, float, float]:
    """NPS and its adjusted-Wald 95% interval, written from SPEC §4."""
    n = len(values)
    p = sum(v >= 9 for v in values)
    d = sum(v <= 6 for v in values)
    n2 = n + 3
    p2, d2 = (p + 0.75) / n2, (d + 0.75) / n2
    spread = Z * math.sqrt((p2 + d2 - (p2 - d2) ** 2) / n2)
    return 100 * (p - d) / n, max(-100.0, 100 * (p2 - d2 - spread)), min(100.0, 100 * (p2 - d2 + spread))


def csat_reference(values: list[int]) -> tuple[float, float, float]:
    """Top-2-box percent and its Wilson 95% interval."""
    n = len(values)
    k = sum(v >= 4 for v in values)
    phat = k / n
    centre = (phat + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(phat * (1 - phat) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return 100 * phat, 100 * (centre - half), 100 * (centre + half)


def ces_reference(values: list[int]) -> tuple[float, float | None, float | None]:
    """Mean and its t 95% interval (no interval for one response)."""
    from scipy import stats
    n = len(values)
    mean = statistics.fmean(values)
    if n < 2:
        return mean, None, None
    half = stats.t.ppf(0.975, n - 1) * statistics.stdev(values) / math.sqrt(n)
    return mean, mean - half, mean + half


REFERENCE = {"nps": nps_reference, "csat": csat_reference, "ces": ces_reference}


def score_checks(checks: Checks, log_args: list[str], rows: list[dict], metric: str,
                 by: str, low_sample: int = 30) -> None:
    got = cli("scores", *log_args, "--metric", metric, "--by", by)
    grouped = collections.defaultdict(list)
    for r in rows:
        if r.get(metric) is not None:
            grouped[_text(r.get(by)) or "(none)"].append(int(r[metric]))
    ours = {g["group"]: (g["n"], g["score"], g["ci_low"], g["ci_high"], g["low_sample"])
            for g in got["groups"]}
    checks.check(f"scores {metric} by {by}: groups", sorted(ours), sorted(grouped))
    checks.check(f"scores {metric} by {by}: n per group", {g: v[0] for g, v in ours.items()},
                 {g: len(v) for g, v in grouped.items()})
    checks.check(f"scores {metric} by {by}: low-sample flags", {g: v[4] for g, v in ours.items()},
                 {g: len(v) < low_sample for g, v in grouped.items()})
    mismatched = [g for g in grouped if g in ours
                  and not _close(list(ours[g][1:4]), list(REFERENCE[metric](grouped[g])))]
    checks.check(f"scores {metric} by {by}: score and 95% interval in every group "
                 f"({len(grouped)} groups)", mismatched, [])


# -- paths -----------------------------------------------------------------------------

def path_checks(checks: Checks, log_args: list[str], rows: list[dict], by: str, top: int) -> None:
    got = cli("paths", *log_args, "--by", by, "--top", str(top))
    sequences = collections.defaultdict(list)
    for r in sorted(rows, key=lambda r: (r["t"], r["row"])):
        value = _text(r.get(by))
        if value is not None:
            sequences[r["customer"]].append(value)
    events = collections.Counter()
    customers = collections.defaultdict(set)
    variants = collections.Counter()
    for customer, seq in sequences.items():
        for pair in zip(["start"] + seq, seq + ["end"]):
            events[pair] += 1
            customers[pair].add(customer)
        collapsed = [v for i, v in enumerate(seq) if i == 0 or seq[i - 1] != v]
        variants[tuple(collapsed)] += 1
    ours = {(t["from"], t["to"]): (t["customers"], t["events"]) for t in got["transitions"]}
    reference = {pair: (len(customers[pair]), count) for pair, count in events.items()}
    if len(reference) > top:   # compare the top rows only: ours is cut at --top
        ranked = sorted(reference.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))[:top]
        reference = dict(ranked)
    checks.check(f"paths by {by}: transitions (customers, events) of {len(reference)} pairs",
                 ours, reference)
    total = sum(variants.values())
    ranked = sorted(variants.items(), key=lambda kv: (-kv[1], " → ".join(kv[0])))[:top]
    checks.check(f"paths by {by}: variants (customers) of {min(top, len(variants))} paths",
                 [(tuple(v["path"]), v["customers"]) for v in got["variants"]],
                 [(path, count) for path, count in ranked])
    checks.check(f"paths by {by}: variant shares", [v["share"] for v in got["variants"]],
                 [count / total for _, count in ranked], close=True)


# -- main ------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--map", action="append", default=[], metavar="ROLE=COLUMN")
    parser.add_argument("--step", action="append", default=[], metavar="VALUE")
    parser.add_argument("--by", default=None, help="the funnel's and the paths' column")
    parser.add_argument("--windows", default="7d,30d,none",
                        help="ordered-funnel windows, comma-separated (the first is also "
                             "the unordered funnel's)")
    parser.add_argument("--top", type=int, default=5000, help="paths rows to compare")
    args = parser.parse_args(argv)
    maps = parse_maps(args.map)
    log_args = [str(args.log)] + [a for m in args.map for a in ("--map", m)]

    print(f"{args.log.name}")
    checks = Checks()
    report = cli("validate", *log_args)
    checks.check("validate: rows read = accepted + rejected",
                 report["rows_read"], report["rows_accepted"] + report["rows_rejected"])
    print(f"       rows read {report['rows_read']:,}, accepted {report['rows_accepted']:,}, "
          f"rejected {report['rows_rejected']:,}; roles {report['roles']}")
    rows, roles, stage_order, suggested = accepted_rows(args.log, maps)
    checks.check("validate: accepted rows as the library reads them", len(rows), report["rows_accepted"])
    print(f"       {len({r['customer'] for r in rows}):,} customers")

    by = args.by or ("stage" if "stage" in roles else "event" if "event" in roles else "touchpoint")
    steps = args.step or (stage_order if by == "stage" else suggested.get(by, []))
    windows = args.windows.split(",")
    if len(steps) >= 2:
        print(f"       funnel by {by}: {' → '.join(steps)}")
        funnel_checks(checks, "file", log_args, rows, by, steps, windows, "channel" in roles)
        # stored as the app stores it: the funnels then read the dataset's timeline
        cli("ingest", *log_args, "--name", DATASET)
        funnel_checks(checks, "ws", [f"ws:{DATASET}"], rows, by, steps, windows, "channel" in roles)
    else:
        print(f"       no funnel: fewer than two steps on {by}")
    for metric in ("nps", "csat", "ces"):
        if metric in roles:
            for group_by in ["month"] + [c for c in ("channel", "touchpoint") if c in roles]:
                score_checks(checks, log_args, rows, metric, group_by)
    path_checks(checks, log_args, rows, by, args.top)
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as scratch:
        # the log is stored in a workspace of its own, never in the user's
        os.environ["CXDATA_WORKSPACE"] = str(Path(scratch) / "workspace.duckdb")
        sys.exit(main())
