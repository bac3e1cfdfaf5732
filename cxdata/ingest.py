"""Read an interaction log, validate it row by row, and write accepted rows and rejects.

SPEC §1: rows read = rows accepted + rows rejected, always.  Every rejected row is kept
with its row number, column, raw value and reason.  The event-level work is one DuckDB
``CREATE TABLE … AS SELECT`` over the source file; Python only sees counts and the
(small) list of problems it reports.
"""
from __future__ import annotations

import csv
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cxdata import schema
from cxdata.errors import UnusableInput
from cxdata.sources import OpenedSource, collect_csv_rejects, open_source
from cxdata.sql import quote_ident

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
    hint = "; name it with --map {role}=COLUMN (or pick it on the Data page)."
    if "customer_id" not in roles:
        raise UnusableInput("No customer column found (expected a name like customer_id, user_id or "
                            "case:concept:name)" + hint.format(role="customer_id"))
    if "timestamp" not in roles:
        raise UnusableInput("No time column found (expected a name like timestamp, time, event_time or "
                            "time:timestamp)" + hint.format(role="timestamp"))
    if not any(r in roles for r in schema.SEQUENCE_ROLES):
        raise UnusableInput("No stage, event or touchpoint column found; at least one is needed"
                            + hint.format(role="event"))


def _trimmed(col: str) -> str:
    return f"NULLIF(TRIM({quote_ident(col)}), '')"


def _timestamp_sql(col: str) -> str:
    """SQL turning a VARCHAR column into a UTC TIMESTAMP (NULL when unreadable).

    Order: epoch seconds / milliseconds for plain numbers (≥ 1e11 means milliseconds),
    then DuckDB's ISO-8601 cast (offsets and zone names such as ``UTC`` honoured, the
    session time zone being UTC), then :data:`EXTRA_TIMESTAMP_FORMATS`.
    """
    v = _trimmed(col)
    formats = "[" + ", ".join("'" + f + "'" for f in EXTRA_TIMESTAMP_FORMATS) + "]"
    return f"""CASE
        WHEN regexp_full_match({v}, '-?[0-9]+(\\.[0-9]+)?') THEN
            CASE WHEN abs(TRY_CAST({v} AS DOUBLE)) >= 1e11
                 THEN TRY_CAST(make_timestamp(TRY_CAST(TRY_CAST({v} AS DOUBLE) * 1000 AS BIGINT)) AS TIMESTAMP)
                 ELSE TRY_CAST(make_timestamp(TRY_CAST(TRY_CAST({v} AS DOUBLE) * 1000000 AS BIGINT)) AS TIMESTAMP) END
        ELSE COALESCE(TRY_CAST(TRY_CAST({v} AS TIMESTAMPTZ) AS TIMESTAMP),
                      TRY_CAST(try_strptime({v}, {formats}) AS TIMESTAMP))
    END"""


def _score_parts(col: str, role: str) -> tuple[str, str]:
    """(value SQL, problem-reason SQL) for a score column; reason NULL when fine."""
    rng = schema.SCORE_RANGES[role]
    v = f"TRIM({quote_ident(col)})"
    missing = ", ".join("'" + t + "'" for t in MISSING_SCORE_TOKENS)
    is_missing = f"({quote_ident(col)} IS NULL OR lower({v}) IN ({missing}))"
    num = f"TRY_CAST({v} AS DOUBLE)"
    label = role.upper()
    reason = f"""CASE
        WHEN {is_missing} THEN NULL
        WHEN {num} IS NULL OR isnan({num}) OR isinf({num}) THEN '{label} is not a number'
        WHEN {num} <> floor({num}) THEN '{label} is not a whole number'
        WHEN {num} < {rng.low} OR {num} > {rng.high} THEN '{label} is outside {rng.low}–{rng.high}'
        ELSE NULL END"""
    value = f"CASE WHEN ({reason}) IS NULL AND NOT {is_missing} THEN CAST({num} AS INTEGER) END"
    return value, reason


