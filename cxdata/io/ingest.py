"""Read an interaction log, validate it row by row, and write accepted rows and rejects.

SPEC §1: rows read = rows accepted + rows rejected, always.  Every rejected row is kept
with its row number, column, raw value and reason.  The event-level work is one DuckDB
``CREATE TABLE … AS SELECT`` over the source file; Python only sees counts and the
(small) list of problems it reports.
"""
from __future__ import annotations

import csv
import dataclasses
import os
import re
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cxdata.io import schema
from cxdata.io.profile import profile_source, roles_warning
from cxdata.errors import UnusableInput
from cxdata.io.sources import OpenedSource, collect_csv_rejects, open_source
from cxdata.sql import quote_ident
from cxdata.store import memory
from cxdata.store.timelines import drop_timelines

#: Called with (what is happening, fraction done 0…1 or -1 when unknown).
ProgressCallback = Callable[[str, float], None]

SCORE_POLICIES = ("reject", "blank")
#: Score cells that mean "no response" (compared case-insensitively after trimming).
MISSING_SCORE_TOKENS = ("", "na", "n/a", "null", "none", "nan", "-")
#: Extra timestamp layouts tried after DuckDB's ISO-8601 cast (offsets without a colon,
#: slashes instead of dashes).  Day/month orders that could be confused are left out.
EXTRA_TIMESTAMP_FORMATS = ("%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d %H:%M:%S %z", "%Y-%m-%dT%H:%M:%S%z",
                           "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%d %H:%M:%S.%f%z", "%Y/%m/%d %H:%M:%S",
                           "%Y/%m/%d %H:%M", "%Y/%m/%d")


@dataclass
class Problem:
    """One problem with one cell: ``row`` is the 1-based data row (header excluded)."""
    row: int
    column: str
    value: str | None
    reason: str
    action: str = "rejected"  # or "blanked" (the row was kept, only this score emptied)

    def to_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "value": self.value, "reason": self.reason}


@dataclass
class IngestResult:
    """Outcome of reading one file.  ``problems`` holds at most ``problem_limit`` entries
    (the rejects table holds them all); ``reasons`` counts every problem by reason."""
    source: str
    format: str
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    roles: dict[str, str]
    columns: list[str]
    attributes: list[str]
    stage_order: list[str]
    problems: list[Problem]
    reasons: dict[str, int]
    notes: list[str] = field(default_factory=list)
    table: str | None = None
    #: The notes that are warnings (not format facts): duplicate header names, a customer
    #: column that may be the wrong case notion.  Each is also in ``notes``.
    warnings: list[str] = field(default_factory=list)
    rejects_table: str | None = None

    def to_json_dict(self) -> dict:
        """SPEC §6 ``validate`` JSON shape."""
        return {"rows_read": self.rows_read, "rows_accepted": self.rows_accepted,
                "rows_rejected": self.rows_rejected, "roles": dict(self.roles),
                "problems": [p.to_dict() for p in self.problems]}


@dataclass(frozen=True)
class StageMapping:
    """Stages for a log without a stage column: ``source_role`` is ``event`` or
    ``touchpoint``; values missing from ``mapping`` get no stage."""
    source_role: str
    mapping: tuple[tuple[str, str], ...]

    @classmethod
    def from_dict(cls, source_role: str, mapping: dict[str, str]) -> "StageMapping":
        if source_role not in ("event", "touchpoint"):
            raise UnusableInput("Stages can be mapped from the event or the touchpoint column only.")
        return cls(source_role, tuple((str(k), str(v)) for k, v in mapping.items() if v not in (None, "")))


