"""``python -m cxdata trends FILE (--funnel-step V … [--window D] | --metric nps|csat|ces)
--every week|month [--explain-by C]`` (SPEC §8.3).

:func:`add_parser` adds the subcommand to the CLI's subparsers (``common`` adds the
options every subcommand takes); :func:`run` executes it with the CLI's ``load_data``
and ``emit``.  JSON: ``{"buckets": […], "explanations": […]}``.
"""
from __future__ import annotations

import pandas as pd

from cxdata.why.trends import BUCKET_COLUMNS, EXPLANATION_COLUMNS, conversion_trend_limits, score_trend_limits


def add_parser(sub, common) -> None:
    """Add ``trends`` to the argparse subparsers ``sub``; ``common(parser)`` adds the
    shared options (--map, --format, --workspace, --order-key, --spark)."""
    from cxdata.cli.base import add_funnel_options
    p = sub.add_parser("trends", help="conversion or a score per week or month with control limits (SPEC §8.3)")
    p.add_argument("file", help="a log file, ws:NAME or spark:SOURCE")
    p.add_argument("--funnel-step", action="append", default=[], metavar="VALUE",
                   help="a funnel step (repeat, in order): the trend of its conversion")
    add_funnel_options(p, "the funnel steps")
    p.add_argument("--metric", choices=("nps", "csat", "ces"), default=None,
                   help="the trend of a score instead of a funnel")
    p.add_argument("--every", choices=("week", "month"), required=True,
                   help="buckets: weeks (from Monday, UTC) or months")
    p.add_argument("--explain-by", default=None, metavar="COLUMN",
                   help="name the groups of COLUMN behind each signal")
    common(p)


def _fmt(metric: str, value) -> str:
    if value is None or pd.isna(value):
        return "–"
    return f"{100 * value:.1f}%" if metric == "conversion" else f"{value:.1f}"


def _text(result) -> str:
    name = {"conversion": "Conversion", "nps": "NPS", "csat": "CSAT (top-2-box %)", "ces": "CES (mean)"}
    lines = [f"{name[result.metric]} per {result.grain} (UTC) with 3-sigma limits"]
    for r in result.buckets.itertuples():
        lines.append(f"  {pd.Timestamp(r.start):%Y-%m-%d}  n {r.n:>8,}  {_fmt(result.metric, r.value):>7}  "
                     f"limits {_fmt(result.metric, r.lcl)}–{_fmt(result.metric, r.ucl)}"
                     + (f"  SIGNAL: {r.signal}" if isinstance(r.signal, str) else "")
                     + ("  incomplete: may still rise" if r.incomplete else ""))
    if len(result.buckets):
        lines.append(f"  centre {_fmt(result.metric, result.buckets['centre'].iloc[0])}")
    if len(result.explanations):
        lines.append("Groups behind the signals (share of the gap; associations, not causes):")
        for r in result.explanations.itertuples():
            lines.append(f"  {pd.Timestamp(r.start):%Y-%m-%d}  {r.group:<28} {_fmt(result.metric, r.value):>7}  "
                         f"{100 * r.contribution:.0f}%")
    return "\n".join(lines)


def run(args, load_data, emit) -> int:
    """Run ``trends`` (exit 0; unusable arguments raise the CLI's UsageError, exit 2)."""
    from cxdata.analytics import funnel
    from cxdata.cli import EXIT_OK, UsageError, resolve_column
    if bool(args.funnel_step) == bool(args.metric):
        raise UsageError("Give either funnel steps (--funnel-step VALUE, repeated) or --metric nps|csat|ces.")
    if args.funnel_step and len(args.funnel_step) < 2:
        raise UsageError("A conversion trend needs at least two --funnel-step values.")
    try:
        window = funnel.parse_duration(args.window)
    except ValueError as exc:
        raise UsageError(str(exc))
    data = load_data(args)
    explain = resolve_column(data, args.explain_by) if args.explain_by else None
    try:
        if args.metric:
            if args.metric not in data.roles:
                raise UsageError(f"The log has no {args.metric.upper()} column; map one with "
                                 f"--map {args.metric}=COLUMN.")
            result = score_trend_limits(data.cur, data.table, args.metric, args.every, explain_by=explain)
        else:
            by = resolve_column(data, args.by or ("stage" if data.stage_order else "event"))
            result = conversion_trend_limits(data.cur, data.table, args.funnel_step, args.every,
                                             explain_by=explain, by=by, window_seconds=window,
                                             order=args.order)
    except ValueError as exc:
        raise UsageError(str(exc))
    payload = result.to_json_dict()
    table = pd.DataFrame(payload["buckets"], columns=BUCKET_COLUMNS)
    if payload["explanations"]:
        # --format csv writes one table: the explanations when there are any
        table = pd.DataFrame(payload["explanations"], columns=EXPLANATION_COLUMNS)
    emit(args, payload, table, _text(result))
    return EXIT_OK