def _problem_struct(column: str, value_sql: str, reason_sql: str, action: str) -> str:
    # The source column name is a constant here but comes from the file: bind-free
    # literal quoting (single quotes doubled) keeps it inert.
    col_literal = "'" + column.replace("'", "''") + "'"
    return (f"CASE WHEN ({reason_sql}) IS NOT NULL THEN "
            f"{{'column': {col_literal}, 'value': {value_sql}, 'reason': ({reason_sql}), "
            f"'action': '{action}'}} END")


def build_transform_sql(opened: OpenedSource, roles: dict[str, str], score_policy: str,
                        row_sql: str) -> tuple[str, list[str]]:
    """SELECT producing the canonical columns, attributes and a ``_problems`` list.

    Returns ``(sql, attribute_names)``.  ``row_sql`` computes the 1-based data row.
    """
    if score_policy not in SCORE_POLICIES:
        raise UnusableInput(f"Unknown score policy {score_policy!r}; use reject or blank.")
    select: list[str] = [f"{row_sql} AS _row"]
    problems: list[str] = []
    cust = roles["customer_id"]
    select.append(f"{_trimmed(cust)} AS customer_id")
    problems.append(_problem_struct(cust, quote_ident(cust),
                                    f"CASE WHEN {_trimmed(cust)} IS NULL THEN 'customer is empty' END",
                                    "rejected"))
    tcol = roles["timestamp"]
    ts_sql = _timestamp_sql(tcol)
    select.append(f"{ts_sql} AS ts")
    problems.append(_problem_struct(
        tcol, quote_ident(tcol),
        f"CASE WHEN {_trimmed(tcol)} IS NULL THEN 'time is empty' "
        f"WHEN ({ts_sql}) IS NULL THEN 'time is not a readable date/time' END", "rejected"))
    for role in ("stage", "event", "touchpoint", "channel"):
        select.append(f"{_trimmed(roles[role])} AS {role}" if role in roles else f"CAST(NULL AS VARCHAR) AS {role}")
    for role in ("nps", "csat", "ces"):
        if role in roles:
            value, reason = _score_parts(roles[role], role)
            select.append(f"{value} AS {role}")
            if score_policy == "blank":
                reason = f"({reason}) || ' (score left blank, row kept)'"
            problems.append(_problem_struct(roles[role], quote_ident(roles[role]), reason,
                                            "rejected" if score_policy == "reject" else "blanked"))
        else:
            select.append(f"CAST(NULL AS INTEGER) AS {role}")
    select.append(f"{quote_ident(roles['comment'])} AS comment" if "comment" in roles
                  else "CAST(NULL AS VARCHAR) AS comment")
    mapped = set(roles.values())
    attributes = []
    for column in opened.columns:
        if column in mapped:
            continue
        name = schema.attribute_name(column)
        attributes.append(name)
        select.append(f"{quote_ident(column)} AS {quote_ident(name)}")
    select.append("list_filter([" + ", ".join(problems) + "], lambda p: p IS NOT NULL) AS _problems")
    sql = f"SELECT {', '.join(select)} FROM ({opened.relation_sql}) AS src"
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
                on_progress: ProgressCallback | None = None) -> IngestResult:
    """Read ``path`` into ``table`` (canonical layout) and its problems into ``rejects_table``.

    Both tables are created (replaced) on ``cur``'s database.  Raises
    :class:`UnusableInput` when nothing can be read or a required role is missing.
    """
    source_name = Path(path).name
    scratch = "cx_rej_" + uuid.uuid4().hex[:10]
    if on_progress:
        on_progress("Reading the file's layout", -1)
    opened = open_source(cur, path, scratch, sheet=sheet)
    try:
        roles = schema.guess_roles(opened.columns, overrides)
        check_roles(roles, opened.columns)
        notes = list(opened.fmt.notes) + _duplicate_header_notes(path, opened)
        transform, attributes = build_transform_sql(opened, roles, score_policy, "src._ord")
        staged = table + "_staged"
        try:
            run_with_progress(cur, f"CREATE OR REPLACE TABLE {quote_ident(staged)} AS {transform}",
                              opened.params, "Reading and validating rows", on_progress)
        except Exception as exc:
            raise UnusableInput(f"The file could not be read: {str(exc).splitlines()[0][:300]}")
        structural: list[tuple[int, str, str]] = []
        if opened.fmt.kind == "csv":
            # Lines the reader could not parse are logged during the scan; data rows are
            # then renumbered so that row numbers count them too (rare, so done after).
            structural = collect_csv_rejects(cur, scratch, opened.header_lines)
            if structural:
                cur.execute(f"UPDATE {quote_ident(staged)} AS src SET _row = "
                            + _row_sql([r for r, _, _ in structural], "src._row"))
        result = _split_staged(cur, staged, table, rejects_table, structural, attributes,
                               score_policy, on_progress)
        rows_read, rows_accepted, rows_rejected = result
        if rows_read == 0:
            raise UnusableInput("The file has a header but no data rows.")
        if stage_mapping is not None:
            apply_stage_mapping(cur, table, stage_mapping)
        order = stage_order or detect_stage_order(cur, table)
        problems, reasons = summarise_problems(cur, rejects_table, problem_limit)
        cur.execute(f"DROP TABLE IF EXISTS {quote_ident(staged)}")
        return IngestResult(source=source_name, format=opened.fmt.describe(), rows_read=rows_read,
                            rows_accepted=rows_accepted, rows_rejected=rows_rejected, roles=roles,
                            columns=list(opened.columns), attributes=attributes, stage_order=order,
                            problems=problems, reasons=reasons, notes=notes, table=table,
                            rejects_table=rejects_table)
    finally:
        for name in (scratch, scratch + "_scan"):
            try:
                cur.execute(f"DROP TABLE IF EXISTS {quote_ident(name)}")
            except Exception:
                pass
        opened.close()


