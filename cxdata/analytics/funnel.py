"""Funnels (SPEC §2): ordered, strict and unordered, with window, breakdown, trend,
exclusions, durations and the drop-off list.

One definition per number
-------------------------
Every figure comes from ONE per-customer relation, the customer's **counted attempt**
(``counted`` in the SQL below): ``customer_id``, ``depth`` (1…k, the deepest step
reached) and ``t1 … tk``, the times of the attempt's step events in epoch microseconds
(NULL beyond ``depth``), plus, when a caller needs them, ``r1 … rk``, the ``_row`` of
those events.  Counts, conversions, times between steps, the histogram, the breakdown,
the trend and the drop-off list are all aggregates of that relation.  All event-level
work happens in DuckDB; Python only sees aggregated results.

How the SPEC is read here
-------------------------
* A customer's events are sequenced by ``(ts, _row)`` (time, then file order).  The
  event filter (:class:`cxdata.sql.EventFilter`) is applied before anything else.
* **Ordered**: an attempt starting at a step-1 event e1 reaches step m when there are
  distinct events e1 … em, ei matching step i, with ts(e1) ≤ … ≤ ts(em) and
  ts(em) − ts(e1) ≤ W (inclusive; no limit when W is None).  Only the timestamps must be
  in order, so two events at the same instant may serve consecutive steps whatever
  their file order (same-second B(row 1), A(row 2) with steps A → B reach depth 2), as
  mainstream product-analytics tools do.  Events before e1 are ignored.  The same value
  may be several steps; each needs its own event.  Greedy: from e1, each next step
  takes the earliest eligible unused event (by ts, then _row).  Attempts from step-1
  events at the same instant are equivalent, so the attempts evaluated are the first
  (by _row) step-1 event of each distinct instant.  Depth = the largest depth over
  attempts; the counted attempt is the earliest attempt reaching it.
* **Strict**: as ordered, but e(i+1) must be the very next event after ei in the
  customer's (ts, _row) sequence (any event, matching a step or not, breaks it).
* **Unordered**: for each step-matching event time t, the steps matched by distinct
  events inside [t, t + W] (with a value repeated r times among the steps, at most r of
  its events count).  Depth = the largest number; the counted window is the earliest t
  reaching it, its entry event the first step-matching event (by _row) at t.  "Step j"
  of that window is the j-th counting event in (ts, _row) order, so "time from step
  j−1 to j" is the time between completing j−1 and j steps.  Rows are labelled
  "completed 1 step", "completed 2 steps", …
* **Date range** (``entry_start`` inclusive, ``entry_end`` exclusive): only attempts
  (windows) whose step-1 event (entry event) lies in the range count; later steps may
  fall after it, within W.
* **Exclusions**: with the counted attempt's step-i event ei and step-j event ej, the
  customer leaves the whole funnel when an event with the excluded value lies after ei
  and before ej in (ts, _row) order; when step j was not reached, after ei and no later
  than t1 + W (anything after ei when there is no window).  Customers who did not
  reach step i are never excluded by it.  (Unordered: ei, ej are the i-th and j-th
  counting events of the counted window.)
* The events of the counted attempt: step 1 is the first step-1 event (by _row) at the
  attempt's instant (its values give the breakdown group); each later step is the greedy
  choice above.  The drop-off list: where a drop-out after step j *left* is the last
  step-j event at or after the attempt's step-j event and within its window (a stage's
  last touchpoint, not its first); what they did *next* follows that event in (ts, _row)
  order; they are *in progress* when t1 + W lies after the log's end (:func:`log_end_us`).
* Times are reported in **seconds**; median and p90 are interpolated quantiles
  (``quantile_cont``); conversions are fractions 0…1 (None when the denominator is 0).

How it is computed
------------------
* Ordered and unordered: each customer's step events as one list of packed keys (time,
  value), then list functions.  The lists come from the step column's stored timeline
  (:mod:`cxdata.store.timelines`, built at ingest) when there is one and no filter on another
  column, else from one list aggregate over the events (:func:`_packed_ctes`) — the
  same lists either way.  Ordered uses the latest-start recurrence when the step values
  are distinct (a pass per step), and evaluates every attempt at once when a value
  repeats (:func:`_ordered_ctes`).  Ordered is the hot path (benchmarks/bench_funnel.py).
* Strict: ``lead`` over the customer's (ts, _row)-ordered events.
* Exclusions, breakdown and drop-off join the counted relation back to the events by
  ``_row``; plain counts never touch the events twice.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import asdict, dataclass, fields, replace
from typing import Callable, Sequence

import pandas as pd

from cxdata.engines import Engine, as_engine
from cxdata.sql import EventFilter, filtered_events, quote_ident
from cxdata.store.timelines import Timeline

ORDER_MODES = ("ordered", "strict", "unordered")
TREND_GRAINS = ("week", "month")
NO_VALUE = "(none)"
NO_FURTHER_EVENTS = "(no further events)"

_US_PER_SECOND = 1_000_000
#: A condition on one event, given the SQL of its time (epoch µs) and value index.
_Condition = Callable[[str, str], tuple[str, list]]
_EPOCH = dt.datetime(1970, 1, 1)


# ---------------------------------------------------------------------------------------
# Results

@dataclass(frozen=True)
class FunnelStep:
    """One row of a funnel.  Conversions are fractions 0…1 (None when nobody reached the
    step they are a fraction of), times are seconds."""
    step: str
    customers: int
    conversion_from_start: float
    conversion_from_previous: float
    dropped: int
    median_seconds_from_previous: float | None
    p90_seconds_from_previous: float | None
    mean_seconds_from_previous: float | None


@dataclass(frozen=True)
class FunnelResult:
    """A funnel: ``entered`` customers (those counted at step 1) and one row per step."""
    entered: int
    steps: list[FunnelStep]

    def to_frame(self) -> pd.DataFrame:
        """One row per step: ``step_index`` (1-based) then the :class:`FunnelStep` fields."""
        columns = ["step_index"] + [f.name for f in fields(FunnelStep)]
        rows = [{"step_index": i, **asdict(s)} for i, s in enumerate(self.steps, start=1)]
        return pd.DataFrame(rows, columns=columns)

    def to_json_dict(self) -> dict:
        """The SPEC §6 JSON shape (conversions as fractions 0…1, median in seconds)."""
        keep = ("step", "customers", "conversion_from_start", "conversion_from_previous",
                "dropped", "median_seconds_from_previous")
        return {"entered": self.entered,
                "steps": [{key: getattr(s, key) for key in keep} for s in self.steps]}


@dataclass(frozen=True)
class Exclusion:
    """"Did ``value`` (on ``column``) between step ``after_step`` and step ``before_step``"
    (1-based, ``after_step < before_step``) removes the customer from the funnel."""
    value: str
    column: str
    after_step: int
    before_step: int


# ---------------------------------------------------------------------------------------
# Durations

_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhdw]?)\s*$", re.IGNORECASE)


def parse_duration(text) -> float | None:
    """Read a duration such as ``90s``, ``30m``, ``12h``, ``14d``, ``2w`` or a bare number
    of seconds; ``none`` (or an empty value) means no window.  Returns seconds or None.

    Raises ValueError with a plain sentence for anything else (negative numbers too).
    """
    if text is None:
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if not math.isfinite(text) or text < 0:
            raise ValueError(f"The duration {text!r} must be a positive number of seconds.")
        return float(text)
    raw = str(text).strip()
    if raw == "" or raw.lower() == "none":
        return None
    match = _DURATION_RE.match(raw)
    if not match:
        raise ValueError(f"Cannot read the duration '{raw}': write a number of seconds or a "
                         "number followed by s, m, h, d or w (for example 30m or 14d), or none.")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()]


# ---------------------------------------------------------------------------------------
# Parameters

@dataclass(frozen=True)
class _Spec:
    """Validated funnel parameters.  Times in epoch microseconds (UTC)."""
    table: str
    steps: tuple[str, ...]
    by: str
    window_us: int | None
    order: str
    event_filter: EventFilter | None
    start_us: int | None
    end_us: int | None
    exclusions: tuple[Exclusion, ...]
    column_types: dict
    #: earliest event time of the table (epoch µs); ordered/unordered pack times after it
    time_min_us: int = 0
    #: the stored per-customer timeline of the step column, when it can stand in for
    #: the events (ordered / unordered, no filter on other columns)
    timeline: Timeline | None = None

    @property
    def k(self) -> int:
        return len(self.steps)

    @property
    def values(self) -> tuple[str, ...]:
        """Distinct step values in first-appearance order."""
        return tuple(dict.fromkeys(self.steps))

    @property
    def value_bits(self) -> int:
        """Bits that hold a 1-based value index in the ordered mode's packed keys."""
        return len(self.values).bit_length()

    def value_index(self, step: int) -> int:
        """1-based index into :attr:`values` of step ``step`` (1-based)."""
        return self.values.index(self.steps[step - 1]) + 1

    def text(self, column: str, alias: str = "") -> str:
        """SQL for a column's value as text (no cast when it is text already)."""
        ref = (alias + "." if alias else "") + quote_ident(column)
        kind = str(self.column_types[column]).upper()
        return ref if kind.startswith("VARCHAR") else f"CAST({ref} AS VARCHAR)"

    def labels(self) -> list[str]:
        if self.order == "unordered":
            return [f"completed {j} step" + ("" if j == 1 else "s") for j in range(1, self.k + 1)]
        return list(self.steps)


