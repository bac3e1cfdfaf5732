"""Three-way merge of journey maps: the base an editor started from, their map and the newer
stored one, combined field by field; the fields both changed differently are listed as
conflicts for the merge panel."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from cxdata.maps.journey_map import JourneyMap, Lane, Note, Persona, Stage, Workshop
from cxdata.maps.operations import note_to_dict


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
