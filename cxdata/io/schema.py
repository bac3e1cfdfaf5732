"""Roles of an interaction log, their recognised column names, and stage order.

SPEC §1: columns are recognised by *role*; any other column is kept as an attribute.
Every dataset table in the workspace has the same canonical layout (see
``CANONICAL_COLUMNS``) so that the analytics SQL never depends on the source file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

#: Roles in SPEC order, each with its recognised names (best first).
ROLE_ALIASES: dict[str, tuple[str, ...]] = {
    "customer_id": ("customer_id", "customer", "user_id", "user", "client_id", "person_id",
                    "distinct_id", "case_id", "case", "case:concept:name", "account_id"),
    "timestamp": ("timestamp", "time", "ts", "event_time", "event_timestamp", "datetime", "date",
                  "created_at", "time:timestamp"),
    "stage": ("stage", "journey_stage", "phase"),
    "event": ("event", "event_name", "event_type", "activity", "action", "concept:name"),
    "touchpoint": ("touchpoint", "touch_point", "interaction"),
    "channel": ("channel", "medium", "source"),
    "nps": ("nps", "nps_score", "likelihood_to_recommend", "ltr"),
    "csat": ("csat", "csat_score", "satisfaction", "review_score", "rating"),
    "ces": ("ces", "ces_score", "effort", "customer_effort"),
    "comment": ("comment", "verbatim", "feedback", "review", "text", "review_comment_message"),
}

ROLES: tuple[str, ...] = tuple(ROLE_ALIASES)
REQUIRED_ROLES: tuple[str, ...] = ("customer_id", "timestamp")
#: At least one of these must be mapped.
SEQUENCE_ROLES: tuple[str, ...] = ("stage", "event", "touchpoint")
TEXT_ROLES: tuple[str, ...] = ("stage", "event", "touchpoint", "channel", "comment")

ROLE_LABELS: dict[str, str] = {
    "customer_id": "Customer", "timestamp": "Time", "stage": "Journey stage", "event": "Event",
    "touchpoint": "Touchpoint", "channel": "Channel", "nps": "NPS (0–10)",
    "csat": "CSAT (1–5)", "ces": "CES (1–7)", "comment": "Comment",
}


@dataclass(frozen=True)
class ScoreRange:
    """Inclusive range of a whole-number score."""
    low: int
    high: int


SCORE_RANGES: dict[str, ScoreRange] = {
    "nps": ScoreRange(0, 10),
    "csat": ScoreRange(1, 5),
    "ces": ScoreRange(1, 7),
}

DEFAULT_STAGE_ORDER: tuple[str, ...] = ("Aware", "Consideration", "Purchase", "Retention",
                                        "Advocacy")

#: Columns of every dataset table, in order, with their DuckDB types.  ``_row`` is the
#: 1-based data row in the source file (file order; it breaks timestamp ties) and ``ts``
#: is the interaction time in UTC (naive TIMESTAMP).  Attributes follow these columns
#: under their original names.
CANONICAL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_row", "BIGINT"),
    ("customer_id", "VARCHAR"),
    ("ts", "TIMESTAMP"),
    ("stage", "VARCHAR"),
    ("event", "VARCHAR"),
    ("touchpoint", "VARCHAR"),
    ("channel", "VARCHAR"),
    ("nps", "INTEGER"),
    ("csat", "INTEGER"),
    ("ces", "INTEGER"),
    ("comment", "VARCHAR"),
)
CANONICAL_NAMES: frozenset[str] = frozenset(name for name, _ in CANONICAL_COLUMNS)

#: Role name -> canonical column name in the dataset table.
ROLE_COLUMN: dict[str, str] = {role: ("ts" if role == "timestamp" else role) for role in ROLES}


def normalise_name(name: str) -> str:
    """Lower-case a column name and drop ``_``, spaces, ``-`` and ``:`` (SPEC §1)."""
    return re.sub(r"[_\s:\-]+", "", str(name)).lower()


#: The XES standard names (IEEE 1849) of a case, an activity and a time.
XES_CASE, XES_ACTIVITY, XES_TIME = "case:concept:name", "concept:name", "time:timestamp"
#: XES prefix of case-level attributes (``case:channel`` is the case's channel).
CASE_PREFIX = "case:"


def uses_xes_names(columns: list[str]) -> bool:
    """True when the columns declare their case notion the XES way: ``case:concept:name``
    together with ``concept:name`` or ``time:timestamp`` (names compared as in SPEC §1)."""
    present = {normalise_name(c) for c in columns}
    return (normalise_name(XES_CASE) in present
            and bool(present & {normalise_name(XES_ACTIVITY), normalise_name(XES_TIME)}))


def _without_case_prefix(column: str) -> str | None:
    """``case:channel`` -> ``channel``; None for other names and for the case id itself."""
    name = str(column)
    if (name[:len(CASE_PREFIX)].lower() != CASE_PREFIX
            or normalise_name(name) == normalise_name(XES_CASE)):
        return None
    return name[len(CASE_PREFIX):] or None


def guess_roles(columns: list[str], overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Map roles to source column names (SPEC §1).

    Overrides win; then, role by role in SPEC order, the first recognised name present
    and not already used.  A column fills one role at most.  Two XES rules: a log using
    the XES names (:func:`uses_xes_names`) takes ``case:concept:name`` as the customer
    even when a ``customer`` column exists (that one stays an attribute); and a role no
    unprefixed column fits is matched with the ``case:`` prefix ignored, so
    ``case:channel`` is the channel.  Returns ``{role: column}`` for the roles found only.
    """
    overrides = dict(overrides or {})
    roles: dict[str, str] = {}
    used: set[str] = set()
    for role, column in overrides.items():
        if column:
            roles[role] = column
            used.add(column)
    by_norm: dict[str, str] = {}
    by_stripped: dict[str, str] = {}
    for column in columns:
        by_norm.setdefault(normalise_name(column), column)
        stripped = _without_case_prefix(column)
        if stripped is not None:
            by_stripped.setdefault(normalise_name(stripped), column)
    xes = uses_xes_names(columns)
    for role, aliases in ROLE_ALIASES.items():
        if role in roles or role in overrides:
            continue
        if role == "customer_id" and xes:
            aliases = (XES_CASE,) + aliases
        for names in (by_norm, by_stripped):
            column = next((names[normalise_name(a)] for a in aliases
                           if names.get(normalise_name(a)) not in (None, *used)), None)
            if column is not None:
                roles[role] = column
                used.add(column)
                break
    return {role: roles[role] for role in ROLES if role in roles}


