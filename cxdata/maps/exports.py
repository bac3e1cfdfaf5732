"""A journey map as CSV and Markdown, for people (JSON, in :mod:`cxdata.maps.journey_map`, is
the format that re-imports).  Sticky notes are exported beside the cell text."""
from __future__ import annotations

import csv
import io
import re

from cxdata.maps.journey_map import LANE_TOPICS, JourneyMap, Note
from cxdata.maps.workshop import vote_totals


_PLAIN_NUMBER = re.compile(r"^[+\-]?\d+(\.\d+)?$")


def spreadsheet_safe(text: str) -> str:
    """A cell made safe for spreadsheets with the team's rule
    (:func:`cxdata.presentation.export.neutralise_text`: text starting with = + - @ tab or CR gets a
    leading apostrophe).  Plain signed numbers such as an emotion "-0.5" are left alone:
    a spreadsheet reads them as numbers, never as formulas."""
    if _PLAIN_NUMBER.match(text):
        return text
    from cxdata.presentation.export import neutralise_text  # heavy module (vl-convert): load on use
    return neutralise_text(text)


def note_line(jmap: JourneyMap, note: Note) -> str:
    """A sticky note as one line of text: "• text — author · owner: … · 3 votes".

    Votes are shown only once the facilitator has revealed them (they stay hidden in the
    room until then, so an export made during voting must not tell either)."""
    parts = [note.text + (f" — {note.author}" if note.author else "")]
    parts += [f"{label}: {value}" for label, value in
              (("owner", note.owner), ("metric", note.metric), ("status", note.status)) if value]
    if jmap.workshop.votes_revealed:
        votes = vote_totals(jmap).get(note.id, 0)
        if votes:
            parts.append(f"{votes} vote" + ("" if votes == 1 else "s"))
    return "• " + " · ".join(parts)


def cell_with_notes(jmap: JourneyMap, lane_id: str, stage_id: str, text: str) -> str:
    """A cell's text followed by its sticky notes, one per line (the notes are part of
    what the room produced, so every people-facing export carries them)."""
    lines = [text] if text else []
    lines += [note_line(jmap, n) for n in jmap.notes_in(lane_id, stage_id)]
    return "\n".join(lines)


def to_csv(jmap: JourneyMap) -> str:
    """One row per lane: lane name, what it holds, then one column per stage (the cell's
    text, then its sticky notes, one per line)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["Lane", "Holds"] + [spreadsheet_safe(s.name) for s in jmap.stages])
    for lane in jmap.lanes:
        writer.writerow([spreadsheet_safe(lane.name), LANE_TOPICS[lane.kind][lane.topic]]
                        + [spreadsheet_safe(cell_with_notes(jmap, lane.id, s.id, lane.cells.get(s.id, "")))
                           for s in jmap.stages])
    return buffer.getvalue()


def _md_cell(text: str) -> str:
    """Markdown table cell: HTML-escaped (renderers pass raw HTML through), pipes
    escaped, line breaks as <br>."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = escaped.replace("|", "\\|").replace("\n", "<br>")
    return escaped


def to_markdown(jmap: JourneyMap) -> str:
    """The map as a Markdown document: title, persona, scenario, one table.  Every typed
    text shows literally: HTML, pipes and line breaks as :func:`_md_cell` handles them, and
    the characters that make links and images (``\\ [ ] ( ) !``) backslash-escaped, so
    ``![i](http://host/p.png)`` in a cell is text, not an image a viewer would fetch."""
    link_chars = re.compile(r"([\\\[\]()!])")

    def cell(text: str) -> str:
        return _md_cell(link_chars.sub(r"\\\1", str(text)))

    lines = [f"# {cell(jmap.name)}", ""]
    if jmap.dataset:
        lines += [f"Linked dataset: {cell(jmap.dataset)}", ""]
    persona = jmap.persona
    if persona.name or persona.description or persona.goals:
        lines += [f"**Persona:** {cell(persona.name)}"]
        if persona.description:
            lines += ["", cell(persona.description)]
        if persona.goals:
            lines += ["", f"**Goals:** {cell(persona.goals)}"]
        lines += [""]
    if jmap.scenario:
        lines += [f"**Scenario:** {cell(jmap.scenario)}", ""]
    if jmap.stages:
        lines.append("| Lane | " + " | ".join(cell(s.name) for s in jmap.stages) + " |")
        lines.append("|---|" + "---|" * len(jmap.stages))
        for lane in jmap.lanes:
            row = [cell(cell_with_notes(jmap, lane.id, s.id, lane.cells.get(s.id, "")))
                   for s in jmap.stages]
            lines.append(f"| **{cell(lane.name)}** | " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)