def _to_us(moment) -> int | None:
    """Epoch microseconds of a datetime/date/Timestamp (naive = UTC)."""
    if moment is None:
        return None
    if isinstance(moment, pd.Timestamp):
        moment = moment.to_pydatetime()
    if isinstance(moment, dt.date) and not isinstance(moment, dt.datetime):
        moment = dt.datetime(moment.year, moment.month, moment.day)
    if not isinstance(moment, dt.datetime):
        raise ValueError(f"The date {moment!r} is not a date or a date and time.")
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


def _require_column(types: dict, column: str, what: str) -> None:
    if column not in types:
        raise ValueError(f"The {what} column '{column}' is not in the dataset.")


def _spec(engine: Engine, steps, *, by: str = "stage", window_seconds=None,
          order: str = "ordered", event_filter: EventFilter | None = None,
          entry_start=None, entry_end=None, exclusions: Sequence[Exclusion] = ()) -> _Spec:
    steps = tuple("" if s is None else str(s) for s in (steps or ()))
    if not steps:
        raise ValueError("A funnel needs at least one step.")
    if order not in ORDER_MODES:
        raise ValueError(f"The order '{order}' is not one of {', '.join(ORDER_MODES)}.")
    if window_seconds is not None:
        if not math.isfinite(float(window_seconds)) or float(window_seconds) < 0:
            raise ValueError("The conversion window must be zero or a positive number of seconds.")
    types = engine.column_types()
    _require_column(types, by, "step")
    exclusions = tuple(exclusions or ())
    for ex in exclusions:
        _require_column(types, ex.column, "exclusion")
        if not (1 <= ex.after_step < ex.before_step <= len(steps)):
            raise ValueError(f"An exclusion must lie between two steps 1…{len(steps)} in order "
                             f"(got {ex.after_step} and {ex.before_step}).")
    start_us, end_us = _to_us(entry_start), _to_us(entry_end)
    window_us = None if window_seconds is None else int(round(float(window_seconds) * _US_PER_SECOND))
    spec = _Spec(table=engine.table, steps=steps, by=by, window_us=window_us, order=order,
                 event_filter=event_filter, start_us=start_us, end_us=end_us,
                 exclusions=exclusions, column_types=types)
    if order in ("ordered", "unordered"):
        low, high = engine.time_range_us()
        low, high = (low or 0), (high or 0)
        # packed keys (t − t_min) << bits | index must stay below 2**63
        if (high - low) >> (62 - spec.value_bits) > 0:
            raise ValueError("The funnel has too many different steps for the time span of this data.")
        spec = replace(spec, time_min_us=low)
        if event_filter is None or not event_filter.equals:
            timeline = engine.timeline(by)
            if timeline is not None and timeline.time_min_us == low:
                spec = replace(spec, timeline=timeline)
    return spec


# ---------------------------------------------------------------------------------------
# The counted-attempt relation

class _Sql:
    """CTE text and its positional parameters, kept in textual order."""

    def __init__(self) -> None:
        self.ctes: list[str] = []
        self.params: list = []

    def cte(self, name: str, body: str, params: Sequence = (), materialized: bool | None = None) -> None:
        """Add CTE ``name``.  ``materialized``: True computes it once even when used twice
        (DuckDB would otherwise inline it again), False re-reads it (cheaper than storing
        a copy of every event), None lets DuckDB choose."""
        keyword = {None: "", True: "MATERIALIZED ", False: "NOT MATERIALIZED "}[materialized]
        self.ctes.append(f"{name} AS {keyword}(\n{body}\n)")
        self.params.extend(params)

    def materialize(self, name: str) -> None:
        """Compute CTE ``name`` once: it turned out to be read more than once."""
        for index, text in enumerate(self.ctes):
            if text.startswith(f"{name} AS (\n"):
                self.ctes[index] = f"{name} AS MATERIALIZED (\n" + text[len(f"{name} AS (\n"):]

    def query(self, select: str, params: Sequence = ()) -> tuple[str, list]:
        return "WITH " + ",\n".join(self.ctes) + "\n" + select, self.params + list(params)

    def run(self, engine: Engine, kernel_select: str, then: str | None = None,
            then_params: Sequence = (), kernel_params: Sequence = ()) -> list[tuple]:
        """Rows of ``then`` over the kernel ``kernel_select`` (a SELECT over these CTEs,
        one or more rows per customer: see :mod:`cxdata.engines`)."""
        kernel, params = self.query(kernel_select, kernel_params)
        return engine.rows(kernel, params, then, then_params)


def _entry_condition(spec: _Spec, t: str) -> tuple[str, list]:
    """SQL condition "time ``t`` (epoch µs) is inside the entry date range"."""
    parts, params = [], []
    if spec.start_us is not None:
        parts.append(f"{t} >= ?")
        params.append(spec.start_us)
    if spec.end_us is not None:
        parts.append(f"{t} < ?")
        params.append(spec.end_us)
    return (" AND ".join(parts) or "TRUE"), params


def _relevant_time(spec: _Spec, t: str) -> tuple[str, list]:
    """Events that can take part in any attempt: none before the entry range starts, none
    after its end plus the window (a pruning that cannot change the result)."""
    parts, params = [], []
    if spec.start_us is not None:
        parts.append(f"{t} >= ?")
        params.append(spec.start_us)
    if spec.end_us is not None and spec.window_us is not None:
        parts.append(f"{t} <= ?")
        params.append(spec.end_us + spec.window_us)
    return (" AND ".join(parts) or "TRUE"), params


def _base_ctes(spec: _Spec) -> _Sql:
    """``ev`` = the filtered events; ``m`` = step-matching events (customer_id, t in epoch
    µs, r = _row, vi = 1-based index of the value among the distinct step values)."""
    sql = _Sql()
    ev_sql, ev_params = filtered_events(spec.table, spec.event_filter)
    sql.cte("ev", ev_sql, ev_params, materialized=False)
    relevant, relevant_params = _relevant_time(spec, "epoch_us(ts)")
    placeholders = ", ".join("?" * len(spec.values))
    sql.cte("m", f"SELECT customer_id, epoch_us(ts) AS t, _row AS r, "
                 f"list_position([{placeholders}], {spec.text(spec.by)}) AS vi\n"
                 f"FROM ev WHERE vi IS NOT NULL AND {relevant}",
            list(spec.values) + relevant_params, materialized=False)
    return sql


def _ordered_ctes(spec: _Spec, sql: _Sql, reused: bool) -> None:
    """Ordered mode: CTE ``chain`` (customer_id, depth, t1…tk in epoch µs, q1…qk) where
    q is the rank (by _row) of the chosen event among the same-value events at its
    instant (1 = the first in the file).

    The customer's events come as one packed list (:func:`_packed_ctes`) or straight from
    the step column's stored timeline; the per-value lists are filtered out of it.
    """
    if len(spec.values) == spec.k:
        _ordered_distinct_ctes(spec, sql, reused)
        return
    mask = (1 << spec.value_bits) - 1
    v1 = spec.value_index(1)
    _packed_ctes(spec, sql, lambda t, vi: (f"{vi} = {v1}", []), sort=True)
    _ordered_repeated_ctes(spec, sql, mask, reused)


def _step_lists_cte(spec: _Spec, sql: _Sql) -> int:
    """CTE ``per``: for each customer with a step-1 event in the entry range, ``L1 … Lk``,
    the packed keys of each step's events (step 1: only those in the entry range; steps
    are distinct values).  Returns the number of low bits of the keys below the time (µs
    after t_min): keys of different lists compare by time only through ``key >> bits``.

    From the stored timeline when there is one (its keys filtered by value code: no
    aggregate over the events), else from :func:`_packed_ctes`.
    """
    timeline = spec.timeline
    if timeline is None:
        _packed_ctes(spec, sql, lambda t, vi: (f"{vi} = 1", []))
        bits, mask, source, keys = spec.value_bits, (1 << spec.value_bits) - 1, "packed", "P"
        codes = list(range(1, spec.k + 1))
    else:
        bits, mask, source, keys = timeline.code_bits, timeline.code_mask, quote_ident(timeline.table), "K"
        codes = [timeline.codes.get(step) for step in spec.steps]
    time_of = f"((x >> {bits}) + {int(spec.time_min_us)})"   # epoch µs
    kept, kept_params = _timeline_time_filter(spec, time_of) if timeline is not None else ([], [])
    lists, params = [], []
    for i, code in enumerate(codes, start=1):
        if code is None:       # a step value the column never has
            lists.append(f"[]::BIGINT[] AS L{i}")
            continue
        parts = kept + [f"(x & {mask}) = {code}"]
        params += kept_params
        if i == 1 and (spec.start_us is not None or spec.end_us is not None):
            # step-1 events only ever start attempts: those outside the entry range go
            entry, entry_params = _entry_condition(spec, time_of)
            parts.append(f"({entry})")
            params += entry_params
        lists.append(f"list_filter({keys}, lambda x: {' AND '.join(parts)}) AS L{i}")
    sql.cte("per", f"SELECT * FROM (SELECT customer_id, {', '.join(lists)} FROM {source}) WHERE len(L1) > 0",
            params)
    return bits


