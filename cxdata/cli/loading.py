"""What a subcommand reads: a log file, ``ws:NAME`` (a workspace dataset, stored or
connected) or ``spark:…``."""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

from cxdata.cli.base import UsageError, parse_maps
from cxdata.errors import UnusableInput
from cxdata.io import schema


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