def check_roles(roles: dict[str, str], columns: list[str]) -> None:
    """Raise :class:`UnusableInput` when a required role is missing or a mapping names a
    column the file does not have."""
    for role, column in roles.items():
        if role not in schema.ROLES:
            raise UnusableInput(f"Unknown role {role!r}; roles are {', '.join(schema.ROLES)}.")
        if column not in columns:
            raise UnusableInput(f"The file has no column {column!r} to use as {role}; "
                                f"its columns are {', '.join(columns[:30])}.")
    used = [c for c in roles.values()]
    for column in set(used):
        if used.count(column) > 1:
            taken = [r for r, c in roles.items() if c == column]
            raise UnusableInput(f"Column {column!r} is mapped to several roles ({', '.join(taken)}); "
                                "a column can fill one role only.")
    if "customer_id" not in roles:
        raise MissingRole("No customer column found (expected a name like customer_id, user_id or "
                          "case:concept:name)", "customer_id")
    if "timestamp" not in roles:
        raise MissingRole("No time column found (expected a name like timestamp, time, event_time or "
                          "time:timestamp)", "timestamp")
    if not any(r in roles for r in schema.SEQUENCE_ROLES):
        raise MissingRole("No stage, event or touchpoint column found; at least one is needed", "event")


class MissingRole(UnusableInput):
    """A required role has no column.  ``str(exc)`` tells a command-line user which option
    fixes it (``--map ROLE=COLUMN``); :attr:`web_message` tells an app user which picker."""

    def __init__(self, what: str, role: str):
        self.what, self.role = what, role
        super().__init__(f"{what}; name it with --map {role}=COLUMN.")

    @property
    def web_message(self) -> str:
        return f"{self.what}; choose its column under “Columns → roles”."


def _trimmed(col: str) -> str:
    """SQL: the column's text without leading and trailing spaces, NULL when empty.

    TRIM copies every value it is given; almost no value has a space to remove, and two
    byte comparisons find those that do: on a log of 100 million rows, trimming only
    them spares a fifth of the import's work on the text."""
    c = quote_ident(col)
    return f"NULLIF(CASE WHEN prefix({c}, ' ') OR suffix({c}, ' ') THEN TRIM({c}) ELSE {c} END, '')"


_NUMBER_PATTERN = "'-?[0-9]+(\\.[0-9]+)?'"


#: Zone abbreviations and the fixed UTC offset each one names.  DuckDB (ICU) reads some
#: of them as a region's zone, daylight saving included: "01:30 PST" on 2025-03-30 came
#: out as 08:30 UTC (PDT), and "BST" as Bangladesh.  A written abbreviation says which
#: offset was in force, so it is replaced by that offset before the cast.  Ambiguous ones
#: (IST, …) are not listed and keep DuckDB's reading.
ZONE_ABBREVIATIONS = {
    "UTC": "+00:00", "UT": "+00:00", "GMT": "+00:00", "Z": "+00:00", "WET": "+00:00",
    "WEST": "+01:00", "BST": "+01:00", "CET": "+01:00", "CEST": "+02:00", "MET": "+01:00",
    "MEST": "+02:00", "EET": "+02:00", "EEST": "+03:00", "MSK": "+03:00",
    "EST": "-05:00", "EDT": "-04:00", "CST": "-06:00", "CDT": "-05:00", "MST": "-07:00",
    "MDT": "-06:00", "PST": "-08:00", "PDT": "-07:00", "AKST": "-09:00", "AKDT": "-08:00",
    "HST": "-10:00", "NST": "-03:30", "NDT": "-02:30", "AST": "-04:00", "ADT": "-03:00",
    "JST": "+09:00", "KST": "+09:00", "HKT": "+08:00", "SGT": "+08:00", "AWST": "+08:00",
    "ACST": "+09:30", "ACDT": "+10:30", "AEST": "+10:00", "AEDT": "+11:00",
    "NZST": "+12:00", "NZDT": "+13:00",
}


