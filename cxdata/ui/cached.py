"""Cached access to the analytics for the pages.

Every result is cached with ``st.cache_data`` under the dataset's ``cache_key`` (table,
version, stage order) plus the call's parameters, so a rerun with the same widgets costs a
dictionary lookup and a changed dataset can never serve stale numbers.  The analytics
themselves live in ``cxdata.analytics.funnel`` / ``scores`` / ``paths`` / ``insights``: this module
only routes calls to them (each on its own cursor, as the workspace requires).

``EventFilter`` is a frozen dataclass, which Streamlit's cache hashes by value.
"""
from __future__ import annotations

import datetime as dt
import importlib
import inspect
from collections.abc import Sequence

import pandas as pd
import streamlit as st

from cxdata.analytics.funnel import compute_funnel, most_dropped_step
from cxdata.sql import EventFilter
from cxdata.store.connections import is_connected
from cxdata.ui import spark_run
from cxdata.ui.state import get_workspace
from cxdata.store.workspace import DatasetInfo

#: Enough entries for a few datasets × the parameter combinations of a working session;
#: results are small aggregated frames.
MAX_ENTRIES = 1024


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES)
def _call(cache_key: tuple, module: str, function: str, table: str,
          args: tuple, kwargs: tuple, _known: object = None, _inputs: dict | None = None) -> object:
    """``cxdata.<module>.<function>(cursor, table, *args, **kwargs, **_inputs)``, cached.

    ``cache_key`` is not used in the body: it is part of the cache key so that a new
    version of the dataset gets new results.  The leading underscore keeps the last two
    out of the cache key:

    * ``_known``: the answer, when the caller has it already from a question that
      answered this one too — stored under this question's entry instead of computed;
    * ``_inputs``: keyword arguments the function would otherwise compute itself from
      the others (the journey under the same filter, say): they change what the answer
      costs, never what it is, so hashing them (data frames, on every rerun) is wasted.
    """
    if _known is not None:
        return _known
    kwargs = dict(kwargs) | (_inputs or {})
    target = getattr(importlib.import_module(f"cxdata.{module}"), function)
    if is_connected(table):
        # A connected dataset: queried in place on Spark, with its progress shown.
        return spark_run.run_connected(table, target, args, kwargs)
    cur = get_workspace().cursor()
    try:
        return target(cur, table, *args, **kwargs)
    finally:
        cur.close()


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES)
def _chart(name: str, args: tuple, kwargs: tuple, _build=None):
    """``_build(*args, **kwargs)``, cached under the builder's ``name`` and its inputs."""
    return _build(*args, **dict(kwargs))


def chart(build, *args, **kwargs):
    """``build(*args, **kwargs)``, a chart of :mod:`cxdata.presentation.charts`, built once
    per distinct input: Altair takes 20–60 ms to build one, and a page builds its charts
    again on every rerun (a layered funnel chart was half of a cached redraw).  The
    cache hands back a copy, which the page may change."""
    return _chart(f"{build.__module__}.{build.__qualname__}", tuple(args),
                  tuple(sorted(kwargs.items())), build)


def call(info: DatasetInfo, module: str, function: str, *args, _known: object = None,
         _inputs: dict | None = None, **kwargs):
    """Run an analytics function of ``cxdata.<module>`` on the dataset, cached
    (``_known``, ``_inputs``: see :func:`_call`)."""
    return _call(info.cache_key, module, function, info.table, tuple(args),
                 tuple(sorted(kwargs.items())), _known, _inputs)


# ---------------------------------------------------------------------------------------
# Small dataset facts used by the filter bar and the overview

