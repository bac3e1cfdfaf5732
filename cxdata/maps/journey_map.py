"""Journey maps: the model, its edits (operations), emotion values and the JSON format.

Templates are in :mod:`cxdata.maps.templates`, CSV and Markdown in :mod:`cxdata.maps.exports`,
data-linked lanes in :mod:`cxdata.maps.data_lanes`, the table editor in
:mod:`cxdata.maps.editor_tables`.

SPEC §5.  A map has ordered **stages** (columns) and **lanes** (rows).  Every stage and
lane carries a short random ``id`` so that edits made by two people can be merged cell
by cell (see :mod:`cxdata.store.map_store`) even when one of them renames or reorders.

Lane kinds and their *topic* (what fills the lane):

=============  =========================================================================
kind           topic
=============  =========================================================================
text           goals, actions, thoughts, pain_points, opportunities, owners, backstage,
               notes (colour and emphasis on the canvas)
touchpoints    ``typed`` or ``data`` (the stage's top touchpoints from the linked dataset)
emotion        ``typed`` (−2…+2 typed in) or ``csat`` / ``nps`` / ``ces`` (derived)
metric         customers, conversion, nps, csat, ces, median_time, dropoff_touchpoint
=============  =========================================================================

Cells are plain text keyed by stage id; an empty cell is simply absent, so that two maps
with the same content compare equal.  Data-linked cells are *written into* the map when
the numbers are refreshed: the map then shows, exports and versions the numbers it was
presented with, and works without the dataset.
"""
from __future__ import annotations

import copy
import json
import math
import re
import secrets
from dataclasses import dataclass, field

from cxdata.errors import CxDataError

FORMAT_NAME = "cx-journey-map"
#: 2 added sticky notes, votes and the workshop settings. Version 1 files still read (they
#: have none); an older app refuses a version 2 file instead of dropping its notes.
FORMAT_VERSION = 2

LANE_KINDS: tuple[str, ...] = ("text", "touchpoints", "emotion", "metric")
TEXT_TOPICS: dict[str, str] = {
    "goals": "Customer goals", "actions": "Actions", "thoughts": "Thoughts",
    "pain_points": "Pain points", "opportunities": "Opportunities", "owners": "Owners",
    "backstage": "Backstage", "notes": "Notes",
}
EMOTION_TOPICS: dict[str, str] = {
    "typed": "Typed in (−2…+2)", "csat": "From CSAT (mean − 3)", "nps": "From NPS (NPS / 50)",
    "ces": "From CES ((mean − 4) · ⅔)",
}
TOUCHPOINT_TOPICS: dict[str, str] = {"typed": "Typed in", "data": "Top touchpoints from data"}
METRIC_TOPICS: dict[str, str] = {
    "customers": "Customers reaching the stage",
    "conversion": "Conversion from the previous stage",
    "nps": "NPS of the stage", "csat": "CSAT of the stage", "ces": "CES of the stage",
    "median_time": "Median time to the next stage",
    "dropoff_touchpoint": "Biggest drop-off: where drop-outs left",
}
LANE_TOPICS: dict[str, dict[str, str]] = {
    "text": TEXT_TOPICS, "touchpoints": TOUCHPOINT_TOPICS, "emotion": EMOTION_TOPICS,
    "metric": METRIC_TOPICS,
}
EMOTION_MIN, EMOTION_MAX = -2.0, 2.0


class MapFormatError(CxDataError):
    """A journey map file or value cannot be read; the message says what is wrong."""


def new_id(prefix: str) -> str:
    """A short random id (``s_1a2b3c4d``); random so that two people adding a stage at
    the same time never get the same id."""
    return f"{prefix}_{secrets.token_hex(4)}"


# ---------------------------------------------------------------------------------------
# Model

@dataclass
class Stage:
    id: str
    name: str


