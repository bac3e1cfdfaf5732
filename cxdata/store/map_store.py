"""Journey maps in the workspace DuckDB file: every save is a version, nothing is lost.

Tables (created on first use by :func:`ensure_map_tables`):

``journey_maps``          one row per map: id, name, linked dataset, created, latest version
``journey_map_versions``  one row per save: map id, version (1, 2, …), saved_at (UTC),
                          author (None when unknown), note, restored_from, body (map JSON)

A save names the version the editor started from (``base_version``).  If somebody saved
a newer version meanwhile, :func:`save_map` raises :class:`SaveConflict` carrying the
base, the editor's map and the newer stored version; :func:`three_way_merge` combines
them cell by cell and lists the cells both changed.  Saves are serialised by a process
lock, and the primary key (map_id, version) makes a second writer fail rather than
overwrite, should two processes share the file.
"""
from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cxdata.errors import CxDataError
from cxdata.maps.journey_map import (LANE_TOPICS, JourneyMap, Lane, Note, Persona, Stage, Workshop,
                                apply_op, from_json, from_json_dict, note_to_dict,
                                to_json_dict)

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
# Three-way merge

@dataclass(frozen=True)
class MergeConflict:
    """One field both sides changed differently.

    ``key`` identifies it (``("cell", lane_id, stage_id)``, ``("stage", stage_id)`` …),
    ``label`` says it in words; ``base`` / ``mine`` / ``theirs`` are the three values (None
    = absent or deleted); ``chosen`` is "mine" or "theirs", the side kept in the merge.
    """
    key: tuple
    label: str
    base: str | None
    mine: str | None
    theirs: str | None
    chosen: str

    @property
    def key_id(self) -> str:
        return "/".join(self.key)


@dataclass
class MergeResult:
    merged: JourneyMap
    conflicts: list[MergeConflict] = field(default_factory=list)


def _flatten(jmap: JourneyMap) -> dict[tuple, str]:
    """Every editable field of a map as key -> text; empty cells are absent."""
    flat: dict[tuple, str] = {
        ("name",): jmap.name, ("dataset",): jmap.dataset or "", ("scenario",): jmap.scenario,
        ("persona", "name"): jmap.persona.name,
        ("persona", "description"): jmap.persona.description,
        ("persona", "goals"): jmap.persona.goals,
    }
    for stage in jmap.stages:
        flat[("stage", stage.id)] = stage.name
    for lane in jmap.lanes:
        flat[("lane", lane.id)] = lane.name
        flat[("lane_kind", lane.id)] = f"{lane.kind}:{lane.topic}"
        for stage_id, text in lane.cells.items():
            flat[("cell", lane.id, stage_id)] = text
    for note in jmap.notes:
        flat[("note", note.id)] = json.dumps(note_to_dict(note), sort_keys=True, ensure_ascii=False)
    for voter, ballot in jmap.votes.items():
        for note_id, count in ballot.items():
            flat[("vote", voter, note_id)] = str(count)
    for name, value in vars(jmap.workshop).items():
        flat[("workshop", name)] = json.dumps(value)
    return flat


def _label(key: tuple, maps: list[JourneyMap]) -> str:
    """A field's name in words, from whichever version still has the stage/lane."""
    stage_names, lane_names = {}, {}
    for m in maps:
        for s in m.stages:
            stage_names.setdefault(s.id, s.name)
        for lane in m.lanes:
            lane_names.setdefault(lane.id, lane.name)
    kind = key[0]
    if kind == "cell":
        return f"{lane_names.get(key[1], 'lane')} × {stage_names.get(key[2], 'stage')}"
    if kind == "stage":
        return f"Stage “{stage_names.get(key[1], '?')}”"
    if kind == "lane":
        return f"Lane “{lane_names.get(key[1], '?')}”"
    if kind == "lane_kind":
        return f"What lane “{lane_names.get(key[1], '?')}” holds"
    if kind == "persona":
        return f"Persona {key[1]}"
    if kind == "order":
        return f"Order of the {key[1]}"
    if kind == "note":
        return "A sticky note"
    if kind == "vote":
        return f"Votes of {key[1]}"
    if kind == "workshop":
        return f"Workshop setting {key[1]}"
    return key[0].capitalize()