def dataset_counts(info: DatasetInfo, event_filter: EventFilter | None = None) -> dict:
    """``{"customers", "events", "first", "last"}`` of the filtered events (first/last:
    naive UTC datetimes, None when no event is left)."""
    # An empty filter bar is no filter: one pass serves it and the date span (a page's
    # first load asks for both).
    if event_filter is not None and event_filter.is_empty():
        event_filter = None
    column = _per_value_column(info, event_filter)
    if column is None or is_connected(info):
        # (a connected dataset has no timeline to count its customers on: the scan that
        # counts them gives the events too, and a query per channel would be one more job)
        return call(info, "sql", "event_counts", event_filter)
    per_value = (column, call(info, "sql", "event_counts_per", column))
    return call(info, "sql", "event_counts", event_filter, _inputs={"per_value": per_value})


#: The filter bar's column: the events' figures counted once per value of it answer every
#: change of its values (:mod:`cxdata.analytics.per_value`).
PER_VALUE_COLUMN = "channel"


def _per_value_column(info: DatasetInfo, event_filter: EventFilter | None) -> str | None:
    """:data:`PER_VALUE_COLUMN` when the dataset has it with fewer values than the filter
    bar lists (a column mapped as the channel by mistake, with a value per customer, would
    make the counts per value as big as the events) and the filter keeps values of it
    alone (or nothing): figures counted per value of it then answer the filter."""
    from cxdata.analytics.per_value import serves
    column = PER_VALUE_COLUMN
    if not (info.has_role(column) and serves(event_filter, column)):
        return None
    return column if len(column_values(info, column)) < COLUMN_VALUES else None


def date_span(info: DatasetInfo) -> tuple[dt.date | None, dt.date | None]:
    """First and last event date (UTC) of the whole dataset."""
    counts = dataset_counts(info, None)
    first, last = counts["first"], counts["last"]
    return (first.date() if first else None, last.date() if last else None)


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES)
def _column_values(cache_key: tuple, name: str, column: str, limit: int) -> list[str]:
    return get_workspace().distinct_values(name, column, limit=limit)


#: How many values of a column the pickers list, most frequent first.
COLUMN_VALUES = 300


def column_values(info: DatasetInfo, column: str, limit: int = COLUMN_VALUES) -> list[str]:
    """Values of a column, most frequent first (for pickers)."""
    if is_connected(info):
        return call(info, "sql", "distinct_values", column, limit)
    return _column_values(info.cache_key, info.name, column, limit)


def id_like_columns(info: DatasetInfo) -> list[str]:
    """``cxdata.io.profile.id_like_columns`` of the dataset's attributes: the ones never
    offered as breakdowns or filters (an id, a timestamp)."""
    return call(info, "io.profile", "id_like_columns", tuple(info.attributes))


# ---------------------------------------------------------------------------------------
# Typed shortcuts (same names and parameters as the analytics functions)

def funnel(info: DatasetInfo, steps: Sequence[str], _known=None, **options):
    """``cxdata.analytics.funnel.compute_funnel`` -> FunnelResult (one entry per question,
    however its options are spelled: see :func:`_funnel_options`)."""
    return call(info, "analytics.funnel", "compute_funnel", list(steps), _known=_known,
                **_funnel_options(options))


def suggest_steps(info: DatasetInfo, column: str, **options) -> list[str]:
    """``cxdata.analytics.funnel.suggest_steps``: a first funnel's steps for a log without stages."""
    return call(info, "analytics.funnel", "suggest_steps", column, **options)


def journey_funnel_steps(info: DatasetInfo, **options) -> tuple[str, list[str]]:
    """``cxdata.analytics.insights.journey_funnel_steps``: (column, steps) of the dataset's journey
    funnel, the one the Overview, its findings and the report share."""
    return call(info, "analytics.insights", "journey_funnel_steps", list(info.stage_order), **options)


def journey(info: DatasetInfo, **options):
    """``cxdata.analytics.insights.compute_journey``: the journey funnel (and, when the findings
    compare entry channels, the funnel per entry channel) the Overview draws and its
    findings quote."""
    return call(info, "analytics.insights", "compute_journey", list(info.stage_order), **options)


def funnel_breakdown(info: DatasetInfo, steps: Sequence[str], breakdown: str, **options):
    """``cxdata.analytics.funnel.funnel_breakdown`` -> list of (group, FunnelResult)."""
    return call(info, "analytics.funnel", "funnel_breakdown", list(steps), breakdown, **options)


