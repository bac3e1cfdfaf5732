"""Each customer's sequence on one column, as one list per customer: the input of every
path analysis (:mod:`cxdata.analytics.paths`).

SPEC §3: a customer's *sequence* is their events ordered by time, ties by file order
(``ts``, then ``_row``), described by one column; events without a value there (NULL or
empty) are not part of it.  :func:`sequences` gives the CTEs of a relation ``seqs``:

``customer_id``, ``S`` (the values of the sequence, in order), ``t_first`` and ``t_last``
(epoch µs of its first and last event),

one row per customer with at least one sequence event.  The values are integer codes of a
dictionary (integer lists sort and compare far faster than lists of text), turned back
into text only in the small aggregated results (:meth:`Sequences.text`).  Every path
figure is worked out from ``seqs`` with list functions — no window function re-sorting
every event.  Two sources give the same relation:

* **the events** (any engine): one pass, one list aggregate per customer of sort keys
  (time, file order, code); the dictionary is that of the events at hand (on Spark, of
  one partition's customers: the results leave it as text);
* **the column's stored timeline** (:mod:`cxdata.store.timelines`; DuckDB workspace
  datasets, filters on time or on the columns it keeps a list of, the channel): each
  customer's packed keys sorted, the timeline's own dictionary — no pass over the events.
  A timeline does not keep the file order of events at one instant, so the customers
  with two different values at the same instant (where file order decides) are read from
  the events instead; usually none are, and then the events are not read at all.
"""
from __future__ import annotations

from dataclasses import dataclass

from cxdata.engines import Engine
from cxdata.sql import EventFilter, epoch_us, filtered_events, quote_ident, range_conditions
from cxdata.store.timelines import Timeline

#: Bits of the sort key below the event time (:func:`_from_events`): ``_row`` above the
#: value's code.
ROW_BITS, CODE_BITS = 40, 24


@dataclass(frozen=True)
class Sequences:
    """SQL of the ``seqs`` relation: ``ctes`` (``name AS (…)`` texts) and their ``params``.

    Values in ``S`` are codes 1, 2, … of a dictionary, CTE ``codes`` (value text, code):
    integer lists sort and compare far faster than lists of text.  ``names AS (…)`` (one
    row, ``N``: the values in code order) turns codes back into text (:meth:`text`) in the
    small aggregated results."""
    ctes: list[str]
    params: list

    @staticmethod
    def text(element: str) -> str:
        """SQL of the text of code ``element`` (NULL for code 0), with ``names`` in FROM."""
        return f"N[{element}]"

    @staticmethod
    def code(value: str) -> tuple[str, list]:
        """SQL of the code of the text ``value`` (0 when no event has it), and its params."""
        return "coalesce((SELECT code FROM codes WHERE value = ?), 0)", [value]


def value_sql(column: str, alias: str = "") -> str:
    """SQL of an event's sequence value on ``column``: its text, NULL when empty."""
    return f"NULLIF(CAST({(alias + '.') if alias else ''}{quote_ident(column)} AS VARCHAR), '')"


def sequences(engine: Engine, column: str, event_filter: EventFilter | None) -> Sequences:
    """The ``seqs`` relation of ``column`` after ``event_filter`` (see the module doc):
    from the column's stored timeline when the engine has one that can stand in for the
    events, else from the events."""
    timeline = engine.timeline(column)
    if timeline is not None and not timeline.serves(event_filter):
        timeline = None        # a filter on a column the timeline keeps no list of
    if timeline is not None:
        low, _ = engine.time_range_us()
        if low is None or timeline.time_min_us != low:
            timeline = None
    if timeline is None:
        return _from_events(engine.table, column, event_filter)
    return _from_timeline(engine.table, column, event_filter, timeline)