@dataclass
class Lane:
    """One row of the map; ``cells`` maps stage id -> text (empty cells absent)."""
    id: str
    name: str
    kind: str = "text"
    topic: str = "notes"
    cells: dict[str, str] = field(default_factory=dict)

    @property
    def data_linked(self) -> bool:
        """True when refreshing from the linked dataset rewrites this lane's cells."""
        return (self.kind == "metric" or (self.kind == "touchpoints" and self.topic == "data")
                or (self.kind == "emotion" and self.topic in ("csat", "nps", "ces")))


@dataclass
class Persona:
    name: str = ""
    description: str = ""
    goals: str = ""


#: Sticky-note colours (the canvas draws each with its own paper colour).
NOTE_COLOURS: tuple[str, ...] = ("yellow", "pink", "blue", "green", "orange", "purple")
#: What an opportunity can be: from an idea to done.
OPPORTUNITY_STATUSES: tuple[str, ...] = ("idea", "planned", "in progress", "done", "dropped")


@dataclass
class Note:
    """A sticky note in one cell (lane × stage); several per cell, in order.

    ``owner``, ``metric`` and ``status`` are what an opportunity carries (who acts, what
    number should move, how far it is); empty on other notes."""
    id: str
    lane_id: str
    stage_id: str
    text: str
    colour: str = "yellow"
    author: str = ""
    owner: str = ""
    metric: str = ""
    status: str = ""


@dataclass
class Workshop:
    """The room's settings: dot voting, the lock and the timer (all set by the facilitator).

    ``votes_per_person``: dots each participant may place; ``voting_open``: dots may be
    placed; ``votes_revealed``: totals are shown to everyone (hidden until then);
    ``locked``: participants can no longer add, change or vote; ``timer_ends_at``: Unix
    time (seconds, UTC) the timer reaches zero, None when no timer runs."""
    votes_per_person: int = 3
    voting_open: bool = False
    votes_revealed: bool = False
    locked: bool = False
    timer_ends_at: float | None = None
    timer_label: str = ""


@dataclass
class JourneyMap:
    """A journey map.  ``dataset`` is the linked dataset's name (or None).

    ``notes``: sticky notes (in display order); ``votes``: participant name -> {note id:
    dots}; ``workshop``: voting, lock and timer settings."""
    name: str
    stages: list[Stage] = field(default_factory=list)
    lanes: list[Lane] = field(default_factory=list)
    persona: Persona = field(default_factory=Persona)
    scenario: str = ""
    dataset: str | None = None
    notes: list[Note] = field(default_factory=list)
    votes: dict[str, dict[str, int]] = field(default_factory=dict)
    workshop: Workshop = field(default_factory=Workshop)

    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]

    def stage_by_id(self, stage_id: str) -> Stage:
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        raise KeyError(stage_id)

    def lane_by_id(self, lane_id: str) -> Lane:
        for lane in self.lanes:
            if lane.id == lane_id:
                return lane
        raise KeyError(lane_id)

    def cell(self, lane_id: str, stage_id: str) -> str:
        return self.lane_by_id(lane_id).cells.get(stage_id, "")

    def note_by_id(self, note_id: str) -> Note:
        for note in self.notes:
            if note.id == note_id:
                return note
        raise KeyError(note_id)

    def notes_in(self, lane_id: str, stage_id: str) -> list[Note]:
        """The notes of one cell, in order."""
        return [n for n in self.notes if n.lane_id == lane_id and n.stage_id == stage_id]


def _check_lane(kind: str, topic: str) -> None:
    if kind not in LANE_KINDS:
        raise MapFormatError(f"Unknown lane kind {kind!r}; use one of {', '.join(LANE_KINDS)}.")
    if topic not in LANE_TOPICS[kind]:
        raise MapFormatError(f"A {kind} lane cannot hold {topic!r}; use one of "
                             f"{', '.join(LANE_TOPICS[kind])}.")


