"""The drop-off list (SPEC §2): after step j, where the drop-outs left, what they did next
and who is still in progress.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from cxdata.engines import Engine, as_engine
from cxdata.sql import quote_ident
from cxdata.analytics.funnel.spec import NO_VALUE, NO_FURTHER_EVENTS, _Spec, _require_column, _spec
from cxdata.analytics.funnel.attempts import _Sql, _counted, _relevant_time, _timeline_time_filter
from cxdata.analytics.funnel.measures import log_end_us
from cxdata.analytics.funnel.dropoff_lists import lanes_cte, value_timeline
from cxdata.store.timelines import Timeline


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


def _dropoff_sql(spec: _Spec, after_step: int, column: str, next_events: int,
                 lists: Timeline | None = None, counted: _Sql | None = None) -> _Sql:
    """CTEs for the drop-outs after step j (SPEC §2):

    ``dropped`` (customer_id, t1, tj, rj: their counted attempt's step-1 time and step-j
    event), ``left`` (+ lt, lr, left_value: their LAST step-j event at or after the
    step-j event and within the attempt's window — for a stage funnel the last
    touchpoint of that stage — and its ``column`` value) and ``nexts`` (their first
    ``next_events`` events after that last event, n = 1…, value of ``column``).
    Unordered funnels have no "step j value": the last step-matching event counts.

    With ``lists`` (:func:`value_timeline`), CTE ``lanes`` decides the drop-outs it can
    from that timeline (:mod:`cxdata.analytics.funnel.dropoff_lists`) and ``left_ev`` and
    ``nexts`` hold only the others.

    ``counted``: CTEs ending in ``counted`` found already (for this funnel or one with
    more steps, see :func:`_dropoff_spec`; an ordered funnel of distinct steps, which
    needs no ``_row``), instead of finding them again.
    """
    if not (1 <= after_step < spec.k):
        raise ValueError(f"Customers can drop out after steps 1…{spec.k - 1}, not {after_step}.")
    _require_column(spec.column_types, column, "drop-off")
    j, w = after_step, spec.window_us
    # Ordered funnels of distinct values take the first step-j event (by _row) of their
    # instant, so "at or after the step-j event" is "at or after its time": no _row lookup.
    first_of_instant = spec.order == "ordered" and len(spec.values) == spec.k
    if counted is not None and not first_of_instant:
        raise ValueError("Found counted attempts serve ordered funnels of distinct steps only.")
    sql = counted if counted is not None else _counted(spec, rows=[] if first_of_instant else [j])
    rj = "NULL::BIGINT" if first_of_instant else f"r{j}"
    sql.cte("dropped", f"SELECT customer_id, t1, t{j} AS tj, {rj} AS rj FROM counted WHERE depth = {j}",
            materialized=True)
    source = "dropped"
    if lists is not None:
        lanes_cte(spec, sql, j, lists)
        sql.cte("undecided", "SELECT customer_id, t1, tj, rj FROM lanes WHERE NOT clear", materialized=True)
        source = "undecided"
    # Only events from the step-j event on can be where they left or what came next.
    since = "d.tj"
    if first_of_instant and spec.timeline is not None and spec.steps[j - 1] in spec.timeline.codes:
        _last_step_time(spec, sql, j, source)
        source, since = "dropped_at", "d.lt"
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
                   f"FROM {source} d JOIN ev e ON e.customer_id = d.customer_id AND epoch_us(e.ts) >= {since} "
                   "GROUP BY d.customer_id",
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


def _last_step_time(spec: _Spec, sql: _Sql, j: int, source: str) -> None:
    """CTE ``dropped_at``: CTE ``source`` (drop-outs) with ``lt``, the time (epoch µs) of the drop-out's
    last step-j event from the step-j event on and within the window, read from the step
    column's timeline (keys kept by the filter).  Where they left lies at ``lt`` and what
    came next after it, so the events before ``lt`` — most of a drop-out's events — need
    not be gathered."""
    timeline, w = spec.timeline, spec.window_us
    t = f"((x >> {timeline.code_bits}) + {int(spec.time_min_us)})"      # epoch µs
    parts, params = _timeline_time_filter(spec, t)
    # the filter's values on the drop-outs' keys only (not on every customer's first)
    parts += [f"(x & {timeline.code_mask}) = {timeline.codes[spec.steps[j - 1]]}", f"{t} >= d.tj",
              timeline.kept(spec.event_filter, "i")]
    if w is not None:
        parts.append(f"{t} <= d.t1 + ?")
        params.append(w)
    # the step-j event itself always qualifies: lt >= tj (coalesce only guards the join)
    sql.cte("dropped_at", f"SELECT d.*, coalesce(list_max(list_transform(list_filter(k.K, lambda x, i: "
                          f"{' AND '.join(parts)}), lambda x: {t})), d.tj) AS lt FROM {source} d "
                          f"JOIN {quote_ident(timeline.table)} k ON k.customer_id = d.customer_id",
            params)


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
    return _summary(engine, spec, int(after_step), column)


def _summary(engine: Engine, spec: _Spec, after_step: int, column: str,
             counted: _Sql | None = None) -> DropoffSummary:
    """:func:`dropoff_summary` of ``spec``'s funnel (``counted``: see :func:`_dropoff_sql`)."""
    lists = value_timeline(engine, spec, column, after_step)
    sql = _dropoff_sql(spec, after_step, column, 1, lists, counted)
    progress, progress_params = _in_progress_sql(spec, log_end_us(engine, None, spec.event_filter))
    kernel = ("SELECT l.customer_id, l.t1, l.left_value, x.value AS next_value, "
              "x.customer_id IS NOT NULL AS has_next FROM left_ev l "
              "LEFT JOIN nexts x ON x.customer_id = l.customer_id")
    if lists is not None:
        kernel += ("\nUNION ALL SELECT customer_id, t1, left_value, next_value, has_next "
                   "FROM lanes WHERE clear")
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
    return DropoffSummary(after_step=after_step, column=column, customers=total,
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
