"""The workspace: one DuckDB file holding datasets, their rejects, and the catalog.

DESIGN: one connection per process, a ``cursor()`` per thread or query.  Datasets are
regular tables (cursors do not see TEMP tables).  The catalog row of a dataset carries a
``version`` that changes whenever its data changes; every cached result is keyed by it.

Where the file lives: the ``path`` argument (CLI ``--workspace``), else the environment
variable ``CXDATA_WORKSPACE``, else ``~/.cxdata/workspace.duckdb``.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from cxdata.errors import CxDataError, DatasetNotFound, UnusableInput, WorkspaceBusy
from cxdata.io.ingest import (IngestResult, ProgressCallback, StageMapping, apply_stage_mapping,
                           detect_stage_order, ingest_file, rows_rejected_for_scores_only)
from cxdata.sql import quote_ident
from cxdata.store import memory
from cxdata.store.timelines import build_timeline, default_step_column, drop_timelines, ensure_timeline

ENV_VAR = "CXDATA_WORKSPACE"
DEFAULT_PATH = Path("~/.cxdata/workspace.duckdb")
NAME_MAX = 80


def workspace_path(explicit: str | os.PathLike | None = None) -> Path:
    """Resolve the workspace file: explicit path, else ``$CXDATA_WORKSPACE``, else the default."""
    chosen = explicit or os.environ.get(ENV_VAR) or DEFAULT_PATH
    return Path(chosen).expanduser()


@dataclass(frozen=True)
class DatasetInfo:
    """A catalog entry.  ``table`` is the dataset table's name (see docs/architecture.md);
    ``roles`` maps role -> source column; ``version`` changes whenever the data does."""
    id: int
    name: str
    table: str
    rejects_table: str
    source: str
    created_at: dt.datetime
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    roles: dict = field(hash=False)
    stage_order: tuple[str, ...]
    attributes: tuple[str, ...]
    stage_mapping: dict | None = field(default=None, hash=False)
    notes: tuple[str, ...] = ()
    version: str = ""

    def has_role(self, role: str) -> bool:
        return role in self.roles or (role == "stage" and bool(self.stage_mapping))

    @property
    def cache_key(self) -> tuple:
        """Key for cached results: changes with the data and with the stage order."""
        return (self.table, self.version, self.stage_order)


_CATALOG_DDL = """
CREATE SEQUENCE IF NOT EXISTS dataset_ids START 1;
CREATE TABLE IF NOT EXISTS datasets (
    id INTEGER PRIMARY KEY DEFAULT nextval('dataset_ids'),
    name VARCHAR NOT NULL UNIQUE,
    table_name VARCHAR NOT NULL,
    rejects_table VARCHAR NOT NULL,
    source VARCHAR,
    created_at TIMESTAMP NOT NULL,
    rows_read BIGINT NOT NULL,
    rows_accepted BIGINT NOT NULL,
    rows_rejected BIGINT NOT NULL,
    roles VARCHAR NOT NULL,
    stage_order VARCHAR NOT NULL,
    attributes VARCHAR NOT NULL,
    stage_mapping VARCHAR,
    notes VARCHAR,
    version VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS workspace_settings (key VARCHAR PRIMARY KEY, value VARCHAR);
"""
_COLUMNS = ("id, name, table_name, rejects_table, source, created_at, rows_read, rows_accepted, "
            "rows_rejected, roles, stage_order, attributes, stage_mapping, notes, version")


def _busy_holder(exc: Exception) -> str:
    pid = re.search(r"PID (\d+)", str(exc))
    return f" (process {pid.group(1)})" if pid else ""


class WorkspaceInUse(WorkspaceBusy):
    """Another process holds the workspace file.  ``str(exc)`` names the command-line
    option; :attr:`web_message` is for the person running the app."""

    def __init__(self, path: Path, exc: Exception):
        self.path, self.holder = path, _busy_holder(exc)
        super().__init__(f"The workspace {path} is in use by another program{self.holder}. Close it "
                         f"(for example the running app), or choose another file with --workspace "
                         f"or {ENV_VAR}.")

    @property
    def web_message(self) -> str:
        return (f"The workspace {self.path} is in use by another program{self.holder}. Close that "
                f"program, or start the app with the environment variable {ENV_VAR} set to "
                "another file.")


class Workspace:
    """One DuckDB workspace file.  Safe to share between threads: each query runs on its
    own cursor from :meth:`cursor`."""

    def __init__(self, path: str | os.PathLike | None = None, read_only: bool = False,
                 memory_limit: str | None = None):
        """``memory_limit``: DuckDB's memory limit (``4G``, …); None: the process's
        choice, ``$CXDATA_MEMORY_LIMIT`` or the default (:mod:`cxdata.store.memory`)."""
        self.path = workspace_path(path)
        self.read_only = read_only
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = memory.connect(self.path, read_only=read_only, memory_limit=memory_limit)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise WorkspaceInUse(self.path, exc) from None
            raise UnusableInput(f"The workspace {self.path} could not be opened: "
                                f"{str(exc).splitlines()[0]}") from None
        except duckdb.Error as exc:
            raise UnusableInput(f"The workspace {self.path} is not a DuckDB file this version can open: "
                                f"{str(exc).splitlines()[0]}") from None
        self._write_lock = threading.RLock()
        if not read_only:
            cur = self.cursor()
            for statement in filter(str.strip, _CATALOG_DDL.split(";")):
                cur.execute(statement)
            self._sweep_orphans()

    def _sweep_orphans(self) -> None:
        """Drop the tables of imports that never reached the catalog.

        An import writes its tables first and records the dataset in the catalog last, in
        one transaction; a process killed in between (SIGKILL, power loss) leaves tables
        that no dataset names.  They are found by their generated names (``ds_<token>…``,
        ``rej_<token>``, ``cx_rej_<token>…``) and dropped when the workspace opens for
        writing (one writing process at a time: nothing else can be importing now).
        """
        cur = self.cursor()
        known = {token for row in cur.execute("SELECT table_name, rejects_table FROM datasets").fetchall()
                 for name in row if (token := _generated_token(name))}
        tables = [r[0] for r in cur.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'main' AND table_catalog = current_database()").fetchall()]
        orphans = [t for t in tables if (token := _generated_token(t)) and token not in known]
        if not orphans:
            return
        for table in orphans:
            if _ORPHAN_DATASET.fullmatch(table):
                drop_timelines(cur, table)
        for table in orphans:
            cur.execute(f"DROP TABLE IF EXISTS {quote_ident(table)}")

    # -- connections ---------------------------------------------------------------
    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on the workspace with the session time zone set to UTC."""
        cur = self._con.cursor()
        cur.execute("SET TimeZone = 'UTC'")
        return cur

    def close(self) -> None:
        self._con.close()

    # -- catalog -------------------------------------------------------------------
    def list_datasets(self) -> list[DatasetInfo]:
        """All datasets, newest first."""
        rows = self.cursor().execute(f"SELECT {_COLUMNS} FROM datasets ORDER BY created_at DESC, id DESC").fetchall()
        from cxdata.store import connections     # connected datasets (Spark) after the stored ones
        return [_info(row) for row in rows] + [c.info() for c in connections.list_connections(self)]

    def get_dataset(self, name: str) -> DatasetInfo:
        row = self.cursor().execute(f"SELECT {_COLUMNS} FROM datasets WHERE name = ?", [name]).fetchone()
        if row is None and (connected := _connected(self, name)) is not None:
            return connected.info()
        if row is None:
            known = ", ".join(d.name for d in self.list_datasets()[:10]) or "none yet"
            raise DatasetNotFound(f"There is no dataset named {name!r} in the workspace (datasets: {known}).")
        return _info(row)

    def has_dataset(self, name: str) -> bool:
        return (self.cursor().execute("SELECT count(*) FROM datasets WHERE name = ?", [name]).fetchone()[0] > 0
                or _connected(self, name) is not None)

    def ingest(self, path: str | os.PathLike, name: str, *, overrides: dict[str, str] | None = None,
               score_policy: str = "reject", stage_order: list[str] | None = None,
               stage_mapping: StageMapping | None = None, source: str | None = None,
               replace: bool = False, sheet=None,
               on_progress: ProgressCallback | None = None,
               max_bytes: int | None = None) -> tuple[IngestResult, DatasetInfo]:
        """Read ``path`` into a new dataset ``name`` (or replace it when ``replace``).
        ``max_bytes``: the most the file may hold once decompressed (None:
        ``$CXDATA_MAX_BYTES``, unset means no limit)."""
        name = check_name(name)
        with self._write_lock:
            if self.has_dataset(name) and not replace:
                raise UnusableInput(f"A dataset named {name!r} already exists; choose another name "
                                    "or replace it.")
            cur = self.cursor()
            token = uuid.uuid4().hex[:12]
            table, rejects = f"ds_{token}", f"rej_{token}"
            try:
                result = ingest_file(cur, path, table=table, rejects_table=rejects, overrides=overrides,
                                     score_policy=score_policy, stage_order=stage_order,
                                     stage_mapping=stage_mapping, sheet=sheet, on_progress=on_progress,
                                     max_bytes=max_bytes)
                _build_default_timeline(cur, table, on_progress)
            except BaseException as exc:
                drop_timelines(cur, table)
                for t in (table, rejects, table + "_staged"):
                    cur.execute(f"DROP TABLE IF EXISTS {quote_ident(t)}")
                if memory.is_out_of_memory(exc) and not isinstance(exc, memory.OutOfMemory):
                    raise memory.out_of_memory(exc, cur) from None
                raise
            old = self.get_dataset(name) if self.has_dataset(name) else None
            cur.execute("BEGIN TRANSACTION")
            try:
                if old is not None:
                    cur.execute("DELETE FROM datasets WHERE id = ?", [old.id])
                cur.execute(f"""INSERT INTO datasets ({_COLUMNS.replace('id, ', '', 1)})
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                            [name, table, rejects, source or result.source, _now(), result.rows_read,
                             result.rows_accepted, result.rows_rejected, json.dumps(result.roles),
                             json.dumps(result.stage_order), json.dumps(result.attributes),
                             json.dumps(_mapping_dict(stage_mapping)) if stage_mapping else None,
                             json.dumps(result.notes), token])
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            if old is not None:
                self._drop_tables(old)
            return result, self.get_dataset(name)

    def prepare_views(self, name: str, on_progress: ProgressCallback | None = None) -> None:
        """Store what the app's pages read beyond the step column's timeline: the
        touchpoint timeline with each touchpoint's step value and scores beside it, which
        tells the drop-off where customers left and what they did next, and the
        conversion drivers what each customer did, without reading the events (about 4 s
        at 10 million events).  The app calls it after an import; a dataset imported from the command
        line gets it when a page first needs it (:func:`cxdata.store.timelines.ensure_timeline`),
        so that an import on its own costs what reading the file does.  Only a speed-up:
        nothing happens when it cannot be built."""
        with self._write_lock:
            info = self.get_dataset(name)
            if info.id < 0 or self.read_only:
                return
            cur = self.cursor()
            step = default_step_column(cur, info.table)
            if step is None or step == "touchpoint" or not info.has_role("touchpoint"):
                return
            if on_progress:
                on_progress("Preparing the drop-off views", -1)
            ensure_timeline(cur, info.table, "touchpoint", max_rows=None)

    def rename_dataset(self, old: str, new: str) -> DatasetInfo:
        new = check_name(new)
        with self._write_lock:
            info = self.get_dataset(old)
            if info.id < 0:                 # a connected dataset (cxdata.store.connections)
                from cxdata.store import connections
                return connections.rename(self, old, new).info()
            if new != old and self.has_dataset(new):
                raise UnusableInput(f"A dataset named {new!r} already exists.")
            self.cursor().execute("UPDATE datasets SET name = ? WHERE id = ?", [new, info.id])
            if self.get_setting("default_dataset") == old:     # the default follows its dataset
                self.set_setting("default_dataset", new)
            return self.get_dataset(new)

    def delete_dataset(self, name: str) -> None:
        with self._write_lock:
            info = self.get_dataset(name)
            if info.id < 0:                 # a connected dataset: forget the connection
                from cxdata.store import connections
                return connections.delete(self, name)
            self.cursor().execute("DELETE FROM datasets WHERE id = ?", [info.id])
            self._drop_tables(info)

    def set_stage_order(self, name: str, order: list[str]) -> DatasetInfo:
        """Save a new stage order.  Stages of the data missing from ``order`` are kept at the end."""
        with self._write_lock:
            info = self.get_dataset(name)
            present = detect_stage_order(self.cursor(), info.table)
            clean = [s for s in dict.fromkeys(str(s).strip() for s in order) if s]
            clean += [s for s in present if s not in clean]
            self.cursor().execute("UPDATE datasets SET stage_order = ? WHERE id = ?", [json.dumps(clean), info.id])
            return self.get_dataset(name)

    def set_stage_mapping(self, name: str, mapping: StageMapping) -> DatasetInfo:
        """Fill the stage column from events or touchpoints; the data version changes."""
        with self._write_lock:
            info = self.get_dataset(name)
            if "stage" in info.roles:
                raise UnusableInput(f"Dataset {name!r} has its own stage column ({info.roles['stage']}); "
                                    "stages can be mapped only for logs without one.")
            cur = self.cursor()
            apply_stage_mapping(cur, info.table, mapping)
            _build_default_timeline(cur, info.table)
            order = list(dict.fromkeys(stage for _, stage in mapping.mapping))
            cur.execute("UPDATE datasets SET stage_mapping = ?, stage_order = ?, version = ? WHERE id = ?",
                        [json.dumps(_mapping_dict(mapping)), json.dumps(order), uuid.uuid4().hex[:12], info.id])
            return self.get_dataset(name)

    def rejects(self, name: str, limit: int | None = None) -> pd.DataFrame:
        """Every problem of a dataset: row, column, value, reason, action."""
        info = self.get_dataset(name)
        sql = (f"SELECT row, column_name AS column, value, reason, action FROM {quote_ident(info.rejects_table)} "
               "ORDER BY row, column_name")
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self.cursor().execute(sql).df()

    def rows_rejected_for_scores_only(self, name: str) -> int:
        """Rows of ``name`` rejected only for invalid scores: the rows an import with the
        "blank only the score" policy would keep (0 when it used that policy)."""
        info = self.get_dataset(name)
        columns = [info.roles[r] for r in ("nps", "csat", "ces") if r in info.roles]
        return rows_rejected_for_scores_only(self.cursor(), info.rejects_table, columns)

    def preview(self, name: str, limit: int = 50) -> pd.DataFrame:
        info = self.get_dataset(name)
        return self.cursor().execute(f"SELECT * FROM {quote_ident(info.table)} ORDER BY _row LIMIT {int(limit)}").df()

    def distinct_values(self, name: str, column: str, limit: int = 500) -> list[str]:
        """Values of a column by frequency (most frequent first), for pickers."""
        from cxdata.sql import distinct_values
        return distinct_values(self.cursor(), self.get_dataset(name).table, column, limit)

    # -- settings ------------------------------------------------------------------
    def get_setting(self, key: str, default: str | None = None) -> str | None:
        row = self.cursor().execute("SELECT value FROM workspace_settings WHERE key = ?", [key]).fetchone()
        return default if row is None else row[0]

    def set_setting(self, key: str, value: str) -> None:
        self.cursor().execute("INSERT OR REPLACE INTO workspace_settings VALUES (?, ?)", [key, value])

    def _drop_tables(self, info: DatasetInfo) -> None:
        cur = self.cursor()
        drop_timelines(cur, info.table)
        for t in (info.table, info.rejects_table):
            cur.execute(f"DROP TABLE IF EXISTS {quote_ident(t)}")


#: Names the workspace generates for an import's tables (see :meth:`Workspace.ingest`,
#: :mod:`cxdata.store.timelines`, :func:`cxdata.io.ingest.ingest_file`); group 2 is the import's token.
_GENERATED_TABLE = re.compile(r"(ds|rej|cx_rej)_([0-9a-f]{10,12})(_.*)?", re.DOTALL)
_ORPHAN_DATASET = re.compile(r"ds_[0-9a-f]{12}")


def _connected(ws: Workspace, name: str):
    from cxdata.store import connections
    return connections.find(ws, name)


def _generated_token(name: str | None) -> str | None:
    found = _GENERATED_TABLE.fullmatch(name or "")
    return found.group(2) if found else None


def _build_default_timeline(cur, table: str, on_progress: ProgressCallback | None = None) -> None:
    """Gather each customer's events on the dataset's default funnel column once, so that
    its funnels need not (:mod:`cxdata.store.timelines`).  Only a speed-up: should DuckDB fail
    here, the dataset is kept and its funnels read the events instead."""
    column = default_step_column(cur, table)
    if column is None:
        return
    if on_progress:
        on_progress("Gathering each customer's journey", -1)
    try:
        build_timeline(cur, table, column)
    except duckdb.Error:
        drop_timelines(cur, table)


def check_name(name: str) -> str:
    """A dataset name: trimmed, 1–80 printable characters."""
    clean = " ".join(str(name or "").split())
    if any(not ch.isprintable() for ch in clean):
        raise UnusableInput("A dataset name cannot contain control characters (such as NUL or a "
                            "right-to-left override); type it again without them.")
    if not clean:
        raise UnusableInput("A dataset needs a name.")
    if len(clean) > NAME_MAX:
        raise UnusableInput(f"A dataset name can have at most {NAME_MAX} characters.")
    return clean


def _mapping_dict(mapping: StageMapping) -> dict:
    return {"source_role": mapping.source_role, "mapping": dict(mapping.mapping)}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _info(row) -> DatasetInfo:
    (id_, name, table, rejects, source, created, read, accepted, rejected, roles, order,
     attributes, mapping, notes, version) = row
    return DatasetInfo(id=id_, name=name, table=table, rejects_table=rejects, source=source,
                       created_at=created, rows_read=read, rows_accepted=accepted, rows_rejected=rejected,
                       roles=json.loads(roles), stage_order=tuple(json.loads(order)),
                       attributes=tuple(json.loads(attributes)),
                       stage_mapping=json.loads(mapping) if mapping else None,
                       notes=tuple(json.loads(notes)) if notes else (), version=version)


__all__ = ["Workspace", "DatasetInfo", "workspace_path", "check_name", "CxDataError"]