def _insert_after_predecessor(order: list[str], ids: list[str], index: int) -> None:
    """Insert ``ids[index]`` into ``order`` right after its nearest predecessor in ``ids``
    that ``order`` holds (at the start when there is none)."""
    position = next((order.index(before) + 1 for before in reversed(ids[:index])
                     if before in order), 0)
    order.insert(position, ids[index])


def _merge_order(base: list[str], mine: list[str], theirs: list[str]) -> tuple[list[str], bool]:
    """Merge two reorderings of ``base``.  Returns (order, conflict): conflict when both
    sides put the ids they share in different relative orders (mine then wins)."""
    if mine == theirs or theirs == base:
        return list(mine), False
    if mine == base:
        return list(theirs), False
    order = list(mine)
    for index, item in enumerate(theirs):
        if item not in order:
            _insert_after_predecessor(order, theirs, index)
    shared = [x for x in mine if x in theirs]
    theirs_shared = [x for x in theirs if x in mine]
    base_shared = [x for x in base if x in shared]
    mine_moved = [x for x in shared if x in base_shared] != base_shared
    theirs_moved = [x for x in theirs_shared if x in base_shared] != base_shared
    conflict = shared != theirs_shared and mine_moved and theirs_moved
    return order, conflict


def _refers(key: tuple, parent: tuple) -> bool:
    """Whether ``key`` is part of the stage or lane ``parent`` (its name, kind or cells)."""
    kind, parent_id = parent
    if kind == "stage":
        return key == parent or (key[0] == "cell" and key[2] == parent_id)
    return key[0] in ("lane", "lane_kind", "cell") and key[1] == parent_id


def _parts(flat: dict, parent: tuple) -> dict:
    return {k: v for k, v in flat.items() if _refers(k, parent)}


