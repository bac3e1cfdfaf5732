"""Customer timelines: a dataset's events on one column, gathered per customer once.

Ordered and unordered funnels (:mod:`cxdata.analytics.funnel`) work on each customer's events side
by side.  Gathering them — one list aggregate over every event of the log — is most of
a funnel's cost on a large log (about 1 s of the 1.9 s of a 10-million-event funnel), and
it is the same for every funnel on that column whatever its steps, window or dates.  So
the workspace gathers them once, when a dataset is stored, for the column funnels use by
default: a *timeline* table with one row per customer,

    ``customer_id``, ``K``: the customer's events as packed keys
    ``(epoch µs − t_min) << bits | code`` (in no particular order),

where ``code`` (1…n) is the event's value in the timeline's dictionary (``<name>_values``)
and ``t_min`` the earliest event time of the whole dataset.  Events with no value on the
column are left out: they never match a step.  Product-analytics engines keep events per
user for the same reason.

Beside ``K`` a timeline keeps, for each *filter column* (:data:`FILTER_COLUMNS`: the filter
bar's channel) the dataset has, a parallel list ``F1``, ``F2``, …: the code of each key's
event on that column (0 = no value), from its own dictionary (``<name>_f<i>_values``,
registered in ``cx_timeline_filters``).  A filter on those columns then keeps keys by
their position — :meth:`Timeline.keys_source` — instead of gathering the filtered events
again: on a 10-million-event log a funnel under a channel filter reads 1.4 million short
lists, not the events.  :meth:`Timeline.serves` says whether a filter is one of those.

The workspace stores the step column's timeline at import.  Other columns' timelines
are built when an analysis first needs one (:func:`ensure_timeline`), with a list of the
step column too: the touchpoint timeline, with each touchpoint's stage beside it, tells
the drop-off where a customer left and what they did next without reading the events
(:mod:`cxdata.analytics.funnel.dropoff_lists`), and the conversion drivers what each
customer did (:mod:`cxdata.why.drivers_lists`).

A timeline belongs to its dataset table: it is registered in ``cx_timelines`` with the
table's row count and earliest time, :func:`find_timeline` ignores it when either has
changed, and :func:`drop_timelines` removes it with the table or before the table's
values change.  Funnels with a filter on other columns read the events as before.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from cxdata.sql import EventFilter, quote_ident

CATALOG = "cx_timelines"
FILTER_CATALOG = "cx_timeline_filters"
#: Columns with more distinct values than this get no timeline (a timeline is for step
#: columns: stages, events, touchpoints — not free text), nor a filter list.
MAX_VALUES = 1 << 16
#: Columns whose value each timeline keeps beside every key, so that a filter on them
#: needs no pass over the events: the one the filter bar offers on every page.
FILTER_COLUMNS = ("channel",)
#: The columns a dataset's funnels may step through, in the order the default one is picked
#: (:func:`default_step_column`): the column of the timeline stored at import.
STEP_COLUMNS = ("stage", "event", "touchpoint")
#: Score columns a timeline built on demand keeps beside its keys (the conversion drivers
#: read customers' low scores from them, :mod:`cxdata.why.drivers_lists`).
SCORE_COLUMNS = ("nps", "csat", "ces")
#: :func:`ensure_timeline` builds a missing timeline on demand only up to this many events
#: (about 2 s at 10 million on two cores); a bigger log gets it when the app imports it
#: (:meth:`cxdata.store.workspace.Workspace.prepare_views`), not in the middle of a page.
ON_DEMAND_ROWS = 20_000_000

_CATALOG_DDL = f"""CREATE TABLE IF NOT EXISTS {CATALOG} (
    dataset_table VARCHAR NOT NULL,
    column_name VARCHAR NOT NULL,
    timeline_table VARCHAR NOT NULL,
    values_table VARCHAR NOT NULL,
    time_min_us BIGINT NOT NULL,
    code_bits INTEGER NOT NULL,
    row_count BIGINT NOT NULL,
    PRIMARY KEY (dataset_table, column_name))"""
# Its own table, not a column of cx_timelines: timelines stored before it existed simply
# have no filter lists, and serve unfiltered views as they always did.
_FILTER_CATALOG_DDL = f"""CREATE TABLE IF NOT EXISTS {FILTER_CATALOG} (
    timeline_table VARCHAR NOT NULL,
    column_name VARCHAR NOT NULL,
    list_column VARCHAR NOT NULL,
    values_table VARCHAR NOT NULL,
    PRIMARY KEY (timeline_table, column_name))"""


@dataclass(frozen=True)
class FilterList:
    """A filter column kept in a timeline: ``list_column`` holds, position by position
    with ``K``, the code of each event's value (``codes``: text -> 1…n; 0 = no value)."""
    list_column: str
    codes: dict

    def codes_of(self, values) -> list[int]:
        """The codes of ``values`` (None: no value, code 0), sorted; a value the column
        never has has none (so an empty list keeps nothing)."""
        return sorted({0 if v is None else self.codes.get(str(v), -1) for v in values} - {-1})


