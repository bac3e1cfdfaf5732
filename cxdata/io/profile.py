"""How many different values each column holds, and the two rules that read it.

* **Id-like columns** (SPEC §2, Breakdown): a column whose values are nearly all distinct —
  a task id, an order number, a timestamp — splits customers into groups of one, so it is
  not offered as a breakdown or a filter.  See :func:`id_like_columns`.
* **The case notion** (SPEC §1): a customer column with fewer different values than 1% of
  the rows, beside another column with many more, is probably the wrong one (a channel or
  a department read as the customer).  See :func:`case_notion_warning`.

Both read a :class:`ColumnProfile`, made by one DuckDB query over every column at once
(:func:`profile_table` for a dataset table, :func:`profile_file` for a file before import).
The profile covers the first :data:`PROFILE_ROWS` rows, all rows of smaller logs: the
rules compare shares, which the first rows of a large log show as well as all of them, and
a page then never waits for a scan of tens of millions of rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from cxdata.io import schema
from cxdata.sql import quote_ident

#: Rows read to profile a log (file or dataset table); the first rows, in file order.
PROFILE_ROWS = 200_000
#: A column is id-like when it has more than this many different values (a column with
#: fewer is a small set of groups whatever its share; SPEC §8.1 also stops at 50) …
ID_LIKE_MIN_VALUES = 50
#: … and its different values are at least this share of its filled cells, or of the
#: customers (groups of about one or two customers each) …
ID_LIKE_SHARE = 0.5
#: … or nearly all of its filled cells (this share) read as a date/time.
TIME_LIKE_SHARE = 0.9
#: SPEC §1: a customer column with fewer different values than this share of the rows …
CASE_NOTION_SHARE = 0.01
#: … while another column has at least this many times as many different values.
CASE_NOTION_FACTOR = 10


@dataclass(frozen=True)
class ColumnProfile:
    """Counts over the first ``rows`` rows (``complete``: they are all the rows).

    Per column: ``values`` different non-empty values, ``filled`` non-empty cells,
    ``times`` cells that read as a date/time.  ``customers`` is the number of different
    customers when the profile was made with a customer column, else None.
    """
    rows: int
    values: dict[str, int] = field(default_factory=dict)
    filled: dict[str, int] = field(default_factory=dict)
    times: dict[str, int] = field(default_factory=dict)
    customers: int | None = None
    complete: bool = True


def _profile_sql(relation: str, columns: list[str], customer_column: str | None) -> str:
    """One SELECT returning rows, then (values, filled, times) per column, then customers."""
    parts = ["count(*)"]
    for column in columns:
        # Empty or blank text counts as missing, as ingest treats it.
        cell = f"NULLIF(TRIM(CAST({quote_ident(column)} AS VARCHAR)), '')"
        parts += [f"count(DISTINCT {cell})", f"count({cell})",
                  f"count(TRY_CAST({cell} AS TIMESTAMPTZ))"]
    if customer_column is not None:
        parts.append(f"count(DISTINCT {quote_ident(customer_column)})")
    return f"SELECT {', '.join(parts)} FROM ({relation}) AS profiled"


def _read_profile(cur, relation: str, params: list, columns: list[str],
                  customer_column: str | None, limit: int) -> ColumnProfile:
    row = cur.execute(_profile_sql(relation, columns, customer_column), params).fetchone()
    return _profile_of(row, columns, customer_column, limit)


def _profile_of(row, columns: list[str], customer_column: str | None, limit: int) -> ColumnProfile:
    rows = int(row[0])
    values, filled, times = {}, {}, {}
    for i, column in enumerate(columns):
        values[column], filled[column], times[column] = (int(v) for v in row[1 + 3 * i: 4 + 3 * i])
    customers = int(row[-1]) if customer_column is not None else None
    return ColumnProfile(rows, values, filled, times, customers, complete=rows < limit)


def profile_table(cur, table: str, columns: list[str], customer_column: str | None = "customer_id",
                  limit: int = PROFILE_ROWS) -> ColumnProfile:
    """Profile ``columns`` of a dataset table (or of an engine's events: ``cur`` an engine,
    ``table`` None) over its first ``limit`` rows (by ``_row``)."""
    from cxdata.engines import as_engine
    engine = as_engine(cur, table)
    kept = list(dict.fromkeys(["_row", *columns] + ([customer_column] if customer_column else [])))
    # Each part's first rows, then the first of them all: the first rows of the whole log.
    first = (f"SELECT {', '.join(quote_ident(c) for c in kept)} FROM {quote_ident(engine.table)} "
             f"ORDER BY _row LIMIT {int(limit)}")
    then = _profile_sql(f"SELECT * FROM kernel ORDER BY _row LIMIT {int(limit)}", list(columns),
                        customer_column)
    return _profile_of(engine.rows(first, then=then)[0], list(columns), customer_column, limit)


def profile_source(cur, opened, limit: int = PROFILE_ROWS) -> ColumnProfile:
    """Profile every column of an opened source (:class:`cxdata.io.sources.OpenedSource`)
    over its first ``limit`` records.  No customer count: ``values`` has it for any column."""
    relation = f"SELECT * FROM ({opened.relation_sql}) AS src LIMIT {int(limit)}"
    return _read_profile(cur, relation, list(opened.params), list(opened.columns), None, limit)


def profile_file(path, limit: int = PROFILE_ROWS, sheet=None) -> ColumnProfile:
    """:func:`profile_source` of a log file, before import (e.g. for the Data page)."""
    import duckdb
    from cxdata.io.sources import open_source
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        opened = open_source(con, path, "profile_rejects", sheet=sheet)
        try:
            return profile_source(con, opened, limit)
        finally:
            opened.close()
    finally:
        con.close()


def roles_warning(profile: ColumnProfile, roles: dict[str, str]) -> str | None:
    """:func:`case_notion_warning` for a role mapping ``{role: source column}``: the time,
    score and comment columns are never suggested as the customer."""
    exclude = [roles[r] for r in ("timestamp", "nps", "csat", "ces", "comment") if r in roles]
    return case_notion_warning(profile, roles.get("customer_id"), exclude)


def is_id_like(profile: ColumnProfile, column: str) -> bool:
    """The id-like rule (module docstring): more than :data:`ID_LIKE_MIN_VALUES` values,
    and values ≥ :data:`ID_LIKE_SHARE` of the filled cells or of the customers, or
    ≥ :data:`TIME_LIKE_SHARE` of the filled cells read as a date/time."""
    values, filled = profile.values.get(column, 0), profile.filled.get(column, 0)
    if values <= ID_LIKE_MIN_VALUES or not filled:
        return False
    if values >= ID_LIKE_SHARE * filled:
        return True
    if profile.customers and values >= ID_LIKE_SHARE * profile.customers:
        return True
    return profile.times.get(column, 0) >= TIME_LIKE_SHARE * filled


def id_like_columns(cur, table: str, columns: list[str]) -> list[str]:
    """Columns of a dataset table (among ``columns``, in their order) that are id-like:
    not offered as breakdowns or filters (SPEC §2).  One query over all of them."""
    columns = list(columns)
    if not columns:
        return []
    profile = profile_table(cur, table, columns)
    return [c for c in columns if is_id_like(profile, c)]


def case_notion_warning(profile: ColumnProfile, customer_column: str | None,
                        exclude: tuple[str, ...] | list[str] = ()) -> str | None:
    """The sentence to show beside a customer-column guess that may be the wrong case
    notion (SPEC §1), or None.

    Warns when ``customer_column`` has fewer different values than
    :data:`CASE_NOTION_SHARE` of the rows and another column has at least
    :data:`CASE_NOTION_FACTOR` times as many.  A column that tells rows apart (values ≥
    :data:`ID_LIKE_SHARE` of its cells) or holds dates/times is no case notion and is not
    suggested, nor are the columns in ``exclude`` (e.g. the time and score columns).  The
    suggestion prefers a recognised customer name, then the most values.
    """
    if not customer_column or customer_column not in profile.values or not profile.rows:
        return None
    count = profile.values[customer_column]
    if count >= CASE_NOTION_SHARE * profile.rows:
        return None
    known = {schema.normalise_name(a) for a in schema.ROLE_ALIASES["customer_id"]}
    candidates = []
    for position, column in enumerate(profile.values):
        values, filled = profile.values[column], profile.filled.get(column, 0)
        if (column == customer_column or column in exclude or values < CASE_NOTION_FACTOR * max(count, 1)
                or values >= ID_LIKE_SHARE * filled or profile.times.get(column, 0) >= TIME_LIKE_SHARE * filled):
            continue
        candidates.append((schema.normalise_name(column) not in known, -values, position, column))
    if not candidates:
        return None
    best = min(candidates)[3]
    scope = "" if profile.complete else f" (first {profile.rows:,} rows read)"
    return (f"“{customer_column}” has only {count:,} different values in {profile.rows:,} rows"
            f"{scope}, so it may not be what makes one journey: “{best}” has "
            f"{profile.values[best]:,}. If each {best} is one customer journey, choose it as the "
            "customer.")