def _ordered_distinct_ctes(spec: _Spec, sql: _Sql, reused: bool) -> None:
    """Ordered mode when every step is a different value (the usual case): for each step
    a pass over the customer's events of that step and the previous one.

    ``L<i>`` (:func:`_step_lists_cte`): the customer's packed step-i keys (step 1: only
    those in the entry range).  Only minima and maxima are taken, so nothing needs
    sorting; "before" between steps compares times, ``ts(e_i) ≤ ts(e_i+1)``.
    Latest-start recurrence: for a step-i event e, ``LS<i>`` = the latest start s of a
    chain of steps 1…i ending at e with t(e) − s ≤ W, NULL if none: the largest
    ``LS<i-1>`` among the step-(i−1) events at or before e that is ≥ t(e) − W (a chain
    start valid for e is valid for every earlier event too).  The depth D is the last
    step with a non-NULL ``LS``; ``f`` its first event with one.  Every start s with
    t(f) − W ≤ s ≤ LS(f) chains to f within W, so the earliest attempt reaching D starts
    at the first start ≥ t(f) − W (without a window: the first start); its step times are
    the greedy chain, the first step-i event at or after the step-(i−1) one.
    """
    k, w = spec.k, spec.window_us
    bits = _step_lists_cte(spec, sql)
    prev = "per"
    for i in range(2, k + 1):
        in_window, params = "", []
        if w is not None:
            # the predecessor's latest start must still be within W of this event
            in_window, params = f" AND ({'x' if i == 2 else 'v'} >> {bits}) >= (t >> {bits}) - ?", [w]
        if i == 2:
            latest = f"list_max(list_filter(L1, lambda x: (x >> {bits}) <= (t >> {bits}){in_window}))"
        else:
            latest = (f"list_max(list_filter(LS{i - 1}, lambda v, j: (L{i - 1}[j] >> {bits}) <= (t >> {bits})"
                      f"{in_window}))")
        sql.cte(f"ls{i}", f"SELECT *, list_transform(L{i}, lambda t: {latest}) AS LS{i} FROM {prev}",
                params)
        prev = f"ls{i}"
    depth = ("CASE " + " ".join(f"WHEN list_count(LS{i}) > 0 THEN {i}" for i in range(k, 1, -1))
             + " ELSE 1 END") if k > 1 else "1"
    sql.cte("dd", f"SELECT *, {depth} AS depth FROM {prev}")
    if w is None or k == 1:
        sql.cte("c1", "SELECT *, list_min(L1) AS t1 FROM dd")
    else:
        first_reaching = ("CASE depth " + " ".join(
            f"WHEN {i} THEN list_min(list_filter(L{i}, lambda t, j: LS{i}[j] IS NOT NULL))"
            for i in range(2, k + 1)) + " END")
        sql.cte("fd", f"SELECT *, {first_reaching} AS f FROM dd")
        sql.cte("c1", f"SELECT *, CASE WHEN depth = 1 THEN list_min(L1) ELSE list_min(list_filter(L1, "
                      f"lambda x: (x >> {bits}) >= (f >> {bits}) - ?)) END AS t1 FROM fd", [w])
    prev = "c1"
    for i in range(2, k + 1):
        sql.cte(f"c{i}", f"SELECT *, CASE WHEN depth >= {i} THEN list_min(list_filter(L{i}, "
                         f"lambda x: (x >> {bits}) >= (t{i - 1} >> {bits}))) END AS t{i} FROM {prev}")
        prev = f"c{i}"
    times = ", ".join(f"(t{i} >> {bits}) + ? AS t{i}" for i in range(1, k + 1))
    ranks = ", ".join(f"CASE WHEN depth >= {i} THEN 1 END AS q{i}" for i in range(1, k + 1))
    sql.cte("chain", f"SELECT customer_id, depth::INTEGER AS depth, {times}, {ranks} FROM {prev}",
            [spec.time_min_us] * k, materialized=reused or None)


def _ordered_repeated_ctes(spec: _Spec, sql: _Sql, mask: int, reused: bool) -> None:
    """Ordered mode when a value is several steps: every attempt evaluated at once, in
    list functions.

    ``L<v>``: the customer's sorted times of value v (µs after t_min).  The attempts are
    the distinct step-1 instants in the entry range (``T1``; without a window only the
    first, since an earlier start then never does worse).  For each step the greedy
    choice for every attempt: the first time ≥ the previous step's time; for a value
    used by an earlier step p, also past the occurrence p used (``O<i>``, 1-based
    occurrence index) — "each step needs its own event".  The window is applied to the
    chain afterwards: the chain's times only grow, so an attempt's depth is the number
    of its step times within ``start + W``.
    """
    k, w, bits = spec.k, spec.window_us, spec.value_bits
    v1 = spec.value_index(1)
    lists = ", ".join(f"list_transform(list_filter(P, lambda x: (x & {mask}) = {v}), "
                      f"lambda x: x >> {bits}) AS L{v}" for v in range(1, len(spec.values) + 1))
    sql.cte("per", f"SELECT customer_id, {lists} FROM packed")
    repeated = {i for i in range(1, k + 1) if spec.steps.count(spec.steps[i - 1]) > 1}
    # entry range in µs after t_min, like the lists
    shifted = replace(spec, start_us=None if spec.start_us is None else spec.start_us - spec.time_min_us,
                      end_us=None if spec.end_us is None else spec.end_us - spec.time_min_us)
    entry_x, entry_x_params = _entry_condition(shifted, "x")
    starts = f"list_filter(L{v1}, lambda x, i: (i = 1 OR L{v1}[i - 1] <> x) AND {entry_x})"
    if w is None:
        starts = f"list_slice({starts}, 1, 1)"
    sql.cte("a1", f"SELECT *, {starts} AS T1 FROM per", entry_x_params)
    sql.cte("a1n", "SELECT * FROM a1 WHERE len(T1) > 0")
    prev = "a1n"
    if 1 in repeated:
        sql.cte("a1o", f"SELECT *, list_transform(T1, lambda s: "
                       f"len(list_filter(L{v1}, lambda x: x < s)) + 1) AS O1 FROM {prev}")
        prev = "a1o"
    for i in range(2, k + 1):
        v = spec.value_index(i)
        earlier = [p for p in range(1, i) if spec.steps[p - 1] == spec.steps[i - 1]]
        if earlier:
            p = earlier[-1]
            sql.cte(f"a{i}o", f"SELECT *, list_transform(T{i - 1}, lambda t, a: CASE WHEN t IS NOT NULL "
                              f"THEN greatest(len(list_filter(L{v}, lambda x: x < t)) + 1, O{p}[a] + 1) "
                              f"END) AS O{i} FROM {prev}")
            sql.cte(f"a{i}", f"SELECT *, list_transform(O{i}, lambda o: L{v}[o]) AS T{i} FROM a{i}o")
        else:
            sql.cte(f"a{i}", f"SELECT *, list_transform(T{i - 1}, lambda t: "
                             f"list_filter(L{v}, lambda x: x >= t)[1]) AS T{i} FROM {prev}")
            if i in repeated:  # a later step reuses this value: keep the occurrence index
                sql.cte(f"a{i}o", f"SELECT *, list_transform(T{i}, lambda t: CASE WHEN t IS NOT NULL "
                                  f"THEN len(list_filter(L{v}, lambda x: x < t)) + 1 END) AS O{i} "
                                  f"FROM a{i}")
                prev = f"a{i}o"
                continue
        prev = f"a{i}"
    if k == 1:
        depth_list, params = "list_transform(T1, lambda s: 1)", []
    else:
        reached = " + ".join(
            (f"coalesce(T{i}[a] <= s + ?, false)::INTEGER" if w is not None
             else f"(T{i}[a] IS NOT NULL)::INTEGER") for i in range(2, k + 1))
        depth_list = f"list_transform(T1, lambda s, a: 1 + {reached})"
        params = [w] * (k - 1) if w is not None else []
    sql.cte("d", f"SELECT *, {depth_list} AS D FROM {prev}", params)
    sql.cte("d2", "SELECT *, list_max(D) AS depth, list_position(D, list_max(D)) AS best FROM d")
    times = ", ".join(f"CASE WHEN depth >= {i} THEN T{i}[best] + ? END AS t{i}" for i in range(1, k + 1))
    ranks = []
    for i in range(1, k + 1):
        v = spec.value_index(i)
        if i in repeated:
            ranks.append(f"CASE WHEN depth >= {i} THEN O{i}[best] - "
                         f"len(list_filter(L{v}, lambda x: x < T{i}[best])) END AS q{i}")
        else:
            ranks.append(f"CASE WHEN depth >= {i} THEN 1 END AS q{i}")
    sql.cte("chain", f"SELECT customer_id, depth::INTEGER AS depth, {times}, {', '.join(ranks)} FROM d2",
            [spec.time_min_us] * k, materialized=reused or None)