@dataclass(frozen=True)
class Timeline:
    """A stored timeline: ``table`` (one row per customer, packed keys ``K``), the times
    in its keys are µs after ``time_min_us`` (epoch µs), shifted left by ``code_bits``
    above the value's code; ``codes`` maps a value (text) to its code."""
    column: str
    table: str
    time_min_us: int
    code_bits: int
    codes: dict
    #: filter column -> its :class:`FilterList`
    filters: dict = field(default_factory=dict)

    @property
    def code_mask(self) -> int:
        return (1 << self.code_bits) - 1

    def serves(self, event_filter: EventFilter | None) -> bool:
        """Whether the keys can stand in for the events under ``event_filter``: every
        column it keeps values of has a filter list (a time range is always served: it
        is a condition on the keys' times, which the readers apply)."""
        return event_filter is None or all(column in self.filters
                                           for column, _ in event_filter.equals)

    def kept(self, event_filter: EventFilter | None, position: str) -> str:
        """SQL condition "the key at ``position`` (1-based, SQL) is an event the filter's
        column values keep" over this timeline's lists ("TRUE" without such values).
        Raises ValueError when the timeline does not :meth:`serve <serves>` the filter.
        No parameters: the codes are integers."""
        if not self.serves(event_filter):
            raise ValueError("This timeline has no list of the filter's columns.")
        kept = []
        for column, values in (event_filter.equals if event_filter is not None else ()):
            listed = self.filters[column]
            codes = listed.codes_of(values)
            # a value the column never has keeps nothing
            kept.append(f"{quote_ident(listed.list_column)}[{position}] IN ({', '.join(map(str, codes))})"
                        if codes else "FALSE")
        return " AND ".join(kept) or "TRUE"

    def keys_source(self, event_filter: EventFilter | None) -> str:
        """SQL of a relation ``(customer_id, K)``: each customer's keys of the events the
        filter's column values keep (all of them without such values; its time range is
        left to the reader).  Raises ValueError as :meth:`kept`."""
        kept = self.kept(event_filter, "i")
        if kept == "TRUE":
            return quote_ident(self.table)
        return f"(SELECT customer_id, list_filter(K, lambda x, i: {kept}) AS K FROM {quote_ident(self.table)})"


def values_by_code(codes: dict) -> list:
    """A dictionary's values in code order (code n at position n, 1-based): SQL's
    ``list_extract(?, code)`` then turns a code back into its text."""
    values = [None] * len(codes)
    for text, code in codes.items():
        values[int(code) - 1] = text
    return values


def timeline_name(table: str, column: str) -> str:
    """The timeline table of ``column`` of dataset table ``table`` (its dictionary is
    ``<name>_values``).  A digest keeps any column name out of the table name."""
    digest = hashlib.sha1(column.encode("utf-8")).hexdigest()[:10]
    return f"{table}__timeline_{digest}"


def _catalog_exists(cur, catalog: str = CATALOG) -> bool:
    return cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary "
                       "AND database_name = current_database() AND schema_name = 'main'",
                       [catalog]).fetchone()[0] > 0


def _columns(cur, table: str) -> dict:
    """Column name -> type of a table of the current database."""
    return dict(cur.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? "
                            "AND database_name = current_database() AND schema_name = 'main'",
                            [table]).fetchall())


def _table_figures(cur, table: str) -> tuple[int, int | None, int | None]:
    """Rows, earliest and latest event time (epoch µs) of a dataset table."""
    rows, low, high = cur.execute(f"SELECT count(*), epoch_us(min(ts)), epoch_us(max(ts)) "
                                  f"FROM {quote_ident(table)}").fetchone()
    return int(rows), low, high


def _text(column: str, kind, alias: str = "") -> str:
    """SQL of a column's value as text (no cast when it is text already)."""
    ref = (alias + "." if alias else "") + quote_ident(column)
    return ref if str(kind).upper().startswith("VARCHAR") else f"CAST({ref} AS VARCHAR)"