def _fixed_zone_sql(v: str) -> str:
    """SQL: text ``v`` with a trailing zone abbreviation (after a space or a digit)
    replaced by its fixed offset (:data:`ZONE_ABBREVIATIONS`); other text unchanged.  The
    regular expression runs only on values ending in a letter."""
    cases = " ".join(f"WHEN '{name}' THEN '{offset}'" for name, offset in ZONE_ABBREVIATIONS.items())
    abbreviation = f"upper(regexp_extract({v}, '[0-9\\s]([A-Za-z]{{1,4}})$', 1))"
    offset = f"(CASE {abbreviation} {cases} END)"
    last = f"right({v}, 1)"
    # Most values end in a digit, or in ISO 8601's "Z" right after one (which the cast
    # reads as UTC, like its replacement +00:00): plain comparisons send them past the
    # regular expressions, which cost 3/4 of the whole import on such a log.
    return (f"(CASE WHEN NOT ({last} BETWEEN 'A' AND 'Z' OR {last} BETWEEN 'a' AND 'z') "
            f"OR ({last} = 'Z' AND substr({v}, -2, 1) BETWEEN '0' AND '9') THEN {v} "
            f"WHEN {offset} IS NOT NULL "
            f"THEN regexp_replace({v}, '\\s*[A-Za-z]{{1,4}}$', '') || {offset} ELSE {v} END)")


def _timestamp_sql(v: str) -> str:
    """SQL turning trimmed text ``v`` (an SQL expression, NULL when empty) into a UTC
    TIMESTAMP (NULL when unreadable).

    DuckDB's ISO-8601 cast is tried first (offsets and zone names such as ``UTC``
    honoured, the session time zone being UTC): it reads almost every real log, and a
    plain number never casts, so it goes first without changing any result and spares
    the regular expression on most rows.  Plain numbers are epoch seconds / milliseconds
    (≥ 1e11 means milliseconds); other text is tried with :data:`EXTRA_TIMESTAMP_FORMATS`.
    """
    formats = "[" + ", ".join("'" + f + "'" for f in EXTRA_TIMESTAMP_FORMATS) + "]"
    number = f"TRY_CAST({v} AS DOUBLE)"
    epoch = f"""CASE WHEN abs({number}) >= 1e11
                 THEN TRY_CAST(make_timestamp(TRY_CAST({number} * 1000 AS BIGINT)) AS TIMESTAMP)
                 ELSE TRY_CAST(make_timestamp(TRY_CAST({number} * 1000000 AS BIGINT)) AS TIMESTAMP) END"""
    return f"""COALESCE(TRY_CAST(TRY_CAST({_fixed_zone_sql(v)} AS TIMESTAMPTZ) AS TIMESTAMP),
        CASE WHEN regexp_full_match({v}, {_NUMBER_PATTERN}) THEN {epoch}
             ELSE TRY_CAST(try_strptime({v}, {formats}) AS TIMESTAMP) END)"""


def _score_reason_sql(number: str, missing: str, role: str) -> str:
    """Problem reason of a score (NULL when fine) from its parsed number and its
    "no response" flag (both SQL expressions)."""
    rng = schema.SCORE_RANGES[role]
    label = role.upper()
    return f"""CASE
        WHEN {missing} THEN NULL
        WHEN {number} IS NULL OR isnan({number}) OR isinf({number}) THEN '{label} is not a number'
        WHEN {number} <> floor({number}) THEN '{label} is not a whole number'
        WHEN {number} < {rng.low} OR {number} > {rng.high} THEN '{label} is outside {rng.low}–{rng.high}'
        END"""


def _text_literal(text: str) -> str:
    # The source column names are constants here but come from the file: bind-free
    # literal quoting (single quotes doubled) keeps them inert.
    return "'" + text.replace("'", "''") + "'"


def _problem_struct(column: str, reason_sql: str, action: str) -> str:
    return (f"{{'column': {_text_literal(column)}, 'value': {quote_ident(column)}, "
            f"'reason': {reason_sql}, 'action': '{action}'}}")


def _helper_prefix(columns: list[str]) -> str:
    """A prefix for the transform's own helper columns that no source column starts with."""
    prefix = "_cx_"
    while any(c.startswith(prefix) for c in columns):
        prefix += "_"
    return prefix