def _ordered_rows(spec: _Spec, sql: _Sql, rows: set[int]) -> None:
    """Find the _row of the chosen events of the steps in ``rows`` (ordered mode): the
    q-th (by _row) event of the step's value at the step's instant."""
    k = spec.k
    plain = ", ".join(["customer_id", "depth"] + [f"t{i}" for i in range(1, k + 1)])
    if not rows:
        sql.cte("counted_raw", f"SELECT {plain} FROM chain")
        return
    wanted = " UNION ALL ".join(
        f"SELECT customer_id, {i} AS j, t{i} AS t, {spec.value_index(i)} AS vi, q{i} AS q "
        f"FROM chain WHERE depth >= {i}" for i in sorted(rows))
    sql.cte("wanted", wanted)
    # distinct step values always pick the first event of the instant (q = 1): min(_row)
    pick = "min(m.r)" if len(spec.values) == k else "list_sort(list(m.r))[any_value(w.q)]"
    sql.cte("found", f"SELECT w.customer_id, w.j, {pick} AS r FROM wanted w JOIN m "
                     "ON m.customer_id = w.customer_id AND m.t = w.t AND m.vi = w.vi\n"
                     "GROUP BY w.customer_id, w.j")
    pivot = ", ".join(f"max(r) FILTER (WHERE j = {i}) AS r{i}" for i in sorted(rows))
    sql.cte("found_rows", f"SELECT customer_id, {pivot} FROM found GROUP BY customer_id")
    row_cols = ", ".join(f"f.r{i}" if i in rows else f"NULL::BIGINT AS r{i}" for i in range(1, k + 1))
    chain_cols = ", ".join(["c.customer_id", "c.depth"] + [f"c.t{i}" for i in range(1, k + 1)])
    sql.cte("counted_raw", f"SELECT {chain_cols}, {row_cols} FROM chain c "
                           "LEFT JOIN found_rows f ON f.customer_id = c.customer_id")


def _strict_ctes(spec: _Spec, sql: _Sql) -> None:
    """Strict mode: each step-1 event in the entry range is an attempt; step i+1 must be
    the customer's very next event (``lead``) — every event counts, not only matches."""
    k, w = spec.k, spec.window_us
    relevant, relevant_params = _relevant_time(spec, "epoch_us(ts)")
    sql.cte("s", f"SELECT customer_id, epoch_us(ts) AS t, _row AS r, {spec.text(spec.by)} AS v\n"
                 f"FROM ev WHERE {relevant}", relevant_params)
    leads = "".join(f", lead(v, {n}) OVER seq AS v{n + 1}, lead(t, {n}) OVER seq AS t{n + 1}, "
                    f"lead(r, {n}) OVER seq AS r{n + 1}" for n in range(1, k))
    sql.cte("sw", f"SELECT customer_id, t AS t1, r AS r1, v AS v1{leads} FROM s\n"
                  "WINDOW seq AS (PARTITION BY customer_id ORDER BY t, r)")
    matches, params = [], []
    for i in range(2, k + 1):
        if w is None:
            matches.append(f"coalesce(v{i} = ?, false) AS ok{i}")
            params.append(spec.steps[i - 1])
        else:
            matches.append(f"coalesce(v{i} = ? AND t{i} <= t1 + ?, false) AS ok{i}")
            params += [spec.steps[i - 1], w]
    entry, entry_params = _entry_condition(spec, "t1")
    sql.cte("sm", "SELECT *" + "".join(", " + m for m in matches)
                  + f" FROM sw WHERE v1 = ? AND {entry}", params + [spec.steps[0]] + entry_params)
    # step i is reached when steps 2…i all matched, one after the other
    depth = "1" + "".join(" + (" + " AND ".join(f"ok{c}" for c in range(2, i + 1)) + ")::INTEGER"
                          for i in range(2, k + 1))
    cols = ", ".join(["customer_id", f"({depth}) AS depth"]
                     + [f"CASE WHEN ({depth}) >= {i} THEN t{i} END AS t{i}" for i in range(1, k + 1)]
                     + [f"CASE WHEN ({depth}) >= {i} THEN r{i} END AS r{i}" for i in range(1, k + 1)])
    sql.cte("counted_raw", f"SELECT {cols} FROM sm\nQUALIFY row_number() OVER "
                           "(PARTITION BY customer_id ORDER BY depth DESC, t1, r1) = 1")


def _packed_ctes(spec: _Spec, sql: _Sql, having: _Condition, sort: bool = False) -> None:
    """CTE ``packed``: per customer ONE list ``P`` of the step-matching events' packed keys
    ``(t − t_min) << bits | value index`` (sorted when ``sort``), for the customers with
    at least one event meeting ``having`` (given the SQL of an event's time, epoch µs,
    and value index).

    One list per customer costs far less than one per value (FILTERed list aggregates
    were ~3× slower on 10M events), and the keys order like (time, value index).
    Gathering the lists is most of the cost of an ordered or unordered funnel, so a
    stored timeline of the step column (:mod:`cxdata.store.timelines`) is used when there is
    one: its keys only need their value code turned into the value index.  Otherwise the
    events are aggregated here, in scan order: sorting them by customer first cost more
    than it saved on the views this path mostly serves now that the timeline serves the
    unfiltered ones (10M events, channel filters: 0.72 s instead of 0.89 s for one
    channel, 1.27 s instead of 1.62 s for two).  Every reader of ``P`` sorts it or only
    takes minima, maxima and counts, so the order of the list does not matter.
    """
    if spec.timeline is not None:
        _packed_from_timeline(spec, sql, having, sort)
        return
    having_sql, having_params = having("t", "vi")
    gathered = "list_sort(list(key))" if sort else "list(key)"
    sql.cte("packed", f"SELECT customer_id, {gathered} AS P\n"
                      f"FROM (SELECT customer_id, t, vi, ((t - ?) << {spec.value_bits}) | vi AS key "
                      f"FROM m)\n"
                      f"GROUP BY customer_id HAVING bool_or({having_sql})",
            [spec.time_min_us] + list(having_params))


def _timeline_time_filter(spec: _Spec, t: str) -> tuple[list[str], list]:
    """Conditions on a timeline key's time ``t`` (epoch µs SQL) for the event filter's
    time range: without a timeline the events were filtered before being gathered."""
    parts, params = [], []
    if spec.event_filter is not None:
        for bound, op in ((spec.event_filter.start, ">="), (spec.event_filter.end, "<")):
            if bound is not None:
                parts.append(f"{t} {op} ?")
                params.append(_to_us(bound))
    return parts, params


def _packed_from_timeline(spec: _Spec, sql: _Sql, having: _Condition, sort: bool) -> None:
    """``packed`` read from the step column's stored timeline (same keys, same rows as
    the aggregate of :func:`_packed_ctes`): each key's value code becomes the value index
    (0 for the values that are not steps, then dropped), and the event filter's time
    range and the pruning of :func:`_relevant_time` become list filters."""
    timeline, bits = spec.timeline, spec.value_bits
    cases = " ".join(f"WHEN {timeline.codes[value]} THEN {index}"
                     for index, value in enumerate(spec.values, start=1) if value in timeline.codes)
    index = f"CASE x & {timeline.code_mask} {cases} ELSE 0 END" if cases else "0"
    remap = f"((x >> {timeline.code_bits}) << {bits}) | {index}"
    # times in the timeline's keys count from its t_min, which _spec checked is the table's
    t, vi = f"((y >> {bits}) + {int(spec.time_min_us)})", f"(y & {(1 << bits) - 1})"
    parts, params = _timeline_time_filter(spec, t)
    relevant, relevant_params = _relevant_time(spec, t)
    parts += [f"{vi} > 0", f"({relevant})"]
    params += relevant_params
    having_sql, having_params = having(t, vi)
    listed = f"list_filter(list_transform(K, lambda x: {remap}), lambda y: {' AND '.join(parts)})"
    if sort:
        listed = f"list_sort({listed})"
    sql.cte("packed", f"SELECT customer_id, P FROM (SELECT customer_id, {listed} AS P "
                      f"FROM {quote_ident(timeline.table)})\n"
                      f"WHERE len(list_filter(P, lambda y: {having_sql})) > 0",
            params + list(having_params))