def funnel_trend(info: DatasetInfo, steps: Sequence[str], grain: str = "week",
                 **options) -> pd.DataFrame:
    return call(info, "analytics.funnel", "funnel_trend", list(steps), grain, **options)


def step_durations_histogram(info: DatasetInfo, steps: Sequence[str], step_index: int,
                             bins: int = 20, **options) -> pd.DataFrame:
    return call(info, "analytics.funnel", "step_durations_histogram", list(steps), step_index, bins,
                **options)


#: The defaults of :func:`cxdata.analytics.funnel.compute_funnel`'s options (read once:
#: :func:`_funnel_options` runs on every rerun of the pages that ask for drop-offs).
_FUNNEL_DEFAULTS = {name: p.default for name, p in inspect.signature(compute_funnel).parameters.items()
                    if p.default is not inspect.Parameter.empty}


def _funnel_options(options: dict) -> dict:
    """The funnel ``options`` without those left at the default of
    :func:`cxdata.analytics.funnel.compute_funnel` (they mean the same either way): one
    cache entry for one question, however a page spells it."""
    defaults = _FUNNEL_DEFAULTS
    return {k: v for k, v in options.items()
            if not (k in defaults and v == defaults[k] and type(v) is type(defaults[k]))}


def dropoff_customers(info: DatasetInfo, steps: Sequence[str], after_step: int,
                      **options) -> pd.DataFrame:
    return call(info, "analytics.funnel", "dropoff_customers", list(steps), int(after_step),
                **_funnel_options(options))


def dropoff_summary(info: DatasetInfo, steps: Sequence[str], after_step: int,
                    column: str = "touchpoint", _known=None, **options):
    """``cxdata.analytics.funnel.dropoff_summary``; the Funnel page's drop-out view and the
    Overview's drop-off finding (:func:`journey_dropoff`) share an entry when they ask
    the same question."""
    return call(info, "analytics.funnel", "dropoff_summary", list(steps), int(after_step),
                column=column, _known=_known, **_funnel_options(options))


def funnel_and_dropoff(info: DatasetInfo, steps: Sequence[str], column: str,
                       after: int | None, **options):
    """``cxdata.analytics.funnel.funnel_and_dropoff`` -> (FunnelResult, DropoffSummary or
    None): the Funnel page's funnel and its drop-out view from one set of counted
    attempts.  They also fill the entries :func:`funnel` (same ``options``) and
    :func:`dropoff_summary` answer from, which the page's other tabs and views ask."""
    options = _funnel_options(options)
    result, summary = call(info, "analytics.funnel", "funnel_and_dropoff", list(steps), column,
                           None if after is None else int(after), **options)
    funnel(info, steps, _known=result, **options)
    if summary is not None:
        dropoff_summary(info, steps, summary.after_step, column=column, _known=summary, **options)
        _fill_funnel_views(info, steps, column, result, summary, options)
    return result, summary


def _fill_funnel_views(info: DatasetInfo, steps: Sequence[str], column: str, result, summary,
                       options: dict) -> None:
    """Store ``(result, summary)`` as the answer of :func:`funnel_and_dropoff` asked for
    the summary's step by number and — when that is the step losing most customers, the
    view the Funnel page opens on — with no step chosen (``options``: normalised by
    :func:`_funnel_options`)."""
    asked = [summary.after_step] + ([None] if summary.after_step == most_dropped_step(result) else [])
    for after in asked:
        call(info, "analytics.funnel", "funnel_and_dropoff", list(steps), column, after,
             _known=(result, summary), **options)


