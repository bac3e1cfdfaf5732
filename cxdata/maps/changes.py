"""What changed between two versions of a journey map, in plain words (the history view)."""
from __future__ import annotations

from dataclasses import dataclass

from cxdata.maps.journey_map import LANE_TOPICS, JourneyMap


@dataclass(frozen=True)
class Changes:
    """What one version changed against the one before it.

    ``summary``: one line ("Cells: 2 added, 1 changed · Persona"); ``details``: one
    sentence per change, stages first, then lanes, cells (added, changed, removed) and the
    map's own texts."""
    summary: str
    details: list[str]


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
