"""Journey maps in the workspace DuckDB file: every save is a version, nothing is lost.

Tables (created on first use by :func:`ensure_map_tables`):

``journey_maps``          one row per map: id, name, linked dataset, created, latest version
``journey_map_versions``  one row per save: map id, version (1, 2, …), saved_at (UTC),
                          author (None when unknown), note, restored_from, body (map JSON)

A save names the version the editor started from (``base_version``).  If somebody saved
a newer version meanwhile, :func:`save_map` raises :class:`SaveConflict` carrying the
base, the editor's map and the newer stored version; :func:`cxdata.maps.merge.three_way_merge`
combines them cell by cell and lists the cells both changed.  Saves are serialised by a process
lock, and the primary key (map_id, version) makes a second writer fail rather than
overwrite, should two processes share the file.
"""
from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb

from cxdata.errors import CxDataError
from cxdata.maps.changes import Changes, describe_changes
from cxdata.maps.merge import MergeResult, three_way_merge
from cxdata.maps.journey_map import JourneyMap
from cxdata.maps.operations import apply_op
from cxdata.maps.json_format import from_json, from_json_dict, to_json_dict

#: The example maps shipped with the app (one is linked to the sample dataset).
EXAMPLE_MAPS_DIR = Path(__file__).resolve().parents[2] / "sample_data" / "maps"
EXAMPLE_AUTHOR = "CX Journey Lab"

# Re-entrant: apply_ops holds it across load, edit and save_map (which takes it too).
_SAVE_LOCK = threading.RLock()


class MapNotFound(CxDataError):
    """No journey map (or version) with that id."""


def ensure_map_tables(cur) -> None:
    """Create the map tables if they do not exist (idempotent)."""
    cur.execute("""
        CREATE TABLE IF NOT EXISTS journey_maps (
            map_id VARCHAR PRIMARY KEY,
            name VARCHAR NOT NULL,
            dataset VARCHAR,
            created_at TIMESTAMP NOT NULL,
            created_by VARCHAR,
            latest_version INTEGER NOT NULL
        )""")
    cur.execute("""
        CREATE TABLE IF NOT EXISTS journey_map_versions (
            map_id VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            saved_at TIMESTAMP NOT NULL,
            author VARCHAR,
            note VARCHAR,
            restored_from INTEGER,
            body VARCHAR NOT NULL,
            PRIMARY KEY (map_id, version)
        )""")
    cur.execute("""
        CREATE TABLE IF NOT EXISTS journey_map_snapshots (
            map_id VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            name VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            author VARCHAR,
            PRIMARY KEY (map_id, version, name)
        )""")


def _query(cur, sql: str, params: list):
    """Run a read; on a workspace without map tables yet, create them and run it again.

    Reads do not run the DDL every time: the page polls every few seconds, and a
    catalog change on every poll would only add contention with writers.
    """
    try:
        return cur.execute(sql, params)
    except duckdb.CatalogException:
        ensure_map_tables(cur)
        return cur.execute(sql, params)


# ---------------------------------------------------------------------------------------
# Result types

@dataclass(frozen=True)
class VersionInfo:
    """One saved version.  ``saved_at`` is naive UTC; ``author`` None when unknown."""
    map_id: str
    version: int
    saved_at: dt.datetime
    author: str | None
    note: str | None
    restored_from: int | None


@dataclass(frozen=True)
class StoredMap:
    """A map as stored in one version."""
    info: VersionInfo
    journey_map: JourneyMap

    @property
    def map_id(self) -> str:
        return self.info.map_id

    @property
    def version(self) -> int:
        return self.info.version


@dataclass(frozen=True)
class MapSummary:
    """A map in the list: its latest version's name, time and author."""
    map_id: str
    name: str
    dataset: str | None
    latest_version: int
    updated_at: dt.datetime
    updated_by: str | None