def default_topic(kind: str, name: str = "") -> str:
    """The topic a new lane of ``kind`` gets; text lanes guess it from their name so that
    a lane typed as "Pain points" is drawn as one."""
    if kind == "text":
        lowered = name.lower()
        for topic, label in TEXT_TOPICS.items():
            words = (topic.replace("_", " "), label.lower(), topic.split("_")[0])
            if any(w and w in lowered for w in words):
                return topic
        if "opportunit" in lowered or "idea" in lowered:
            return "opportunities"
        if "pain" in lowered or "problem" in lowered or "friction" in lowered:
            return "pain_points"
        return "notes"
    return {"touchpoints": "typed", "emotion": "typed", "metric": "customers"}[kind]


# ---------------------------------------------------------------------------------------
# Edits (pure: each returns a new map, the argument is left unchanged)

def _copy(jmap: JourneyMap) -> JourneyMap:
    return copy.deepcopy(jmap)


def set_cell(jmap: JourneyMap, lane_id: str, stage_id: str, text: str | None) -> JourneyMap:
    """Set one cell; empty text clears it."""
    out = _copy(jmap)
    out.stage_by_id(stage_id)  # raises KeyError for an unknown stage
    cells = out.lane_by_id(lane_id).cells
    text = clean_text(text)
    if text:
        cells[stage_id] = text
    else:
        cells.pop(stage_id, None)
    return out


def add_stage(jmap: JourneyMap, name: str, position: int | None = None,
              stage_id: str | None = None) -> JourneyMap:
    """Insert a stage at ``position`` (0-based; default: at the end)."""
    out = _copy(jmap)
    stage = Stage(stage_id or new_id("s"), clean_text(name) or "New stage")
    out.stages.insert(len(out.stages) if position is None else position, stage)
    return out


def remove_stage(jmap: JourneyMap, stage_id: str) -> JourneyMap:
    """Remove a stage and its cells."""
    out = _copy(jmap)
    out.stage_by_id(stage_id)
    out.stages = [s for s in out.stages if s.id != stage_id]
    for lane in out.lanes:
        lane.cells.pop(stage_id, None)
    _drop_notes(out, [n.id for n in out.notes if n.stage_id == stage_id])
    return out


def rename_stage(jmap: JourneyMap, stage_id: str, name: str) -> JourneyMap:
    out = _copy(jmap)
    out.stage_by_id(stage_id).name = clean_text(name) or out.stage_by_id(stage_id).name
    return out


def _move(items: list, item, position: int) -> None:
    """Move ``item`` within ``items`` to ``position`` (0-based, clamped to the ends)."""
    items.remove(item)
    items.insert(max(0, min(position, len(items))), item)


def move_stage(jmap: JourneyMap, stage_id: str, position: int) -> JourneyMap:
    """Move a stage to ``position`` (0-based, clamped to the ends)."""
    out = _copy(jmap)
    _move(out.stages, out.stage_by_id(stage_id), position)
    return out


def add_lane(jmap: JourneyMap, name: str, kind: str = "text", topic: str | None = None,
             position: int | None = None, lane_id: str | None = None) -> JourneyMap:
    """Insert a lane at ``position`` (0-based; default: at the end)."""
    topic = topic or default_topic(kind, name)
    _check_lane(kind, topic)
    out = _copy(jmap)
    lane = Lane(lane_id or new_id("l"), clean_text(name) or "New lane", kind, topic, {})
    out.lanes.insert(len(out.lanes) if position is None else position, lane)
    return out


def remove_lane(jmap: JourneyMap, lane_id: str) -> JourneyMap:
    out = _copy(jmap)
    out.lane_by_id(lane_id)
    out.lanes = [lane for lane in out.lanes if lane.id != lane_id]
    _drop_notes(out, [n.id for n in out.notes if n.lane_id == lane_id])
    return out


def rename_lane(jmap: JourneyMap, lane_id: str, name: str) -> JourneyMap:
    out = _copy(jmap)
    lane = out.lane_by_id(lane_id)
    lane.name = clean_text(name) or lane.name
    return out


