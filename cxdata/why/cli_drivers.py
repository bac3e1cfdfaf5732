"""``python -m cxdata drivers FILE --step V … [--after-step J] [--window D]`` (SPEC §8.1).

:func:`add_parser` adds the subcommand to the CLI's subparsers (``common`` adds the
options every subcommand takes); :func:`run` executes it with the CLI's ``load_data``
and ``emit``.  JSON: ``{"step_from", "step_to", "customers", "converted", "drivers": […]}``.
"""
from __future__ import annotations

import math

from cxdata.why.drivers import DRIVER_COLUMNS, conversion_drivers, format_ratio


def add_parser(sub, common) -> None:
    """Add ``drivers`` to the argparse subparsers ``sub``; ``common(parser)`` adds the
    shared options (--map, --format, --workspace, --order-key, --spark)."""
    from cxdata.cli.base import add_funnel_options
    p = sub.add_parser("drivers", help="what goes with converting from one funnel step to the next (SPEC §8.1)")
    p.add_argument("file", help="a log file, ws:NAME or spark:SOURCE")
    p.add_argument("--step", action="append", default=[], metavar="VALUE",
                   help="a funnel step (repeat, in order); default: the dataset's stage order")
    p.add_argument("--after-step", type=int, default=None, metavar="J",
                   help="look at converting from step J (1-based) to J+1 (default: the step "
                        "with the most dropped customers)")
    add_funnel_options(p)
    p.add_argument("--factor-column", default="touchpoint", metavar="COLUMN",
                   help="the column of the 'did' factors (default touchpoint)")
    p.add_argument("--min-with", type=int, default=30, metavar="N",
                   help="flag factors held by fewer than N customers as low sample (default 30)")
    common(p)


def _text(result) -> str:
    lines = [f"Converting from {result.step_from} to {result.step_to}: {result.converted:,} of "
             f"{result.customers:,} customers",
             "Associations, not causes; p adjusted for the number of factors (Benjamini–Hochberg)."]
    for row in result.drivers.itertuples(index=False):
        label = f"{row.kind} {row.column} = {row.value}"
        lines.append(f"  {label:<44} OR {format_ratio(row.odds_ratio):>7} "
                     f"({format_ratio(row.ci_low)}–{format_ratio(row.ci_high)})  "
                     f"with {row.with_converted:,}/{row.with_n:,}  without "
                     f"{row.without_converted:,}/{row.without_n:,}  adj. p {_p(row.p_adjusted)}"
                     + ("  low sample" if row.low_sample else ""))
    sentences = result.sentences()
    if sentences:
        lines.append("")
        lines += sentences
    return "\n".join(lines)


def _p(p: float) -> str:
    return "–" if p is None or math.isnan(p) else ("<0.001" if p < 0.001 else f"{p:.3f}")


def run(args, load_data, emit) -> int:
    """Run ``drivers`` (exit 0; unusable arguments raise the CLI's UsageError, exit 2)."""
    from cxdata.analytics import funnel
    from cxdata.cli import EXIT_OK, UsageError, resolve_column
    try:
        window = funnel.parse_duration(args.window)
    except ValueError as exc:
        raise UsageError(str(exc))
    data = load_data(args)
    by_name = args.by or ("stage" if data.stage_order else "event")
    by = resolve_column(data, by_name)
    steps = args.step or (data.stage_order if by == "stage" else [])
    if len(steps) < 2:
        raise UsageError("Name at least two funnel steps with --step VALUE (repeat, in order).")
    if args.after_step is not None and not 1 <= args.after_step < len(steps):
        raise UsageError(f"--after-step takes a step 1…{len(steps) - 1} (the last step has no next step).")
    try:
        factor = resolve_column(data, args.factor_column) if args.factor_column else None
    except UsageError:
        if args.factor_column != "touchpoint":
            raise
        factor = "event" if "event" in data.roles else None   # the default, on a log without it
    try:
        result = conversion_drivers(data.cur, data.table, steps, args.after_step, by=by,
                                    window_seconds=window, order=args.order,
                                    factor_column=factor, min_with=args.min_with)
    except ValueError as exc:
        raise UsageError(str(exc))
    emit(args, result.to_json_dict(), result.drivers[DRIVER_COLUMNS], _text(result))
    return EXIT_OK
