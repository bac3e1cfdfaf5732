"""Command line: ``python -m cxdata SUBCOMMAND …`` (SPEC §6).

This module builds the parser and dispatches; ``base`` holds the shared options and exit
codes, ``loading`` what a subcommand reads, ``output`` how it prints, and one module per
family of subcommands (``data_commands``, ``analysis_commands``, ``app_command``; the
why subcommands live in ``cxdata.why.cli_*``).

Exit codes: 0 success; 1 the file was read but rows were rejected (validate / ingest);
2 unusable input or arguments, with one plain sentence on stderr and no traceback.
"""
from __future__ import annotations

import argparse
import sys

from cxdata.cli.analysis_commands import cmd_funnel, cmd_paths, cmd_report, cmd_scores
from cxdata.cli.app_command import cmd_app
from cxdata.cli.data_commands import cmd_datasets, cmd_ingest, cmd_sample, cmd_validate
from cxdata.errors import CxDataError
from cxdata.store import memory
# The package's API beyond main(): the why subcommands (cxdata.why.cli_*) and the tests
# build on these.
from cxdata.cli.base import (EXIT_OK, EXIT_REJECTED, EXIT_UNUSABLE, UsageError,  # noqa: F401
                             _common, _Parser, add_funnel_options, parse_maps)
from cxdata.cli.loading import LoadedData, load_data, open_workspace, resolve_column  # noqa: F401
from cxdata.cli.output import emit


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
    add_funnel_options(p)
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