def _unordered_ctes(spec: _Spec, sql: _Sql, rows_needed: bool) -> None:
    """Unordered mode.  Candidates: the customer's step-matching events in the entry
    range; for each, the steps matched inside [t, t + W] = the sum over step values of
    min(events of the value in the window, times the value is a step).  Depth = the
    largest; the counted window starts at the earliest candidate time reaching it.
    Without a window the earliest candidate always reaches it.

    Step j's time is the j-th counting event's time: per value the first events (as many
    as the value is a step) inside the window, all merged in time order.  When the step
    events' _row are needed, they are found by joining the window back to the events,
    in (ts, _row) order (``ue``/``uj``).
    """
    k, w, bits = spec.k, spec.window_us, spec.value_bits
    mask = (1 << bits) - 1
    n_values = len(spec.values)
    multiplicity = {v: spec.steps.count(spec.values[v - 1]) for v in range(1, n_values + 1)}
    _packed_ctes(spec, sql, lambda t, vi: _entry_condition(spec, t))
    shifted = replace(spec, start_us=None if spec.start_us is None else spec.start_us - spec.time_min_us,
                      end_us=None if spec.end_us is None else spec.end_us - spec.time_min_us)
    entry_x, entry_x_params = _entry_condition(shifted, f"(x >> {bits})")
    lists = ", ".join(f"list_filter(P, lambda x: (x & {mask}) = {v}) AS L{v}" for v in range(1, n_values + 1))
    sql.cte("uper", f"SELECT customer_id, {lists}, list_filter(P, lambda x: {entry_x}) AS C FROM packed",
            entry_x_params)

    def inside(var: str, start: str) -> tuple[str, list]:
        """Condition "key ``var`` lies in the window starting at time ``start``"."""
        if w is None:
            return f"({var} >> {bits}) >= {start}", []
        return f"({var} >> {bits}) BETWEEN {start} AND {start} + ?", [w]

    if w is None:
        sql.cte("ustart", f"SELECT *, list_min(C) >> {bits} AS t_start FROM uper")
    else:
        parts, params = [], []
        for v in range(1, n_values + 1):
            cond, cond_params = inside("y", f"(c >> {bits})")
            parts.append(f"least(len(list_filter(L{v}, lambda y: {cond})), {multiplicity[v]})")
            params += cond_params
        sql.cte("ucand", f"SELECT *, list_transform(C, lambda c: {' + '.join(parts)}) AS D FROM uper", params)
        sql.cte("ubest", "SELECT *, list_max(D) AS deepest FROM ucand")
        sql.cte("ustart", f"SELECT *, list_min(list_filter(C, lambda c, i: D[i] = deepest)) >> {bits} "
                          "AS t_start FROM ubest")
    # per value, the counting events' times (µs after t_min) inside the counted window
    firsts, params = [], []
    for v in range(1, n_values + 1):
        cond, cond_params = inside("y", "t_start")
        firsts.append(f"list_slice(list_sort(list_transform(list_filter(L{v}, lambda y: {cond}), "
                      f"lambda y: y >> {bits})), 1, {multiplicity[v]})")
        params += cond_params
    sql.cte("utimes", f"SELECT customer_id, t_start, list_sort(flatten([{', '.join(firsts)}])) AS S FROM ustart",
            params)
    if not rows_needed:
        times = ", ".join(f"S[{i}] + ? AS t{i}" for i in range(1, k + 1))
        sql.cte("counted_raw", f"SELECT customer_id, len(S)::INTEGER AS depth, {times} FROM utimes",
                [spec.time_min_us] * k)
        return
    sql.cte("uw", "SELECT customer_id, t_start + ? AS t_start, len(S)::INTEGER AS depth FROM utimes",
            [spec.time_min_us], materialized=True)
    end = "TRUE" if w is None else "m.t <= u.t_start + ?"
    mult_case = "CASE m.vi " + " ".join(f"WHEN {v} THEN {multiplicity[v]}" for v in multiplicity) + " END"
    sql.cte("ue", "SELECT u.customer_id, u.depth, m.t, m.r,\n"
                  "  row_number() OVER (PARTITION BY u.customer_id, m.vi ORDER BY m.t, m.r) "
                  "AS nth_of_value,\n"
                  f"  {mult_case} AS allowed\n"
                  f"FROM uw u JOIN m ON m.customer_id = u.customer_id AND m.t >= u.t_start AND {end}",
            [] if w is None else [w])
    sql.cte("uj", "SELECT customer_id, depth, t, r, "
                  "row_number() OVER (PARTITION BY customer_id ORDER BY t, r) AS j\n"
                  "FROM ue WHERE nth_of_value <= allowed")
    cols = ", ".join(["customer_id", "any_value(depth) AS depth"]
                     + [f"max(t) FILTER (WHERE j = {i}) AS t{i}" for i in range(1, k + 1)]
                     + [f"max(r) FILTER (WHERE j = {i}) AS r{i}" for i in range(1, k + 1)])
    sql.cte("counted_raw", f"SELECT {cols} FROM uj GROUP BY customer_id")


def _exclusion_ctes(spec: _Spec, sql: _Sql) -> None:
    """``counted`` = ``counted_raw`` without the customers an exclusion removes."""
    if not spec.exclusions:
        sql.cte("counted", "SELECT * FROM counted_raw")
        return
    parts, params = [], []
    for ex in spec.exclusions:
        i, j = ex.after_step, ex.before_step
        after = f"(x.t > c.t{i} OR (x.t = c.t{i} AND x.r > c.r{i}))"
        before = f"(x.t < c.t{j} OR (x.t = c.t{j} AND x.r < c.r{j}))"
        until_end = "TRUE" if spec.window_us is None else "x.t <= c.t1 + ?"
        parts.append(f"SELECT c.customer_id FROM counted_raw c JOIN "
                     f"(SELECT customer_id, epoch_us(ts) AS t, _row AS r FROM ev "
                     f"WHERE {spec.text(ex.column)} = ?) x ON x.customer_id = c.customer_id\n"
                     f"WHERE c.depth >= {i} AND {after} AND "
                     f"CASE WHEN c.depth >= {j} THEN {before} ELSE {until_end} END")
        params.append(str(ex.value))
        if spec.window_us is not None:
            params.append(spec.window_us)
    sql.materialize("counted_raw")   # read by every exclusion and by `counted`
    sql.cte("excluded", "\nUNION\n".join(parts), params)
    sql.cte("counted", "SELECT * FROM counted_raw "
                       "WHERE customer_id NOT IN (SELECT customer_id FROM excluded)")


def _counted(spec: _Spec, rows: Sequence[int] = ()) -> _Sql:
    """CTEs ending in ``counted``: one row per customer in the funnel with ``depth``,
    ``t1 … tk`` (epoch µs; NULL beyond depth) and, for the steps in ``rows`` (and those
    the exclusions need), ``r1 … rk`` (_row of the step's event)."""
    needed = set(rows)
    for ex in spec.exclusions:
        needed |= {ex.after_step, ex.before_step}
    sql = _base_ctes(spec)
    if spec.order == "ordered":
        # the chain is read twice when _rows are looked up: compute it once
        _ordered_ctes(spec, sql, reused=bool(needed))
        _ordered_rows(spec, sql, needed)
    elif spec.order == "strict":
        _strict_ctes(spec, sql)
    else:
        _unordered_ctes(spec, sql, rows_needed=bool(needed))
    _exclusion_ctes(spec, sql)
    return sql


# ---------------------------------------------------------------------------------------
# Aggregates of the counted relation

def counted_attempts(cur, table: str, steps: list[str], rows: Sequence[int] = (), **options):
    """For analyses built on a funnel (SPEC §8): ``(sql, spec, engine)``.

    ``sql`` holds the CTEs ``ev`` (the filtered events), ``m`` (step-matching events) and
    ``counted`` (one row per customer in the funnel: customer_id, depth, t1 … tk in epoch
    µs, and r1 … rk — the ``_row`` of the step events — for the steps in ``rows``); add
    per-customer CTEs with ``sql.cte(name, body, params)`` and run a question with
    ``sql.run(engine, kernel_select, then, then_params)`` (see :mod:`cxdata.engines`).
    ``spec.window_us`` is the window (µs, None = none); ``options`` are those of
    :func:`compute_funnel`.
    """
    engine = as_engine(cur, table)
    spec = _spec(engine, steps, **options)
    return _counted(spec, rows=rows), spec, engine