def _events_lists(value: str, where: str = "TRUE") -> str:
    """SELECT of ``seqs`` rows from CTE ``ev`` joined to ``codes``: per customer one list of
    integer keys ``ts (µs) · 2^64 + _row · 2^24 + code``, sorted (time, then file order),
    then reduced to the codes.  Reading the events once, no window function."""
    key = (f"epoch_us(e.ts)::HUGEINT * {1 << (ROW_BITS + CODE_BITS)} "
           f"+ e._row::HUGEINT * {1 << CODE_BITS} + c.code")
    # Keys this size always suffice in practice; should they not, stop rather than mix events.
    checked = (f"CASE WHEN e._row >= {1 << ROW_BITS} OR e._row < 0 OR c.code >= {1 << CODE_BITS} "
               f"THEN error('Too many events or different values for a path analysis.') "
               f"ELSE {key} END")
    return (f"SELECT e.customer_id, list_transform(list_sort(list({checked})), "
            f"lambda k: (k & {(1 << CODE_BITS) - 1})::INTEGER) AS S, "
            f"epoch_us(min(e.ts)) AS t_first, epoch_us(max(e.ts)) AS t_last "
            f"FROM ev e JOIN codes c ON c.value = {value} WHERE {where} GROUP BY e.customer_id")


def _from_events(table: str, column: str, event_filter: EventFilter | None) -> Sequences:
    source, params = filtered_events(table, event_filter)
    value = value_sql(column, "e")
    ctes = [f"ev AS ({source})",
            # the dictionary of the events at hand (on Spark: of one partition's customers)
            f"codes AS (SELECT value, (row_number() OVER (ORDER BY value))::INTEGER AS code "
            f"FROM (SELECT DISTINCT {value} AS value FROM ev e WHERE {value} IS NOT NULL))",
            "names AS (SELECT coalesce(list(value ORDER BY code), []) AS N FROM codes)",
            f"seqs AS ({_events_lists(value)})"]
    return Sequences(ctes, params)


def _from_timeline(table: str, column: str, event_filter: EventFilter | None,
                   timeline: Timeline) -> Sequences:
    bits, mask, low = timeline.code_bits, timeline.code_mask, int(timeline.time_min_us)
    names = [""] * len(timeline.codes)
    for value, code in timeline.codes.items():
        names[int(code) - 1] = value
    keep, params = [], []
    empty = timeline.codes.get("")
    if empty is not None:                 # an empty value is not part of a sequence
        keep.append(f"(x & {mask}) <> {int(empty)}")
    if event_filter is not None:        # key times count from the timeline's t_min
        start, end = (None if b is None else epoch_us(b) - low for b in (event_filter.start, event_filter.end))
        kept, kept_params = range_conditions(f"(x >> {bits})", start, end)
        keep += kept
        params += kept_params
    listed = f"list_filter(K, lambda x: {' AND '.join(keep)})" if keep else "K"
    # Sorted keys order by time then code: right unless two different values share an
    # instant, where the file order (not in the keys) decides — those customers are tied.
    tied = (f"list_bool_or(list_transform(list_zip(K[:-2], K[2:]), "
            f"lambda z: (z[1] >> {bits}) = (z[2] >> {bits}) AND z[1] <> z[2]))")
    ctes = [f"keyed AS MATERIALIZED (SELECT customer_id, K, coalesce({tied}, false) AS tied FROM "
            f"(SELECT customer_id, list_sort({listed}) AS K FROM {timeline.keys_source(event_filter)}))"]
    source, ev_params = filtered_events(table, event_filter)
    ctes.append(f"ev AS ({source})")
    params += ev_params
    ctes.append("names AS (SELECT ?::VARCHAR[] AS N)")
    ctes.append("codes AS (SELECT unnest(N) AS value, unnest(range(1, len(N) + 1))::INTEGER AS code "
                "FROM names)")
    params.append(names)
    ctes.append(
        f"seqs AS (SELECT customer_id, list_transform(K, lambda x: (x & {mask})::INTEGER) AS S, "
        f"(K[1] >> {bits}) + {low} AS t_first, (K[-1] >> {bits}) + {low} AS t_last "
        f"FROM keyed WHERE NOT tied AND len(K) > 0\n"
        f"UNION ALL {_events_lists(value_sql(column, 'e'), 'e.customer_id IN (SELECT customer_id FROM keyed WHERE tied)')})")
    return Sequences(ctes, params)
