"""A funnel and the drop-outs after one of its steps, from counted attempts found once.

The Overview draws the journey funnel and, beside it, where the customers of its largest
drop-off left and what they did next.  Both are aggregates of the same counted attempts,
but the drop-off asked on its own finds them again (a funnel of steps 1…j+1: at 10
million events a fifth to a third of the page's redraw).  Here they are found once and
kept while both questions are asked (:meth:`cxdata.engines.base.Engine.kept`); the step
is chosen in between, by the caller's rule, from the funnel just computed.

The Funnel page asks the same of the funnel it draws and the drop-out view beside it
(:func:`funnel_and_dropoff`).

The numbers are those of :func:`~cxdata.analytics.funnel.compute_funnel`,
:func:`~cxdata.analytics.funnel.funnel_breakdown` and
:func:`~cxdata.analytics.funnel.dropoff_summary` asked one by one (which is what
happens on an engine that keeps nothing between queries, and for funnels whose
drop-off needs the step events' ``_row``).
"""
from __future__ import annotations

from typing import Callable

from cxdata.engines import as_engine
from cxdata.sql import quote_ident
from cxdata.analytics.funnel.attempts import _base_ctes, _counted
from cxdata.analytics.funnel.dropoffs import DropoffSummary, _summary, dropoff_summary
from cxdata.analytics.funnel.measures import (
    _breakdown_results, _breakdown_then, _funnel_then, _grouped, _result_from_row,
    funnel_and_breakdown, compute_funnel)
from cxdata.analytics.funnel.spec import FunnelResult, _spec

#: Chooses the step whose drop-outs are summarised (1-based, never the last) from the
#: funnel, or None for none.
StepChoice = Callable[[FunnelResult], "int | None"]


def funnel_with_dropoff(cur, table: str, steps: list[str], column: str, pick: StepChoice, *,
                        breakdown: str | None = None, group_times: bool = True, **options
                        ) -> tuple[FunnelResult, list | None, DropoffSummary | None]:
    """``(funnel, groups, summary)`` for dataset table ``table``:

    * ``funnel``: :func:`compute_funnel` of ``steps`` (``options`` are its own);
    * ``groups``: the funnel per value of column ``breakdown``, as
      :func:`funnel_breakdown` gives it (without the times between steps unless
      ``group_times``), or None without a breakdown;
    * ``summary``: :func:`dropoff_summary` by ``column`` after step ``pick(funnel)``, or
      None when ``pick`` returns None.
    """
    engine = as_engine(cur, table)
    if breakdown is None:
        spec = _spec(engine, steps, **options)
        sql, relation = _counted(spec), "counted"
    else:
        spec, sql = _grouped(engine, steps, breakdown, options)
        relation = "grouped"
    if spec.order != "ordered" or len(spec.values) != spec.k:
        return _one_by_one(cur, table, steps, column, pick, breakdown, group_times, options)
    kernel, params = sql.query(f"SELECT * FROM {relation}")
    with engine.kept(kernel, params) as kept:
        if kept is None:
            return _one_by_one(cur, table, steps, column, pick, breakdown, group_times, options)

        def found():
            """CTEs ending in ``counted``, read from the kept rows (with ``grp`` beside
            them when there is a breakdown)."""
            base = _base_ctes(spec)
            base.cte("counted", f"SELECT * FROM {quote_ident(kept)}")
            return base

        if breakdown is None:
            rows = found().run(engine, "SELECT * FROM counted", _funnel_then(spec))
            overall, groups = _result_from_row(spec.labels(), rows[0]), None
        else:
            overall, groups = _breakdown_results(spec, found().run(
                engine, "SELECT * FROM counted", _breakdown_then(spec, group_times)))
        after = pick(overall)
        # the funnel's counted attempts serve the drop-off of any of its steps: see
        # dropoffs._dropoff_spec (those who stop at step j are the same in a longer funnel)
        summary = None if after is None else _summary(engine, spec, int(after), column, found())
    return overall, groups, summary


def _one_by_one(cur, table, steps, column, pick, breakdown, group_times, options):
    """:func:`funnel_with_dropoff` as three questions, each finding its counted attempts."""
    if breakdown is None:
        overall, groups = compute_funnel(cur, table, steps, **options), None
    else:
        overall, groups = funnel_and_breakdown(cur, table, steps, breakdown,
                                               group_times=group_times, **options)
    after = pick(overall)
    summary = (None if after is None
               else dropoff_summary(cur, table, steps, int(after), column=column, **options))
    return overall, groups, summary


def most_dropped_step(result: FunnelResult) -> int:
    """The step (1-based, never the last) that loses the most customers, the earlier on
    ties: the drop-out view a funnel opens on (1 when nobody drops, or with one step)."""
    dropped = [step.dropped for step in result.steps[:-1]]
    return dropped.index(max(dropped)) + 1 if dropped else 1


def funnel_and_dropoff(cur, table: str, steps: list[str], column: str, after: int | None = None,
                       **options) -> tuple[FunnelResult, DropoffSummary | None]:
    """The funnel of ``steps`` (``options`` are those of :func:`compute_funnel`) and its
    drop-out view by ``column`` after step ``after`` — when ``after`` is None or not a
    step the view can show (the last one, say), after :func:`most_dropped_step` — found
    from one set of counted attempts (:func:`funnel_with_dropoff`).  No summary when
    nobody entered."""
    def pick(result: FunnelResult) -> int | None:
        if not result.entered:
            return None
        if after is not None and 1 <= int(after) < len(result.steps):
            return int(after)
        return most_dropped_step(result)

    result, _, summary = funnel_with_dropoff(cur, table, steps, column, pick, **options)
    return result, summary