class SaveConflict(CxDataError):
    """Somebody saved a newer version since the editor loaded ``base_version``.

    ``mine`` is the map the editor tried to save; ``theirs`` the newest stored version;
    ``base`` the version the editor started from (None if it was never saved).  Nothing
    was written.  :meth:`merge` gives the cell-level three-way merge.
    """

    def __init__(self, map_id: str, base_version: int, base: JourneyMap | None,
                 mine: JourneyMap, theirs: StoredMap):
        who = theirs.info.author or "someone"
        super().__init__(f"{who} saved version {theirs.version} of this map after you "
                         f"opened version {base_version}; merge your changes with theirs.")
        self.map_id = map_id
        self.base_version = base_version
        self.base = base
        self.mine = mine
        self.theirs = theirs

    def merge(self, choices: dict[str, str] | None = None) -> "MergeResult":
        base = self.base if self.base is not None else self.theirs.journey_map
        return three_way_merge(base, self.mine, self.theirs.journey_map, choices)


# ---------------------------------------------------------------------------------------
# Storage

def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _body(jmap: JourneyMap) -> str:
    return json.dumps(to_json_dict(jmap), ensure_ascii=False, sort_keys=True)


def _info(row) -> VersionInfo:
    map_id, version, saved_at, author, note, restored_from = row[:6]
    return VersionInfo(map_id, int(version), saved_at, author, note,
                       None if restored_from is None else int(restored_from))


_VERSION_COLUMNS = "map_id, version, saved_at, author, note, restored_from"