def build_transform_sql(opened: OpenedSource, roles: dict[str, str], score_policy: str,
                        row_sql: str) -> tuple[str, list[str]]:
    """SELECT producing the canonical columns, attributes and a ``_problems`` list (NULL
    for a row with none).

    Returns ``(sql, attribute_names)``.  ``row_sql`` computes the 1-based data row from
    the source relation's columns (``src._ord``).  Each value is parsed once, in nested
    projections (text → number / timestamp → problem reason), and both the canonical
    column and the problem list read the parsed value: over millions of rows, repeating
    the casts and the timestamp expression costs more than the file read itself.
    """
    if score_policy not in SCORE_POLICIES:
        raise UnusableInput(f"Unknown score policy {score_policy!r}; use reject or blank.")
    q = quote_ident
    prefix = _helper_prefix(opened.columns)

    def helper(name: str) -> str:
        return q(prefix + name)

    cust, tcol = roles["customer_id"], roles["timestamp"]
    scores = [role for role in ("nps", "csat", "ces") if role in roles]
    missing_pattern = "'(" + "|".join(re.escape(t) for t in MISSING_SCORE_TOKENS) + ")'"
    # Level 1: trimmed text and parsed numbers, straight from the source columns.
    parsed = [f"{row_sql} AS {helper('row')}", f"{_trimmed(cust)} AS {helper('customer')}",
              f"{_trimmed(tcol)} AS {helper('time_text')}"]
    for role in scores:
        col = q(roles[role])
        parsed.append(f"TRY_CAST(TRIM({col}) AS DOUBLE) AS {helper(role + '_number')}")
        # A regular expression, not IN (…): DuckDB plans an IN list of more than a few
        # values as a join, and a join in the plan makes CREATE TABLE … AS keep the file
        # order by writing on one thread.
        parsed.append(f"({col} IS NULL OR regexp_full_match(lower(TRIM({col})), {missing_pattern})) "
                      f"AS {helper(role + '_missing')}")
    # Level 2: the timestamp and the score problems, from level 1.
    checked = [f"{_timestamp_sql(helper('time_text'))} AS {helper('ts')}"]
    for role in scores:
        reason = _score_reason_sql(helper(role + "_number"), helper(role + "_missing"), role)
        if score_policy == "blank":
            reason = f"({reason}) || ' (score left blank, row kept)'"
        checked.append(f"{reason} AS {helper(role + '_reason')}")
    # Level 3: the dataset columns and the problem list.
    select = [f"{helper('row')} AS _row", f"{helper('customer')} AS customer_id", f"{helper('ts')} AS ts"]
    for role in ("stage", "event", "touchpoint", "channel"):
        select.append(f"{_trimmed(roles[role])} AS {role}" if role in roles else f"CAST(NULL AS VARCHAR) AS {role}")
    for role in ("nps", "csat", "ces"):
        if role in roles:
            select.append(f"CASE WHEN {helper(role + '_reason')} IS NULL AND NOT {helper(role + '_missing')} "
                          f"THEN CAST({helper(role + '_number')} AS INTEGER) END AS {role}")
        else:
            select.append(f"CAST(NULL AS INTEGER) AS {role}")
    select.append(f"{q(roles['comment'])} AS comment" if "comment" in roles
                  else "CAST(NULL AS VARCHAR) AS comment")
    mapped = set(roles.values())
    attributes = []
    for column in opened.columns:
        if column in mapped:
            continue
        name = schema.attribute_name(column)
        attributes.append(name)
        select.append(f"{q(column)} AS {q(name)}")
    action = "rejected" if score_policy == "reject" else "blanked"
    problems = [f"CASE WHEN {helper('customer')} IS NULL THEN "
                f"{_problem_struct(cust, _text_literal('customer is empty'), 'rejected')} END",
                f"CASE WHEN {helper('time_text')} IS NULL THEN "
                f"{_problem_struct(tcol, _text_literal('time is empty'), 'rejected')} "
                f"WHEN {helper('ts')} IS NULL THEN "
                f"{_problem_struct(tcol, _text_literal('time is not a readable date/time'), 'rejected')} END"]
    problems += [f"CASE WHEN {helper(role + '_reason')} IS NOT NULL THEN "
                 f"{_problem_struct(roles[role], helper(role + '_reason'), action)} END" for role in scores]
    # Almost every row is fine: the list is only built (and filtered) for the others, and
    # theirs is NULL, not [] (cheaper to write: 4 % of a large import).
    any_problem = " OR ".join([f"{helper('customer')} IS NULL", f"{helper('ts')} IS NULL"]
                              + [f"{helper(role + '_reason')} IS NOT NULL" for role in scores])
    select.append(f"CASE WHEN {any_problem} THEN list_filter([{', '.join(problems)}], "
                  f"lambda p: p IS NOT NULL) END AS _problems")
    sql = (f"SELECT {', '.join(select)} FROM ("
           f"SELECT parsed.*, {', '.join(checked)} FROM ("
           f"SELECT src.*, {', '.join(parsed)} FROM ({opened.relation_sql}) AS src) AS parsed) AS src")
    return sql, attributes


