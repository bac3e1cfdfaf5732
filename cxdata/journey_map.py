"""Journey maps: the model, templates, exports to JSON / CSV / Markdown, and data-linked lanes.

SPEC §5.  A map has ordered **stages** (columns) and **lanes** (rows).  Every stage and
lane carries a short random ``id`` so that edits made by two people can be merged cell
by cell (see :mod:`cxdata.map_store`) even when one of them renames or reorders.

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
import csv
import io
import json
import math
import re
import secrets
from dataclasses import dataclass, field

from cxdata.engines import as_engine
from cxdata.errors import CxDataError
from cxdata.formatting import format_duration
from cxdata.sql import filtered_events, quote_ident

FORMAT_NAME = "cx-journey-map"
FORMAT_VERSION = 1

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
#: Touchpoints listed per stage in a data-linked touchpoints lane.
TOP_TOUCHPOINTS = 3


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


@dataclass
class JourneyMap:
    """A journey map.  ``dataset`` is the linked dataset's name (or None)."""
    name: str
    stages: list[Stage] = field(default_factory=list)
    lanes: list[Lane] = field(default_factory=list)
    persona: Persona = field(default_factory=Persona)
    scenario: str = ""
    dataset: str | None = None

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
        return JourneyMap(name=clean_text(data.get("name")) or "Untitled map", stages=stages,
                          lanes=lanes, persona=persona, scenario=clean_text(data.get("scenario")),
                          dataset=str(dataset) if dataset else None)
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


# ---------------------------------------------------------------------------------------
# CSV and Markdown (for people; JSON is the format that re-imports)

_PLAIN_NUMBER = re.compile(r"^[+\-]?\d+(\.\d+)?$")


def spreadsheet_safe(text: str) -> str:
    """A cell made safe for spreadsheets with the team's rule
    (:func:`cxdata.export.neutralise_text`: text starting with = + - @ tab or CR gets a
    leading apostrophe).  Plain signed numbers such as an emotion "-0.5" are left alone:
    a spreadsheet reads them as numbers, never as formulas."""
    if _PLAIN_NUMBER.match(text):
        return text
    from cxdata.export import neutralise_text  # heavy module (vl-convert): load on use
    return neutralise_text(text)