def change_lane(jmap: JourneyMap, lane_id: str, kind: str, topic: str) -> JourneyMap:
    """Change what a lane holds; its cells are kept."""
    _check_lane(kind, topic)
    out = _copy(jmap)
    lane = out.lane_by_id(lane_id)
    lane.kind, lane.topic = kind, topic
    return out


def move_lane(jmap: JourneyMap, lane_id: str, position: int) -> JourneyMap:
    out = _copy(jmap)
    _move(out.lanes, out.lane_by_id(lane_id), position)
    return out


def clean_text(text) -> str:
    """Cell text as stored: str, Windows line ends normalised, outer blanks removed."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    return str(text).replace("\r\n", "\n").replace("\r", "\n").strip()


# ---------------------------------------------------------------------------------------
# Sticky notes, dot voting, the lock and the timer (pure edits, like the ones above)

class EditRefused(CxDataError):
    """An edit that is not allowed now (map locked, no votes left …); the message says why."""


def _drop_notes(jmap: JourneyMap, note_ids) -> None:
    """Remove notes (in place) and every vote on them."""
    gone = set(note_ids)
    if not gone:
        return
    jmap.notes = [n for n in jmap.notes if n.id not in gone]
    for voter in list(jmap.votes):
        kept = {k: v for k, v in jmap.votes[voter].items() if k not in gone}
        if kept:
            jmap.votes[voter] = kept
        else:
            del jmap.votes[voter]


def _prune_notes(jmap: JourneyMap) -> None:
    """Drop (in place) notes whose stage or lane no longer exists."""
    stages, lanes = {s.id for s in jmap.stages}, {lane.id for lane in jmap.lanes}
    _drop_notes(jmap, [n.id for n in jmap.notes
                       if n.stage_id not in stages or n.lane_id not in lanes])


def _colour(colour: str | None) -> str:
    return colour if colour in NOTE_COLOURS else NOTE_COLOURS[0]


def _status(status: str | None) -> str:
    status = clean_text(status).lower()
    if status and status not in OPPORTUNITY_STATUSES:
        raise EditRefused(f"Unknown status {status!r}; use one of "
                          f"{', '.join(OPPORTUNITY_STATUSES)}.")
    return status


def add_note(jmap: JourneyMap, lane_id: str, stage_id: str, text: str, *,
             colour: str = "yellow", author: str | None = None, note_id: str | None = None,
             position: int | None = None, owner: str = "", metric: str = "",
             status: str = "") -> JourneyMap:
    """Add a sticky note to a cell (at ``position`` among all notes; default: last).
    Empty text is refused: a note says something."""
    text = clean_text(text)
    if not text:
        raise EditRefused("A note needs some text.")
    out = _copy(jmap)
    out.stage_by_id(stage_id)
    out.lane_by_id(lane_id)
    note_id = note_id or new_id("n")
    if any(n.id == note_id for n in out.notes):
        raise EditRefused("This note is already on the map.")
    note = Note(note_id, lane_id, stage_id, text, _colour(colour), clean_text(author),
                clean_text(owner), clean_text(metric), _status(status))
    out.notes.insert(len(out.notes) if position is None else position, note)
    return out


def edit_note(jmap: JourneyMap, note_id: str, **changes) -> JourneyMap:
    """Change a note's ``text``, ``colour``, ``owner``, ``metric`` or ``status``."""
    out = _copy(jmap)
    note = out.note_by_id(note_id)
    for name, value in changes.items():
        if name == "text":
            value = clean_text(value)
            if not value:
                raise EditRefused("A note needs some text; delete it instead.")
        elif name == "colour":
            value = _colour(value)
        elif name == "status":
            value = _status(value)
        elif name in ("owner", "metric"):
            value = clean_text(value)
        else:
            raise EditRefused(f"A note has no {name!r}.")
        setattr(note, name, value)
    return out


