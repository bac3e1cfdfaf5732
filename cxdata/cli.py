"""Command line: ``python -m cxdata SUBCOMMAND …`` (SPEC §6).

Exit codes: 0 success; 1 the file was read but rows were rejected (validate / ingest);
2 unusable input or arguments, with one plain sentence on stderr and no traceback.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cxdata.io import schema
from cxdata.errors import CxDataError, UnusableInput
from cxdata.store import memory

EXIT_OK, EXIT_REJECTED, EXIT_UNUSABLE = 0, 1, 2


class UsageError(CxDataError):
    """Bad arguments (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one plain sentence instead of usage + traceback
        raise UsageError(message[0].upper() + message[1:] + (f" (see: {self.prog} --help)."))


# -- shared argument helpers ---------------------------------------------------------

def parse_maps(items: list[str] | None) -> dict[str, str]:
    """``["role=column", …]`` -> ``{role: column}``; roles checked against SPEC §1."""
    result: dict[str, str] = {}
    for item in items or []:
        if "=" not in item:
            raise UsageError(f"--map needs ROLE=COLUMN, got {item!r}.")
        role, column = item.split("=", 1)
        role = role.strip().lower()
        if role == "customer":
            role = "customer_id"
        if role not in schema.ROLES:
            raise UsageError(f"Unknown role {role!r} in --map; roles are {', '.join(schema.ROLES)}.")
        result[role] = column.strip()
    return result


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--map", action="append", metavar="ROLE=COLUMN", default=[],
                        help="use COLUMN for ROLE (repeatable), e.g. --map channel=case:channel")
    parser.add_argument("--format", choices=("text", "json", "csv"), default="text",
                        help="output format (default text)")
    parser.add_argument("--workspace", metavar="PATH",
                        help="workspace file (default: $CXDATA_WORKSPACE, else ~/.cxdata/workspace.duckdb)")
    parser.add_argument("--order-key", metavar="COLUMN", default=None,
                        help="order one customer's events at the same instant by COLUMN (numbers as "
                             "numbers) instead of the file order")
    parser.add_argument("--spark", metavar="URL", default=None,
                        help="where a spark: source is queried: sc://host:port (Spark Connect) or "
                             "local[N] (default: $CXDATA_SPARK, else local[*])")
    parser.add_argument("--memory-limit", metavar="SIZE", default=None,
                        help="most memory DuckDB may use before it spills to disk, e.g. 4G (default: "
                             "$CXDATA_MEMORY_LIMIT, else half the machine's memory, at most 3G)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m cxdata",
                     description="CX Journey Lab: validate, store and analyse customer interaction logs.")
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", parser_class=_Parser)

    p = sub.add_parser("validate", help="read and check a log without storing it")
    p.add_argument("file")
    p.add_argument("--blank-bad-scores", action="store_true",
                   help="keep rows with an invalid score, leaving only that score blank (with a warning)")
    _common(p)

    p = sub.add_parser("ingest", help="store a log as a dataset in the workspace")
    p.add_argument("file")
    p.add_argument("--name", required=True, help="dataset name")
    p.add_argument("--replace", action="store_true", help="replace a dataset of the same name")
    p.add_argument("--blank-bad-scores", action="store_true")
    p.add_argument("--max-bytes", default=None, metavar="SIZE",
                   help="refuse a file that holds more than SIZE once decompressed (bytes, or 500M, "
                        "2G…; default: $CXDATA_MAX_BYTES, else no limit)")
    _common(p)

    p = sub.add_parser("datasets", help="list, rename or delete datasets in the workspace")
    p.add_argument("action", nargs="?", choices=("list", "rename", "delete"), default="list")
    p.add_argument("name", nargs="?")
    p.add_argument("new_name", nargs="?")
    _common(p)

    p = sub.add_parser("sample", help="write the sample interaction log")
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--customers", type=int, default=5000)
    p.add_argument("--seed", type=int, default=7)
    _common(p)

    p = sub.add_parser("funnel", help="stage-by-stage funnel (SPEC §2)")
    p.add_argument("file", help="a log file or ws:NAME")
    p.add_argument("--step", action="append", default=[], metavar="VALUE",
                   help="a funnel step (repeat, in order); default: the dataset's stage order")
    p.add_argument("--by", default=None, help="column the steps are values of (default stage, else event)")
    p.add_argument("--window", default="none", help="conversion window: 90s, 30m, 12h, 14d, 2w, seconds or none")
    p.add_argument("--order", choices=("ordered", "strict", "unordered"), default="ordered")
    p.add_argument("--breakdown", default=None, metavar="COLUMN")
    p.add_argument("--exclude", action="append", default=[], metavar="VALUE[@I-J]",
                   help="leave out customers who had VALUE between steps I and J of their "
                        "counted attempt (default: between the first and the last step); repeatable")
    p.add_argument("--exclude-by", default=None, metavar="COLUMN",
                   help="the column of the --exclude values (default: the steps' column)")
    p.add_argument("--dropoffs-after", type=int, default=None, metavar="J",
                   help="add the customers who reached step J (1-based) but not the next: where "
                        "they left, what they did next, how many are still in progress")
    p.add_argument("--dropoff-column", default=None, metavar="COLUMN",
                   help="the column of --dropoffs-after's values (default: touchpoint)")
    p.add_argument("--every", choices=("week", "month"), default=None,
                   help="add conversion over time per week (from Monday, UTC) or month of entry, "
                        "incomplete periods marked")
    _common(p)

    p = sub.add_parser("scores", help="NPS / CSAT / CES per group (SPEC §4)")
    p.add_argument("file")
    p.add_argument("--metric", choices=("nps", "csat", "ces"), required=True)
    p.add_argument("--by", default="touchpoint", help="touchpoint, stage, channel, an attribute, week or month")
    p.add_argument("--compare", default=None, metavar="COLUMN=A,B",
                   help="compare group A with group B of COLUMN (A − B, with its 95%% interval and p) "
                        "instead of listing every group")
    _common(p)

    p = sub.add_parser("paths", help="transitions and variants (SPEC §3)")
    p.add_argument("file")
    p.add_argument("--by", default=None)
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--keep-repeats", action="store_true",
                   help="keep consecutive repeats in the variants (loops such as Purchase → Purchase)")
    _common(p)

    p = sub.add_parser("report", help="a self-contained HTML report for stakeholders")
    p.add_argument("file")
    p.add_argument("-o", "--output", required=True, metavar="REPORT.html")
    p.add_argument("--journey-map", default=None, metavar="NAME", help="a journey map of the workspace to include")
    p.add_argument("--title", default=None)
    _common(p)

    # Everything after `app` goes to Streamlit as it is (--server.port 8600 …): this
    # parser knows no option of its own ('+' as its prefix), and cmd_app answers --help.
    p = sub.add_parser("app", help="start the app (Streamlit options pass through, e.g. --server.port 8600)",
                       prefix_chars="+", add_help=False)
    p.add_argument("streamlit_args", nargs=argparse.REMAINDER)
    for module in _why_modules():
        module.add_parser(sub, _common)
    return parser


