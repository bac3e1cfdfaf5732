"""``python -m cxdata conformance FILE (--stage V [--stage V …] | --journey-map NAME)``.

SPEC §8.5 on the command line: does reality follow the map?  JSON output
``{"customers", "classes": [{"class", "customers", "share", "converted_share", "nps",
"nps_n", …}], "deviations": [{"from", "to", "customers"}]}`` (shares are fractions 0…1;
a class nobody is in has ``converted_share`` null).  ``cxdata.cli`` wires it in:
``add_parser(sub, _common)`` in ``build_parser`` and ``run(args, load_data, emit,
open_workspace)`` as the command.
"""
from __future__ import annotations

import math

import pandas as pd


def add_parser(sub, common) -> None:
    """Add the ``conformance`` subcommand to the subparsers ``sub``; ``common`` adds the
    options every subcommand takes (``--map``, ``--format``, ``--workspace`` …)."""
    p = sub.add_parser("conformance", help="does reality follow the map? classes and deviations (SPEC §8.5)")
    p.add_argument("file", help="a log file, ws:NAME or spark:SOURCE")
    p.add_argument("--stage", action="append", default=[], metavar="VALUE",
                   help="a stage of the map (repeat, in map order)")
    p.add_argument("--journey-map", default=None, metavar="NAME",
                   help="use the stages of this journey map of the workspace")
    p.add_argument("--by", default="stage",
                   help="the column the stages are values of (default stage)")
    p.add_argument("--top", type=int, default=10, help="deviations listed (default 10)")
    common(p)


def _pct(value) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}%"


def _nps(value, n) -> str:
    if not n:
        return "—"
    return f"{value:+.1f} (n = {int(n):,})"


def _text(result) -> str:
    lines = [f"Map: {' → '.join(result.stages)}",
             f"Customers: {result.customers:,}; reached {result.stages[-1]}: {_pct(result.converted_share)}",
             "Classes (customers, share, reached the last stage, NPS)"]
    for row in result.classes.to_dict("records"):
        lines.append(f"  {row['class']}: {int(row['customers']):,} ({_pct(row['share'])}), "
                     f"{_pct(row['converted_share'])}, NPS {_nps(row['nps'], row['nps_n'])}")
    lines.append("Deviations (from → to: customers)")
    if result.deviations.empty:
        lines.append("  none: every customer follows the map")
    for row in result.deviations.to_dict("records"):
        lines.append(f"  {row['from']} → {row['to']} ({row['label']}): {int(row['customers']):,} "
                     f"({_pct(row['share'])})")
    lines.append("Associations, not causes: customers who leave the map may differ in other ways.")
    return "\n".join(lines)


def run(args, load_data, emit, open_workspace) -> int:
    """The ``conformance`` command: exit 0, or a one-sentence error (exit 2) raised as
    :class:`cxdata.cli.UsageError` / :class:`cxdata.errors.CxDataError`."""
    from cxdata.cli import UsageError, resolve_column
    from cxdata.why.conformance import conformance
    if bool(args.stage) == bool(args.journey_map):
        raise UsageError("Give the map's stages with --stage VALUE (repeat, in order) or name a "
                         "journey map with --journey-map NAME (one of the two).")
    if args.top < 1:
        raise UsageError("--top must be at least 1.")
    data = load_data(args)
    if args.journey_map:
        from cxdata.store import map_store
        from cxdata.store.workspace import Workspace
        from cxdata.errors import CxDataError
        ws = data.keepalive if isinstance(data.keepalive, Workspace) else open_workspace(args, read_only=True)
        try:
            stages = map_store.load_map_by_name(ws.cursor(), args.journey_map).stage_names()
        except CxDataError:
            raise
        except Exception:
            # A workspace opened read-only that never held a map has no map tables, and
            # map_store cannot create them there: no map of that name, in a sentence.
            raise UsageError(f"There is no journey map named {args.journey_map!r} in the "
                             "workspace (it has no journey maps yet).") from None
        if not stages:
            raise UsageError(f"The journey map {args.journey_map!r} has no stages yet.")
    else:
        stages = list(args.stage)
    by = resolve_column(data, args.by)
    try:
        result = conformance(data.cur, data.table, stages, by=by, top=args.top)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    table = pd.concat([result.classes.rename(columns={"class": "group"}).assign(kind="class"),
                       result.deviations.assign(group=result.deviations["label"], kind="deviation")],
                      ignore_index=True)
    columns = ["kind", "group", "from", "to", "customers", "share", "converted_share", "nps", "nps_n",
               "csat", "csat_n", "ces", "ces_n"]
    emit(args, result.to_json_dict(), table.reindex(columns=columns), _text(result))
    return 0