def missing_required_roles(roles) -> list[str]:
    """What an import still needs, in words: ``["Customer", "Time", "a Journey stage,
    Event or Touchpoint"]`` for an empty mapping; ``[]`` when the required roles
    (SPEC §1) are all mapped.  ``roles`` is any collection of mapped role names."""
    mapped = set(roles)
    missing = [ROLE_LABELS[r] for r in REQUIRED_ROLES if r not in mapped]
    if not mapped & set(SEQUENCE_ROLES):
        labels = [ROLE_LABELS[r] for r in SEQUENCE_ROLES]
        missing.append("a " + ", ".join(labels[:-1]) + " or " + labels[-1])
    return missing


def attribute_name(column: str) -> str:
    """Name under which an unmapped source column is stored as an attribute.

    Source columns whose names clash with a canonical column keep their data under
    ``"<name> (attribute)"`` so that nothing is lost and nothing is shadowed.
    """
    return f"{column} (attribute)" if column.lower() in CANONICAL_NAMES else column


def default_stage_order(stages_in_file_order: list[str]) -> list[str]:
    """Stage order for a dataset: the default order when every stage is a default one
    (case-insensitive), else the stages in order of first appearance."""
    known = {s.lower(): s for s in DEFAULT_STAGE_ORDER}
    if stages_in_file_order and all(s.lower() in known for s in stages_in_file_order):
        present = {s.lower(): s for s in stages_in_file_order}
        return [present[k.lower()] for k in DEFAULT_STAGE_ORDER if k.lower() in present]
    return list(stages_in_file_order)


def resolve_column(columns, name: str) -> str:
    """The events column for ``name``: a column of ``columns`` itself, or a role name
    (``timestamp`` -> ``ts``).  Raises ValueError with a plain sentence when there is none."""
    columns = list(columns)
    if name in columns:
        return name
    mapped = ROLE_COLUMN.get(name)
    if mapped in columns:
        return mapped
    raise ValueError(f"The dataset has no column {name!r}; pick one of its columns.")
