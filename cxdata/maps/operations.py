"""Edits as plain data: the small dicts the canvas and the join page send, applied to a map
by :func:`apply_op`, so that a live edit can be replayed on the newest stored version."""
from __future__ import annotations

from cxdata.maps.journey_map import (JourneyMap, Note, _copy, add_lane, add_stage, clean_text,
                                     move_lane, move_stage, remove_lane, remove_stage, rename_lane,
                                     rename_stage, set_cell)
from cxdata.maps.workshop import (EditRefused, _colour, add_note, cast_vote, edit_note, move_note,
                                  remove_note, retract_vote, set_workshop)


#: Operations a participant (the join page) may send; everything else is the facilitator's.
PARTICIPANT_OPS = frozenset({"add_note", "edit_note", "remove_note", "vote", "unvote"})


def _note_from_dict(raw: dict) -> Note:
    return Note(str(raw["id"]), str(raw["lane_id"]), str(raw["stage_id"]),
                clean_text(raw.get("text")), _colour(raw.get("colour")),
                clean_text(raw.get("author")), clean_text(raw.get("owner")),
                clean_text(raw.get("metric")), clean_text(raw.get("status")).lower())


def note_to_dict(note: Note) -> dict:
    return {"id": note.id, "lane_id": note.lane_id, "stage_id": note.stage_id,
            "text": note.text, "colour": note.colour, "author": note.author,
            "owner": note.owner, "metric": note.metric, "status": note.status}


def apply_op(jmap: JourneyMap, op: dict, *, author: str | None = None,
             role: str = "facilitator") -> tuple[JourneyMap, str | None]:
    """Apply one operation (a dict with ``op`` and its fields) to the *latest* map.

    Returns (map, message): the message (None when all went as asked) tells the sender
    what happened instead, e.g. a cell someone else had changed meanwhile: ``set_cell``
    carries the text the sender saw (``base``); when the cell no longer holds it, the
    stored text stays and the sender's text becomes a sticky note in that cell, so
    neither is lost (a ``draft``, saved while the sender is still typing, is skipped
    instead).  Operations on stages, lanes or notes deleted meanwhile are skipped
    with a message.  :class:`EditRefused` when the sender may not do this.
    """
    kind = op.get("op")
    name = clean_text(author)
    if role != "facilitator":
        if kind not in PARTICIPANT_OPS:
            raise EditRefused("Only the facilitator can change the map itself.")
        if jmap.workshop.locked:
            raise EditRefused("The facilitator has locked the map.")
        if kind in ("edit_note", "remove_note"):
            try:
                owner = jmap.note_by_id(str(op.get("note"))).author
            except KeyError:
                return jmap, "That note has been removed."
            if owner != name:
                raise EditRefused("You can change only your own notes.")
    try:
        if kind == "set_cell":
            lane_id, stage_id = str(op["lane"]), str(op["stage"])
            current = jmap.cell(lane_id, stage_id)
            text = clean_text(op.get("text"))
            base = op.get("base")
            if base is not None and clean_text(base) != current and text != current:
                if op.get("draft"):
                    # Saved while typing: wait for the finished text, which is kept as
                    # a note then; half-typed drafts are not worth a note each.
                    return jmap, None
                if not text:
                    return jmap, "Someone changed this cell meanwhile; it was not cleared."
                kept = add_note(jmap, lane_id, stage_id, text, colour="orange", author=name)
                return kept, ("Someone changed this cell meanwhile: their text stays, yours "
                              "is kept as a note in the cell.")
            return set_cell(jmap, lane_id, stage_id, text), None
        if kind == "add_stage":
            return add_stage(jmap, op.get("name", ""), op.get("position"), op.get("id")), None
        if kind == "rename_stage":
            return rename_stage(jmap, str(op["stage"]), op.get("name", "")), None
        if kind == "move_stage":
            return move_stage(jmap, str(op["stage"]), int(op["position"])), None
        if kind == "remove_stage":
            return remove_stage(jmap, str(op["stage"])), None
        if kind == "restore_stage":
            return _restore_stage(jmap, op), None
        if kind == "add_lane":
            kind_ = op.get("kind", "text")
            return add_lane(jmap, op.get("name", ""), kind_, op.get("topic"), op.get("position"),
                            op.get("id")), None
        if kind == "rename_lane":
            return rename_lane(jmap, str(op["lane"]), op.get("name", "")), None
        if kind == "move_lane":
            return move_lane(jmap, str(op["lane"]), int(op["position"])), None
        if kind == "remove_lane":
            return remove_lane(jmap, str(op["lane"])), None
        if kind == "restore_lane":
            return _restore_lane(jmap, op), None
        if kind == "add_note":
            return add_note(jmap, str(op["lane"]), str(op["stage"]), op.get("text", ""),
                            colour=op.get("colour", "yellow"), author=op.get("author") or name,
                            note_id=op.get("id"), position=op.get("position"),
                            owner=op.get("owner", ""), metric=op.get("metric", ""),
                            status=op.get("status", "")), None
        if kind == "edit_note":
            fields = {k: op[k] for k in ("text", "colour", "owner", "metric", "status") if k in op}
            return edit_note(jmap, str(op["note"]), **fields), None
        if kind == "move_note":
            return move_note(jmap, str(op["note"]), str(op["lane"]), str(op["stage"]),
                             op.get("index")), None
        if kind == "remove_note":
            return remove_note(jmap, str(op["note"])), None
        if kind == "vote":
            return cast_vote(jmap, name, str(op["note"])), None
        if kind == "unvote":
            return retract_vote(jmap, name, str(op["note"])), None
        if kind == "workshop":
            return set_workshop(jmap, **dict(op.get("settings") or {})), None
        if kind == "map_text":
            return _set_map_text(jmap, op), None
    except KeyError:
        return jmap, "That part of the map was removed by someone else meanwhile."
    raise EditRefused(f"Unknown edit {kind!r}.")