def move_note(jmap: JourneyMap, note_id: str, lane_id: str, stage_id: str,
              index: int | None = None) -> JourneyMap:
    """Move a note to another cell (``index``: its place among that cell's notes;
    default: last).  Its votes go with it."""
    out = _copy(jmap)
    out.stage_by_id(stage_id)
    out.lane_by_id(lane_id)
    note = out.note_by_id(note_id)
    out.notes.remove(note)
    note.lane_id, note.stage_id = lane_id, stage_id
    siblings = [i for i, n in enumerate(out.notes) if n.lane_id == lane_id and n.stage_id == stage_id]
    if index is None or index >= len(siblings):
        at = (siblings[-1] + 1) if siblings else len(out.notes)
    else:
        at = siblings[max(0, index)]
    out.notes.insert(at, note)
    return out


def remove_note(jmap: JourneyMap, note_id: str) -> JourneyMap:
    out = _copy(jmap)
    out.note_by_id(note_id)
    _drop_notes(out, [note_id])
    return out


def votes_used(jmap: JourneyMap, voter: str) -> int:
    """Dots a participant has placed."""
    return sum(jmap.votes.get(clean_text(voter), {}).values())


def votes_left(jmap: JourneyMap, voter: str) -> int:
    return max(0, jmap.workshop.votes_per_person - votes_used(jmap, voter))


def cast_vote(jmap: JourneyMap, voter: str, note_id: str) -> JourneyMap:
    """Place one of ``voter``'s dots on a note (several on one note are allowed).
    Refused while voting is closed, the map is locked, or the voter has no dot left."""
    voter = clean_text(voter)
    if not voter:
        raise EditRefused("Type your name before voting.")
    if jmap.workshop.locked:
        raise EditRefused("The facilitator has locked the map.")
    if not jmap.workshop.voting_open:
        raise EditRefused("Voting is not open.")
    jmap.note_by_id(note_id)
    if votes_left(jmap, voter) <= 0:
        raise EditRefused(f"You have used all {jmap.workshop.votes_per_person} of your votes.")
    out = _copy(jmap)
    mine = out.votes.setdefault(voter, {})
    mine[note_id] = mine.get(note_id, 0) + 1
    return out


def retract_vote(jmap: JourneyMap, voter: str, note_id: str) -> JourneyMap:
    """Take back one of ``voter``'s dots from a note (nothing happens when there is none)."""
    voter = clean_text(voter)
    if jmap.workshop.locked:
        raise EditRefused("The facilitator has locked the map.")
    if not jmap.workshop.voting_open:
        raise EditRefused("Voting is not open.")
    out = _copy(jmap)
    mine = out.votes.get(voter, {})
    if mine.get(note_id, 0) > 1:
        mine[note_id] -= 1
    else:
        mine.pop(note_id, None)
        if not mine:
            out.votes.pop(voter, None)
    return out


def vote_totals(jmap: JourneyMap) -> dict[str, int]:
    """Dots per note id (notes without dots absent)."""
    totals: dict[str, int] = {}
    for ballot in jmap.votes.values():
        for note_id, count in ballot.items():
            totals[note_id] = totals.get(note_id, 0) + count
    return totals


@dataclass(frozen=True)
class VoteResult:
    """One voted note: its rank (1 = most dots; ties share a rank), dots and voters."""
    rank: int
    note: Note
    votes: int
    voters: int


def vote_results(jmap: JourneyMap) -> list[VoteResult]:
    """Voted notes, most dots first (ties in map order), with competition ranks
    (1, 2, 2, 4)."""
    totals = vote_totals(jmap)
    order = {n.id: i for i, n in enumerate(jmap.notes)}
    voted = sorted((n for n in jmap.notes if totals.get(n.id)),
                   key=lambda n: (-totals[n.id], order[n.id]))
    results, rank = [], 0
    for index, note in enumerate(voted):
        if index == 0 or totals[note.id] != totals[voted[index - 1].id]:
            rank = index + 1
        voters = sum(1 for ballot in jmap.votes.values() if ballot.get(note.id))
        results.append(VoteResult(rank, note, totals[note.id], voters))
    return results