def _dictionary(cur, table: str, column: str, kind, values_table: str) -> int:
    """Store ``values_table (value, code)``: the column's distinct values as text, coded
    1…n in text order.  Returns n."""
    cur.execute(f"CREATE OR REPLACE TABLE {quote_ident(values_table)} AS "
                f"SELECT value, (row_number() OVER (ORDER BY value))::INTEGER AS code "
                f"FROM (SELECT DISTINCT {_text(column, kind)} AS value FROM {quote_ident(table)} "
                f"WHERE {quote_ident(column)} IS NOT NULL)")
    return int(cur.execute(f"SELECT count(*) FROM {quote_ident(values_table)}").fetchone()[0])


def build_timeline(cur, table: str, column: str, also: Sequence[str] = ()) -> Timeline | None:
    """Gather ``column``'s events of dataset table ``table`` per customer (replacing an
    earlier timeline of that column), with the lists of the :data:`FILTER_COLUMNS` and of
    the columns ``also`` the table has (other than ``column``, each with
    1…:data:`MAX_VALUES` values).  Returns None — and stores nothing — when the column
    has no values, too many different values (> :data:`MAX_VALUES`), or a time span too
    long for the packed keys."""
    types = _columns(cur, table)
    kind = types.get(column)
    if kind is None:
        raise ValueError(f"The column '{column}' is not in the dataset.")
    drop_timeline(cur, table, column)
    rows, low, high = _table_figures(cur, table)
    if low is None:
        return None
    name = timeline_name(table, column)
    values_table = name + "_values"
    values = _dictionary(cur, table, column, kind, values_table)
    bits = int(values).bit_length()
    if values == 0 or values > MAX_VALUES or (high - low) >> (62 - bits) > 0:
        cur.execute(f"DROP TABLE {quote_ident(values_table)}")
        return None
    filters = []                   # (column, list column, dictionary)
    for other in dict.fromkeys((*FILTER_COLUMNS, *also)):
        if other == column or other not in types:
            continue
        dictionary = f"{name}_f{len(filters) + 1}_values"
        if 0 < _dictionary(cur, table, other, types[other], dictionary) <= MAX_VALUES:
            filters.append((other, f"F{len(filters) + 1}", dictionary))
        else:
            cur.execute(f"DROP TABLE {quote_ident(dictionary)}")
    joins = "".join(f" LEFT JOIN {quote_ident(d)} f{i} ON f{i}.value = {_text(c, types[c], 'e')}"
                    for i, (c, _, d) in enumerate(filters, start=1))
    # The filter codes travel with their key in one struct, so that the lists stay
    # aligned position by position whatever order the aggregate meets the events in.
    entry = ", ".join([f"'k': ((epoch_us(e.ts) - ?) << {bits}) | v.code"]
                      + [f"'{f}': coalesce(f{i}.code, 0)" for i, (_, f, _) in enumerate(filters, start=1)])
    lists = ", ".join(["list_transform(E, lambda x: x.k) AS K"]
                      + [f"list_transform(E, lambda x: x.{f}) AS {f}" for _, f, _ in filters])
    # Fed in customer order (by hash, a cheap sort key), each customer's list stays in
    # cache while it grows: 1.3 s instead of 2.1 s on a freshly ingested 10M-row table.
    cur.execute(f"""CREATE OR REPLACE TABLE {quote_ident(name)} AS
        SELECT customer_id, {lists} FROM (
            SELECT customer_id, list(entry) AS E
            FROM (SELECT e.customer_id, {{{entry}}} AS entry
                  FROM {quote_ident(table)} e JOIN {quote_ident(values_table)} v ON v.value = {_text(column, kind, 'e')}{joins}
                  ORDER BY hash(e.customer_id))
            GROUP BY customer_id)""", [low])
    cur.execute(_CATALOG_DDL)
    cur.execute(_FILTER_CATALOG_DDL)
    cur.execute(f"INSERT OR REPLACE INTO {CATALOG} VALUES (?, ?, ?, ?, ?, ?, ?)",
                [table, column, name, values_table, low, bits, rows])
    for other, list_column, dictionary in filters:
        cur.execute(f"INSERT OR REPLACE INTO {FILTER_CATALOG} VALUES (?, ?, ?, ?)",
                    [name, other, list_column, dictionary])
    return find_timeline(cur, table, column)


def find_timeline(cur, table: str, column: str) -> Timeline | None:
    """The stored timeline of ``column`` of ``table``, or None when there is none or the
    table's rows or earliest time no longer match those it was built from."""
    if not _catalog_exists(cur):
        return None
    row = cur.execute(f"SELECT timeline_table, values_table, time_min_us, code_bits, row_count "
                      f"FROM {CATALOG} WHERE dataset_table = ? AND column_name = ?", [table, column]).fetchone()
    if row is None:
        return None
    name, values_table, low, bits, rows = row
    if _table_figures(cur, table)[:2] != (rows, low):
        return None
    codes = dict(cur.execute(f"SELECT value, code FROM {quote_ident(values_table)}").fetchall())
    filters = {}
    if _catalog_exists(cur, FILTER_CATALOG):
        for other, list_column, dictionary in cur.execute(
                f"SELECT column_name, list_column, values_table FROM {FILTER_CATALOG} "
                f"WHERE timeline_table = ?", [name]).fetchall():
            filters[other] = FilterList(list_column, dict(cur.execute(
                f"SELECT value, code FROM {quote_ident(dictionary)}").fetchall()))
    return Timeline(column=column, table=name, time_min_us=int(low), code_bits=int(bits),
                    codes=codes, filters=filters)