def _row_sql(structural_rows: list[int], ord_sql: str = "src._ord") -> str:
    """1-based data row of the ``_ord``-th parsed record, skipping rows the reader
    rejected: the o-th good row is o + #{i : r_i − i < o} (r_i sorted, i 1-based)."""
    if not structural_rows:
        return ord_sql
    terms = [f"CASE WHEN {int(r) - i} < {ord_sql} THEN 1 ELSE 0 END"
             for i, r in enumerate(sorted(structural_rows), start=1)]
    if len(terms) > 200:
        # Many malformed lines: a list lambda keeps the SQL short.
        gaps = "[" + ", ".join(str(int(r) - i) for i, r in enumerate(sorted(structural_rows), 1)) + "]"
        return f"({ord_sql} + len(list_filter({gaps}, lambda g: g < {ord_sql})))"
    return f"({ord_sql} + {' + '.join(terms)})"


def run_with_progress(cur, sql: str, params: list, label: str,
                      on_progress: ProgressCallback | None) -> None:
    """Execute ``sql`` on ``cur``; while it runs, report DuckDB's own progress (0…1)."""
    if on_progress is None:
        cur.execute(sql, params)
        return
    # DuckDB only tracks progress when its progress bar is on; printing stays off.
    cur.execute("SET enable_progress_bar = true")
    cur.execute("SET enable_progress_bar_print = false")
    failure: list[BaseException] = []

    def work():
        try:
            cur.execute(sql, params)
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.25)
        try:
            fraction = cur.query_progress()
        except Exception:
            fraction = -1
        on_progress(label, (fraction / 100.0) if fraction and fraction > 0 else -1)
    if failure:
        raise failure[0]