#: The "why" subcommands (SPEC §8): each module of cxdata.why has add_parser and run.
WHY_COMMANDS = ("drivers", "keydrivers", "trends", "comments", "conformance")


def _why_modules():
    import importlib
    return [importlib.import_module(f"cxdata.why.cli_{name}") for name in WHY_COMMANDS]


# -- output --------------------------------------------------------------------------

def _clean(value):
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def _json_default(value):
    cleaned = _clean(value)
    if cleaned is value:
        return str(value)
    return cleaned


def emit(args, payload: dict, table: pd.DataFrame | None, text: str) -> None:
    """Write ``payload`` (json), ``table`` (csv) or ``text`` to stdout."""
    if args.format == "json":
        sys.stdout.write(json.dumps(_deep_clean(payload), ensure_ascii=False, default=_json_default, indent=2) + "\n")
    elif args.format == "csv":
        from cxdata.presentation.export import csv_bytes
        sys.stdout.flush()
        sys.stdout.buffer.write(csv_bytes(table if table is not None else pd.DataFrame(), excel_bom=False))
    else:
        sys.stdout.write(text.rstrip("\n") + "\n")


def _deep_clean(obj):
    if isinstance(obj, dict):
        return {k: _deep_clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_deep_clean(v) for v in obj]
    return _clean(obj)


def _pct(x) -> str:
    """A fraction as a percent; "—" when there is none (nothing to divide by, SPEC §6)."""
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


# -- loading FILE or ws:NAME ---------------------------------------------------------

@dataclass
class LoadedData:
    """A dataset ready for analytics: its engine (``cur``; ``table`` the events relation
    the engine's SQL names) and what is known of its columns."""
    cur: object
    table: str
    stage_order: list[str]
    roles: dict[str, str]
    attributes: list[str]
    name: str
    keepalive: object = None


def open_workspace(args, read_only: bool = False):
    from cxdata.store.workspace import Workspace
    return Workspace(args.workspace, read_only=read_only)