def _restore_stage(jmap: JourneyMap, op: dict) -> JourneyMap:
    """Put back a removed stage with its cells and notes (undo of ``remove_stage``)."""
    stage = op["stage"]
    if any(s.id == stage["id"] for s in jmap.stages):
        return jmap
    out = add_stage(jmap, stage["name"], op.get("position"), stage["id"])
    for lane in out.lanes:
        text = (op.get("cells") or {}).get(lane.id)
        if text:
            lane.cells[stage["id"]] = clean_text(text)
    lanes = {lane.id for lane in out.lanes}
    out.notes += [_note_from_dict(n) for n in op.get("notes") or [] if n["lane_id"] in lanes]
    return out


def _restore_lane(jmap: JourneyMap, op: dict) -> JourneyMap:
    """Put back a removed lane with its cells and notes (undo of ``remove_lane``)."""
    raw = op["lane"]
    if any(lane.id == raw["id"] for lane in jmap.lanes):
        return jmap
    out = add_lane(jmap, raw["name"], raw.get("kind", "text"), raw.get("topic"),
                   op.get("position"), raw["id"])
    stages = {s.id for s in out.stages}
    out.lane_by_id(raw["id"]).cells = {k: clean_text(v) for k, v in (raw.get("cells") or {}).items()
                                       if k in stages and clean_text(v)}
    out.notes += [_note_from_dict(n) for n in op.get("notes") or [] if n["stage_id"] in stages]
    return out


def _set_map_text(jmap: JourneyMap, op: dict) -> JourneyMap:
    out = _copy(jmap)
    what, text = op.get("field"), clean_text(op.get("text"))
    if what == "name":
        out.name = text or out.name
    elif what == "scenario":
        out.scenario = text
    elif what in ("persona_name", "persona_description", "persona_goals"):
        setattr(out.persona, what.split("_", 1)[1], text)
    else:
        raise EditRefused(f"The map has no text {what!r}.")
    return out
