"""The subcommands about data: ``validate``, ``ingest``, ``datasets``, ``sample``."""
from __future__ import annotations

import pandas as pd

from cxdata.cli.base import UsageError, parse_maps, EXIT_OK, EXIT_REJECTED
from cxdata.cli.loading import open_workspace
from cxdata.cli.output import emit


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
