"""Connected datasets: logs queried in place on Spark, kept in the workspace as a
connection and a role map, never as rows (SPEC §7).

A connected dataset is a row of the ``connected_datasets`` table of the workspace file:
its name, the Spark URL, the source (``spark:TABLE`` or ``spark:FORMAT:PATH``), the role
map, the order key, the invalid-score policy, the narrowing asked for first (a customer
sample, a day range: see :class:`cxdata.engines.spark_engine.Narrowing`), and what the app
shows about it without asking Spark again: its stage order and attribute columns, and
the rows counted when it was connected.

The full URL is stored, since reconnecting needs it: a Spark Connect token in it
(``sc://host:15002/;token=…``) is in the workspace file, readable by whoever can read
that file.  The app shows it through :func:`cxdata.engines.spark_engine.redact` only (this
module keeps to the store's side of the package layout and imports no engine).

Such a dataset appears among the workspace's datasets as a :class:`DatasetInfo` whose
``table`` is ``spark-connection:<id>`` (no DuckDB table has that name) and whose ``id``
is negative, so it never collides with a workspace dataset's catalog row.
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field, replace

from cxdata.errors import DatasetNotFound, UnusableInput
from cxdata.io.schema import ROLES
from cxdata.store.workspace import DatasetInfo, check_name

#: ``DatasetInfo.table`` of a connected dataset starts with this.
TABLE_PREFIX = "spark-connection:"
_TABLE = "connected_datasets"
_DDL = f"""
CREATE SEQUENCE IF NOT EXISTS connected_dataset_ids START 1;
CREATE TABLE IF NOT EXISTS {_TABLE} (
    id INTEGER PRIMARY KEY DEFAULT nextval('connected_dataset_ids'),
    name VARCHAR NOT NULL UNIQUE,
    url VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    roles VARCHAR NOT NULL,
    order_key VARCHAR,
    score_policy VARCHAR NOT NULL,
    sample_percent INTEGER,
    start_day DATE,
    end_day DATE,
    stage_order VARCHAR NOT NULL,
    attributes VARCHAR NOT NULL,
    rows_read BIGINT NOT NULL,
    rows_rejected BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    version VARCHAR NOT NULL
)"""
_COLUMNS = ("id, name, url, source, roles, order_key, score_policy, sample_percent, start_day, "
            "end_day, stage_order, attributes, rows_read, rows_rejected, created_at, version")


@dataclass(frozen=True)
class Connection:
    """A connected dataset.  ``roles`` maps role -> source column (as a file's);
    ``rows_read`` / ``rows_rejected`` were counted (under the narrowing) when it was
    connected or last narrowed."""
    name: str
    url: str
    source: str
    roles: dict = field(hash=False)
    order_key: str | None = None
    score_policy: str = "reject"
    sample_percent: int | None = None
    start_day: dt.date | None = None
    end_day: dt.date | None = None
    stage_order: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    rows_read: int = 0
    rows_rejected: int = 0
    id: int = 0
    created_at: dt.datetime | None = None
    version: str = ""

    @property
    def overrides(self) -> dict[str, str | None]:
        """``roles`` as the complete mapping the user chose: a role without a column
        stays without one (it is not guessed again when the engine is made)."""
        return {role: self.roles.get(role) for role in ROLES}

    @property
    def table(self) -> str:
        return f"{TABLE_PREFIX}{self.id}"

    def info(self) -> DatasetInfo:
        """The dataset as the pages see it (see the module docstring)."""
        return DatasetInfo(
            id=-self.id, name=self.name, table=self.table, rejects_table="",
            source=self.source, created_at=self.created_at,
            rows_read=self.rows_read, rows_accepted=self.rows_read - self.rows_rejected,
            rows_rejected=self.rows_rejected, roles=dict(self.roles),
            stage_order=tuple(self.stage_order), attributes=tuple(self.attributes),
            version=self.version)


def is_connected(info_or_table) -> bool:
    """Whether a DatasetInfo (or a dataset table name) is a connected dataset."""
    table = getattr(info_or_table, "table", info_or_table)
    return isinstance(table, str) and table.startswith(TABLE_PREFIX)


def _has_table(cur) -> bool:
    return cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ? "
                       "AND table_catalog = current_database()", [_TABLE]).fetchone()[0] > 0


def _ensure(ws) -> None:
    cur = ws.cursor()
    for statement in filter(str.strip, _DDL.split(";")):
        cur.execute(statement)


def list_connections(ws) -> list[Connection]:
    """Every connected dataset of the workspace, newest first."""
    cur = ws.cursor()
    if not _has_table(cur):
        return []
    rows = cur.execute(f"SELECT {_COLUMNS} FROM {_TABLE} ORDER BY created_at DESC, id DESC").fetchall()
    return [_connection(row) for row in rows]


def find(ws, name: str) -> Connection | None:
    cur = ws.cursor()
    if not _has_table(cur):
        return None
    row = cur.execute(f"SELECT {_COLUMNS} FROM {_TABLE} WHERE name = ?", [name]).fetchone()
    return None if row is None else _connection(row)


def get(ws, name: str) -> Connection:
    found = find(ws, name)
    if found is None:
        raise DatasetNotFound(f"There is no connected dataset named {name!r} in the workspace.")
    return found


def by_table(ws, table: str) -> Connection:
    """The connected dataset whose ``DatasetInfo.table`` is ``table``."""
    cur = ws.cursor()
    row = None
    if _has_table(cur) and is_connected(table):
        row = cur.execute(f"SELECT {_COLUMNS} FROM {_TABLE} WHERE id = ?",
                          [int(table[len(TABLE_PREFIX):])]).fetchone()
    if row is None:
        raise DatasetNotFound("This connected dataset is no longer in the workspace.")
    return _connection(row)


def save(ws, connection: Connection, *, replace_existing: bool = False) -> Connection:
    """Store a new connected dataset (or replace the one of that name); returns it as
    stored (id, creation time and version set)."""
    name = check_name(connection.name)
    with ws._write_lock:
        if ws.has_dataset(name) and not (replace_existing and find(ws, name) is not None):
            raise UnusableInput(f"A dataset named {name!r} already exists; choose another name.")
        _ensure(ws)
        cur = ws.cursor()
        cur.execute(f"DELETE FROM {_TABLE} WHERE name = ?", [name])
        c = connection
        cur.execute(f"INSERT INTO {_TABLE} ({_COLUMNS.replace('id, ', '', 1)}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [name, connection.url, connection.source, json.dumps(connection.roles),
                     c.order_key, c.score_policy, c.sample_percent, c.start_day, c.end_day,
                     json.dumps(list(connection.stage_order)), json.dumps(list(connection.attributes)),
                     int(connection.rows_read), int(connection.rows_rejected), _now(), _version()])
    return get(ws, name)


def update(ws, current: str, /, **changes) -> Connection:
    """Change fields of a stored connection (the narrowing, ``stage_order``, counts, …);
    the version changes, so no cached result of the old one is served."""
    with ws._write_lock:
        old = get(ws, current)
        new = replace(old, **changes)
        ws.cursor().execute(
            f"UPDATE {_TABLE} SET name = ?, sample_percent = ?, start_day = ?, end_day = ?, "
            "stage_order = ?, attributes = ?, rows_read = ?, rows_rejected = ?, version = ? WHERE id = ?",
            [check_name(new.name), new.sample_percent, new.start_day, new.end_day, json.dumps(list(new.stage_order)),
             json.dumps(list(new.attributes)), int(new.rows_read), int(new.rows_rejected), _version(), old.id])
        return get(ws, new.name)


def rename(ws, old: str, new: str) -> Connection:
    new = check_name(new)
    if new != old and ws.has_dataset(new):
        raise UnusableInput(f"A dataset named {new!r} already exists.")
    renamed = update(ws, old, name=new)
    if ws.get_setting("default_dataset") == old:
        ws.set_setting("default_dataset", new)
    return renamed


def delete(ws, name: str) -> None:
    """Forget a connected dataset (its source is not touched)."""
    with ws._write_lock:
        get(ws, name)
        ws.cursor().execute(f"DELETE FROM {_TABLE} WHERE name = ?", [name])


def _version() -> str:
    return uuid.uuid4().hex[:12]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _connection(row) -> Connection:
    (id_, name, url, source, roles, order_key, policy, sample, start, end, order, attributes,
     read, rejected, created, version) = row
    return Connection(name=name, url=url, source=source, roles=json.loads(roles), order_key=order_key,
                      score_policy=policy, sample_percent=sample, start_day=start, end_day=end,
                      stage_order=tuple(json.loads(order)), attributes=tuple(json.loads(attributes)),
                      rows_read=read, rows_rejected=rejected, id=id_, created_at=created,
                      version=version)