def set_workshop(jmap: JourneyMap, **settings) -> JourneyMap:
    """Change the workshop settings (see :class:`Workshop`)."""
    out = _copy(jmap)
    for name, value in settings.items():
        if name == "votes_per_person":
            value = int(value)
            if not 0 <= value <= 99:
                raise EditRefused("Votes per person must be between 0 and 99.")
        elif name in ("voting_open", "votes_revealed", "locked"):
            value = bool(value)
        elif name == "timer_ends_at":
            value = None if value is None else float(value)
        elif name == "timer_label":
            value = clean_text(value)
        else:
            raise EditRefused(f"The workshop has no setting {name!r}.")
        setattr(out.workshop, name, value)
    return out


# ---------------------------------------------------------------------------------------
# Operations: edits as plain data, as the canvas and the join page send them

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


# ---------------------------------------------------------------------------------------
# Emotion

_NUMBER = re.compile(r"^\s*([+\-\u2212]?\d+(?:[.,]\d+)?)")


def clip_emotion(value: float) -> float:
    """Clip to the emotion scale −2…+2."""
    return max(EMOTION_MIN, min(EMOTION_MAX, value))


def emotion_from_score(metric: str, value: float | None) -> float | None:
    """SPEC §5: emotion (−2…+2) from a stage's score.

    ``csat``: the CSAT *mean* (1–5) − 3; ``nps``: the NPS (−100…100) / 50; ``ces``: (the
    CES mean (1–7) − 4) · ⅔.  Clipped to −2…+2; None when there is no value.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if metric == "csat":
        raw = value - 3.0
    elif metric == "nps":
        raw = value / 50.0
    elif metric == "ces":
        raw = (value - 4.0) * 2.0 / 3.0
    else:
        raise ValueError(f"No emotion rule for {metric!r}; use csat, nps or ces.")
    return clip_emotion(raw)


def parse_emotion(text: str | None) -> float | None:
    """The emotion value at the start of a cell ("+1 relieved", "−1.5", "2"), clipped
    to −2…+2; None when the cell does not start with a number."""
    match = _NUMBER.match(clean_text(text))
    if not match:
        return None
    number = match.group(1).replace("\u2212", "-").replace(",", ".")
    return clip_emotion(float(number))


def emotion_label(text: str | None) -> str:
    """The words after an emotion cell's number ("+1 relieved" -> "relieved")."""
    cleaned = clean_text(text)
    match = _NUMBER.match(cleaned)
    return cleaned[match.end():].strip() if match else cleaned


def format_emotion(value: float) -> str:
    """"+1", "-0.5", "0": signed, at most one decimal, ASCII minus (re-parseable)."""
    value = round(clip_emotion(value), 1)
    if value == 0:
        return "0"
    text = f"{value:+.1f}"
    return text[:-2] if text.endswith(".0") else text


# ---------------------------------------------------------------------------------------
# JSON

def to_json_dict(jmap: JourneyMap) -> dict:
    """The map as plain JSON data (the format :func:`from_json_dict` reads back)."""
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "name": jmap.name,
        "dataset": jmap.dataset,
        "persona": {"name": jmap.persona.name, "description": jmap.persona.description,
                    "goals": jmap.persona.goals},
        "scenario": jmap.scenario,
        "stages": [{"id": s.id, "name": s.name} for s in jmap.stages],
        "lanes": [{"id": lane.id, "name": lane.name, "kind": lane.kind, "topic": lane.topic,
                   "cells": {s.id: lane.cells[s.id] for s in jmap.stages if s.id in lane.cells}}
                  for lane in jmap.lanes],
        "notes": [note_to_dict(n) for n in jmap.notes],
        "votes": {voter: dict(sorted(ballot.items())) for voter, ballot in sorted(jmap.votes.items())},
        "workshop": {"votes_per_person": jmap.workshop.votes_per_person,
                     "voting_open": jmap.workshop.voting_open,
                     "votes_revealed": jmap.workshop.votes_revealed,
                     "locked": jmap.workshop.locked,
                     "timer_ends_at": jmap.workshop.timer_ends_at,
                     "timer_label": jmap.workshop.timer_label},
    }


