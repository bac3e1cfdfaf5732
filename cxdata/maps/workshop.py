"""The workshop on a map: sticky notes, dot voting, the lock and the timer (pure edits: each
returns a new map and leaves its argument unchanged)."""
from __future__ import annotations

from dataclasses import dataclass

from cxdata.errors import CxDataError
from cxdata.maps.journey_map import (JourneyMap, Note, NOTE_COLOURS, OPPORTUNITY_STATUSES, _copy,
                                     _drop_notes, clean_text, new_id)


class EditRefused(CxDataError):
    """An edit that is not allowed now (map locked, no votes left …); the message says why."""


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