def load_data(args) -> LoadedData:
    """``ws:NAME`` -> the workspace dataset; ``spark:SOURCE`` -> queried in place on Spark;
    a path -> read into a private in-memory DuckDB.  Either way an engine (SPEC §7)."""
    from cxdata.engines.duckdb_engine import DuckDBEngine
    if args.file.startswith("spark:"):
        return _load_spark(args)
    if args.file.startswith("ws:"):
        ws = open_workspace(args, read_only=True) if _workspace_exists(args) else None
        if ws is None:
            raise UnusableInput("The workspace does not exist yet; store a dataset first with "
                                "`python -m cxdata ingest FILE --name NAME`.")
        info = ws.get_dataset(args.file[3:])
        if info.id < 0:     # a connected dataset (cxdata.store.connections): on Spark, in place
            return _load_connected(ws, info.name, args)
        data = LoadedData(ws.cursor(), info.table, list(info.stage_order), dict(info.roles),
                          list(info.attributes), info.name, ws)
    else:
        from cxdata.io.ingest import ingest_file
        from cxdata.store.memory import connect
        con = connect()
        con.execute("SET TimeZone = 'UTC'")
        result = ingest_file(con, args.file, table="events", rejects_table="rejects",
                             overrides=parse_maps(args.map))
        if result.rows_rejected:
            sys.stderr.write(f"Note: {result.rows_rejected} of {result.rows_read} rows were rejected and "
                             "left out (see `python -m cxdata validate`).\n")
        data = LoadedData(con, "events", result.stage_order, result.roles, result.attributes,
                          Path(args.file).name, con)
    key = resolve_column(data, args.order_key) if args.order_key else None
    engine = DuckDBEngine(data.cur, data.table, order_key=key)
    return dataclasses.replace(data, cur=engine, table=engine.table)


def _load_spark(args) -> LoadedData:
    from cxdata.engines.spark_engine import SparkEngine, SparkSource, session
    source = SparkSource.parse(args.file)
    engine = SparkEngine(session(args.spark), source, parse_maps(args.map), order_key=args.order_key)
    return LoadedData(engine, engine.table, engine.stage_order(), dict(engine.roles),
                      list(engine.attributes), source.describe(), engine)


def _load_connected(ws, name: str, args) -> LoadedData:
    """A connected dataset of the workspace: its stored source, URL (unless --spark), roles
    and order key (unless --order-key); all of its customers (the app's sample is not
    applied: the command line has no sample label)."""
    from cxdata.engines.spark_engine import SparkEngine, SparkSource, session
    from cxdata.store.connections import get
    stored = get(ws, name)
    ws.close()
    engine = SparkEngine(session(args.spark or stored.url), SparkSource.parse(stored.source), stored.overrides,
                         order_key=args.order_key or stored.order_key, score_policy=stored.score_policy)
    return LoadedData(engine, engine.table, list(stored.stage_order) or engine.stage_order(),
                      dict(engine.roles), list(engine.attributes), name, engine)


def _workspace_exists(args) -> bool:
    from cxdata.store.workspace import workspace_path
    return workspace_path(args.workspace).exists()


def resolve_column(data: LoadedData, name: str) -> str:
    """A role name (stage, event, touchpoint, channel, …) or a source / attribute column ->
    the column of the dataset table.  Raises UsageError when unknown."""
    key = name.strip()
    roles = {"timestamp": "ts", "time": "ts", "customer": "customer_id"}
    if key.lower() in schema.ROLE_COLUMN:
        role = key.lower()
        if role not in data.roles and not (role == "stage" and data.stage_order):
            raise UsageError(f"The log has no {role} column; map one with --map {role}=COLUMN.")
        return schema.ROLE_COLUMN[role]
    if key.lower() in roles:
        return roles[key.lower()]
    for role, column in data.roles.items():
        if column == key:
            return schema.ROLE_COLUMN[role]
    if key in data.attributes:
        return key
    if schema.attribute_name(key) in data.attributes:
        return schema.attribute_name(key)
    options = [r for r in ("stage", "event", "touchpoint", "channel") if r in data.roles] + data.attributes
    raise UsageError(f"Unknown column {name!r}; use one of {', '.join(options[:20])}.")


# -- subcommands ---------------------------------------------------------------------