def ingest_file(cur, path: str | os.PathLike, *, table: str, rejects_table: str,
                overrides: dict[str, str] | None = None, score_policy: str = "reject",
                stage_order: list[str] | None = None, stage_mapping: StageMapping | None = None,
                problem_limit: int = 1000, sheet=None,
                on_progress: ProgressCallback | None = None,
                max_bytes: int | None = None) -> IngestResult:
    """Read ``path`` into ``table`` (canonical layout) and its problems into ``rejects_table``.

    Both tables are created (replaced) on ``cur``'s database.  Raises
    :class:`UnusableInput` when nothing can be read or a required role is missing, or when
    the file holds more than ``max_bytes`` once decompressed (None: ``$CXDATA_MAX_BYTES``,
    unset means no limit; see :func:`cxdata.io.sources.check_expanded_size`).
    """
    from cxdata.io.sources import check_expanded_size, max_bytes_from_env
    check_expanded_size(path, max_bytes if max_bytes is not None else max_bytes_from_env())
    source_name = Path(path).name
    scratch = "cx_rej_" + uuid.uuid4().hex[:10]
    drop_timelines(cur, table)     # the table is about to be replaced
    if on_progress:
        on_progress("Reading the file's layout", -1)
    opened = open_source(cur, path, scratch, sheet=sheet)
    try:
        roles = schema.guess_roles(opened.columns, overrides)
        check_roles(roles, opened.columns)
        warnings = _duplicate_header_notes(path, opened)
        transform, attributes = build_transform_sql(opened, roles, score_policy, "src._ord")
        # The dataset table is written once, with its _problems list; rejected rows are
        # then moved out in place (they are few), which spares a copy of every row.
        create = f"CREATE OR REPLACE TABLE {quote_ident(table)} AS {transform}"
        if opened.ord_from_insertion_order and not _keeps_scan_order(cur, create, opened.params):
            opened = dataclasses.replace(opened, relation_sql=opened.numbered_relation_sql,
                                         ord_from_insertion_order=False)
            transform, attributes = build_transform_sql(opened, roles, score_policy, "src._ord")
            create = f"CREATE OR REPLACE TABLE {quote_ident(table)} AS {transform}"
        try:
            run_with_progress(cur, create, opened.params, "Reading and validating rows", on_progress)
        except Exception as exc:
            if memory.is_out_of_memory(exc):
                raise memory.out_of_memory(exc, cur) from None
            raise UnusableInput(f"The file could not be read: {str(exc).splitlines()[0][:300]}")
        structural: list[tuple[int, str, str]] = []
        if opened.fmt.kind == "csv":
            # Lines the reader could not parse are logged during the scan; data rows are
            # then renumbered so that row numbers count them too (rare, so done after).
            structural = collect_csv_rejects(cur, scratch, opened.header_lines)
        # A table filled by one CREATE … AS SELECT from one scan keeps the scan's order,
        # so rowid + 1 is the record's position (DuckDB docs, "Order Preservation").
        position = "(rowid + 1)" if opened.ord_from_insertion_order else "_row"
        if structural or opened.ord_from_insertion_order:
            _number_rows(cur, table, _row_sql([r for r, _, _ in structural], position), on_progress)
        result = _split_problems(cur, table, rejects_table, structural, on_progress)
        rows_read, rows_accepted, rows_rejected = result
        if rows_read == 0:
            raise UnusableInput("The file has a header but no data rows.")
        if stage_mapping is not None:
            apply_stage_mapping(cur, table, stage_mapping)
        order = stage_order or detect_stage_order(cur, table)
        problems, reasons = summarise_problems(cur, rejects_table, problem_limit)
        # After the rejects were collected: this reads the first rows again.
        warning = roles_warning(profile_source(cur, opened), roles)
        if warning:
            warnings.append(warning)
        return IngestResult(source=source_name, format=opened.fmt.describe(), rows_read=rows_read,
                            rows_accepted=rows_accepted, rows_rejected=rows_rejected, roles=roles,
                            columns=list(opened.columns), attributes=attributes, stage_order=order,
                            problems=problems, reasons=reasons,
                            notes=list(opened.fmt.notes) + warnings, table=table,
                            rejects_table=rejects_table, warnings=warnings)
    finally:
        for name in (scratch, scratch + "_scan"):
            try:
                cur.execute(f"DROP TABLE IF EXISTS {quote_ident(name)}")
            except Exception:
                pass
        opened.close()


#: Rows numbered per UPDATE statement.  DuckDB keeps an update in memory until the
#: checkpoint that follows its commit: numbering 100 million rows in one statement held
#: about 4 GB, in slices of this size a few hundred MB, in the same time.
NUMBERING_SLICE = 4_000_000


def _number_rows(cur, table: str, row_sql: str, on_progress) -> None:
    """Set ``_row`` of every row of ``table`` to ``row_sql``, one slice of rowids per
    statement (each statement commits on its own)."""
    total = cur.execute(f"SELECT count(*) FROM {quote_ident(table)}").fetchone()[0]
    for start in range(0, max(int(total), 1), NUMBERING_SLICE):
        if on_progress:
            on_progress("Numbering rows", start / max(total, 1))
        cur.execute(f"UPDATE {quote_ident(table)} SET _row = {row_sql} "
                    f"WHERE rowid >= {start} AND rowid < {start + NUMBERING_SLICE}")