def to_csv(jmap: JourneyMap) -> str:
    """One row per lane: lane name, what it holds, then one column per stage."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["Lane", "Holds"] + [spreadsheet_safe(s.name) for s in jmap.stages])
    for lane in jmap.lanes:
        writer.writerow([spreadsheet_safe(lane.name), LANE_TOPICS[lane.kind][lane.topic]]
                        + [spreadsheet_safe(lane.cells.get(s.id, "")) for s in jmap.stages])
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
            row = [cell(lane.cells.get(s.id, "")) for s in jmap.stages]
            lines.append(f"| **{cell(lane.name)}** | " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Templates

@dataclass(frozen=True)
class Template:
    key: str
    title: str
    description: str
    stages: tuple[str, ...]
    persona: Persona
    scenario: str
    #: (lane name, kind, topic, one cell text per stage)
    lanes: tuple[tuple[str, str, str, tuple[str, ...]], ...]


def _lanes(goals, actions, touchpoints, emotion, pains, opportunities):
    return (("Customer goals", "text", "goals", goals),
            ("Actions", "text", "actions", actions),
            ("Touchpoints", "touchpoints", "typed", touchpoints),
            ("Emotion", "emotion", "typed", emotion),
            ("Pain points", "text", "pain_points", pains),
            ("Opportunities", "text", "opportunities", opportunities))


TEMPLATES: dict[str, Template] = {t.key: t for t in (
    Template(
        "retail", "Retail / e-commerce", "From first hearing of the shop to recommending it.",
        ("Aware", "Consideration", "Purchase", "Delivery", "Retention", "Advocacy"),
        Persona("Maya, busy parent", "Shops on her phone in short breaks; compares prices.",
                "Get the right thing quickly, no surprises at delivery."),
        "Maya needs a new school backpack for her son before Monday.",
        _lanes(
            ("Find options that fit", "Compare price and quality", "Pay quickly and safely",
             "Get it on time", "Reorder easily", "Tell friends about a good find"),
            ("Sees an ad, searches", "Reads reviews, compares", "Adds to basket, checks out",
             "Tracks the parcel", "Returns for refills", "Writes a review"),
            ("Social ads\nSearch", "Product page\nReviews", "Checkout\nPayment page",
             "Tracking e-mail\nCourier", "App\nNewsletter", "Review site\nReferral link"),
            ("+1 curious", "0 unsure", "-1 anxious about fees", "-2 parcel late",
             "+1 easy reorder", "+2 proud of the find"),
            ("Too many similar products", "Reviews hard to trust", "Delivery fee shown late",
             "No update when delayed", "", ""),
            ("Guided size finder", "Verified-buyer badges", "Show total price up front",
             "Proactive delay message", "One-tap reorder", "Referral reward")),
    ),
    Template(
        "saas_onboarding", "SaaS onboarding", "From sign-up to a team that renews.",
        ("Sign up", "First login", "Setup", "First value", "Team adoption", "Renewal"),
        Persona("Sam, team lead", "Evaluates tools for a team of eight; little spare time.",
                "Prove the tool saves time within the trial."),
        "Sam starts a 14-day trial to replace spreadsheets for project tracking.",
        _lanes(
            ("Start the trial fast", "Understand the product", "Import existing work",
             "See a real result", "Get the team on board", "Justify the cost"),
            ("Fills in the form", "Takes the tour", "Imports a spreadsheet",
             "Builds a first dashboard", "Invites colleagues", "Reviews the invoice"),
            ("Pricing page\nSign-up form", "Welcome e-mail\nProduct tour", "Import wizard",
             "Dashboard", "Invite e-mail\nSlack app", "Billing page\nAccount manager"),
            ("+1 hopeful", "0", "-2 import fails", "+2 aha moment", "-1 colleagues slow",
             "+1 worth it"),
            ("Credit card asked up front", "Tour too long", "Import errors unclear", "",
             "No admin overview", "Surprise price increase"),
            ("No-card trial", "Skippable tour", "Import preview with fixes",
             "Template dashboards", "Team usage report", "Renewal summary of value")),
    ),
    Template(
        "bank_account", "Bank account opening", "From research to everyday banking.",
        ("Research", "Apply online", "Verify identity", "Fund account", "First use",
         "Ongoing banking"),
        Persona("Leo, new to the country", "Needs an account to receive his salary.",
                "Open an account quickly with the documents he has."),
        "Leo starts a new job next week and must give his employer an account number.",
        _lanes(
            ("Pick a trustworthy bank", "Apply in one sitting", "Prove who he is",
             "Move money in", "Pay with the card", "Manage money easily"),
            ("Compares fees", "Fills in the application", "Uploads documents, video call",
             "Makes first transfer", "Pays in a shop", "Uses the app weekly"),
            ("Comparison site\nBank website", "Application form", "ID upload\nVideo call",
             "Online banking", "Card\nMobile wallet", "Mobile app\nBranch"),
            ("0", "-1 long form", "-2 documents rejected", "+1", "+2 card works", "+1"),
            ("Fees hard to compare", "Form times out", "Foreign ID not accepted",
             "Transfer limit unclear", "Card arrives late", ""),
            ("Clear fee calculator", "Save and resume", "Accept more ID types",
             "Show limits up front", "Instant virtual card", "Spending insights")),
    ),
    Template(
        "support_ticket", "Support ticket", "From noticing a problem to a confirmed fix.",
        ("Problem noticed", "Seek help", "Contact support", "Diagnosis", "Resolution",
         "Follow-up"),
        Persona("Priya, small-business owner", "Relies on the product to take orders.",
                "Get the problem fixed before customers notice."),
        "Priya's online orders stopped syncing on a busy Friday.",
        _lanes(
            ("Understand what broke", "Fix it herself", "Reach a person", "Be understood",
             "Have it fixed", "Trust it won't recur"),
            ("Notices missing orders", "Searches the help centre", "Opens a chat, then a ticket",
             "Answers questions, sends logs", "Applies the fix", "Reads the follow-up"),
            ("Dashboard alert", "Help centre\nCommunity forum", "Chat bot\nTicket form",
             "E-mail thread", "Support agent\nRelease notes", "Survey e-mail"),
            ("-1 worried", "-1", "-2 stuck with bot", "-1 repeats herself", "+1 relieved",
             "+1"),
            ("No status page", "Articles out of date", "Bot loops, no human option",
             "Asked for the same details twice", "", "Survey too long"),
            ("Live status page", "Article feedback button", "Hand-off to a human in 2 steps",
             "Ticket carries the chat history", "Fix confirmed in the app", "One-question survey")),
    ),
)}


def from_template(key: str, *, with_examples: bool = True, name: str | None = None) -> JourneyMap:
    """A new map from a template; ``with_examples=False`` keeps stages and lanes only."""
    try:
        template = TEMPLATES[key]
    except KeyError:
        raise MapFormatError(f"Unknown template {key!r}; use one of {', '.join(TEMPLATES)}.") from None
    stages = [Stage(new_id("s"), stage_name) for stage_name in template.stages]
    lanes = []
    for lane_name, kind, topic, texts in template.lanes:
        cells = {}
        if with_examples:
            cells = {s.id: t for s, t in zip(stages, texts) if t}
        lanes.append(Lane(new_id("l"), lane_name, kind, topic, cells))
    persona = copy.deepcopy(template.persona) if with_examples else Persona()
    return JourneyMap(name=name or template.title, stages=stages, lanes=lanes, persona=persona,
                      scenario=template.scenario if with_examples else "")


def blank_map(name: str = "New journey map", stage_names=("Stage 1", "Stage 2", "Stage 3"),
              lane_names=("Customer goals", "Touchpoints", "Emotion", "Pain points",
                          "Opportunities")) -> JourneyMap:
    """An empty map; lanes named like the usual ones get the matching kind."""
    stages = [Stage(new_id("s"), n) for n in stage_names]
    lanes = []
    for lane_name in lane_names:
        lowered = lane_name.lower()
        kind = ("emotion" if "emotion" in lowered or "feeling" in lowered
                else "touchpoints" if "touchpoint" in lowered else "text")
        lanes.append(Lane(new_id("l"), lane_name, kind, default_topic(kind, lane_name)))
    return JourneyMap(name=name, stages=stages, lanes=lanes)


# ---------------------------------------------------------------------------------------
# Data-linked lanes

@dataclass(frozen=True)
class StageScore:
    """A stage's score: ``score`` in the metric's unit (NPS −100…100, CSAT top-2-box
    percent, CES mean), ``mean`` the mean response (CSAT, CES; None for NPS), ``n``
    responses."""
    score: float
    mean: float | None
    n: int
    low_sample: bool


@dataclass(frozen=True)
class StageNumbers:
    """What the data says about one stage of a map (a stage present in the dataset).

    ``customers`` / ``conversion_from_previous`` (fraction 0…1) come from the funnel over
    the map's data stages in map order; ``median_seconds_to_next`` is the funnel's median
    time from this stage to the next (seconds; None for the last stage) and
    ``reached_next`` its n; ``previous_customers`` the customers of the previous stage (the
    n that ``conversion_from_previous`` is a fraction of; None for the first stage);
    ``dropped`` the customers who reached this stage but not the next; ``dropoff_left``
    where those drop-outs left (SPEC §2: the touchpoint of their last event of this stage
    in the counted attempt), the most common first, as (touchpoint, customers, share 0…1 of
    ``dropped``); ``dropoff_next`` the most common touchpoint they went to next, with its
    share; ``dropoff_in_progress`` of the drop-outs, those whose window was still open at
    the log's end.
    """
    stage: str
    step_index: int
    is_last: bool
    customers: int
    conversion_from_previous: float | None
    median_seconds_to_next: float | None
    reached_next: int | None
    dropped: int
    dropoff_next: tuple[str, float] | None
    scores: dict[str, StageScore]
    top_touchpoints: tuple[tuple[str, int], ...]
    previous_customers: int | None = None
    dropoff_left: tuple[tuple[str, int, float], ...] = ()
    dropoff_in_progress: int = 0


def top_touchpoints_by_stage(cur, table: str, stages: list[str], *, event_filter=None,
                             top: int = TOP_TOUCHPOINTS) -> dict[str, list[tuple[str, int]]]:
    """The ``top`` touchpoints of each stage by distinct customers, most first (ties by
    name).  Returns ``{stage: [(touchpoint, customers), ...]}``."""
    if not stages:
        return {}
    engine = as_engine(cur, table)
    events_sql, params = filtered_events(engine.table, event_filter)
    stage_col, tp_col, cust_col = (quote_ident(c) for c in ("stage", "touchpoint", "customer_id"))
    placeholders = ", ".join("?" * len(stages))
    # Distinct customers per part add up: a customer's events are all in one part.
    kernel = f"""
        WITH ev AS ({events_sql})
        SELECT {stage_col} AS stage, {tp_col} AS touchpoint,
               COUNT(DISTINCT {cust_col}) AS customers
        FROM ev
        WHERE {stage_col} IN ({placeholders}) AND {tp_col} IS NOT NULL
        GROUP BY 1, 2
    """
    then = """
        WITH counted AS (SELECT stage, touchpoint, CAST(sum(customers) AS BIGINT) AS customers
                         FROM kernel GROUP BY 1, 2)
        SELECT stage, touchpoint, customers FROM counted
        QUALIFY row_number() OVER (PARTITION BY stage ORDER BY customers DESC, touchpoint) <= ?
        ORDER BY stage, customers DESC, touchpoint
    """
    rows = engine.rows(kernel, params + list(stages), then, [int(top)])
    out: dict[str, list[tuple[str, int]]] = {s: [] for s in stages}
    for stage, touchpoint, customers in rows:
        out[stage].append((touchpoint, int(customers)))
    return out


def dataset_stages(cur, table: str) -> list[str]:
    """Distinct non-empty stages of a dataset table (any order)."""
    engine = as_engine(cur, table)
    col = quote_ident("stage")
    rows = engine.rows(f"SELECT DISTINCT {col} AS stage FROM {quote_ident(engine.table)} "
                       f"WHERE {col} IS NOT NULL", (), "SELECT DISTINCT stage FROM kernel")
    return [r[0] for r in rows]


def stage_numbers(cur, table: str, stages: list[str], *, event_filter=None,
                  low_sample: int | None = None) -> dict[str, StageNumbers]:
    """Numbers for each of ``stages`` found in the dataset, keyed by stage name.

    The funnel runs over the stages present in the data, in the order given (the map's
    order); stages missing from the data get no entry.  Uses the team's funnel and score
    definitions (:mod:`cxdata.funnel`, :mod:`cxdata.scores`): nothing is recomputed here.
    """
    from cxdata import funnel, scores  # imported here: the map model needs neither

    present = set(dataset_stages(cur, table))
    steps = [s for s in dict.fromkeys(stages) if s in present]
    if not steps:
        return {}
    result = funnel.compute_funnel(cur, table, steps, by="stage", event_filter=event_filter)
    score_kwargs = {"event_filter": event_filter}
    if low_sample is not None:
        score_kwargs["low_sample"] = low_sample
    by_metric: dict[str, dict[str, StageScore]] = {}
    for metric in scores.METRICS:
        frame = scores.scores_by(cur, table, metric, "stage", **score_kwargs)
        by_metric[metric] = {}
        for row in frame.itertuples(index=False):
            if int(row.n) <= 0:
                continue
            mean = None
            if metric == "csat":
                mean = None if row.secondary is None else float(row.secondary)
            elif metric == "ces":
                mean = float(row.score)
            by_metric[metric][row.group] = StageScore(float(row.score), mean, int(row.n),
                                                      bool(row.low_sample))
    touchpoints = top_touchpoints_by_stage(cur, table, steps, event_filter=event_filter)
    out: dict[str, StageNumbers] = {}
    for index, (step_name, step) in enumerate(zip(steps, result.steps), start=1):
        is_last = index == len(steps)
        following = None if is_last else result.steps[index]
        dropoff_next, dropoff_left, in_progress = None, (), 0
        if not is_last and step.dropped > 0:
            summary = funnel.dropoff_summary(cur, table, steps, index, column="touchpoint",
                                             by="stage", event_filter=event_filter)
            dropoff_next = _biggest_next_touchpoint(summary.next)
            dropoff_left = tuple((str(r.value), int(r.customers), float(r.share))
                                 for r in summary.left_at.head(TOP_TOUCHPOINTS).itertuples())
            in_progress = int(summary.in_progress)
        out[step_name] = StageNumbers(
            stage=step_name, step_index=index, is_last=is_last, customers=int(step.customers),
            conversion_from_previous=(None if step.conversion_from_previous is None
                                      else float(step.conversion_from_previous)),
            median_seconds_to_next=None if following is None else following.median_seconds_from_previous,
            reached_next=None if following is None else int(following.customers),
            dropped=int(step.dropped), dropoff_next=dropoff_next,
            scores={m: by_metric[m][step_name] for m in scores.METRICS
                    if step_name in by_metric[m]},
            top_touchpoints=tuple(touchpoints.get(step_name, ())),
            previous_customers=None if index == 1 else int(result.steps[index - 2].customers),
            dropoff_left=dropoff_left, dropoff_in_progress=in_progress)
    return out


_NO_FURTHER = "(no further events)"


def _biggest_next_touchpoint(frame) -> tuple[str, float] | None:
    """The most common next touchpoint among drop-outs, with its share of all drop-outs.

    Drop-outs with no further event are shown only when nobody went anywhere: a
    facilitator wants to know *where* the others went, "nowhere" is the default reading.
    """
    if frame is None or len(frame) == 0:
        return None
    rows = sorted(((str(r.value), int(r.customers), float(r.share))
                   for r in frame.itertuples(index=False)), key=lambda r: (-r[1], r[0]))
    moved = [r for r in rows if r[0] != _NO_FURTHER]
    best = moved[0] if moved else rows[0]
    return best[0], best[2]


def _responses(n: int) -> str:
    return f"n = {n:,} {'response' if n == 1 else 'responses'}"


def format_score(metric: str, score: StageScore) -> str:
    """"NPS +12 (n = 140 responses)", "CSAT 72% (n = 14 responses, low sample)",
    "CES 4.8 (n = 140 responses)"."""
    if metric == "nps":
        value = f"NPS {score.score:+.0f}"
    elif metric == "csat":
        value = f"CSAT {score.score:.0f}%"
    else:
        value = f"CES {score.score:.1f}"
    flag = ", low sample" if score.low_sample else ""
    return f"{value} ({_responses(score.n)}{flag})"


def dropoff_text(numbers: StageNumbers) -> str:
    """The "Biggest drop-off" lane: how many dropped out after this stage and where they
    left (SPEC §2), e.g. "1,460 dropped out · most left at Checkout page (41%)"."""
    text = f"{numbers.dropped:,} dropped out"
    if numbers.dropoff_in_progress:
        text += f" ({numbers.dropoff_in_progress:,} still in progress)"
    if not numbers.dropoff_left:
        return text
    where, _, share = numbers.dropoff_left[0]
    if numbers.dropped == 1:
        return f"{text} · left at {where}"
    if share >= 1.0:
        return f"{text} · all left at {where}"
    tied = [r[0] for r in numbers.dropoff_left if r[1] == numbers.dropoff_left[0][1]]
    if len(tied) > 1:
        return f"{text} · most left at {' or '.join(tied)} ({share:.0%} each)"
    return f"{text} · most left at {where} ({share:.0%})"


def linked_cell_text(lane: Lane, numbers: StageNumbers | None) -> str:
    """The text a data-linked lane shows for one stage; "" when the data has nothing."""
    if numbers is None:
        return ""
    if lane.kind == "touchpoints":
        return "\n".join(f"{tp} · {n:,} {'customer' if n == 1 else 'customers'}"
                         for tp, n in numbers.top_touchpoints)
    if lane.kind == "emotion":
        score = numbers.scores.get(lane.topic)
        if score is None:
            return ""
        basis = score.mean if lane.topic in ("csat", "ces") else score.score
        value = emotion_from_score(lane.topic, basis)
        if value is None:
            return ""
        what = {"csat": f"CSAT mean {basis:.2f}", "ces": f"CES mean {basis:.2f}",
                "nps": f"NPS {basis:+.0f}"}[lane.topic]
        return f"{format_emotion(value)} ({what}, {_responses(score.n)})"
    topic = lane.topic
    if topic == "customers":
        return f"{numbers.customers:,} customers"
    if topic == "conversion":
        if numbers.step_index == 1:
            return f"Entry: {numbers.customers:,} customers"
        # The percentage is of the previous stage's customers: that is its n.
        base = ("" if numbers.previous_customers is None
                else f" (n = {numbers.previous_customers:,} reached previous)")
        if numbers.conversion_from_previous is None:
            return "nobody reached the previous stage"
        return f"{numbers.conversion_from_previous:.0%} from previous{base}"
    if topic in ("nps", "csat", "ces"):
        score = numbers.scores.get(topic)
        return format_score(topic, score) if score else "no responses"
    if topic == "median_time":
        if numbers.is_last:
            return "— (last stage)"
        if not numbers.reached_next:
            return "nobody reached the next stage"
        return (f"Median {format_duration(numbers.median_seconds_to_next)} to next stage "
                f"(n = {numbers.reached_next:,} reached next stage)")
    if topic == "dropoff_touchpoint":
        if numbers.is_last:
            return "— (last stage)"
        if numbers.dropped == 0:
            return "Nobody dropped out"
        return dropoff_text(numbers)
    return ""


def fill_linked_lanes(jmap: JourneyMap, numbers: dict[str, StageNumbers]) -> JourneyMap:
    """A copy of the map whose data-linked lanes hold the given numbers (matched by stage
    name); typed lanes are untouched."""
    out = _copy(jmap)
    for lane in out.lanes:
        if not lane.data_linked:
            continue
        lane.cells = {}
        for stage in out.stages:
            text = linked_cell_text(lane, numbers.get(stage.name))
            if text:
                lane.cells[stage.id] = text
    return out


def refresh_from_data(cur, jmap: JourneyMap, table: str, *, event_filter=None) -> JourneyMap:
    """Recompute the data-linked lanes of a map from a dataset table."""
    return fill_linked_lanes(jmap, stage_numbers(cur, table, jmap.stage_names(),
                                                 event_filter=event_filter))


def map_from_dataset(cur, dataset_name: str, table: str, stage_order: list[str], *,
                     event_filter=None, name: str | None = None) -> JourneyMap:
    """A new map with the dataset's stages, touchpoint and metric lanes filled from the
    data, an emotion lane derived from the first score the data has (CSAT, else NPS,
    else CES; typed when none), and empty pain-point and opportunity lanes."""
    stages = [Stage(new_id("s"), s) for s in stage_order]
    numbers = stage_numbers(cur, table, list(stage_order), event_filter=event_filter)
    available = [m for m in ("csat", "nps", "ces")
                 if any(m in n.scores for n in numbers.values())]
    lanes = [Lane(new_id("l"), "Top touchpoints", "touchpoints", "data"),
             Lane(new_id("l"), "Customers", "metric", "customers"),
             Lane(new_id("l"), "Conversion", "metric", "conversion")]
    for metric in available:
        lanes.append(Lane(new_id("l"), metric.upper(), "metric", metric))
    emotion_topic = available[0] if available else "typed"
    lanes += [Lane(new_id("l"), "Emotion", "emotion", emotion_topic),
              Lane(new_id("l"), METRIC_TOPICS["dropoff_touchpoint"], "metric",
                   "dropoff_touchpoint"),
              Lane(new_id("l"), "Time to next stage", "metric", "median_time"),
              Lane(new_id("l"), "Pain points", "text", "pain_points"),
              Lane(new_id("l"), "Opportunities", "text", "opportunities")]
    jmap = JourneyMap(name=name or f"{dataset_name} journey", stages=stages, lanes=lanes,
                      dataset=dataset_name)
    return fill_linked_lanes(jmap, numbers)


# ---------------------------------------------------------------------------------------
# Tables for fast editing (the page shows them in ``st.data_editor``)

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
    return out
