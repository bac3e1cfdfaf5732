"""``python -m cxdata keydrivers FILE --metric nps|csat|ces`` (SPEC §8.2).

JSON: ``{"metric", "customers", "r_squared", "drivers": [{"predictor", "value",
"customers_with", "weight", "share", "share_ci_low", "share_ci_high", "direction"}]}``;
``weight`` and ``r_squared`` are fractions 0…1, ``share`` and its interval percent of R².
CSV: the drivers table.  Text: one line per driver.  ``cxdata.cli`` wires it with
``add_parser(sub, _common)`` and ``COMMANDS["keydrivers"] = lambda a: run(a, load_data, emit)``.
"""
from __future__ import annotations

import math

COLUMNS = ["predictor", "value", "customers_with", "weight", "share", "share_ci_low",
           "share_ci_high", "direction"]
_LABELS = {"experienced": "experienced", "low_csat": "low CSAT (1–2) at",
           "hard_ces": "hard CES (1–3) at", "entry": "entry channel"}


def add_parser(sub, common) -> None:
    """Add the ``keydrivers`` subcommand to the subparsers ``sub``; ``common`` adds the
    shared options (--map, --format, --workspace, --order-key, --spark)."""
    p = sub.add_parser("keydrivers", help="key drivers of NPS / CSAT / CES: relative weights (SPEC §8.2)")
    p.add_argument("file", help="a log file, ws:NAME or spark:SOURCE")
    p.add_argument("--metric", choices=("nps", "csat", "ces"), required=True)
    p.add_argument("--resamples", type=int, default=200, help="bootstrap resamples (default 200)")
    p.add_argument("--seed", type=int, default=7, help="bootstrap seed (default 7)")
    common(p)


def _number(value, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def payload(result) -> dict:
    """The SPEC §8.2 JSON object of a :class:`~cxdata.why.keydrivers.KeyDriversResult`."""
    drivers = [{c: (row[c].item() if hasattr(row[c], "item") else row[c]) for c in COLUMNS}
               for _, row in result.drivers.iterrows()]
    for d in drivers:
        for c in ("weight", "share", "share_ci_low", "share_ci_high"):
            if d[c] is not None and isinstance(d[c], float) and math.isnan(d[c]):
                d[c] = None
    r2 = None if math.isnan(result.r_squared) else float(result.r_squared)
    return {"metric": result.metric, "customers": int(result.customers), "r_squared": r2,
            "drivers": drivers}


def text(result) -> str:
    """Plain-text summary: R², then each driver's share of it with its interval."""
    lines = [f"Key drivers of {result.metric.upper()} (last response of {result.customers:,} "
             f"customers): R² = {_number(result.r_squared, 3)}; associations, not causes.",
             f"Share of R² (%), 95% bootstrap interval ({result.resamples} resamples):"]
    for _, d in result.drivers.iterrows():
        name = f"{_LABELS.get(d['predictor'], d['predictor'])} {d['value']}"
        lines.append(f"  {name:<44} {_number(d['share'], 1):>5}%  "
                     f"[{_number(d['share_ci_low'], 1)} … {_number(d['share_ci_high'], 1)}]  "
                     f"n={int(d['customers_with']):,}  {d['direction']}")
    if result.drivers.empty:
        lines.append("  No predictor is held by enough customers (30 … n−30).")
    return "\n".join(lines)


def run(args, load_data, emit) -> int:
    """Run ``keydrivers``: load FILE with ``load_data(args)``, write with ``emit``."""
    from cxdata.cli import EXIT_OK, UsageError
    from cxdata.why.keydrivers import key_drivers
    if args.resamples < 0:
        raise UsageError("--resamples must be 0 or more.")
    data = load_data(args)
    if args.metric not in data.roles:
        raise UsageError(f"The log has no {args.metric.upper()} column; map one with --map {args.metric}=COLUMN.")
    result = key_drivers(data.cur, data.table, args.metric, resamples=args.resamples, seed=args.seed)
    emit(args, payload(result), result.drivers[COLUMNS], text(result))
    return EXIT_OK
