"""Where drop-outs left and what they did next (SPEC §2 drop-off list), read from the
value column's timeline instead of the events — for the usual question: an ordered
funnel of distinct steps, after step j, "left at" and "next" by a column whose timeline
keeps the step column beside each key (:func:`cxdata.store.timelines.ensure_timeline`).

Why: finding each drop-out's last step-j event and the event after it meant joining the
drop-outs to every event of the log (10 million events: about 1.3 s of CPU, most of a
page's redraw).  The touchpoint timeline holds each customer's touchpoints with their
time, stage and channel: enough for almost every drop-out.

Exactness.  The events' order within one instant is their file order (``_row``), which a
timeline does not keep.  A drop-out is decided from the timeline ("clear") only when that
order cannot matter:

* every kept event at the instant ``lt`` of their last step-j event is a step-j event,
  and all of those have one value (so the last of them, by file order, has it, and
  nothing at ``lt`` comes after it but other step-j events, which are not later);
* the events at the next instant after ``lt`` all have one value (whichever comes first
  in the file, "next" is that value), or there is none ("no further events").

The others are read from the events as before (:func:`cxdata.analytics.funnel.dropoffs`),
only them: on a log without ties at those instants, none.  The timeline must hold every
event — the value column has no empty value — for "next" to see them all; otherwise the
drop-off reads the events.
"""
from __future__ import annotations

from cxdata.analytics.funnel.attempts import _Sql, _timeline_time_filter
from cxdata.analytics.funnel.spec import _Spec
from cxdata.sql import quote_ident
from cxdata.store.timelines import Timeline, ensure_timeline, values_by_code


def value_timeline(engine, spec: _Spec, column: str, after_step: int) -> Timeline | None:
    """The timeline of ``column`` that can answer the drop-off after step ``after_step``
    of ``spec``'s funnel (built on demand, see :func:`ensure_timeline`), else None: the
    question is not the usual one, the filter is one the lists cannot apply, or the
    column has empty values (events the timeline leaves out)."""
    cur = getattr(engine, "cur", None)
    if (cur is None or getattr(engine, "order_key", None) is not None or spec.timeline is None
            or spec.order != "ordered" or len(spec.values) != spec.k or column == spec.by
            or not 1 <= after_step < spec.k):
        return None
    if cur.execute(f"SELECT count(*) FROM {quote_ident(engine.table)} "
                   f"WHERE {quote_ident(column)} IS NULL").fetchone()[0]:
        return None
    found = ensure_timeline(cur, engine.table, column, lists=[spec.by])
    if (found is None or spec.by not in found.filters or found.time_min_us != spec.time_min_us
            or not found.serves(spec.event_filter)
            or spec.steps[after_step - 1] not in found.filters[spec.by].codes):
        return None
    return found


def lanes_cte(spec: _Spec, sql: _Sql, after_step: int, timeline: Timeline) -> None:
    """CTE ``lanes`` over CTE ``dropped`` (customer_id, t1, tj, rj): for each drop-out, ``clear``
    (decided from the timeline: see the module's docstring), and when clear
    ``left_value`` (text), ``has_next`` and ``next_value`` (text; NULL when none)."""
    bits, mask, low = timeline.code_bits, timeline.code_mask, int(spec.time_min_us)
    stages = timeline.filters[spec.by]
    step_code = int(stages.codes[spec.steps[after_step - 1]])
    t = f"((x >> {bits}) + {low})"                                   # epoch µs
    u = f"(x >> {bits})"                           # the same in the keys' units (µs after t_min)
    kept, params = _timeline_time_filter(spec, t)
    kept += [timeline.kept(spec.event_filter, "i"), f"{u} >= d.uj"]
    step = [f"{quote_ident(stages.list_column)}[i] = {step_code}"]
    if spec.window_us is not None:
        step.append(f"{u} <= d.ue")
    kept_sql = " AND ".join(kept)
    # J: the kept step-j keys from the step-j event on, within the window; A: every kept
    # key from the step-j event on (where they left lies in J, what came next in A)
    ends = f"tj - {low} AS uj" + ("" if spec.window_us is None else f", t1 + ? - {low} AS ue")
    keyed = (f"SELECT d.customer_id, d.t1, d.tj, d.rj, "
             f"list_filter(k.K, lambda x, i: {kept_sql} AND {' AND '.join(step)}) AS J, "
             f"list_filter(k.K, lambda x, i: {kept_sql}) AS A\n"
             f"FROM (SELECT *, {ends} FROM dropped) d "
             f"JOIN {quote_ident(timeline.table)} k ON k.customer_id = d.customer_id")
    params = params + params + ([spec.window_us] if spec.window_us is not None else [])
    # lu: the instant of the last step-j key.  Keys at one instant differ by their code
    # alone, so the least and greatest key there give the least and greatest value.
    at = f"SELECT customer_id, t1, tj, rj, J, A, list_max(J) >> {bits} AS lu FROM ({keyed})"
    same = f"lambda x: x >> {bits} = lu"
    folded = (f"SELECT customer_id, t1, tj, rj, list_min(list_filter(J, {same})) AS left_lo, "
              f"list_max(J) AS left_hi, len(list_filter(A, {same})) = len(list_filter(J, {same})) AS alone, "
              f"list_filter(A, lambda x: x >> {bits} > lu) AS later FROM ({at})")
    nexts = (f"SELECT customer_id, t1, tj, rj, left_lo, left_hi, alone, next_lo, "
             f"list_max(list_filter(later, lambda x: x >> {bits} = next_lo >> {bits})) AS next_hi "
             f"FROM (SELECT *, list_min(later) AS next_lo FROM ({folded}))")
    names = values_by_code(timeline.codes)
    # one value at lu and at the next instant: their least and greatest keys are one key
    clear = "coalesce(left_lo = left_hi AND alone AND (next_lo IS NULL OR next_lo = next_hi), false)"
    sql.cte("lanes", f"SELECT customer_id, t1, tj, rj, {clear} AS clear, "
                     f"list_extract(?, (left_lo & {mask})::INTEGER) AS left_value, next_lo IS NOT NULL AS has_next, "
                     f"list_extract(?, (next_lo & {mask})::INTEGER) AS next_value FROM ({nexts})",
            [names, names] + params, materialized=True)      # (the names come first in the text)