def _step_aggregates(k: int) -> str:
    """SELECT list: n1…nk (customers with depth ≥ j) and per step j ≥ 2 the median, p90
    and mean of (tj − tj−1) in seconds."""
    parts = [f"count(*) FILTER (WHERE depth >= {j}) AS n{j}" for j in range(1, k + 1)]
    for j in range(2, k + 1):
        d = f"(t{j} - t{j - 1}) / {_US_PER_SECOND}.0"
        parts += [f"quantile_cont({d}, [0.5, 0.9]) AS q{j}", f"avg({d}) AS mean{j}"]
    return ", ".join(parts)


def _result_from_row(labels: list[str], row: Sequence) -> FunnelResult:
    k = len(labels)
    counts = [int(row[j]) for j in range(k)]
    steps = []
    for j in range(1, k + 1):
        n = counts[j - 1]
        first, previous = counts[0], counts[j - 2] if j > 1 else counts[0]
        median = p90 = mean = None
        if j > 1 and n:
            quantiles = row[k + 2 * (j - 2)]
            median, p90 = float(quantiles[0]), float(quantiles[1])
            mean = float(row[k + 2 * (j - 2) + 1])
        steps.append(FunnelStep(
            step=labels[j - 1], customers=n,
            # nothing to divide by (nobody entered): no conversion, not 0 (SPEC §6)
            conversion_from_start=(n / first) if first else None,
            conversion_from_previous=(n / previous) if previous else None,
            dropped=n - counts[j] if j < k else 0,
            median_seconds_from_previous=median, p90_seconds_from_previous=p90,
            mean_seconds_from_previous=mean))
    return FunnelResult(entered=counts[0], steps=steps)


def compute_funnel(cur, table: str, steps: list[str], *, by: str = "stage",
                   window_seconds: float | None = None, order: str = "ordered",
                   event_filter: EventFilter | None = None,
                   entry_start: dt.datetime | None = None, entry_end: dt.datetime | None = None,
                   exclusions: Sequence[Exclusion] = ()) -> FunnelResult:
    """The funnel of SPEC §2 over dataset table ``table``.

    ``steps`` are values of column ``by``; ``window_seconds`` the inclusive conversion
    window (None = none); ``order`` one of :data:`ORDER_MODES`; ``entry_start``
    (inclusive) / ``entry_end`` (exclusive) select attempts by their step-1 time (UTC).
    Raises ValueError (plain sentence) for unusable parameters.
    """
    spec = _spec(as_engine(cur, table), steps, by=by, window_seconds=window_seconds, order=order,
                 event_filter=event_filter, entry_start=entry_start, entry_end=entry_end,
                 exclusions=exclusions)
    rows = _counted(spec).run(as_engine(cur, table), "SELECT * FROM counted",
                              f"SELECT {_step_aggregates(spec.k)} FROM kernel")
    return _result_from_row(spec.labels(), rows[0])


def _grouped(engine: Engine, steps, breakdown: str, options: dict) -> tuple[_Spec, _Sql]:
    """The spec and CTEs ending in ``grouped``: the ``counted`` rows with ``grp``, the value
    of column ``breakdown`` on the counted attempt's step-1 event ("(none)" if missing)."""
    spec = _spec(engine, steps, **options)
    _require_column(spec.column_types, breakdown, "breakdown")
    if spec.order == "ordered" and len(spec.values) == spec.k:
        # Step 1 is the first step-1 event (by _row) at time t1: found in one join.
        sql = _counted(spec)
        sql.cte("grouped", f"SELECT c.*, coalesce(min({{'r': e._row, 'g': {spec.text(breakdown, 'e')}}}).g, ?) "
                           "AS grp FROM counted c JOIN ev e ON e.customer_id = c.customer_id "
                           f"AND epoch_us(e.ts) = c.t1 AND {spec.text(spec.by, 'e')} = ? GROUP BY ALL",
                [NO_VALUE, spec.steps[0]])
    else:
        sql = _counted(spec, rows=[1])
        sql.cte("grouped", f"SELECT c.*, coalesce({spec.text(breakdown, 'e')}, ?) AS grp "
                           "FROM counted c JOIN ev e ON e._row = c.r1 AND e.customer_id = c.customer_id",
                [NO_VALUE])
    return spec, sql


def funnel_breakdown(cur, table: str, steps: list[str], breakdown: str,
                     **options) -> list[tuple[str, FunnelResult]]:
    """The funnel per value of column ``breakdown`` on the counted attempt's step-1 event
    (missing -> ``"(none)"``).  Groups sorted by customers entered (desc), then name.
    ``options`` are those of :func:`compute_funnel`."""
    return funnel_and_breakdown(cur, table, steps, breakdown, **options)[1]


def funnel_and_breakdown(cur, table: str, steps: list[str], breakdown: str,
                         **options) -> tuple[FunnelResult, list[tuple[str, FunnelResult]]]:
    """:func:`compute_funnel` and :func:`funnel_breakdown` from ONE query: the counted
    attempts are found once and aggregated twice, over every customer and per group
    (each customer is in exactly one group)."""
    engine = as_engine(cur, table)
    spec, sql = _grouped(engine, steps, breakdown, options)
    aggregates = _step_aggregates(spec.k)
    rows = sql.run(engine, "SELECT * FROM grouped",
                   f"SELECT 0 AS part, NULL::VARCHAR AS grp, {aggregates} FROM kernel\n"
                   f"UNION ALL SELECT 1, grp, {aggregates} FROM kernel GROUP BY grp\n"
                   "ORDER BY part, n1 DESC, grp")
    labels = spec.labels()
    overall = _result_from_row(labels, rows[0][2:])
    return overall, [(str(row[1]), _result_from_row(labels, row[2:])) for row in rows[1:]]


def log_end_us(cur, table: str, event_filter: EventFilter | None = None) -> int | None:
    """The instant the log ends, as the analyses see it (epoch µs, UTC): the table's last
    event time, or the event filter's end when that comes first (the view stops there).
    None for an empty table.  Windows still open at this instant are "in progress"."""
    last = as_engine(cur, table).time_range_us()[1]
    if last is None:
        return None
    if event_filter is not None and event_filter.end is not None:
        # the filter's end is exclusive: the last instant it keeps is 1 µs before it
        last = min(int(last), _to_us(event_filter.end) - 1)
    return int(last)


def funnel_trend(cur, table: str, steps: list[str], grain: str = "week",
                 **options) -> pd.DataFrame:
    """Conversion over time: customers grouped by the ``grain`` ("week", starting Monday,
    or "month") of their counted attempt's step 1, in UTC.

    Columns: period (Timestamp, start of the period, naive UTC), entered, converted
    (reached the last step), conversion (fraction 0…1), incomplete (bool: some of the
    period's entrants may still convert — the period's end plus the window lies after the
    log's end, :func:`log_end_us`; with no window, the period that holds the log's end).
    An incomplete period's conversion can still rise: it is not a drop.  Periods without
    entries are absent."""
    if grain not in TREND_GRAINS:
        raise ValueError(f"The grain '{grain}' is not one of {', '.join(TREND_GRAINS)}.")
    engine = as_engine(cur, table)
    spec = _spec(engine, steps, **options)
    end_us = log_end_us(engine, None, spec.event_filter)
    rows = _counted(spec).run(
        engine, "SELECT * FROM counted",
        "SELECT date_trunc(?, make_timestamp(t1)) AS period, count(*) AS entered, "
        f"count(*) FILTER (WHERE depth = {spec.k}) AS converted FROM kernel "
        "GROUP BY period ORDER BY period", [grain])
    frame = pd.DataFrame(rows, columns=["period", "entered", "converted"])
    frame["period"] = pd.to_datetime(frame["period"]).astype("datetime64[us]")
    frame["entered"] = frame["entered"].astype("int64")
    frame["converted"] = frame["converted"].astype("int64")
    frame["conversion"] = (frame["converted"] / frame["entered"]).astype("float64")
    frame["incomplete"] = [_period_open(period, grain, spec.window_us, end_us)
                           for period in frame["period"]]
    return frame[["period", "entered", "converted", "conversion", "incomplete"]]


def _period_open(period, grain: str, window_us: int | None, end_us: int | None) -> bool:
    """SPEC §2: a period is incomplete when its end + W lies after the log's end (no
    window: W = 0, i.e. the period holding the log's end)."""
    if end_us is None:
        return False
    start = pd.Timestamp(period)
    period_end = start + (pd.DateOffset(months=1) if grain == "month" else pd.Timedelta(days=7))
    end_of_period_us = _to_us(period_end)
    return end_of_period_us + (window_us or 0) > end_us