def _split_staged(cur, staged: str, table: str, rejects_table: str,
                  structural: list[tuple[int, str, str]], attributes: list[str],
                  score_policy: str, on_progress) -> tuple[int, int, int]:
    """Move problems into ``rejects_table`` and accepted rows into ``table``."""
    s, t, r = quote_ident(staged), quote_ident(table), quote_ident(rejects_table)
    cur.execute(f"CREATE OR REPLACE TABLE {r} (row BIGINT, column_name VARCHAR, value VARCHAR, "
                "reason VARCHAR, action VARCHAR)")
    for row, raw, reason in structural:
        cur.execute(f"INSERT INTO {r} VALUES (?, ?, ?, ?, 'rejected')", [row, "(whole line)", raw, reason])
    run_with_progress(cur, f"""INSERT INTO {r}
        SELECT _row, p.column, p.value, p.reason, p.action
        FROM (SELECT _row, unnest(_problems) AS p FROM {s} WHERE len(_problems) > 0)
        ORDER BY _row""", [], "Recording problems", on_progress)
    canonical = ", ".join(quote_ident(name) for name, _ in schema.CANONICAL_COLUMNS)
    extra = "".join(", " + quote_ident(a) for a in attributes)
    rejected_row = "list_bool_or(list_transform(_problems, lambda p: p.action = 'rejected'))"
    run_with_progress(cur, f"""CREATE OR REPLACE TABLE {t} AS
        SELECT {canonical}{extra} FROM {s}
        WHERE len(_problems) = 0 OR NOT coalesce({rejected_row}, false)""",
                      [], "Saving accepted rows", on_progress)
    parsed = cur.execute(f"SELECT count(*), count(*) FILTER (WHERE len(_problems) > 0 AND {rejected_row}) "
                         f"FROM {s}").fetchone()
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
    import duckdb
    from cxdata.sources import preview_rows
    con = duckdb.connect()
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
                  on_progress: ProgressCallback | None = None, sheet=None) -> IngestResult:
    """Read and check ``path`` in a private in-memory DuckDB without storing anything."""
    import duckdb
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        return ingest_file(con, path, table="validate_rows", rejects_table="validate_rejects",
                           overrides=overrides, score_policy=score_policy,
                           problem_limit=problem_limit, on_progress=on_progress, sheet=sheet)
    finally:
        con.close()