def _writable_table(cur, table: str) -> bool:
    """Whether ``table`` is a stored table of a workspace file this cursor can write: where
    a timeline built on demand is kept (in memory it would not outlive the question)."""
    database = cur.execute("SELECT readonly, path FROM duckdb_databases() "
                           "WHERE database_name = current_database()").fetchone()
    if database is None or database[0] or not database[1]:
        return False
    return cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary "
                       "AND database_name = current_database() AND schema_name = 'main'",
                       [table]).fetchone()[0] > 0


def ensure_timeline(cur, table: str, column: str, lists: Sequence[str] = (),
                    max_rows: int | None = ON_DEMAND_ROWS) -> Timeline | None:
    """The stored timeline of ``column`` with a list of each column of ``lists`` and of the
    dataset's default step column and :data:`SCORE_COLUMNS` (those the table has: what
    the drop-offs and the drivers read beside a touchpoint, so that they share one
    table), built — or rebuilt with the lists it lacks — when the workspace is a file
    this cursor can write and the table has at most ``max_rows`` rows (None: no limit).
    When it cannot be built, the timeline as it is (None without one: the analyses then
    read the events).  Only a speed-up: a failed build (another session storing it at the
    same moment, memory) is not an error here."""
    found = find_timeline(cur, table, column)
    present = _columns(cur, table)
    step = default_step_column(cur, table)
    wanted = [c for c in dict.fromkeys((*lists, *([step] if step else []), *SCORE_COLUMNS))
              if c in present and c != column]
    if found is not None and all(c in found.filters for c in wanted):
        return found
    # a column without a value gets no list: not a reason to build again
    filled = cur.execute("SELECT " + ", ".join(f"count({quote_ident(c)}) > 0" for c in wanted)
                         + f" FROM {quote_ident(table)}").fetchone() if wanted else ()
    wanted = [c for c, has in zip(wanted, filled) if has]
    if found is not None and all(c in found.filters for c in wanted):
        return found
    if not _writable_table(cur, table) or (max_rows is not None
                                           and _table_figures(cur, table)[0] > max_rows):
        return found        # as it is (callers check for the lists they need)
    try:
        return build_timeline(cur, table, column, also=[*(found.filters if found else ()), *wanted])
    except Exception:   # noqa: BLE001 - see the docstring: the events still answer
        return find_timeline(cur, table, column)


def drop_timeline(cur, table: str, column: str) -> None:
    """Remove the timeline of one column of ``table`` (nothing happens when there is none)."""
    _drop(cur, "dataset_table = ? AND column_name = ?", [table, column])


def drop_timelines(cur, table: str) -> None:
    """Remove every timeline of dataset table ``table`` — before its values change."""
    _drop(cur, "dataset_table = ?", [table])


def _drop(cur, where: str, params: list) -> None:
    if not _catalog_exists(cur):
        return
    found = cur.execute(f"SELECT timeline_table, values_table FROM {CATALOG} WHERE {where}", params).fetchall()
    has_filters = _catalog_exists(cur, FILTER_CATALOG)
    for names in found:
        if has_filters:
            names += tuple(r[0] for r in cur.execute(
                f"SELECT values_table FROM {FILTER_CATALOG} WHERE timeline_table = ?", [names[0]]).fetchall())
            cur.execute(f"DELETE FROM {FILTER_CATALOG} WHERE timeline_table = ?", [names[0]])
        for name in names:
            cur.execute(f"DROP TABLE IF EXISTS {quote_ident(name)}")
    cur.execute(f"DELETE FROM {CATALOG} WHERE {where}", params)


def default_step_column(cur, table: str) -> str | None:
    """The column a dataset's funnels use by default: ``stage`` when it has values, else
    ``event``, else ``touchpoint`` (the order of :func:`cxdata.analytics.insights.path_without_stages`)."""
    present = _columns(cur, table)
    for column in STEP_COLUMNS:
        if column in present and cur.execute(
                f"SELECT count({quote_ident(column)}) > 0 FROM {quote_ident(table)}").fetchone()[0]:
            return column
    return None