def _ingest_report(args, result, extra: dict | None = None) -> int:
    payload = result.to_json_dict()
    if extra:
        payload.update(extra)
    problems = pd.DataFrame([p.to_dict() for p in result.problems], columns=["row", "column", "value", "reason"])
    lines = [f"{result.source}: {result.format}" + (f" ({'; '.join(result.notes)})" if result.notes else ""),
             f"rows read {result.rows_read:,}, accepted {result.rows_accepted:,}, rejected {result.rows_rejected:,}",
             "roles: " + ", ".join(f"{r}={c}" for r, c in result.roles.items())]
    if result.attributes:
        lines.append("attributes: " + ", ".join(result.attributes))
    if result.stage_order:
        lines.append("stage order: " + " → ".join(result.stage_order))
    if result.reasons:
        lines.append("problems by reason:")
        lines += [f"  {count:>8,}  {reason}" for reason, count in result.reasons.items()]
        lines.append("first problems:")
        lines += [f"  row {p.row}, {p.column}: {p.value!r} — {p.reason}" for p in result.problems[:20]]
    if extra and "dataset" in extra:
        lines.append(f"stored as dataset {extra['dataset']!r}")
    emit(args, payload, problems, "\n".join(lines))
    return EXIT_REJECTED if result.rows_rejected else EXIT_OK


def cmd_validate(args) -> int:
    if args.file.startswith("spark:"):
        return _validate_spark(args)
    from cxdata.io.ingest import validate_file
    result = validate_file(args.file, overrides=parse_maps(args.map),
                           score_policy="blank" if args.blank_bad_scores else "reject")
    return _ingest_report(args, result)


def _validate_spark(args) -> int:
    """``validate spark:…``: §1's checks run where the data is; rows are Spark's read
    positions (Spark has no file order)."""
    from cxdata.engines.spark_engine import SparkEngine, SparkSource, session
    source = SparkSource.parse(args.file)
    engine = SparkEngine(session(args.spark), source, parse_maps(args.map), order_key=args.order_key,
                         score_policy="blank" if args.blank_bad_scores else "reject")
    payload = engine.validation()
    problems = pd.DataFrame(payload["problems"], columns=["row", "column", "value", "reason"])
    lines = [source.describe(),
             f"rows read {payload['rows_read']:,}, accepted {payload['rows_accepted']:,}, "
             f"rejected {payload['rows_rejected']:,}",
             "roles: " + ", ".join(f"{r}={c}" for r, c in payload["roles"].items())]
    lines += [f"  row {p['row']}, {p['column']}: {p['value']!r} — {p['reason']}" for p in payload["problems"][:20]]
    emit(args, payload, problems, "\n".join(lines))
    return EXIT_REJECTED if payload["rows_rejected"] else EXIT_OK


def cmd_ingest(args) -> int:
    if args.file.startswith("spark:"):
        raise UsageError("A Spark source is queried where it lives, not copied into the workspace: "
                         "run funnel, scores, paths or report on it directly (spark:… as FILE).")
    from cxdata.io.sources import parse_size
    try:
        max_bytes = parse_size(args.max_bytes)
    except ValueError as exc:
        raise UsageError(f"--max-bytes: {exc}")
    ws = open_workspace(args)
    try:
        result, info = ws.ingest(args.file, args.name, overrides=parse_maps(args.map), replace=args.replace,
                                 score_policy="blank" if args.blank_bad_scores else "reject",
                                 max_bytes=max_bytes)
    finally:
        ws.close()
    return _ingest_report(args, result, {"dataset": info.name})


def cmd_datasets(args) -> int:
    ws = open_workspace(args)
    try:
        if args.action == "rename":
            if not (args.name and args.new_name):
                raise UsageError("Rename needs the old and the new name: datasets rename OLD NEW.")
            ws.rename_dataset(args.name, args.new_name)
        elif args.action == "delete":
            if not args.name:
                raise UsageError("Delete needs a dataset name: datasets delete NAME.")
            ws.delete_dataset(args.name)
        infos = ws.list_datasets()
    finally:
        ws.close()
    rows = [{"name": d.name, "source": d.source, "created": d.created_at, "rows_accepted": d.rows_accepted,
             "rows_rejected": d.rows_rejected, "version": d.version} for d in infos]
    frame = pd.DataFrame(rows, columns=["name", "source", "created", "rows_accepted", "rows_rejected", "version"])
    text = frame.to_string(index=False) if rows else "No datasets yet."
    emit(args, {"datasets": rows}, frame, text)
    return EXIT_OK


def cmd_sample(args) -> int:
    from cxdata.io.sample import write_sample
    if args.customers < 1:
        raise UsageError("--customers must be at least 1.")
    rows = write_sample(args.output, customers=args.customers, seed=args.seed)
    emit(args, {"rows": rows, "file": args.output}, pd.DataFrame([{"rows": rows, "file": args.output}]),
         f"wrote {rows:,} interactions of {args.customers:,} customers to {args.output}")
    return EXIT_OK