def _keeps_scan_order(cur, create_sql: str, params: list) -> bool:
    """True when DuckDB plans ``create_sql`` (a CREATE TABLE … AS SELECT) as an
    order-keeping batch insert, so that the table's rowid follows the scan.

    Any join in the plan makes DuckDB insert in parallel without keeping the order — even
    one the optimizer made up, such as an IN list of more than a few values
    (duckdb/duckdb#24398).  Then the rows must be numbered during the scan instead.
    """
    plan = " ".join(str(v) for row in cur.execute("EXPLAIN " + create_sql, params).fetchall() for v in row)
    return "batchcreatetableas" in re.sub(r"[\s_]", "", plan.lower())


def _split_problems(cur, table: str, rejects_table: str,
                    structural: list[tuple[int, str, str]], on_progress) -> tuple[int, int, int]:
    """Move the problems of ``table`` into ``rejects_table``, delete the rejected rows
    and drop the ``_problems`` column; returns (rows read, accepted, rejected)."""
    t, r = quote_ident(table), quote_ident(rejects_table)
    cur.execute(f"CREATE OR REPLACE TABLE {r} (row BIGINT, column_name VARCHAR, value VARCHAR, "
                "reason VARCHAR, action VARCHAR)")
    for row, raw, reason in structural:
        cur.execute(f"INSERT INTO {r} VALUES (?, ?, ?, ?, 'rejected')", [row, "(whole line)", raw, reason])
    run_with_progress(cur, f"""INSERT INTO {r}
        SELECT _row, p.column, p.value, p.reason, p.action
        FROM (SELECT _row, unnest(_problems) AS p FROM {t} WHERE len(_problems) > 0)
        ORDER BY _row""", [], "Recording problems", on_progress)
    rejected_row = "len(_problems) > 0 AND list_bool_or(list_transform(_problems, lambda p: p.action = 'rejected'))"
    parsed = cur.execute(f"SELECT count(*), count(*) FILTER (WHERE {rejected_row}) FROM {t}").fetchone()
    cur.execute(f"DELETE FROM {t} WHERE {rejected_row}")
    cur.execute(f"ALTER TABLE {t} DROP COLUMN _problems")
    accepted = cur.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
    rows_read = int(parsed[0]) + len(structural)
    rows_rejected = int(parsed[1]) + len(structural)
    if accepted + rows_rejected != rows_read:  # the accounting invariant of SPEC §1
        raise RuntimeError(f"Row accounting failed: {rows_read} read, {accepted} accepted, "
                           f"{rows_rejected} rejected.")
    return rows_read, int(accepted), rows_rejected


def summarise_problems(cur, rejects_table: str, limit: int = 1000) -> tuple[list[Problem], dict[str, int]]:
    """The first ``limit`` problems (by row) and a count of all problems per reason."""
    r = quote_ident(rejects_table)
    rows = cur.execute(f"SELECT row, column_name, value, reason, action FROM {r} "
                       f"ORDER BY row, column_name LIMIT {int(limit)}").fetchall()
    problems = [Problem(int(a), b, c, d, e) for a, b, c, d, e in rows]
    reasons = dict(cur.execute(f"SELECT reason, count(*) FROM {r} GROUP BY reason "
                               "ORDER BY count(*) DESC, reason").fetchall())
    return problems, {k: int(v) for k, v in reasons.items()}


def rows_rejected_for_scores_only(cur, rejects_table: str, score_columns: list[str]) -> int:
    """Rejected rows whose every problem is an invalid score in ``score_columns`` (source
    names): the rows the "blank only the score" policy would keep."""
    if not score_columns:
        return 0
    r = quote_ident(rejects_table)
    return int(cur.execute(f"""SELECT count(*) FROM (
        SELECT row FROM {r} WHERE action = 'rejected' GROUP BY row
        HAVING bool_and(column_name IN (SELECT unnest(?::VARCHAR[]))))""", [list(score_columns)]).fetchone()[0])


