"""Benchmark: an ordered 5-step funnel with a 30-day window on 10 million events.

Usage (from the repository root)::

    python benchmarks/bench_funnel.py [--events 10000000] [--customers 1000000] [--runs 5]

The log is generated once with DuckDB SQL (deterministic: customers progress through
the five stages at their own pace, with 15% of events in a random stage and gaps of up
to 10 days, so many customers need several attempts to fit the window) into
``benchmarks/_data/bench_funnel_<events>_<customers>.duckdb`` (gitignored) and reused,
with the stage column's per-customer timeline that the workspace builds at ingest
(:mod:`cxdata.store.timelines`).

Timed, each in its own child process so that each peak RSS belongs to that work only:

(a) ``cxdata.analytics.funnel.compute_funnel`` (ordered, 30 days), as the app and ``ws:NAME`` run
    it: from the stored timeline;
(a') the same without the timeline, aggregating the events (a filter on another column,
    or a table that has none);
(a0) building the timeline, once per dataset at ingest;
(b) a straightforward pandas implementation of the same definition (group by customer,
    greedy chain from every step-1 event, earliest deepest attempt) on a subset of the
    customers holding about ``--pandas-events`` events, extrapolated linearly to the
    whole log; its counts are checked against compute_funnel on the same subset;
(c) the floor: one DuckDB query taking each customer's first time per stage (shown in
    two spellings: GROUP BY customer and stage, and one row per customer with a FILTERed
    min per stage).  The first times are consumed (their maximum), else DuckDB prunes
    the min() away and only counts the groups;
(d) ``cxdata.analytics.scores.scores_by`` NPS per touchpoint.

Prints the median wall time over ``--rounds`` × ``--runs`` runs (each round measures every
query in turn, after a warm-up run), CPU seconds, ratios and peak RSS; no asserts.
Targets on the 2-core machine: (a) ≤ 1.0 s, ≥ 10× faster than (b), ≤ 1.5× (c), peak
memory ≤ 2 GB.  The machine is shared: the load average is printed with the figures.
"""
from __future__ import annotations

import argparse
import bisect
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA_DIR = Path(__file__).resolve().parent / "_data"
TABLE = "ds_bench"
STAGES = ["Aware", "Consideration", "Purchase", "Retention", "Advocacy"]
WINDOW_SECONDS = 30 * 86400


def data_path(events: int, customers: int) -> Path:
    return DATA_DIR / f"bench_funnel_{events}_{customers}.duckdb"