def _steps_frame(result) -> pd.DataFrame:
    return pd.DataFrame(result.to_json_dict()["steps"])


def _funnel_text(result, title: str) -> str:
    lines = [title, f"entered: {result.entered:,}"]
    for s in result.steps:
        median = "–" if s.median_seconds_from_previous is None else _duration(s.median_seconds_from_previous)
        lines.append(f"  {s.step:<28} {s.customers:>9,}  {_pct(s.conversion_from_start):>7} of start  "
                     f"{_pct(s.conversion_from_previous):>7} of previous  dropped {s.dropped:>8,}  median {median}")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


_EXCLUSION_STEPS = re.compile(r"^(?P<value>.*)@(?P<after>\d+)-(?P<before>\d+)$", re.DOTALL)


def parse_exclusions(items: list[str], column: str, k: int) -> list:
    """``["Support call", "Complaint@2-4"]`` -> funnel exclusions on ``column`` of a
    ``k``-step funnel; without ``@I-J`` an exclusion spans step 1 to step k."""
    from cxdata.analytics.funnel import Exclusion
    exclusions = []
    for item in items:
        found = _EXCLUSION_STEPS.match(item)
        value, after, before = ((found["value"], int(found["after"]), int(found["before"]))
                                if found else (item, 1, k))
        if not value:
            raise UsageError(f"--exclude needs a value, got {item!r}.")
        if not 1 <= after < before <= k:
            raise UsageError(f"--exclude {item!r}: the steps must be two of 1…{k} in order, "
                             f"such as @1-{k}.")
        exclusions.append(Exclusion(value=value, column=column, after_step=after, before_step=before))
    return exclusions


def cmd_funnel(args) -> int:
    from cxdata.analytics import funnel
    try:
        window = funnel.parse_duration(args.window)
    except ValueError as exc:
        raise UsageError(str(exc))
    data = load_data(args)
    by_name = args.by or ("stage" if data.stage_order and ("stage" in data.roles or data.stage_order) else "event")
    by = resolve_column(data, by_name)
    steps = args.step or (data.stage_order if by == "stage" else [])
    if len(steps) < 1:
        raise UsageError("Name the funnel steps with --step VALUE (repeat, in order).")
    kwargs = dict(by=by, window_seconds=window, order=args.order)
    if args.exclude:
        column = resolve_column(data, args.exclude_by) if args.exclude_by else by
        kwargs["exclusions"] = parse_exclusions(args.exclude, column, len(steps))
    if args.breakdown:
        column = resolve_column(data, args.breakdown)
        overall = funnel.compute_funnel(data.cur, data.table, steps, **kwargs)
        groups = funnel.funnel_breakdown(data.cur, data.table, steps, column, **kwargs)
        payload = overall.to_json_dict()
        payload["groups"] = [{"group": g, **r.to_json_dict()} for g, r in groups]
        frames = []
        for g, r in groups:
            f = _steps_frame(r)
            f.insert(0, "group", g)
            frames.append(f)
        table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        text = "\n\n".join([_funnel_text(overall, "All customers")]
                           + [_funnel_text(r, f"{args.breakdown} = {g}") for g, r in groups])
    else:
        overall = funnel.compute_funnel(data.cur, data.table, steps, **kwargs)
        payload, table, text = overall.to_json_dict(), _steps_frame(overall), _funnel_text(overall, "Funnel")
    if not args.order_key:
        # Without an order key, ties follow the file (DuckDB) or the read order (Spark).
        tied = funnel.tied_customers(data.cur, data.table, steps, by=by)
        if tied:
            payload["tied_customers"] = tied
            text += (f"\n{tied:,} customer{'s have' if tied > 1 else ' has'} events at the same instant "
                     "that touch the steps: their order follows the file; --order-key COLUMN decides it.")
    # --format csv writes one table: the latest one asked for.
    if args.dropoffs_after is not None:
        if not 1 <= args.dropoffs_after < len(steps):
            raise UsageError(f"--dropoffs-after takes a step 1…{len(steps) - 1} (the last step has "
                             "no next step to miss).")
        column = resolve_column(data, args.dropoff_column or "touchpoint")
        summary = funnel.dropoff_summary(data.cur, data.table, steps, args.dropoffs_after,
                                         column=column, **kwargs)
        payload["dropoffs"] = summary.to_json_dict()
        table = pd.concat([frame.assign(kind=kind)[["kind", "value", "customers", "share"]]
                           for kind, frame in (("left_at", summary.left_at), ("next", summary.next))],
                          ignore_index=True)
        text += "\n\n" + _dropoff_text(summary, overall.steps[args.dropoffs_after - 1].step)
    if args.every:
        trend = funnel.funnel_trend(data.cur, data.table, steps, args.every, **kwargs)
        rows = [{"start": period.strftime("%Y-%m-%d"), "entered": int(entered),
                 "converted": int(converted), "conversion": float(conversion),
                 "incomplete": bool(incomplete)}
                for period, entered, converted, conversion, incomplete in trend.itertuples(index=False)]
        payload["over_time"] = rows
        table = pd.DataFrame(rows, columns=["start", "entered", "converted", "conversion", "incomplete"])
        text += "\n\n" + _over_time_text(rows, args.every)
    emit(args, payload, table, text)
    return EXIT_OK


