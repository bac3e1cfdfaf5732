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
import math
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


def _prune_notes(jmap: JourneyMap) -> None:
    """Drop (in place) notes whose stage or lane no longer exists."""
    stages, lanes = {s.id for s in jmap.stages}, {lane.id for lane in jmap.lanes}
    _drop_notes(jmap, [n.id for n in jmap.notes
                       if n.stage_id not in stages or n.lane_id not in lanes])


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