def step_durations_histogram(cur, table: str, steps: list[str], step_index: int, bins: int = 20,
                             **options) -> pd.DataFrame:
    """Histogram of the time from step ``step_index − 1`` to ``step_index`` (2…k) for the
    customers reaching it: ``bins`` equal-width bins from the shortest to the longest time.
    Columns: bin_start_seconds, bin_end_seconds, customers (the last bin includes its end)."""
    engine = as_engine(cur, table)
    spec = _spec(engine, steps, **options)
    if not (2 <= step_index <= spec.k):
        raise ValueError(f"Times between steps exist for steps 2…{spec.k}, not {step_index}.")
    if int(bins) < 1:
        raise ValueError("A histogram needs at least one bin.")
    bins = int(bins)
    j = step_index
    sql = _counted(spec)
    rows = sql.run(
        engine, f"SELECT (t{j} - t{j - 1}) / {_US_PER_SECOND}.0 AS d FROM counted WHERE depth >= {j}",
        "WITH span AS (SELECT min(d) AS lo, max(d) AS hi FROM kernel) "
        "SELECT any_value(lo), any_value(hi), "
        "CASE WHEN hi = lo THEN 0 ELSE least(floor((d - lo) / (hi - lo) * ?)::BIGINT, ? - 1) END AS bin, "
        "count(*) FROM kernel, span GROUP BY bin ORDER BY bin", [bins, bins])
    columns = ["bin_start_seconds", "bin_end_seconds", "customers"]
    if not rows:
        return pd.DataFrame({"bin_start_seconds": pd.Series(dtype="float64"),
                             "bin_end_seconds": pd.Series(dtype="float64"),
                             "customers": pd.Series(dtype="int64")})
    lo, hi = float(rows[0][0]), float(rows[0][1])
    counts = {int(r[2]): int(r[3]) for r in rows}
    if hi == lo:
        return pd.DataFrame([[lo, hi, counts[0]]], columns=columns)
    width = (hi - lo) / bins
    data = [[lo + b * width, (lo + (b + 1) * width) if b < bins - 1 else hi, counts.get(b, 0)]
            for b in range(bins)]
    return pd.DataFrame(data, columns=columns)


@dataclass(frozen=True)
class DropoffSummary:
    """The drop-outs after one step (SPEC §2 drop-off list, aggregated).

    ``customers``: reached step ``after_step`` (1-based) but not the next; ``in_progress``:
    of them, those whose counted attempt's window was still open when the log ended
    (counted among the drop-outs, as their peers, but they may still go on; 0 with no
    window).  ``left_at``: where they left — the ``column`` value of their last step event
    in the attempt; ``next``: what they did next — the ``column`` value of their first
    event after it ("(no further events)" when none).  Both frames: value, customers,
    share (fraction 0…1 of ``customers``), most customers first."""
    after_step: int
    column: str
    customers: int
    in_progress: int
    left_at: pd.DataFrame
    next: pd.DataFrame

    def to_json_dict(self) -> dict:
        def rows(frame):
            return [{"value": r.value, "customers": int(r.customers), "share": float(r.share)}
                    for r in frame.itertuples()]
        return {"after_step": self.after_step, "customers": self.customers,
                "in_progress": self.in_progress, "left_at": rows(self.left_at),
                "next": rows(self.next)}


def _dropoff_sql(spec: _Spec, after_step: int, column: str, next_events: int) -> _Sql:
    """CTEs for the drop-outs after step j (SPEC §2):

    ``dropped`` (customer_id, t1, tj, rj: their counted attempt's step-1 time and step-j
    event), ``left`` (+ lt, lr, left_value: their LAST step-j event at or after the
    step-j event and within the attempt's window — for a stage funnel the last
    touchpoint of that stage — and its ``column`` value) and ``nexts`` (their first
    ``next_events`` events after that last event, n = 1…, value of ``column``).
    Unordered funnels have no "step j value": the last step-matching event counts.
    """
    if not (1 <= after_step < spec.k):
        raise ValueError(f"Customers can drop out after steps 1…{spec.k - 1}, not {after_step}.")
    _require_column(spec.column_types, column, "drop-off")
    j, w = after_step, spec.window_us
    # Ordered funnels of distinct values take the first step-j event (by _row) of their
    # instant, so "at or after the step-j event" is "at or after its time": no _row lookup.
    first_of_instant = spec.order == "ordered" and len(spec.values) == spec.k
    sql = _counted(spec, rows=[] if first_of_instant else [j])
    rj = "NULL::BIGINT" if first_of_instant else f"r{j}"
    sql.cte("dropped", f"SELECT customer_id, t1, t{j} AS tj, {rj} AS rj FROM counted WHERE depth = {j}",
            materialized=True)
    # One pass over the drop-outs' events (not one join per question): each customer's
    # events as a list of (t, r, step-j match, value), then list functions.  A match is
    # an event of CTE m (same value and time pruning) that can be step j.
    placeholders = ", ".join("?" * len(spec.values))
    position = f"list_position([{placeholders}], {spec.text(spec.by, 'e')})"
    relevant, relevant_params = _relevant_time(spec, "epoch_us(e.ts)")
    matches = (f"{position} IS NOT NULL" if spec.order == "unordered"
               else f"coalesce({position} = {spec.value_index(j)}, false)")
    sql.cte("dev", "SELECT d.customer_id, any_value(d.t1) AS t1, any_value(d.tj) AS tj, any_value(d.rj) AS rj,\n"
                   f"  list({{'t': epoch_us(e.ts), 'r': e._row, 's': {matches} AND {relevant}, "
                   f"'v': {spec.text(column, 'e')}}}) AS E\n"
                   "FROM dropped d JOIN ev e ON e.customer_id = d.customer_id GROUP BY d.customer_id",
            list(spec.values) + relevant_params)
    until, until_params = ("TRUE", []) if w is None else ("x.t <= t1 + ?", [w])
    sql.cte("last_j", "SELECT customer_id, t1, E, list_max(list_transform(list_filter(E, lambda x: x.s AND "
                      f"(x.t > tj OR (x.t = tj AND (rj IS NULL OR x.r >= rj))) AND {until}), "
                      "lambda x: {'t': x.t, 'r': x.r})) AS last FROM dev", until_params)
    sql.cte("left_ev", "SELECT customer_id, t1, last.t AS lt, last.r AS lr, "
                       "list_filter(E, lambda x: x.r = last.r)[1].v AS left_value,\n"
                       "  list_sort(list_transform(list_filter(E, lambda x: x.t > last.t OR "
                       "(x.t = last.t AND x.r > last.r)), lambda x: {'t': x.t, 'r': x.r, 'v': x.v}))[1:?] "
                       "AS later FROM last_j",
            [next_events], materialized=True)
    sql.cte("nexts", "SELECT customer_id, x.v AS value, n FROM (SELECT customer_id, unnest(later) AS x, "
                     "unnest(range(1, len(later) + 1)) AS n FROM left_ev)")
    return sql


def _dropoff_spec(engine: Engine, steps, after_step: int, options: dict) -> _Spec:
    """The funnel the drop-outs after step j are found in.  In order (ordered, strict) and
    without exclusions, reaching steps 1…j+1 and the attempt counted for someone who
    stops at j depend only on steps 1…j+1: the funnel of those steps finds the same
    customers, attempts and events, with fewer events and steps to go through."""
    steps = list(steps or ())
    if (options.get("order", "ordered") in ("ordered", "strict") and not options.get("exclusions")
            and 1 <= int(after_step) < len(steps)):
        steps = steps[:int(after_step) + 1]
    return _spec(engine, steps, **options)


def _in_progress_sql(spec: _Spec, end_us: int | None) -> tuple[str, list]:
    """SQL condition on ``t1`` (epoch µs): the attempt's window is still open at the log's
    end (SPEC §2 "in progress"; never with no window)."""
    if spec.window_us is None or end_us is None:
        return "FALSE", []
    return "t1 + ? > ?", [spec.window_us, end_us]


def _shares(frame: pd.DataFrame, total: int) -> pd.DataFrame:
    frame = frame.copy()
    frame["customers"] = frame["customers"].astype("int64")
    frame["share"] = (frame["customers"] / total).astype("float64") if total else 0.0
    return frame[["value", "customers", "share"]].reset_index(drop=True)