def _dropoff_text(summary, step: str) -> str:
    lines = [f"Dropped out after step {summary.after_step} ({step}): {summary.customers:,} customers"
             + (f", {summary.in_progress:,} of them still in progress (window open at the log's end)"
                if summary.in_progress else "")]
    for title, frame in ((f"where they left (their last {step} {summary.column})", summary.left_at),
                         (f"what they did next ({summary.column})", summary.next)):
        lines.append(f"  {title}:")
        lines += [f"    {r.value:<28} {r.customers:>9,}  {_pct(r.share):>7}" for r in frame.itertuples()]
    return "\n".join(lines)


def _over_time_text(rows: list[dict], every: str) -> str:
    lines = [f"Conversion per {every} of entry (UTC)"]
    for r in rows:
        lines.append(f"  {r['start']}  entered {r['entered']:>9,}  converted {r['converted']:>9,}  "
                     f"{_pct(r['conversion']):>7}" + ("  incomplete: may still rise" if r["incomplete"] else ""))
    return "\n".join(lines)


def cmd_scores(args) -> int:
    from cxdata.analytics import scores
    data = load_data(args)
    if args.metric not in data.roles:
        raise UsageError(f"The log has no {args.metric.upper()} column; map one with --map {args.metric}=COLUMN.")
    if args.compare is not None:
        return _scores_compare(args, data)
    # A time bucket (week / month) groups by the response's date (SPEC §4).
    by = args.by if args.by in ("week", "month") and args.by not in data.attributes else resolve_column(data, args.by)
    frame = scores.scores_by(data.cur, data.table, args.metric, by)
    cols = ["group", "n", "score", "ci_low", "ci_high", "low_sample"]
    groups = [{c: _clean(row[c]) for c in cols} for _, row in frame.iterrows()]
    unit = {"nps": "NPS (−100…100)", "csat": "CSAT, % satisfied (4–5)", "ces": "CES mean (1–7, higher = easier)"}
    lines = [f"{unit[args.metric]} by {args.by}"]
    for g in groups:
        flag = "  low sample" if g["low_sample"] else ""
        lines.append(f"  {str(g['group']):<28} n={g['n']:>7,}  {_score_number(g['score']):>7}  "
                     f"[{_score_number(g['ci_low'])} … {_score_number(g['ci_high'])}]{flag}")
    emit(args, {"metric": args.metric, "groups": groups}, frame[cols], "\n".join(lines))
    return EXIT_OK


def _split_compare(text: str, known: list[str]) -> tuple[str, str, str]:
    """``"channel=Web,App"`` -> ``("channel", "Web", "App")``.  A value may itself hold a
    comma: the split is the comma that leaves two values the column has."""
    column, sep, values = text.partition("=")
    if not sep or not column.strip() or "," not in values:
        raise UsageError(f"--compare needs COLUMN=A,B (two values of the column), got {text!r}.")
    splits = [(values[:i], values[i + 1:]) for i, ch in enumerate(values) if ch == ","]
    fitting = [pair for pair in splits if pair[0] in known and pair[1] in known]
    a, b = fitting[0] if len(fitting) == 1 else splits[0] if len(splits) == 1 else (None, None)
    if a is None:
        raise UsageError(f"--compare {text!r}: cannot tell where the first value ends; the values "
                         f"of {column.strip()} are {', '.join(known[:20])}.")
    return column.strip(), a, b