def three_way_merge(base: JourneyMap, mine: JourneyMap, theirs: JourneyMap,
                    choices: dict[str, str] | None = None) -> MergeResult:
    """Combine two edits of ``base`` field by field.

    A field changed on one side only takes that change; a field both sides changed to
    the same value takes it; a field both changed differently is a conflict, resolved by
    ``choices[conflict.key_id]`` ("mine" / "theirs"), "mine" by default.  A stage or lane
    one side deleted while the other changed something in it is a conflict too; by
    default it is kept, whole, as the changing side has it, so that nothing typed is lost.
    """
    choices = choices or {}
    flat_b, flat_m, flat_t = _flatten(base), _flatten(mine), _flatten(theirs)
    keys = list(dict.fromkeys([*flat_m, *flat_t, *flat_b]))
    maps = [mine, theirs, base]
    conflicts: list[MergeConflict] = []
    merged: dict[tuple, str] = {}

    def decide(key: tuple):
        b, m, t = flat_b.get(key), flat_m.get(key), flat_t.get(key)
        if m == t or t == b:
            return m
        if m == b:
            return t
        default = "theirs" if m is None else "mine"
        chosen = choices.get("/".join(key), default)
        conflicts.append(MergeConflict(key, _label(key, maps), b, m, t, chosen))
        return t if chosen == "theirs" else m

    # 1. Stages and lanes: which exist, under which name.
    kept_whole: dict[tuple, dict] = {}
    for key in keys:
        if key[0] not in ("stage", "lane"):
            continue
        b, m, t = flat_b.get(key), flat_m.get(key), flat_t.get(key)
        if b is not None and (m is None) != (t is None):
            keeper, keeper_flat = ("theirs", flat_t) if m is None else ("mine", flat_m)
            if _parts(keeper_flat, key) == _parts(flat_b, key):
                continue                                  # deleted, nobody changed it
            chosen = choices.get("/".join(key), keeper)
            conflicts.append(MergeConflict(key, _label(key, maps) + " — deleted on one side, "
                                           "changed on the other", b, m, t, chosen))
            if chosen == keeper:
                merged[key] = keeper_flat[key]
                kept_whole[key] = keeper_flat
            continue
        value = decide(key)
        if value is not None:
            merged[key] = value

    # 2. What each lane holds.
    for key in [k for k in merged if k[0] == "lane"]:
        kind_key = ("lane_kind", key[1])
        if key in kept_whole:
            merged[kind_key] = kept_whole[key][kind_key]
            continue
        value = decide(kind_key)
        merged[kind_key] = value if value is not None else (flat_m.get(kind_key)
                                                            or flat_t.get(kind_key))

    # 3. Map-level text: name, dataset, scenario, persona.
    for key in keys:
        if key[0] in ("name", "dataset", "scenario", "persona"):
            value = decide(key)
            if value is not None:
                merged[key] = value

    # 3b. Notes, votes and workshop settings: each a field of its own, so that notes
    # added by different people at the same time are all kept.
    for key in keys:
        if key[0] in ("note", "vote", "workshop"):
            value = decide(key)
            if value is not None:
                merged[key] = value

    # 4. Cells of the stages and lanes that exist.
    for key in keys:
        if key[0] != "cell":
            continue
        lane_key, stage_key = ("lane", key[1]), ("stage", key[2])
        if lane_key not in merged or stage_key not in merged:
            continue
        donor = kept_whole.get(stage_key) or kept_whole.get(lane_key)
        if donor is not None:
            if key in donor:
                merged[key] = donor[key]
            continue
        value = decide(key)
        if value is not None:
            merged[key] = value

    stage_ids = {k[1] for k in merged if k[0] == "stage"}
    lane_ids = {k[1] for k in merged if k[0] == "lane"}
    stage_order, lane_order = _merge_orders(base, mine, theirs, choices, conflicts, maps)
    stage_order = _complete_order(stage_order, stage_ids, mine.stages, theirs.stages, base.stages)
    lane_order = _complete_order(lane_order, lane_ids, mine.lanes, theirs.lanes, base.lanes)

    stages = [Stage(sid, merged[("stage", sid)]) for sid in stage_order]
    lanes = []
    for lid in lane_order:
        kind, topic = merged[("lane_kind", lid)].split(":", 1)
        cells = {sid: merged[("cell", lid, sid)] for sid in stage_order
                 if ("cell", lid, sid) in merged}
        lanes.append(Lane(lid, merged[("lane", lid)], kind, topic, cells))
    order = {n.id: i for i, n in enumerate(theirs.notes)}
    order.update({n.id: len(order) + i for i, n in enumerate(mine.notes) if n.id not in order})
    notes = []
    for key in sorted((k for k in merged if k[0] == "note"), key=lambda k: order.get(k[1], 0)):
        raw = json.loads(merged[key])
        if raw["stage_id"] in stage_ids and raw["lane_id"] in lane_ids:
            notes.append(Note(**raw))
    note_ids = {n.id for n in notes}
    votes: dict[str, dict[str, int]] = {}
    for key in merged:
        if key[0] == "vote" and key[2] in note_ids and int(merged[key]) > 0:
            votes.setdefault(key[1], {})[key[2]] = int(merged[key])
    workshop = Workshop(**{name: json.loads(merged[("workshop", name)])
                           for name in vars(Workshop()) if ("workshop", name) in merged})
    result = JourneyMap(
        notes=notes, votes=votes, workshop=workshop,
        name=merged.get(("name",), mine.name), stages=stages, lanes=lanes,
        persona=Persona(merged.get(("persona", "name"), ""),
                        merged.get(("persona", "description"), ""),
                        merged.get(("persona", "goals"), "")),
        scenario=merged.get(("scenario",), ""),
        dataset=merged.get(("dataset",)) or None)
    return MergeResult(result, conflicts)


def _merge_orders(base, mine, theirs, choices, conflicts, maps) -> tuple[list[str], list[str]]:
    """Merged stage order and lane order; a reordering clash becomes one conflict each."""
    orders = []
    for what, pick in (("stages", lambda m: [s.id for s in m.stages]),
                       ("lanes", lambda m: [x.id for x in m.lanes])):
        order, clash = _merge_order(pick(base), pick(mine), pick(theirs))
        if clash:
            key = ("order", what)
            chosen = choices.get("/".join(key), "mine")
            names = {x.id: x.name for m in maps for x in (m.stages if what == "stages" else m.lanes)}
            conflicts.append(MergeConflict(key, _label(key, maps),
                                           " → ".join(names[i] for i in pick(base)),
                                           " → ".join(names[i] for i in pick(mine)),
                                           " → ".join(names[i] for i in pick(theirs)), chosen))
            if chosen == "theirs":
                order, _ = _merge_order(pick(base), pick(theirs), pick(mine))
        orders.append(order)
    return orders[0], orders[1]