def _insert_version(cur, map_id: str, version: int, jmap: JourneyMap, author: str | None,
                    note: str | None, restored_from: int | None) -> StoredMap:
    saved_at = _utc_now()
    cur.execute(f"INSERT INTO journey_map_versions ({_VERSION_COLUMNS}, body) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [map_id, version, saved_at, author, note, restored_from, _body(jmap)])
    cur.execute("UPDATE journey_maps SET latest_version = ?, name = ?, dataset = ? "
                "WHERE map_id = ?", [version, jmap.name, jmap.dataset, map_id])
    info = VersionInfo(map_id, version, saved_at, author, note, restored_from)
    return StoredMap(info, from_json_dict(to_json_dict(jmap)))


def _in_transaction(cur, work):
    """Run ``work()`` in a transaction; roll back on any error."""
    cur.execute("BEGIN TRANSACTION")
    try:
        result = work()
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    cur.execute("COMMIT")
    return result


def create_map(cur, jmap: JourneyMap, *, author: str | None = None,
               note: str | None = "Created", map_id: str | None = None) -> StoredMap:
    """Store a new map as version 1 and return it."""
    ensure_map_tables(cur)
    map_id = map_id or f"map_{secrets.token_hex(6)}"

    def work():
        cur.execute("INSERT INTO journey_maps VALUES (?, ?, ?, ?, ?, 0)",
                    [map_id, jmap.name, jmap.dataset, _utc_now(), author])
        return _insert_version(cur, map_id, 1, jmap, author, note, None)

    with _SAVE_LOCK:
        return _in_transaction(cur, work)


def latest_version(cur, map_id: str) -> int:
    """The newest version number of a map (cheap: for polling)."""
    row = _query(cur, "SELECT latest_version FROM journey_maps WHERE map_id = ?",
                 [map_id]).fetchone()
    if row is None:
        raise MapNotFound("This journey map no longer exists.")
    return int(row[0])


def load_map(cur, map_id: str, version: int | None = None) -> StoredMap:
    """A map at ``version`` (default: the latest)."""
    if version is None:
        version = latest_version(cur, map_id)
    row = _query(cur, f"SELECT {_VERSION_COLUMNS}, body FROM journey_map_versions "
                      "WHERE map_id = ? AND version = ?", [map_id, int(version)]).fetchone()
    if row is None:
        raise MapNotFound(f"Version {version} of this journey map does not exist.")
    return StoredMap(_info(row), from_json_dict(json.loads(row[6])))


def version_info(cur, map_id: str, version: int) -> VersionInfo:
    """Who saved ``version`` and when (without reading the map body)."""
    row = _query(cur, f"SELECT {_VERSION_COLUMNS} FROM journey_map_versions "
                      "WHERE map_id = ? AND version = ?", [map_id, int(version)]).fetchone()
    if row is None:
        raise MapNotFound(f"Version {version} of this journey map does not exist.")
    return _info(row)


def list_versions(cur, map_id: str) -> list[VersionInfo]:
    """Every version of a map, newest first."""
    rows = _query(cur, f"SELECT {_VERSION_COLUMNS} FROM journey_map_versions "
                       "WHERE map_id = ? ORDER BY version DESC", [map_id]).fetchall()
    return [_info(r) for r in rows]


def list_maps(cur) -> list[MapSummary]:
    """Every map, most recently saved first."""
    rows = _query(cur, """
        SELECT m.map_id, m.name, m.dataset, m.latest_version, v.saved_at, v.author
        FROM journey_maps m
        JOIN journey_map_versions v ON v.map_id = m.map_id AND v.version = m.latest_version
        ORDER BY v.saved_at DESC, m.name""", []).fetchall()
    return [MapSummary(r[0], r[1], r[2], int(r[3]), r[4], r[5]) for r in rows]


def install_example_maps(cur, directory: Path = EXAMPLE_MAPS_DIR) -> list[StoredMap]:
    """Store each example map (``*.json`` in ``directory``) whose name no map has yet;
    returns the maps created (none on a second call)."""
    names = {m.name for m in list_maps(cur)}
    created = []
    for path in sorted(Path(directory).glob("*.json")):
        jmap = from_json(path.read_bytes())
        if jmap.name not in names:
            created.append(create_map(cur, jmap, author=EXAMPLE_AUTHOR, note="Example map"))
            names.add(jmap.name)
    return created


def find_map(cur, name_or_id: str) -> StoredMap:
    """The latest version of the map with this id, else of the most recently saved map
    with this name (the command line names maps either way)."""
    row = _query(cur, """
        SELECT m.map_id FROM journey_maps m
        JOIN journey_map_versions v ON v.map_id = m.map_id AND v.version = m.latest_version
        WHERE m.map_id = ? OR m.name = ?
        ORDER BY (m.map_id = ?) DESC, v.saved_at DESC LIMIT 1""",
                      [name_or_id, name_or_id, name_or_id]).fetchone()
    if row is None:
        raise MapNotFound(f"There is no journey map named {name_or_id!r} in the workspace.")
    return load_map(cur, row[0])


def load_map_by_name(cur, name_or_id: str) -> JourneyMap:
    """The content of :func:`find_map` (for the command line's ``--journey-map``)."""
    return find_map(cur, name_or_id).journey_map


def save_map(cur, map_id: str, jmap: JourneyMap, *, base_version: int,
             author: str | None = None, note: str | None = None,
             restored_from: int | None = None) -> StoredMap:
    """Save ``jmap`` as the next version of a map.

    ``base_version`` is the version the editor started from.  When a newer version
    exists, nothing is written and :class:`SaveConflict` is raised.
    """
    def work():
        latest = latest_version(cur, map_id)
        if latest != base_version:
            raise _Stale(latest)
        return _insert_version(cur, map_id, latest + 1, jmap, author, note, restored_from)

    with _SAVE_LOCK:
        try:
            return _in_transaction(cur, work)
        except _Stale:
            pass
        except (duckdb.TransactionException, duckdb.ConstraintException):
            # Another process wrote the same version number first: treat as a conflict.
            pass
    theirs = load_map(cur, map_id)
    try:
        base = load_map(cur, map_id, base_version).journey_map
    except MapNotFound:
        base = None
    raise SaveConflict(map_id, base_version, base, jmap, theirs)


class _Stale(Exception):
    def __init__(self, latest: int):
        self.latest = latest


def restore_version(cur, map_id: str, version: int, *, author: str | None = None,
                    base_version: int | None = None) -> StoredMap:
    """Make an old version the newest again, as a new version (history is kept).

    With ``base_version``, a newer save than the one the user was looking at raises
    :class:`SaveConflict` instead.
    """
    old = load_map(cur, map_id, version)
    base = latest_version(cur, map_id) if base_version is None else base_version
    return save_map(cur, map_id, old.journey_map, base_version=base, author=author,
                    note=f"Restored version {version}", restored_from=version)


# ---------------------------------------------------------------------------------------
# History

@dataclass(frozen=True)
class VersionChanges:
    """One saved version and what it changed (:func:`version_history`)."""
    info: VersionInfo
    changes: Changes


def version_history(cur, map_id: str, limit: int | None = None) -> list[VersionChanges]:
    """Every version of a map, newest first (at most ``limit``, the newest), each with
    what it changed against the version before it (:func:`describe_changes`)."""
    sql = (f"SELECT {_VERSION_COLUMNS}, body FROM journey_map_versions WHERE map_id = ? "
           "ORDER BY version DESC")
    params: list = [map_id]
    if limit is not None:
        sql += " LIMIT ?"
        params.append(int(limit) + 1)       # one more: the oldest shown needs its predecessor
    rows = _query(cur, sql, params).fetchall()
    maps = {int(r[1]): from_json_dict(json.loads(r[6])) for r in rows}
    shown = rows if limit is None else rows[:int(limit)]
    history = []
    for row in shown:
        info = _info(row)
        previous = maps.get(info.version - 1)
        if previous is None and info.version > 1:
            previous = load_map(cur, map_id, info.version - 1).journey_map
        history.append(VersionChanges(info, describe_changes(previous, maps[info.version])))
    return history


# ---------------------------------------------------------------------------------------
# Live editing: operations applied to the newest version

@dataclass(frozen=True)
class OpsResult:
    """What :func:`apply_ops` did: the stored map afterwards (``saved``: whether a new
    version was written) and one message per operation that went otherwise than asked."""
    stored: StoredMap
    saved: bool
    messages: list[str]


def apply_ops(cur, map_id: str, ops: list[dict], *, author: str | None = None,
              role: str = "facilitator", note: str | None = None) -> OpsResult:
    """Apply edit operations (:func:`cxdata.maps.operations.apply_op`) to the newest version
    and save the result as the next version, at once.

    Each operation is applied to whatever is stored *now*, not to what the sender last
    saw, so people editing different cells, adding notes or voting at the same moment
    never overwrite each other; a cell changed by two people keeps both texts (see
    ``apply_op``).  The load, the edits and the save happen under the save lock; should
    another process have saved in between, the operations are applied again on its
    version.  :class:`cxdata.maps.workshop.EditRefused` (nothing written) when an operation
    is not allowed for ``role``.
    """
    for _attempt in range(5):
        with _SAVE_LOCK:
            latest = load_map(cur, map_id)
            jmap, messages = latest.journey_map, []
            for op in ops:
                jmap, message = apply_op(jmap, op, author=author, role=role)
                if message:
                    messages.append(message)
            if jmap == latest.journey_map:
                return OpsResult(latest, False, messages)
            try:
                stored = save_map(cur, map_id, jmap, base_version=latest.version,
                                  author=author, note=note or _ops_note(ops))
            except SaveConflict:
                continue
            return OpsResult(stored, True, messages)
    raise SaveConflict(map_id, latest.version, None, jmap, load_map(cur, map_id))


_OP_WORDS = {"set_cell": "Cell", "add_note": "Note added", "edit_note": "Note changed",
             "move_note": "Note moved", "remove_note": "Note removed", "vote": "Vote",
             "unvote": "Vote taken back", "workshop": "Workshop settings"}


def _ops_note(ops: list[dict]) -> str:
    """The version note of an autosave: what kind of edit it was."""
    kinds = list(dict.fromkeys(_OP_WORDS.get(op.get("op"), "Structure") for op in ops))
    return "Autosave: " + ", ".join(kinds)


def restore_cell(cur, map_id: str, version: int, lane_id: str, stage_id: str, *,
                 author: str | None = None) -> OpsResult:
    """Put one cell back as it was in ``version`` (a new version; other cells untouched)."""
    old = load_map(cur, map_id, version).journey_map
    try:
        text = old.cell(lane_id, stage_id)
    except KeyError:
        raise MapNotFound("That cell's lane is not in that version.") from None
    return apply_ops(cur, map_id, [{"op": "set_cell", "lane": lane_id, "stage": stage_id,
                                    "text": text}], author=author,
                     note=f"Restored one cell from version {version}")


def changed_cells(old: JourneyMap | None, new: JourneyMap) -> list[tuple[str, str]]:
    """(lane id, stage id) of the cells whose text differs between two versions (cells
    of the new map's stages and lanes only): what the canvas highlights."""
    out = []
    for lane in new.lanes:
        try:
            before = old.lane_by_id(lane.id).cells if old is not None else {}
        except KeyError:
            before = {}
        for stage in new.stages:
            if before.get(stage.id, "") != lane.cells.get(stage.id, ""):
                out.append((lane.id, stage.id))
    return out


# ---------------------------------------------------------------------------------------
# Named snapshots and editing sessions

@dataclass(frozen=True)
class Snapshot:
    """A version a facilitator named ("after workshop 1")."""
    map_id: str
    version: int
    name: str
    created_at: dt.datetime
    author: str | None


def create_snapshot(cur, map_id: str, name: str, *, version: int | None = None,
                    author: str | None = None) -> Snapshot:
    """Name a version (default: the newest).  The name must not be empty."""
    name = " ".join((name or "").split())
    if not name:
        raise CxDataError("Give the snapshot a name, e.g. “after workshop 1”.")
    version = latest_version(cur, map_id) if version is None else int(version)
    version_info(cur, map_id, version)                    # raises MapNotFound
    created = _utc_now()
    _query(cur, "INSERT OR REPLACE INTO journey_map_snapshots VALUES (?, ?, ?, ?, ?)",
           [map_id, version, name, created, author])
    return Snapshot(map_id, version, name, created, author)


def list_snapshots(cur, map_id: str) -> list[Snapshot]:
    """Named versions of a map, newest version first."""
    rows = _query(cur, "SELECT map_id, version, name, created_at, author FROM "
                       "journey_map_snapshots WHERE map_id = ? ORDER BY version DESC, "
                       "created_at DESC", [map_id]).fetchall()
    return [Snapshot(r[0], int(r[1]), r[2], r[3], r[4]) for r in rows]


#: A pause longer than this (minutes) between two saves starts a new editing session.
SESSION_GAP_MINUTES = 20


@dataclass(frozen=True)
class EditSession:
    """Consecutive saves with no pause longer than :data:`SESSION_GAP_MINUTES`.

    ``first`` / ``last``: its oldest and newest version; ``authors``: who saved, in order
    of first save; ``changes``: what the whole session changed (the version before
    ``first`` against ``last``); ``snapshots``: names given to its versions."""
    first: VersionInfo
    last: VersionInfo
    count: int
    authors: tuple[str, ...]
    changes: Changes
    snapshots: tuple[Snapshot, ...]

    @property
    def versions(self) -> range:
        return range(self.last.version, self.first.version - 1, -1)


def group_sessions(infos: list[VersionInfo],
                   gap_minutes: float = SESSION_GAP_MINUTES) -> list[list[VersionInfo]]:
    """Split versions (any order) into editing sessions, newest session first, each
    newest version first.  A named restore or merge does not break a session."""
    ordered = sorted(infos, key=lambda i: i.version)
    sessions: list[list[VersionInfo]] = []
    gap = dt.timedelta(minutes=gap_minutes)
    for info in ordered:
        if sessions and info.saved_at - sessions[-1][-1].saved_at <= gap:
            sessions[-1].append(info)
        else:
            sessions.append([info])
    return [list(reversed(s)) for s in reversed(sessions)]


def edit_sessions(cur, map_id: str, gap_minutes: float = SESSION_GAP_MINUTES,
                  limit: int | None = None) -> list[EditSession]:
    """The map's history as editing sessions, newest first (at most ``limit``)."""
    groups = group_sessions(list_versions(cur, map_id), gap_minutes)
    if limit is not None:
        groups = groups[:int(limit)]
    snapshots = list_snapshots(cur, map_id)
    out = []
    for group in groups:
        last, first = group[0], group[-1]
        new = load_map(cur, map_id, last.version).journey_map
        old = None if first.version == 1 else load_map(cur, map_id, first.version - 1).journey_map
        authors = tuple(dict.fromkeys(i.author or "Someone" for i in reversed(group)))
        named = tuple(s for s in snapshots if first.version <= s.version <= last.version)
        out.append(EditSession(first, last, len(group), authors, describe_changes(old, new), named))
    return out