def _scores_compare(args, data: LoadedData) -> int:
    """``scores --compare COLUMN=A,B``: group A against group B (SPEC §4, §6)."""
    from cxdata.analytics import scores
    column_text = args.compare.partition("=")[0].strip()
    column = resolve_column(data, column_text) if column_text else None
    frame = scores.scores_by(data.cur, data.table, args.metric, column) if column else pd.DataFrame()
    known = [str(g) for g in frame["group"]] if len(frame) else []
    name, a, b = _split_compare(args.compare, known)
    if a == b:
        raise UsageError(f"--compare needs two different values of {name}, got {a!r} twice.")
    for value in (a, b):
        if value not in known:
            raise UsageError(f"{name} has no {args.metric.upper()} responses with the value {value!r}; "
                             f"its values with responses: {', '.join(known[:20]) or 'none'}.")
    result = scores.compare_groups(data.cur, data.table, args.metric, column, a, b)
    cols = ["group", "n", "score", "ci_low", "ci_high", "low_sample"]
    rows = {str(row["group"]): {c: _clean(row[c]) for c in cols} for _, row in frame.iterrows()}
    groups = [rows[a], rows[b]]
    payload = {"metric": args.metric, "column": name, "groups": groups,
               "difference": _clean(result.difference), "ci_low": _clean(result.ci_low),
               "ci_high": _clean(result.ci_high), "p": _clean(result.p_value)}
    unit = {"nps": "NPS points", "csat": "CSAT percentage points", "ces": "CES (mean, 1–7)"}[args.metric]
    test = {"nps": "z-test on the adjusted values", "csat": "two-proportion z-test",
            "ces": "Welch t-test"}[args.metric]
    lines = [f"{args.metric.upper()} by {name}: {a} compared with {b}"]
    for g in groups:
        flag = "  low sample" if g["low_sample"] else ""
        lines.append(f"  {str(g['group']):<28} n={g['n']:>7,}  {_score_number(g['score']):>7}  "
                     f"[{_score_number(g['ci_low'])} … {_score_number(g['ci_high'])}]{flag}")
    p = payload["p"]
    lines.append(f"difference ({a} − {b}): {_signed(payload['difference'])} {unit}, 95% interval "
                 f"[{_signed(payload['ci_low'])} … {_signed(payload['ci_high'])}], "
                 f"p = {'—' if p is None else ('< 0.001' if p < 0.001 else f'{p:.3f}')} ({test})")
    table = pd.DataFrame([{k: payload[k] for k in ("metric", "column", "difference", "ci_low", "ci_high", "p")}
                          | {"group_a": a, "n_a": rows[a]["n"], "score_a": rows[a]["score"],
                             "group_b": b, "n_b": rows[b]["n"], "score_b": rows[b]["score"]}])
    emit(args, payload, table, "\n".join(lines))
    return EXIT_OK


def _signed(value) -> str:
    return "—" if value is None else f"{value:+.1f}"


def _score_number(value) -> str:
    """A score or interval bound for the text output: one decimal; "—" when there is none
    (a group of one response has no interval, SPEC §6)."""
    return "—" if value is None else f"{value:.1f}"


def cmd_paths(args) -> int:
    from cxdata.analytics import paths
    if args.top < 1:
        raise UsageError("--top must be at least 1.")
    data = load_data(args)
    by = resolve_column(data, args.by or ("stage" if "stage" in data.roles or data.stage_order else "event"))
    trans = paths.transitions(data.cur, data.table, by=by, top=args.top)
    var = paths.variants(data.cur, data.table, by=by, top=args.top, keep_repeats=args.keep_repeats)
    payload = {"transitions": [{"from": r["from"], "to": r["to"], "customers": int(r["customers"]),
                                "events": int(r["events"])} for _, r in trans.iterrows()],
               "variants": [{"path": list(r["path"]), "customers": int(r["customers"]),
                             "share": float(r["share"])} for _, r in var.iterrows()]}
    lines = ["Transitions (from → to: customers, events)"]
    lines += [f"  {t['from']} → {t['to']}: {t['customers']:,}, {t['events']:,}" for t in payload["transitions"]]
    lines.append("Variants (customers, share)")
    lines += [f"  {' → '.join(v['path'])}: {v['customers']:,} ({_pct(v['share'])})" for v in payload["variants"]]
    table = var.assign(path=var["path_label"])[["path", "customers", "share"]] if len(var) else pd.DataFrame()
    emit(args, payload, table, "\n".join(lines))
    return EXIT_OK