def generate(events: int, customers: int) -> None:
    """Write the canonical dataset table ``ds_bench`` (see docs/architecture.md)."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = data_path(events, customers)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    con = duckdb.connect(str(partial))
    con.execute("SET TimeZone='UTC'")
    # hash(…, salt) gives independent, reproducible draws.  Each customer has a pace
    # (speed: stage index grows with the event's position) and a typical gap between
    # events (0…10 days); 15% of events land in a random stage.
    con.execute("""
        CREATE TABLE ds_bench AS
        WITH raw AS (
            SELECT i, hash(i, 17) % ? AS c FROM range(?) r(i)
        ), pos AS (
            SELECT c, row_number() OVER (PARTITION BY c ORDER BY i) - 1 AS p,
                   (hash(c, 1) % 1000) / 1000.0 AS speed,
                   hash(c, 2) % 864000 AS gap_s,
                   hash(c, 3) % 31536000 AS start_s,
                   CAST(hash(c, 4) % 4 AS BIGINT) AS chan,
                   hash(c, p, 5) % 100 AS noise,
                   hash(c, p, 6) % 5 AS noise_stage,
                   hash(c, p, 7) % 3600 AS jitter,
                   hash(c, p, 8) % 100 AS scored,
                   hash(c, p, 9) % 11 AS nps_value
            FROM raw
        ), ev AS (
            SELECT c, p, chan, scored, nps_value,
                   TIMESTAMP '2024-01-01' + to_seconds(CAST(start_s + p * gap_s + jitter AS BIGINT)) AS ts,
                   CASE WHEN noise < 15 THEN noise_stage
                        ELSE least(4, floor(p * speed)) END::BIGINT AS s
            FROM pos
        )
        SELECT row_number() OVER (ORDER BY ts, c, p) AS _row,
               'C' || lpad(CAST(c AS VARCHAR), 7, '0') AS customer_id,
               ts,
               ['Aware', 'Consideration', 'Purchase', 'Retention', 'Advocacy'][s + 1] AS stage,
               NULL::VARCHAR AS event,
               ['Website', 'Store', 'Call centre', 'App', 'Email'][(s + chan) % 5 + 1] AS touchpoint,
               ['Web', 'Retail', 'Phone', 'Partner'][chan + 1] AS channel,
               CASE WHEN scored < 15 THEN CAST(nps_value AS INTEGER) END AS nps,
               NULL::INTEGER AS csat, NULL::INTEGER AS ces, NULL::VARCHAR AS comment
        FROM ev
        ORDER BY _row
    """, [customers, events])
    from cxdata.store.timelines import build_timeline
    build_timeline(con, TABLE, "stage")
    con.close()
    partial.rename(path)


# ---------------------------------------------------------------------------------------
# (b) pandas, the straightforward way

def pandas_funnel(frame, steps, window_seconds):
    """Counts per step and median seconds between steps, per SPEC §2 (ordered, distinct
    step values): for each customer, the greedy chain from every step-1 event (earliest
    next-step time ≥ the previous one, within the window), the earliest deepest attempt."""
    import pandas as pd

    window = pd.Timedelta(seconds=window_seconds)
    k = len(steps)
    frame = frame[frame["stage"].isin(steps)].sort_values(["customer_id", "ts", "_row"])
    # each customer's sorted times per step: {(customer, step): [ts, …]}
    times_of = frame.groupby(["customer_id", "stage"], sort=False)["ts"].agg(list).to_dict()
    counted = []
    for customer in frame.loc[frame["stage"] == steps[0], "customer_id"].unique():
        times = {s: times_of.get((customer, s), []) for s in steps}
        best = None
        for start in times[steps[0]]:
            chain = [start]
            for step in steps[1:]:
                later = times[step]
                at = bisect.bisect_left(later, chain[-1])
                if at == len(later) or later[at] - start > window:
                    break
                chain.append(later[at])
            if best is None or len(chain) > len(best):
                best = chain
        if best is not None:
            counted.append(best + [None] * (k - len(best)))
    table = pd.DataFrame(counted, columns=[f"t{i}" for i in range(1, k + 1)])
    result = []
    for i in range(1, k + 1):
        reached = table[f"t{i}"].notna()
        median = None
        if i > 1 and reached.any():
            median = float((table.loc[reached, f"t{i}"] - table.loc[reached, f"t{i - 1}"])
                           .dt.total_seconds().median())
        result.append((int(reached.sum()), median))
    return result


# ---------------------------------------------------------------------------------------
# Child processes: one measurement each

def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(runs, work):
    """Wall and CPU seconds (all threads) of each run, after one dropped warm-up run."""
    work()
    timings, cpu = [], []
    for _ in range(runs):
        started, cpu_started = time.perf_counter(), _cpu_seconds()
        out = work()
        timings.append(time.perf_counter() - started)
        cpu.append(_cpu_seconds() - cpu_started)
    return timings, cpu, out


def child(kind: str, path: Path, runs: int, pandas_events: int) -> dict:
    con = duckdb.connect(str(path), read_only=kind != "timeline")
    con.execute("SET TimeZone='UTC'")
    report = {"kind": kind}
    if kind in ("funnel", "funnel_events"):
        from cxdata.analytics import funnel
        from cxdata.analytics.funnel import compute_funnel
        if kind == "funnel_events":
            funnel.find_timeline = lambda *args: None

        def work():
            cur = con.cursor()
            try:
                return compute_funnel(cur, TABLE, STAGES, window_seconds=WINDOW_SECONDS)
            finally:
                cur.close()
        timings, cpu, result = _timed(runs, work)
        report["detail"] = [s.customers for s in result.steps]
    elif kind == "timeline":
        from cxdata.store.timelines import build_timeline

        def work():
            cur = con.cursor()
            try:
                return build_timeline(cur, TABLE, "stage").code_bits
            finally:
                cur.close()
        timings, cpu, bits = _timed(runs, work)
        report["detail"] = bits
    elif kind in ("floor", "floor_pivot"):
        placeholders = ", ".join("?" * len(STAGES))
        if kind == "floor":
            sql = (f"SELECT customer_id, stage, min(ts) AS first_ts FROM {TABLE} "
                   f"WHERE stage IN ({placeholders}) GROUP BY customer_id, stage")
            consumed = "max(first_ts)"
        else:
            sql = ("SELECT customer_id, " + ", ".join(
                f"min(ts) FILTER (WHERE stage = ?) AS first_{i}" for i in range(len(STAGES)))
                + f" FROM {TABLE} GROUP BY customer_id")
            consumed = ", ".join(f"max(first_{i})" for i in range(len(STAGES)))
        # aggregate the result so that nothing big reaches Python, and use the first times
        # so that they are computed (DuckDB drops unused aggregates)
        outer = f"SELECT count(*), {consumed} FROM ({sql})"

        def work():
            return con.execute(outer, STAGES).fetchone()[0]
        timings, cpu, rows = _timed(runs, work)
        report["detail"] = rows
    elif kind == "pandas":
        from cxdata.analytics.funnel import compute_funnel
        total = con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
        # whole customers, about pandas_events events: a hash-based slice of customers
        share = max(1, round(1000 * pandas_events / total))
        subset_sql = f"SELECT * FROM {TABLE} WHERE hash(customer_id) % 1000 < ?"
        frame = con.execute(subset_sql, [share]).df()
        con.execute(f"CREATE TEMP TABLE subset AS {subset_sql}", [share])
        sql_counts = [s.customers for s in compute_funnel(con, "subset", STAGES,
                                                           window_seconds=WINDOW_SECONDS).steps]
        started = time.perf_counter()
        result = pandas_funnel(frame, STAGES, WINDOW_SECONDS)
        elapsed = time.perf_counter() - started
        timings, cpu = [elapsed], []   # one run: it is slow, its variance small next to it
        report["subset_events"] = len(frame)
        report["total_events"] = total
        report["detail"] = [c for c, _ in result]
        report["agrees_with_sql"] = report["detail"] == sql_counts
    elif kind == "scores":
        from cxdata.analytics.scores import scores_by

        def work():
            cur = con.cursor()
            try:
                return len(scores_by(cur, TABLE, "nps", "touchpoint"))
            finally:
                cur.close()
        timings, cpu, groups = _timed(runs, work)
        report["detail"] = groups
    else:
        raise SystemExit(f"unknown child {kind}")
    report["timings"] = timings
    report["cpu"] = cpu
    report["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return report


def run_child(kind, args) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--events", str(args.events),
                          "--customers", str(args.customers), "--runs", str(args.runs),
                          "--pandas-events", str(args.pandas_events)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per round")
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds; each round measures every query once more, in turn, "
                             "so that a change in load hits all of them")
    parser.add_argument("--pandas-events", type=int, default=1_000_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    path = data_path(args.events, args.customers)
    if args.generate_only:
        generate(args.events, args.customers)
        return
    if args.child:
        print(json.dumps(child(args.child, path, args.runs, args.pandas_events)))
        return
    if not path.exists():
        print(f"generating {args.events:,} events of {args.customers:,} customers into {path} …",
              flush=True)
        started = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--events", str(args.events), "--customers",
                        str(args.customers), "--generate-only"], check=True)
        print(f"  generated in {time.perf_counter() - started:.1f} s")

    print(f"{args.events:,} events, {args.customers:,} customers, steps {' → '.join(STAGES)}, "
          f"ordered, window 30 days; DuckDB {duckdb.__version__}, {os.cpu_count()} CPUs; "
          f"median of {args.rounds} rounds × {args.runs} runs, each round after a warm-up run")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    # the timeline is (re)built first in every round: (a) reads it
    kinds = ["timeline", "funnel", "funnel_events", "floor", "floor_pivot", "scores"]
    reports = {}
    for round_ in range(1, args.rounds + 1):
        for kind in kinds:
            report = run_child(kind, args)
            if kind in reports:
                reports[kind]["timings"] += report["timings"]
                reports[kind]["cpu"] += report["cpu"]
                reports[kind]["peak_rss_mib"] = max(reports[kind]["peak_rss_mib"], report["peak_rss_mib"])
            else:
                reports[kind] = report
        print(f"  round {round_} of {args.rounds} measured", flush=True)
    reports["pandas"] = run_child("pandas", args)
    print("  pandas measured", flush=True)
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    def median(kind):
        return statistics.median(reports[kind]["timings"])

    funnel_s = median("funnel")
    labels = {
        "funnel": "(a) compute_funnel",
        "funnel_events": "(a') compute_funnel, no timeline",
        "timeline": "(a0) timeline build, once at ingest",
        "floor": "(c) floor: GROUP BY customer, stage",
        "floor_pivot": "(c') floor: one row per customer",
        "scores": "(d) scores_by NPS per touchpoint",
    }
    print()
    for kind in ("funnel", "funnel_events", "timeline", "floor", "floor_pivot", "scores"):
        if kind in reports:
            r = reports[kind]
            print(f"{labels[kind]:38s} median {median(kind):6.3f} s (min {min(r['timings']):.3f}, "
                  f"max {max(r['timings']):.3f}), CPU {statistics.median(r['cpu']):6.2f} s, "
                  f"peak RSS {r['peak_rss_mib']:5.0f} MiB")
    pandas = reports["pandas"]
    scale = pandas["total_events"] / pandas["subset_events"]
    pandas_s = pandas["timings"][0] * scale
    print(f"{'(b) pandas, straightforward':40s} {pandas['timings'][0]:7.1f} s on {pandas['subset_events']:,} "
          f"events, extrapolated ×{scale:.1f} -> {pandas_s:.0f} s  peak RSS "
          f"{pandas['peak_rss_mib']:.0f} MiB (same counts as compute_funnel on that subset: "
          f"{'yes' if pandas['agrees_with_sql'] else 'NO'})")
    print()
    print(f"funnel counts: {reports['funnel']['detail']} "
          f"(without the timeline: {'the same' if reports['funnel_events']['detail'] == reports['funnel']['detail'] else 'DIFFERENT'})")
    print(f"(a) vs target 1.0 s: {funnel_s:.3f} s")
    print(f"(b)/(a): {pandas_s / funnel_s:.0f}× faster than pandas (target ≥ 10×)")
    cpu_ratio = statistics.median(reports["funnel"]["cpu"]) / statistics.median(reports["floor"]["cpu"])
    print(f"(a)/(c): {funnel_s / median('floor'):.2f}× the GROUP BY floor, "
          f"{funnel_s / median('floor_pivot'):.2f}× the one-row-per-customer floor (target ≤ 1.5×); "
          f"in CPU seconds {cpu_ratio:.2f}× the GROUP BY floor")
    print(f"(a')/(c): {median('funnel_events') / median('floor'):.2f}× the GROUP BY floor without the timeline")
    print(f"peak RSS of (a): {reports['funnel']['peak_rss_mib']:.0f} MiB, (a'): "
          f"{reports['funnel_events']['peak_rss_mib']:.0f} MiB, (a0): {reports['timeline']['peak_rss_mib']:.0f} MiB "
          "(target ≤ 2048 MiB)")


if __name__ == "__main__":
    main()
