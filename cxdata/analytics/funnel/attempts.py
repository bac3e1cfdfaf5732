"""The counted-attempt relation: each customer's counted attempt (depth, step times t1…tk,
optionally the step events' rows r1…rk) as SQL, for the ordered, strict and unordered
modes and the exclusions.  Everything the funnel reports is an aggregate of it.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from cxdata.engines import Engine
from cxdata.sql import filtered_events, quote_ident, range_conditions
from cxdata.analytics.funnel.spec import _Condition, _Spec, _to_us


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
    parts, params = range_conditions(t, spec.start_us, spec.end_us)
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


def _ordered_ctes(spec: _Spec, sql: _Sql, reused: bool, entry_code: str | None = None) -> None:
    """Ordered mode: CTE ``chain`` (customer_id, depth, t1…tk in epoch µs, q1…qk) where
    q is the rank (by _row) of the chosen event among the same-value events at its
    instant (1 = the first in the file); with ``entry_code`` also ``G``
    (:func:`_ordered_distinct_ctes`).

    The customer's events come as one packed list (:func:`_packed_ctes`) or straight from
    the step column's stored timeline; the per-value lists are filtered out of it.
    """
    if len(spec.values) == spec.k:
        _ordered_distinct_ctes(spec, sql, reused, entry_code)
        return
    if entry_code is not None:
        raise ValueError("The entry's code is read beside distinct steps only.")
    mask = (1 << spec.value_bits) - 1
    v1 = spec.value_index(1)
    _packed_ctes(spec, sql, lambda t, vi: (f"{vi} = {v1}", []), sort=True)
    _ordered_repeated_ctes(spec, sql, mask, reused)


def _step_lists_cte(spec: _Spec, sql: _Sql, entry_code: str | None = None) -> int:
    """CTE ``per``: for each customer with a step-1 event in the entry range, ``L1 … Lk``,
    the packed keys of each step's events (step 1: only those in the entry range; steps
    are distinct values).  Returns the number of low bits of the keys below the time (µs
    after t_min): keys of different lists compare by time only through ``key >> bits``.

    From the stored timeline when there is one (its keys filtered by value code: no
    aggregate over the events), else from :func:`_packed_ctes`.  ``entry_code``: a filter
    column the timeline keeps a list of; ``per`` then also holds all the customer's keys
    ``K0`` (whatever the filter keeps) and, position by position, their codes on that
    column ``G``.
    """
    timeline = spec.timeline
    carried = ""
    if entry_code is not None:
        if timeline is None or entry_code not in timeline.filters:
            raise ValueError(f"The timeline keeps no list of '{entry_code}'.")
        carried = ", K0, G"
    if timeline is None:
        _packed_ctes(spec, sql, lambda t, vi: (f"{vi} = 1", []))
        bits, mask, source, keys = spec.value_bits, (1 << spec.value_bits) - 1, "packed", "P"
        codes = list(range(1, spec.k + 1))
    else:
        bits, mask, source, keys = (timeline.code_bits, timeline.code_mask,
                                    timeline.keys_source(spec.event_filter), "K")
        if entry_code is not None:
            source = _keys_with_codes(timeline, spec.event_filter, entry_code)
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
    sql.cte("per", f"SELECT * FROM (SELECT customer_id{carried}, {', '.join(lists)} FROM {source}) "
                   "WHERE len(L1) > 0", params)
    return bits


def _keys_with_codes(timeline, event_filter, column: str) -> str:
    """:meth:`Timeline.keys_source <cxdata.store.timelines.Timeline.keys_source>` (the
    kept keys ``K``) with all the keys ``K0`` and their codes on filter column ``column``
    (``G``, position by position with ``K0``)."""
    listed = quote_ident(timeline.filters[column].list_column)
    kept = timeline.kept(event_filter, "i")
    keys = "K" if kept == "TRUE" else f"list_filter(K, lambda x, i: {kept})"
    return f"(SELECT customer_id, {keys} AS K, K AS K0, {listed} AS G FROM {quote_ident(timeline.table)})"


def _ordered_distinct_ctes(spec: _Spec, sql: _Sql, reused: bool, entry_code: str | None = None) -> None:
    """Ordered mode when every step is a different value (the usual case): for each step
    a pass over the customer's events of that step and the previous one.

    ``L<i>`` (:func:`_step_lists_cte`): the customer's packed step-i keys (step 1: only
    those in the entry range).  Only minima and maxima are taken, so nothing needs
    sorting; "before" between steps compares times, ``ts(e_i) ≤ ts(e_i+1)``.
    Without a window, the greedy chain from the first start
    (:func:`_greedy_from_first_start`).  With one, the latest-start recurrence
    (:func:`_latest_start_chain`): for a step-i event e, ``LS<i>`` = the latest start s of a
    chain of steps 1…i ending at e with t(e) − s ≤ W, NULL if none: the largest
    ``LS<i-1>`` among the step-(i−1) events at or before e that is ≥ t(e) − W (a chain
    start valid for e is valid for every earlier event too).  The depth D is the last
    step with a non-NULL ``LS``; ``f`` its first event with one.  Every start s with
    t(f) − W ≤ s ≤ LS(f) chains to f within W, so the earliest attempt reaching D starts
    at the first start ≥ t(f) − W; its step times are the greedy chain, the first step-i
    event at or after the step-(i−1) one.

    ``entry_code`` (a filter column of the timeline): ``chain`` also holds ``G``, the code
    on that column of the step-1 event at t1 — read beside its key, when it is the
    customer's only step-1 event at that instant; NULL when there are several (the file
    order, and the filter, decide which is step 1, and the keys do not hold the order).
    """
    k, w = spec.k, spec.window_us
    bits = _step_lists_cte(spec, sql, entry_code)
    prev = (_greedy_from_first_start if w is None else _latest_start_chain)(spec, sql, bits)
    times = ", ".join(f"(t{i} >> {bits}) + ? AS t{i}" for i in range(1, k + 1))
    ranks = ", ".join(f"CASE WHEN depth >= {i} THEN 1 END AS q{i}" for i in range(1, k + 1))
    # t1 here is still a key of L1 (and of K0): the same key = the same instant and value
    entry = ("" if entry_code is None else
             ", CASE WHEN len(list_filter(K0, lambda x: x = t1)) = 1 THEN G[list_position(K0, t1)] END AS G")
    sql.cte("chain", f"SELECT customer_id, depth::INTEGER AS depth, {times}, {ranks}{entry} FROM {prev}",
            [spec.time_min_us] * k, materialized=reused or None)


def _greedy_from_first_start(spec: _Spec, sql: _Sql, bits: int) -> str:
    """Without a window: CTEs ending in the returned one, with the counted attempt's step
    times ``t1 … tk`` (keys) and ``depth`` — the greedy chain from the customer's first
    step-1 event.  A later start never reaches deeper (whatever chains after it chains
    after an earlier start too), so the first start is the earliest attempt of the
    largest depth: the latest-start recurrence (:func:`_latest_start_chain`) is not
    needed."""
    k = spec.k
    sql.cte("c1", "SELECT *, list_min(L1) AS t1 FROM per")
    for i in range(2, k + 1):
        sql.cte(f"c{i}", f"SELECT *, CASE WHEN t{i - 1} IS NOT NULL THEN list_min(list_filter(L{i}, "
                         f"lambda x: (x >> {bits}) >= (t{i - 1} >> {bits}))) END AS t{i} FROM c{i - 1}")
    # the chain stops at its first step not found: the depth is its last step found
    depth = "CASE " + " ".join(f"WHEN t{i} IS NOT NULL THEN {i}" for i in range(k, 0, -1)) + " END"
    sql.cte("greedy", f"SELECT *, {depth} AS depth FROM c{k}")
    return "greedy"


def _latest_start_chain(spec: _Spec, sql: _Sql, bits: int) -> str:
    """With a window: CTEs ending in the returned one, with ``depth`` and the counted
    attempt's step times ``t1 … tk`` (keys), by the latest-start recurrence of
    :func:`_ordered_distinct_ctes`."""
    k, w = spec.k, spec.window_us
    prev = "per"
    for i in range(2, k + 1):
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
    if k == 1:
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
    return prev


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


def _ordered_rows(spec: _Spec, sql: _Sql, rows: set[int], extra: Sequence[str] = ()) -> None:
    """Find the _row of the chosen events of the steps in ``rows`` (ordered mode): the
    q-th (by _row) event of the step's value at the step's instant.  ``extra``: more
    columns of ``chain`` to keep."""
    k = spec.k
    plain = ", ".join(["customer_id", "depth"] + [f"t{i}" for i in range(1, k + 1)] + list(extra))
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
    chain_cols = ", ".join(["c.customer_id", "c.depth"] + [f"c.t{i}" for i in range(1, k + 1)]
                           + [f"c.{column}" for column in extra])
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
    if spec.event_filter is None:
        return [], []
    return range_conditions(t, _to_us(spec.event_filter.start), _to_us(spec.event_filter.end))


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
                      f"FROM {timeline.keys_source(spec.event_filter)})\n"
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


def _counted(spec: _Spec, rows: Sequence[int] = (), entry_code: str | None = None) -> _Sql:
    """CTEs ending in ``counted``: one row per customer in the funnel with ``depth``,
    ``t1 … tk`` (epoch µs; NULL beyond depth) and, for the steps in ``rows`` (and those
    the exclusions need), ``r1 … rk`` (_row of the step's event).

    ``entry_code``: a filter column of the step column's timeline (ordered mode, distinct
    steps): ``counted`` also holds ``G``, that column's code of the step-1 event
    (:func:`_ordered_distinct_ctes`; NULL when it is not known from the timeline)."""
    needed = set(rows)
    for ex in spec.exclusions:
        needed |= {ex.after_step, ex.before_step}
    sql = _base_ctes(spec)
    if spec.order == "ordered":
        # the chain is read twice when _rows are looked up: compute it once
        _ordered_ctes(spec, sql, reused=bool(needed), entry_code=entry_code)
        _ordered_rows(spec, sql, needed, () if entry_code is None else ("G",))
    elif entry_code is not None:
        raise ValueError("The entry's code is read in the ordered mode only.")
    elif spec.order == "strict":
        _strict_ctes(spec, sql)
    else:
        _unordered_ctes(spec, sql, rows_needed=bool(needed))
    _exclusion_ctes(spec, sql)
    return sql
