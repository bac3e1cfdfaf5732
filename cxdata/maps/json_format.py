"""The journey map's JSON file format (cx-journey-map): what exports and re-imports a map
without loss."""
from __future__ import annotations

import json

from cxdata.maps.journey_map import (FORMAT_NAME, FORMAT_VERSION, JourneyMap, Lane, MapFormatError,
                                     Persona, Stage, Workshop, _check_lane, clean_text,
                                     default_topic)
from cxdata.maps.operations import _note_from_dict, note_to_dict


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
