"""The map as editable tables (cells, stages, lanes) for the page's table editor, and
back: every change goes through the model's own edits."""
from __future__ import annotations

import math

from cxdata.maps.journey_map import (LANE_KINDS, LANE_TOPICS, JourneyMap, Lane, Stage, _copy, _prune_notes,
                                     clean_text, default_topic, new_id)


#: Every (kind, topic) a lane can hold, with the label an editor shows.
LANE_CHOICES: tuple[tuple[str, str, str], ...] = tuple(
    (kind, topic, f"{kind.capitalize()} · {label}")
    for kind in LANE_KINDS for topic, label in LANE_TOPICS[kind].items())
_CHOICE_BY_LABEL = {label: (kind, topic) for kind, topic, label in LANE_CHOICES}
_LABEL_BY_CHOICE = {(kind, topic): label for kind, topic, label in LANE_CHOICES}


def lane_choice_label(lane: Lane) -> str:
    return _LABEL_BY_CHOICE[(lane.kind, lane.topic)]


def _is_blank(value) -> bool:
    return clean_text(value) == ""


def to_grid(jmap: JourneyMap):
    """The cells as a DataFrame: one row per lane (index = lane id), a ``Lane`` column
    with the lane's name, then one column per stage (named by stage id)."""
    import pandas as pd
    rows = [[lane.name] + [lane.cells.get(s.id, "") for s in jmap.stages] for lane in jmap.lanes]
    frame = pd.DataFrame(rows, columns=["Lane"] + [s.id for s in jmap.stages],
                         index=[lane.id for lane in jmap.lanes], dtype=object)
    frame.index.name = "lane_id"
    return frame


def apply_grid(jmap: JourneyMap, grid) -> JourneyMap:
    """The map with the grid's cell texts (lanes and stages matched by id; the ``Lane``
    column and unknown rows/columns are ignored)."""
    out = _copy(jmap)
    stage_ids = [s.id for s in out.stages]
    for lane in out.lanes:
        if lane.id not in grid.index:
            continue
        for stage_id in stage_ids:
            if stage_id not in grid.columns:
                continue
            text = clean_text(grid.at[lane.id, stage_id])
            if text:
                lane.cells[stage_id] = text
            else:
                lane.cells.pop(stage_id, None)
    return out


def stages_table(jmap: JourneyMap):
    """Stages for a structure editor: ``id``, ``Position`` (1-based), ``Stage``."""
    import pandas as pd
    return pd.DataFrame({"id": [s.id for s in jmap.stages],
                         "Position": list(range(1, len(jmap.stages) + 1)),
                         "Stage": [s.name for s in jmap.stages]})


def _ordered_rows(table) -> list[tuple[int, object]]:
    """Rows sorted by Position (blank positions last), ties kept in table order."""
    rows = list(table.reset_index(drop=True).iterrows())

    def sort_key(item):
        index, row = item
        position = row.get("Position")
        try:
            position = float(position)
            if math.isnan(position):
                raise ValueError
        except (TypeError, ValueError):
            position = float("inf")
        return (position, index)

    return sorted(rows, key=sort_key)


def apply_stages_table(jmap: JourneyMap, table) -> JourneyMap:
    """The map with the stages of an edited stages table: renamed, added (rows without
    an id), removed (ids no longer listed, with their cells) and reordered by Position.
    Rows without a name are ignored."""
    out = _copy(jmap)
    known = {s.id: s for s in out.stages}
    stages: list[Stage] = []
    for _, row in _ordered_rows(table):
        name = clean_text(row.get("Stage"))
        stage_id = row.get("id")
        stage_id = None if _is_blank(stage_id) else str(stage_id)
        if stage_id in known:
            stage = known[stage_id]
            stage.name = name or stage.name
        elif name:
            stage = Stage(new_id("s"), name)
        else:
            continue
        if stage.id not in {s.id for s in stages}:
            stages.append(stage)
    kept = {s.id for s in stages}
    out.stages = stages
    for lane in out.lanes:
        lane.cells = {k: v for k, v in lane.cells.items() if k in kept}
    _prune_notes(out)
    return out


def lanes_table(jmap: JourneyMap):
    """Lanes for a structure editor: ``id``, ``Position``, ``Lane``, ``Holds`` (a label
    of :data:`LANE_CHOICES`)."""
    import pandas as pd
    return pd.DataFrame({"id": [lane.id for lane in jmap.lanes],
                         "Position": list(range(1, len(jmap.lanes) + 1)),
                         "Lane": [lane.name for lane in jmap.lanes],
                         "Holds": [lane_choice_label(lane) for lane in jmap.lanes]})


def apply_lanes_table(jmap: JourneyMap, table) -> JourneyMap:
    """The map with the lanes of an edited lanes table (as :func:`apply_stages_table`);
    a new lane without a "Holds" choice gets one guessed from its name."""
    out = _copy(jmap)
    known = {lane.id: lane for lane in out.lanes}
    lanes: list[Lane] = []
    for _, row in _ordered_rows(table):
        name = clean_text(row.get("Lane"))
        lane_id = row.get("id")
        lane_id = None if _is_blank(lane_id) else str(lane_id)
        holds = clean_text(row.get("Holds"))
        if lane_id in known:
            lane = known[lane_id]
            lane.name = name or lane.name
        elif name:
            lowered = name.lower()
            kind = ("emotion" if "emotion" in lowered or "feeling" in lowered
                    else "touchpoints" if "touchpoint" in lowered else "text")
            lane = Lane(new_id("l"), name, kind, default_topic(kind, name))
        else:
            continue
        if holds in _CHOICE_BY_LABEL:
            lane.kind, lane.topic = _CHOICE_BY_LABEL[holds]
        if lane.id not in {x.id for x in lanes}:
            lanes.append(lane)
    out.lanes = lanes
    _prune_notes(out)
    return out