def _complete_order(order: list[str], present: set[str], *sources) -> list[str]:
    """``order`` restricted to ``present``, plus any present id it lacks (a stage or lane
    kept although one side deleted it), placed after its predecessor in the first
    source that lists it."""
    out = [x for x in order if x in present]
    for source in sources:
        ids = [item.id for item in source]
        for index, item_id in enumerate(ids):
            if item_id in present and item_id not in out:
                _insert_after_predecessor(out, ids, index)
    return out


# ---------------------------------------------------------------------------------------
# History: what changed in each version, in plain words

@dataclass(frozen=True)
class Changes:
    """What one version changed against the one before it.

    ``summary``: one line ("Cells: 2 added, 1 changed · Persona"); ``details``: one
    sentence per change, stages first, then lanes, cells (added, changed, removed) and the
    map's own texts."""
    summary: str
    details: list[str]


@dataclass(frozen=True)
class VersionChanges:
    """One saved version and what it changed (:func:`version_history`)."""
    info: VersionInfo
    changes: Changes


#: Longest cell text quoted in a change (characters); longer texts end with "…".
QUOTE_CHARS = 60


def _quote(text: str | None) -> str:
    one_line = " / ".join(part.strip() for part in (text or "").splitlines() if part.strip())
    if len(one_line) > QUOTE_CHARS:
        one_line = one_line[:QUOTE_CHARS - 1].rstrip() + "…"
    return f"“{one_line}”"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _counted(title: str, counts: dict[str, int]) -> str | None:
    parts = [f"{n} {what}" for what, n in counts.items() if n]
    return f"{title}: {', '.join(parts)}" if parts else None