def cmd_report(args) -> int:
    from cxdata.presentation.report import build_report_html
    data = load_data(args)
    journey_map = None
    if args.journey_map:
        from cxdata.store.workspace import Workspace
        from cxdata.store import map_store
        ws = data.keepalive if isinstance(data.keepalive, Workspace) else open_workspace(args, read_only=True)
        journey_map = map_store.load_map_by_name(ws.cursor(), args.journey_map)
    html = build_report_html(data.cur, data.table, data.stage_order, roles=data.roles,
                             dataset_name=data.name, journey_map=journey_map, title=args.title)
    Path(args.output).write_text(html, encoding="utf-8")
    emit(args, {"file": args.output, "bytes": len(html.encode("utf-8"))}, None,
         f"wrote {args.output} ({len(html.encode('utf-8')) / 1024:.0f} KB)")
    return EXIT_OK


APP_HELP = """usage: cxdata app [STREAMLIT OPTION …]

Start the CX Journey Lab app (the Streamlit app installed with the package); it prints the
address to open (http://localhost:8501 unless you choose another port).  Every option goes
to `streamlit run`, e.g.:

  cxdata app --server.port 8600
  cxdata app --server.address 0.0.0.0 --server.headless true

The app's own settings (upload limit, theme, no usage statistics) are its defaults; an
option given here, or a STREAMLIT_* environment variable, wins over them.  The workspace
is $CXDATA_WORKSPACE, else ~/.cxdata/workspace.duckdb.
"""


def app_directory() -> Path:
    """The folder holding the app (``app.py``, ``pages/``, ``sample_data/``,
    ``.streamlit/config.toml``): ``cxdata/_app`` in an installed package, else the
    repository's root when running from a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_app", here.parent):
        if (candidate / "app.py").is_file() and (candidate / "pages").is_dir():
            return candidate
    raise UnusableInput(f"The app's files were not found beside {here}; reinstall the package.")


def app_config_environment(app_dir: Path, environ: dict[str, str]) -> dict[str, str]:
    """``environ`` plus the app's ``.streamlit/config.toml`` as ``STREAMLIT_*`` variables
    (Streamlit reads config.toml only from the working folder, and ``cxdata app`` runs from
    any folder).  A variable already set is kept; command-line options win over both."""
    import tomllib
    env = dict(environ)
    config = app_dir / ".streamlit" / "config.toml"
    if not config.is_file():
        return env
    for section, options in tomllib.loads(config.read_text(encoding="utf-8")).items():
        for option, value in (options or {}).items():
            name = "STREAMLIT_" + "_".join(
                re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", part).upper() for part in (section, option))
            env.setdefault(name, str(value).lower() if isinstance(value, bool) else str(value))
    return env


def cmd_app(args) -> int:
    """``cxdata app [STREAMLIT OPTION …]``: ``streamlit run`` on the app's ``app.py``."""
    extra = list(args.streamlit_args or [])
    if extra[:1] and extra[0] in ("-h", "--help"):
        sys.stdout.write(APP_HELP)
        return EXIT_OK
    app_dir = app_directory()
    env = app_config_environment(app_dir, dict(os.environ))
    command = [sys.executable, "-m", "streamlit", "run", str(app_dir / "app.py"), *extra]
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.execve(sys.executable, command, env)      # the app takes this process's place
    import subprocess
    return subprocess.call(command, env=env)


COMMANDS = {"app": cmd_app, "validate": cmd_validate, "ingest": cmd_ingest, "datasets": cmd_datasets, "sample": cmd_sample,
            "funnel": cmd_funnel, "scores": cmd_scores, "paths": cmd_paths, "report": cmd_report}


def _why_command(module):
    """``module.run`` with the loaders it asks for (load_data, emit, open_workspace)."""
    import inspect
    tools = {"load_data": load_data, "emit": emit, "open_workspace": open_workspace}
    wanted = [tools[name] for name in list(inspect.signature(module.run).parameters)[1:]]
    return lambda args: module.run(args, *wanted)


COMMANDS.update({name: _why_command(module) for name, module in zip(WHY_COMMANDS, _why_modules())})


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return EXIT_UNUSABLE
        memory.set_memory_limit(getattr(args, "memory_limit", None))
        return COMMANDS[args.command](args)
    except CxDataError as exc:
        sys.stderr.write(str(exc).strip() + "\n")
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        return EXIT_UNUSABLE
    except MemoryError:
        sys.stderr.write("The machine ran out of memory; try a smaller file or a workspace on a larger machine.\n")
        return EXIT_UNUSABLE
    except Exception as exc:  # last resort: one sentence, never a traceback
        if memory.is_out_of_memory(exc):
            sys.stderr.write(str(memory.out_of_memory(exc)) + "\n")
            return EXIT_UNUSABLE
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        sys.stderr.write(f"Unexpected problem: {first[:300]}\n")
        return EXIT_UNUSABLE