def detect_stage_order(cur, table: str) -> list[str]:
    """Stage order of a dataset table: the default order when all stages are default
    ones, else first appearance in file order (SPEC §1)."""
    rows = cur.execute(f"SELECT stage FROM {quote_ident(table)} WHERE stage IS NOT NULL "
                       "GROUP BY stage ORDER BY min(_row)").fetchall()
    return schema.default_stage_order([r[0] for r in rows])


def apply_stage_mapping(cur, table: str, mapping: StageMapping) -> int:
    """Fill ``stage`` from the event or touchpoint value; returns rows given a stage."""
    t = quote_ident(table)
    source = quote_ident(mapping.source_role)
    drop_timelines(cur, table)     # the stage timeline would no longer match
    cur.execute(f"UPDATE {t} SET stage = NULL")
    if not mapping.mapping:
        return 0
    keys = [k for k, _ in mapping.mapping]
    values = [v for _, v in mapping.mapping]
    cur.execute(f"""UPDATE {t} SET stage = m.stage
        FROM (SELECT unnest(?::VARCHAR[]) AS key, unnest(?::VARCHAR[]) AS stage) AS m
        WHERE {t}.{source} = m.key""", [keys, values])
    return int(cur.execute(f"SELECT count(*) FROM {t} WHERE stage IS NOT NULL").fetchone()[0])


def _duplicate_header_notes(path, opened: OpenedSource) -> list[str]:
    """Notes for duplicated header names, which the reader renames ``name_1``, …"""
    if opened.fmt.kind != "csv" or opened.header_lines == 0 or opened.fmt.compression != "none":
        return []
    try:
        with open(opened.params[0], "r", encoding=opened.fmt.encoding, errors="replace", newline="") as f:
            first = f.readline(1 << 20).lstrip("\ufeff")
        header = next(csv.reader([first], csv.Sniffer().sniff(first, delimiters=",;\t|")))
    except Exception:
        return []
    seen: dict[str, int] = {}
    notes = []
    for name in header:
        name = name.strip()
        seen[name] = seen.get(name, 0) + 1
        if seen[name] == 2:
            notes.append(f"The header names {name!r} more than once; the copies are kept as "
                         f"{name}_1, {name}_2, … .")
    return notes


@dataclass
class FileInspection:
    """A quick look at a file before import: format, columns, guessed roles, first rows."""
    format: str
    notes: list[str]
    columns: list[str]
    roles: dict[str, str]
    preview: "pd.DataFrame"


def inspect_file(path, rows: int = 20, sheet=None) -> FileInspection:
    """Detect the format, read the first ``rows`` records as text and guess the roles.

    Only the first records are read, so this is fast on any size of file.
    """
    from cxdata.io.sources import preview_rows
    con = memory.connect()
    scratch = "inspect_rejects"
    try:
        opened = open_source(con, path, scratch, sheet=sheet)
        try:
            preview = preview_rows(con, opened, rows)
            notes = list(opened.fmt.notes) + _duplicate_header_notes(path, opened)
            return FileInspection(opened.fmt.describe(), notes, list(opened.columns),
                                  schema.guess_roles(opened.columns), preview)
        finally:
            opened.close()
    finally:
        con.close()


def validate_file(path, *, overrides=None, score_policy="reject", problem_limit=1000,
                  on_progress: ProgressCallback | None = None, sheet=None,
                  max_bytes: int | None = None) -> IngestResult:
    """Read and check ``path`` in a private in-memory DuckDB without storing anything."""
    con = memory.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        return ingest_file(con, path, table="validate_rows", rejects_table="validate_rejects",
                           overrides=overrides, score_policy=score_policy,
                           problem_limit=problem_limit, on_progress=on_progress, sheet=sheet,
                           max_bytes=max_bytes)
    except Exception as exc:
        if memory.is_out_of_memory(exc):
            raise memory.out_of_memory(exc, con) from None
        raise
    finally:
        con.close()


