"""The analysis subcommands: ``funnel``, ``scores``, ``paths``, ``report``."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from cxdata.cli.base import UsageError, EXIT_OK
from cxdata.cli.loading import LoadedData, open_workspace, load_data, resolve_column
from cxdata.cli.output import clean_value, emit, percent_text


def _steps_frame(result) -> pd.DataFrame:
    return pd.DataFrame(result.to_json_dict()["steps"])


def _funnel_text(result, title: str) -> str:
    lines = [title, f"entered: {result.entered:,}"]
    for s in result.steps:
        median = "–" if s.median_seconds_from_previous is None else _duration(s.median_seconds_from_previous)
        lines.append(f"  {s.step:<28} {s.customers:>9,}  {percent_text(s.conversion_from_start):>7} of start  "
                     f"{percent_text(s.conversion_from_previous):>7} of previous  dropped {s.dropped:>8,}  median {median}")
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
        lines += [f"    {r.value:<28} {r.customers:>9,}  {percent_text(r.share):>7}" for r in frame.itertuples()]
    return "\n".join(lines)


def _over_time_text(rows: list[dict], every: str) -> str:
    lines = [f"Conversion per {every} of entry (UTC)"]
    for r in rows:
        lines.append(f"  {r['start']}  entered {r['entered']:>9,}  converted {r['converted']:>9,}  "
                     f"{percent_text(r['conversion']):>7}" + ("  incomplete: may still rise" if r["incomplete"] else ""))
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
    groups = [{c: clean_value(row[c]) for c in cols} for _, row in frame.iterrows()]
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
    rows = {str(row["group"]): {c: clean_value(row[c]) for c in cols} for _, row in frame.iterrows()}
    groups = [rows[a], rows[b]]
    payload = {"metric": args.metric, "column": name, "groups": groups,
               "difference": clean_value(result.difference), "ci_low": clean_value(result.ci_low),
               "ci_high": clean_value(result.ci_high), "p": clean_value(result.p_value)}
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
    trans, var = paths.transitions_and_variants(data.cur, data.table, by=by, top=args.top,
                                                keep_repeats=args.keep_repeats)
    payload = {"transitions": [{"from": r["from"], "to": r["to"], "customers": int(r["customers"]),
                                "events": int(r["events"])} for _, r in trans.iterrows()],
               "variants": [{"path": list(r["path"]), "customers": int(r["customers"]),
                             "share": float(r["share"])} for _, r in var.iterrows()]}
    lines = ["Transitions (from → to: customers, events)"]
    lines += [f"  {t['from']} → {t['to']}: {t['customers']:,}, {t['events']:,}" for t in payload["transitions"]]
    lines.append("Variants (customers, share)")
    lines += [f"  {' → '.join(v['path'])}: {v['customers']:,} ({percent_text(v['share'])})" for v in payload["variants"]]
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