def dropoff_summary(cur, table: str, steps: list[str], after_step: int,
                    column: str = "touchpoint", **options) -> DropoffSummary:
    """Where the customers who dropped out after step ``after_step`` (1-based) left, what
    they did next, and how many are still in progress (:class:`DropoffSummary`).
    ``column`` names the values shown ("(none)" when empty); ``options`` are those of
    :func:`compute_funnel`."""
    engine = as_engine(cur, table)
    spec = _dropoff_spec(engine, steps, after_step, options)
    sql = _dropoff_sql(spec, after_step, column, 1)
    progress, progress_params = _in_progress_sql(spec, log_end_us(engine, None, spec.event_filter))
    kernel = ("SELECT l.customer_id, l.t1, l.left_value, x.value AS next_value, "
              "x.customer_id IS NOT NULL AS has_next FROM left_ev l "
              "LEFT JOIN nexts x ON x.customer_id = l.customer_id")
    rows = sql.run(engine, kernel,
                   "SELECT 'left' AS kind, coalesce(left_value, ?) AS value, count(*) AS customers "
                   "FROM kernel GROUP BY ALL\n"
                   "UNION ALL SELECT 'next', CASE WHEN has_next THEN coalesce(next_value, ?) ELSE ? END, "
                   "count(*) FROM kernel GROUP BY ALL\n"
                   f"UNION ALL SELECT 'in progress', NULL, count(*) FILTER (WHERE {progress}) FROM kernel\n"
                   "ORDER BY kind, customers DESC, value",
                   [NO_VALUE, NO_VALUE, NO_FURTHER_EVENTS] + progress_params)
    frame = pd.DataFrame(rows, columns=["kind", "value", "customers"])
    left = frame[frame["kind"] == "left"]
    nexts = frame[frame["kind"] == "next"]
    total = int(left["customers"].sum())
    in_progress = int(frame.loc[frame["kind"] == "in progress", "customers"].sum())
    return DropoffSummary(after_step=int(after_step), column=column, customers=total,
                          in_progress=in_progress, left_at=_shares(left, total),
                          next=_shares(nexts, total))


def dropoff_customers(cur, table: str, steps: list[str], after_step: int, next_events: int = 3,
                      *, column: str | None = None, limit: int | None = None,
                      **options) -> pd.DataFrame:
    """The customers who reached step ``after_step`` (1-based) but not the next one
    (SPEC §2 drop-off list).  Columns: customer_id, step_time (their counted attempt's
    step event, Timestamp naive UTC), left_at (``column`` value of their last step event
    in the attempt: where they left; "(none)" when empty), left_time, in_progress (bool:
    the attempt's window was still open at the log's end), next_1 … next_<next_events>
    (``column`` values of their next events after where they left; "(none)" for an
    empty value, None when there was no further event).  ``column`` defaults to the
    step column.  Sorted by customer_id; ``limit`` caps the rows."""
    engine = as_engine(cur, table)
    spec = _dropoff_spec(engine, steps, after_step, options)
    column = column or spec.by
    next_events = max(0, int(next_events))
    sql = _dropoff_sql(spec, after_step, column, max(next_events, 1))
    progress, progress_params = _in_progress_sql(spec, log_end_us(engine, None, spec.event_filter))
    nexts = ", ".join(f"any_value(coalesce(x.value, ?)) FILTER (WHERE x.n = {n}) AS next_{n}"
                      for n in range(1, next_events + 1))
    kernel = ("SELECT d.customer_id, make_timestamp(any_value(d.tj)) AS step_time, "
              "any_value(coalesce(l.left_value, ?)) AS left_at, "
              "make_timestamp(any_value(l.lt)) AS left_time, "
              f"any_value({progress.replace('t1', 'd.t1')}) AS in_progress"
              + (", " + nexts if nexts else "")
              + " FROM dropped d JOIN left_ev l ON l.customer_id = d.customer_id "
              "LEFT JOIN nexts x ON x.customer_id = d.customer_id GROUP BY d.customer_id")
    limit_sql, limit_params = ("", []) if limit is None else (" LIMIT ?", [int(limit)])
    names = (["customer_id", "step_time", "left_at", "left_time", "in_progress"]
             + [f"next_{n}" for n in range(1, next_events + 1)])
    rows = sql.run(engine, kernel, "SELECT * FROM kernel ORDER BY customer_id" + limit_sql,
                   limit_params, kernel_params=[NO_VALUE] + progress_params + [NO_VALUE] * next_events)
    frame = pd.DataFrame(rows, columns=names)
    for name in ("step_time", "left_time"):
        frame[name] = pd.to_datetime(frame[name]).astype("datetime64[us]")
    frame["in_progress"] = frame["in_progress"].astype(bool)
    return frame


def tied_customers(cur, table: str, steps: list[str], *, by: str = "stage",
                   event_filter: EventFilter | None = None) -> int:
    """Customers with two or more events at one instant, at least one of them matching a
    step (SPEC §7): their funnel depends on how ties are ordered (file order, or an order
    key), so a result without an order key says how many there are."""
    engine = as_engine(cur, table)
    types = engine.column_types()
    _require_column(types, by, "step")
    source, params = filtered_events(engine.table, event_filter)
    values = list(dict.fromkeys(str(s) for s in steps))
    col = quote_ident(by)
    text = col if str(types[by]).upper().startswith("VARCHAR") else f"CAST({col} AS VARCHAR)"
    kernel = (f"WITH ev AS ({source}) SELECT count(DISTINCT customer_id) AS n FROM ("
              f"SELECT customer_id FROM ev GROUP BY customer_id, ts "
              f"HAVING count(*) > 1 AND bool_or({text} IN ({', '.join('?' * len(values))})))")
    rows = engine.rows(kernel, params + values, "SELECT CAST(sum(n) AS BIGINT) FROM kernel")
    return int(rows[0][0] or 0)


# ---------------------------------------------------------------------------------------
# A first funnel for logs without stages

def suggest_steps(cur, table: str, column: str, *, max_steps: int = 5, min_share: float = 0.2,
                  candidates: int = 8, event_filter: EventFilter | None = None) -> list[str]:
    """Values of ``column`` that make a sensible first funnel for a log without stages:
    the path most customers follow through the most widespread values.

    Candidates: the ``candidates`` values met by the most customers, each by at least
    ``min_share`` of them.  Using each customer's first occurrence of each value, the
    first step is the candidate most customers meet first; each next step is the unused
    candidate that most customers meet after the current step (at least ``min_share`` of
    the current step's customers; ties: the value usually met earlier, then more
    customers, then the name), up to ``max_steps``.  Alternatives met instead of each
    other (one ad or another) so do not become consecutive steps.  Empty when no two
    values qualify.
    """
    engine = as_engine(cur, table)
    types = engine.column_types()
    _require_column(types, column, "step")
    col = quote_ident(column)
    value = col if str(types[column]).upper().startswith("VARCHAR") else f"CAST({col} AS VARCHAR)"
    source, params = filtered_events(engine.table, event_filter)
    # Each customer's first occurrence of each value: per-customer work (the kernel).
    firsts = (f"WITH ev AS ({source}) SELECT customer_id, {value} AS v, min((ts, _row)) AS seen "
              f"FROM ev WHERE {col} IS NOT NULL GROUP BY ALL")
    # The candidates need every customer at once: a first query over those firsts.
    candidates = [row[0] for row in engine.rows(
        firsts, params,
        "SELECT v, count(*) AS customers FROM kernel GROUP BY v "
        "HAVING count(*) >= ? * (SELECT count(DISTINCT customer_id) FROM kernel) "
        "ORDER BY customers DESC, v LIMIT ?", [float(min_share), int(candidates)])]
    if len(candidates) < 2:
        return []
    # Then, per customer, the rank of each candidate's first occurrence and the pairs
    # "b met after a"; aggregated into per-value figures and pair counts.
    placeholders = ", ".join("?" * len(candidates))
    pairs = (f"WITH ev AS ({source}), "
             f"firsts AS (SELECT customer_id, {value} AS v, min((ts, _row)) AS seen FROM ev "
             f"WHERE {value} IN ({placeholders}) GROUP BY ALL), "
             "ranked AS MATERIALIZED (SELECT f.*, rank() OVER (PARTITION BY customer_id ORDER BY seen) AS r "
             "FROM firsts f) "
             "SELECT v, NULL AS later, r FROM ranked "
             "UNION ALL SELECT a.v, b.v, NULL FROM ranked a JOIN ranked b "
             "ON a.customer_id = b.customer_id AND a.seen < b.seen")
    rows = engine.rows(pairs, params + candidates,
                       "SELECT v, later, count(*), count(*) FILTER (WHERE r = 1), avg(r) "
                       "FROM kernel GROUP BY ALL")
    rows = [(v, later, n, None if later is not None else r1, None if later is not None else mean_rank)
            for v, later, n, r1, mean_rank in rows]
    # (customers, customers meeting it first, mean rank of its first occurrence)
    stats = {v: (n, r1, mean_rank) for v, later, n, r1, mean_rank in rows if later is None}
    if len(stats) < 2:
        return []
    follows = {(v, later): n for v, later, n, _, _ in rows if later is not None}
    order = {v: (stats[v][2], -stats[v][0], v) for v in stats}     # usual position, then size
    path = [min(stats, key=lambda v: (-stats[v][1],) + order[v])]
    while len(path) < max_steps:
        current = path[-1]
        options = [v for v in stats if v not in path
                   and follows.get((current, v), 0) >= max(1.0, min_share * stats[current][0])]
        if not options:
            break
        path.append(min(options, key=lambda v: (-follows[(current, v)],) + order[v]))
    return path if len(path) >= 2 else []