def describe_changes(old: JourneyMap | None, new: JourneyMap) -> Changes:
    """What ``new`` changed against ``old`` (None: ``new`` is a first version), in plain
    words: stages and lanes added, renamed, removed or reordered, cells added, changed or
    removed, and the map's name, linked dataset, persona and scenario."""
    if old is None:
        cells = sum(len(lane.cells) for lane in new.lanes)
        return Changes(f"First version: {_plural(len(new.stages), 'stage')}, "
                       f"{_plural(len(new.lanes), 'lane')}, {_plural(cells, 'cell')}", [])
    details: list[str] = []
    summary: list[str] = []

    def parts(what: str, old_items, new_items, cells_of) -> set:
        """Stages or lanes added, renamed, holding something else, removed, reordered;
        returns the ids both versions have."""
        before = {item.id: item for item in old_items}
        after = {item.id: item for item in new_items}
        found: dict[str, list[str]] = {"added": [], "renamed": [], "changed": [],
                                       "removed": []}
        for item in new_items:
            if item.id not in before:
                extra = cells_of(new, item.id)
                found["added"].append(f"Added {what} {_quote(item.name)}"
                                      + (f" (with {_plural(extra, 'cell')})" if extra else ""))
                continue
            if before[item.id].name != item.name:
                found["renamed"].append(f"Renamed {what} {_quote(before[item.id].name)} to "
                                        f"{_quote(item.name)}")
            if what == "lane" and (before[item.id].kind, before[item.id].topic) != (
                    item.kind, item.topic):
                found["changed"].append(f"Lane {_quote(item.name)} now holds "
                                        f"{LANE_TOPICS[item.kind][item.topic].lower()}")
        for item in old_items:
            if item.id not in after:
                gone = cells_of(old, item.id)
                found["removed"].append(f"Removed {what} {_quote(item.name)}"
                                        + (f" (with {_plural(gone, 'cell')})" if gone else ""))
        for lines in found.values():
            details.extend(lines)
        line = _counted(f"{what.capitalize()}s", {k: len(v) for k, v in found.items()})
        kept_before = [i.id for i in old_items if i.id in after]
        kept_after = [i.id for i in new_items if i.id in before]
        if kept_before != kept_after:
            details.append(f"Reordered the {what}s: "
                           + " → ".join(after[i].name for i in kept_after))
            line = (line + ", reordered") if line else f"{what.capitalize()}s: reordered"
        if line:
            summary.append(line)
        return set(before) & set(after)

    def stage_cells(m: JourneyMap, stage_id: str) -> int:
        return sum(1 for lane in m.lanes if stage_id in lane.cells)

    def lane_cells(m: JourneyMap, lane_id: str) -> int:
        return len(m.lane_by_id(lane_id).cells)

    stages_kept = parts("stage", old.stages, new.stages, stage_cells)
    lanes_kept = parts("lane", old.lanes, new.lanes, lane_cells)

    # Cells of the stages and lanes both versions have, in the new map's order.
    stage_names = {s.id: s.name for s in new.stages}
    added, changed, removed = [], [], []
    old_lanes = {lane.id: lane for lane in old.lanes}
    for lane in new.lanes:
        if lane.id not in lanes_kept:
            continue
        before = old_lanes[lane.id].cells
        for stage in new.stages:
            if stage.id not in stages_kept:
                continue
            a, b = before.get(stage.id), lane.cells.get(stage.id)
            where = f"{lane.name} × {stage_names[stage.id]}"
            if a is None and b is not None:
                added.append(f"Added {where}: {_quote(b)}")
            elif a is not None and b is None:
                removed.append(f"Removed {where} (was {_quote(a)})")
            elif a != b:
                changed.append(f"Changed {where}: {_quote(a)} → {_quote(b)}")
    details += added + changed + removed
    line = _counted("Cells", {"added": len(added), "changed": len(changed),
                              "removed": len(removed)})
    if line:
        summary.append(line)

    before_notes = {n.id: n for n in old.notes}
    after_notes = {n.id: n for n in new.notes}
    note_counts = {"added": 0, "changed": 0, "moved": 0, "removed": 0}
    for note in new.notes:
        was = before_notes.get(note.id)
        where = (f"{_lane_name(new, note.lane_id)} × {stage_names.get(note.stage_id, 'stage')}")
        if was is None:
            note_counts["added"] += 1
            details.append(f"Added a note to {where}: {_quote(note.text)}"
                           + (f" (by {note.author})" if note.author else ""))
        elif (was.lane_id, was.stage_id) != (note.lane_id, note.stage_id):
            note_counts["moved"] += 1
            details.append(f"Moved the note {_quote(note.text)} to {where}")
        elif was != note:
            note_counts["changed"] += 1
            details.append(f"Changed the note {_quote(was.text)} in {where}")
    for note in old.notes:
        if note.id not in after_notes:
            note_counts["removed"] += 1
            details.append(f"Removed the note {_quote(note.text)}")
    line = _counted("Notes", note_counts)
    if line:
        summary.append(line)
    if old.votes != new.votes:
        summary.append("Votes")
        details.append(f"Votes: {sum(sum(b.values()) for b in new.votes.values())} placed by "
                       f"{_plural(len(new.votes), 'person')}".replace("persons", "people"))
    if old.workshop != new.workshop:
        summary.append("Workshop settings")
        details.append("Changed the workshop settings (voting, lock or timer)")
    if old.name != new.name:
        summary.append("Name")
        details.append(f"Renamed the map: {_quote(old.name)} → {_quote(new.name)}")
    if (old.dataset or None) != (new.dataset or None):
        summary.append("Linked dataset")
        details.append(f"Linked dataset {_quote(new.dataset)}" if new.dataset
                       else f"Unlinked dataset {_quote(old.dataset)}")
    persona = [(what, getattr(old.persona, field_name), getattr(new.persona, field_name))
               for what, field_name in (("name", "name"), ("description", "description"),
                                        ("goals", "goals"))]
    persona = [p for p in persona if p[1] != p[2]]
    if persona:
        summary.append("Persona")
        details += [f"Changed the persona's {what}: {_quote(a)} → {_quote(b)}"
                    for what, a, b in persona]
    if old.scenario != new.scenario:
        summary.append("Scenario")
        details.append(f"Changed the scenario: {_quote(old.scenario)} → {_quote(new.scenario)}")
    return Changes(" · ".join(summary) if summary else "No change", details)


def _lane_name(jmap: JourneyMap, lane_id: str) -> str:
    try:
        return jmap.lane_by_id(lane_id).name
    except KeyError:
        return "lane"


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
    """Apply edit operations (:func:`cxdata.maps.journey_map.apply_op`) to the newest version
    and save the result as the next version, at once.

    Each operation is applied to whatever is stored *now*, not to what the sender last
    saw, so people editing different cells, adding notes or voting at the same moment
    never overwrite each other; a cell changed by two people keeps both texts (see
    ``apply_op``).  The load, the edits and the save happen under the save lock; should
    another process have saved in between, the operations are applied again on its
    version.  :class:`cxdata.maps.journey_map.EditRefused` (nothing written) when an operation
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