def journey_dropoff(info: DatasetInfo, journey, event_filter: EventFilter | None = None):
    """The drop-off summary the Overview's drop-off finding quotes
    (``cxdata.analytics.insights.dropoff_question``; None without one), through
    :func:`dropoff_summary`: the Funnel page, opened from the finding on the same filter,
    finds it computed.  ``journey``: :func:`journey` under ``event_filter``, which
    computed the summary with its funnel (``journey.dropoff``): that answer fills the
    entry."""
    question = call(info, "analytics.insights", "dropoff_question", event_filter=event_filter,
                    _inputs={"journey": journey})
    if question is None:
        return None
    steps, after, options = question
    known = journey.dropoff
    if known is not None and (known.after_step, known.column) != (after, options["column"]):
        known = None
    if known is not None:
        # the Funnel page on the journey's steps shows this very view (from the finding's
        # link, or by default when the step loses the most customers)
        funnel_options = {k: v for k, v in options.items() if k != "column"}
        _fill_funnel_views(info, steps, options["column"], journey.funnel, known,
                           _funnel_options(funnel_options))
    return dropoff_summary(info, steps, after, _known=known, **options)


def score_counts(info: DatasetInfo, event_filter: EventFilter | None = None) -> dict:
    """``cxdata.analytics.insights.score_counts``: every metric's response counts per month
    and touchpoint, in one query — the Overview's score cards
    (``insights.overall_scores``) and its findings share them."""
    if event_filter is not None and event_filter.is_empty():
        event_filter = None
    column = _per_value_column(info, event_filter)
    if column is None:
        return call(info, "analytics.insights", "score_counts", event_filter=event_filter)
    per_value = call(info, "analytics.insights", "score_counts", per=column)
    return _kept_score_counts(info.cache_key, column, event_filter, per_value)


@st.cache_data(show_spinner=False, max_entries=MAX_ENTRIES)
def _kept_score_counts(cache_key: tuple, column: str, event_filter: EventFilter | None,
                       _per_value: dict) -> dict:
    """``per_value.kept_score_counts``, once per filter (``_per_value``, the counts per
    value of ``column``, is known from the first two: left out of the key)."""
    from cxdata.analytics.per_value import kept_score_counts
    return kept_score_counts(_per_value, event_filter, column)


def score_summary(info: DatasetInfo, metric: str, **options):
    return call(info, "analytics.scores", "score_summary", metric, **options)


def scores_by(info: DatasetInfo, metric: str, by: str, **options) -> pd.DataFrame:
    return call(info, "analytics.scores", "scores_by", metric, by, **options)


def scores_matrix(info: DatasetInfo, metric: str, rows: str, cols: str,
                  **options) -> pd.DataFrame:
    return call(info, "analytics.scores", "scores_matrix", metric, rows, cols, **options)


def scores_trend(info: DatasetInfo, metric: str, grain: str = "week",
                 **options) -> pd.DataFrame:
    return call(info, "analytics.scores", "scores_trend", metric, grain, **options)


def compare_groups(info: DatasetInfo, metric: str, column: str, a: str, b: str, **options):
    return call(info, "analytics.scores", "compare_groups", metric, column, a, b, **options)


def comments(info: DatasetInfo, **options) -> pd.DataFrame:
    return call(info, "analytics.scores", "comments", **options)


def transitions(info: DatasetInfo, by: str = "stage", **options) -> pd.DataFrame:
    return call(info, "analytics.paths", "transitions", by, **options)


def variants(info: DatasetInfo, by: str = "stage", **options) -> pd.DataFrame:
    return call(info, "analytics.paths", "variants", by, **options)


def insights(info: DatasetInfo, event_filter: EventFilter | None = None, **given) -> list:
    """``cxdata.analytics.insights.dataset_insights`` under the filter; ``given``: its
    ``journey``, ``dropoff`` and ``counts`` when the page has them, computed under the
    same filter (not part of the cache key: they are what the findings would compute)."""
    return call(info, "analytics.insights", "dataset_insights", list(info.stage_order),
                event_filter=event_filter, _inputs=given)


def why_findings(info: DatasetInfo, **options) -> list:
    """``cxdata.why.findings.why_findings``: the Overview's findings of the Why analyses
    (conversion drivers, key driver, control signal, conformance)."""
    return call(info, "why.findings", "why_findings", list(info.stage_order), **options)
