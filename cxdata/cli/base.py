"""Exit codes, the one-sentence usage error and the options every subcommand shares."""
from __future__ import annotations

import argparse

from cxdata.errors import CxDataError
from cxdata.io import schema


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


def add_funnel_options(parser: argparse.ArgumentParser, steps: str = "the steps") -> None:
    """``--by``, ``--window`` and ``--order``: how a subcommand built on a funnel reads its
    steps (funnel, drivers, trends)."""
    from cxdata.analytics.funnel import ORDER_MODES
    parser.add_argument("--by", default=None, help=f"column {steps} are values of (default stage, else event)")
    parser.add_argument("--window", default="none", help="conversion window: 90s, 30m, 12h, 14d, 2w, seconds or none")
    parser.add_argument("--order", choices=ORDER_MODES, default="ordered")


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