def to_json(jmap: JourneyMap) -> str:
    return json.dumps(to_json_dict(jmap), ensure_ascii=False, indent=2)


def from_json_dict(data) -> JourneyMap:
    """Read a map from JSON data; :class:`MapFormatError` with a plain sentence when the
    data is not a journey map."""
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise MapFormatError("This file is not a CX Journey Lab journey map "
                             f"(it has no \"format\": \"{FORMAT_NAME}\").")
    if int(data.get("format_version", 0)) > FORMAT_VERSION:
        raise MapFormatError("This journey map was written by a newer version of the app.")
    try:
        stages = [Stage(str(s["id"]), clean_text(s["name"])) for s in data.get("stages", [])]
        stage_ids = [s.id for s in stages]
        if len(set(stage_ids)) != len(stage_ids):
            raise MapFormatError("Two stages of this map have the same id.")
        lanes = []
        for raw in data.get("lanes", []):
            kind = str(raw.get("kind", "text"))
            topic = str(raw.get("topic") or default_topic(kind, str(raw.get("name", ""))))
            _check_lane(kind, topic)
            cells = {str(k): clean_text(v) for k, v in (raw.get("cells") or {}).items()}
            unknown = set(cells) - set(stage_ids)
            if unknown:
                raise MapFormatError(f"Lane {raw.get('name')!r} has cells for unknown stages.")
            lanes.append(Lane(str(raw["id"]), clean_text(raw["name"]), kind, topic,
                              {k: v for k, v in cells.items() if v}))
        lane_ids = [lane.id for lane in lanes]
        if len(set(lane_ids)) != len(lane_ids):
            raise MapFormatError("Two lanes of this map have the same id.")
        persona_raw = data.get("persona") or {}
        persona = Persona(clean_text(persona_raw.get("name")),
                          clean_text(persona_raw.get("description")),
                          clean_text(persona_raw.get("goals")))
        dataset = data.get("dataset")
        lane_set = set(lane_ids)
        notes = [_note_from_dict(n) for n in data.get("notes") or []]
        if any(n.stage_id not in stage_ids or n.lane_id not in lane_set for n in notes):
            raise MapFormatError("A note of this map is in a cell that does not exist.")
        note_ids = {n.id for n in notes}
        votes = {}
        for voter, ballot in (data.get("votes") or {}).items():
            kept = {str(k): int(v) for k, v in (ballot or {}).items()
                    if str(k) in note_ids and int(v) > 0}
            if kept and clean_text(voter):
                votes[clean_text(voter)] = kept
        raw_ws = data.get("workshop") or {}
        ends = raw_ws.get("timer_ends_at")
        workshop = Workshop(int(raw_ws.get("votes_per_person", 3)),
                            bool(raw_ws.get("voting_open", False)),
                            bool(raw_ws.get("votes_revealed", False)),
                            bool(raw_ws.get("locked", False)),
                            None if ends is None else float(ends),
                            clean_text(raw_ws.get("timer_label")))
        return JourneyMap(name=clean_text(data.get("name")) or "Untitled map", stages=stages,
                          lanes=lanes, persona=persona, scenario=clean_text(data.get("scenario")),
                          dataset=str(dataset) if dataset else None, notes=notes, votes=votes,
                          workshop=workshop)
    except (KeyError, TypeError, AttributeError) as exc:
        raise MapFormatError(f"The journey map is incomplete or malformed ({exc!s}).") from None


def from_json(text: str | bytes) -> JourneyMap:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MapFormatError(f"The file is not valid JSON ({exc.msg}, line {exc.lineno}).") from None
    except UnicodeDecodeError:
        raise MapFormatError("The file is not UTF-8 text, so it cannot be a journey map.") from None
    return from_json_dict(data)
