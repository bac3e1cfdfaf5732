"""Does reality follow the map?  Conformance of customers' journeys to a stage order.

SPEC §8.5.  Given the stages of a journey map in order (``s1 … sk``), each customer's
*mapped events* are their events whose ``by`` value (the stage, by default) is one of the
map's stages, ordered by time, ties by file order (``ts``, ``_row``).  Events of other
values are ignored; customers without any mapped event are not counted.

The *first-visit sequence* lists the map positions of the stages in the order the
customer first visited them.  Per customer:

``skips``         at the first visit of some stage, an earlier stage of the map had not
                  been visited yet: the first-visit sequence is not ``1, 2, …, m``.  Starting
                  at the second stage, or going from Aware straight to Purchase, is a skip
                  even when the skipped stage is visited later.
``out of order``  a later stage was first visited before an earlier one that the customer
                  also visited (an inversion in the first-visit sequence).
``loops back``    at some point a mapped event's stage comes earlier in the map than the
                  stage of the mapped event just before it (all visits, not only first
                  visits): a step backwards against the map.
``follows``       none of the three: first visits in map order from the first stage with
                  no gap, and never a step back (the customer may stop at any stage).

A customer may be in several of the last three; every customer is in ``follows`` or in at
least one of them.  **Converted**: reached the last stage of the map (any visit).

How the SPEC's sentences are read here (they admit other readings):

* "reaches a later stage without an earlier one" is read *at the time of reaching*, so an
  out-of-order customer is always a skipper too (Aware → Purchase → Consideration skips
  Consideration on the way to Purchase).  The other reading (an earlier stage never
  visited at all) would leave such customers out of ``skips``.
* "returns to an earlier stage after a later one" is read as *moves back* to an earlier
  stage of the map, whether or not the customer had been there before; so an out-of-order
  customer also loops back.  The stricter reading (back to a stage already visited) counts
  fewer customers (917 instead of 1,053 on the sample).
* The sample's own description (``sample_data/README.md``, story 7) uses these readings:
  627 customers skip, 173 are out of order, 1,053 loop back.

**Deviations** are the steps between consecutive mapped events that the map does not
draw: a jump forward over one or more stages (``skip``; from ``start`` when the first
mapped event is not the first stage) or any step backwards (``back``).  Repeats of a
stage are no step.  A jump forward is a deviation even over a stage visited earlier
(Aware → Consideration → Purchase → Consideration → Advocacy has the deviations
Purchase → Consideration and Consideration → Advocacy, though its first visits are in
order).  Per deviation (from → to): the customers who made it at least once.

Scores: per class (and per deviation), every response of those customers — all their
events after the event filter, mapped or not — summarised by
:func:`cxdata.analytics.scores.summarise` (NPS −100…100, CSAT top-2-box percent, CES mean 1…7,
with 95% intervals).  Everything here is an association: customers who skip a stage
may differ in many ways from those who do not.

Event-level work runs as one engine kernel (correct on any set of whole customers) that
returns partial counts per class and per deviation; the ``then`` step adds them up.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pandas as pd

from cxdata.engines import Engine, as_engine
from cxdata.formatting import format_count, format_percent, format_score
from cxdata.io.schema import resolve_column
from cxdata.analytics.scores import _HIGH_FROM, _LOW_UPTO, METRICS, ResponseCounts, summarise
from cxdata.sql import EventFilter, filtered_events, quote_ident

#: The classes, in the order they are listed.
CLASSES: tuple[str, ...] = ("follows", "skips", "out of order", "loops back")
#: The label of the beginning of a journey (a deviation's ``from`` before the first event).
START = "start"
#: Deviations listed by default (most common first).
TOP_DEVIATIONS = 10

_COUNT_FIELDS = ("n", "high", "low", "total", "total_sq")
_SCORE_COLUMNS = [f"{m}_{f}" for m in METRICS for f in _COUNT_FIELDS]


@dataclass(frozen=True, eq=False)       # frames do not compare with ==
class ConformanceResult:
    """Conformance of a log to a stage order (SPEC §8.5).

    ``customers``: customers with at least one mapped event; ``converted``: those who
    reached the last stage.  ``classes``: one row per class of :data:`CLASSES` (always
    all four, in that order).  ``deviations``: the most common deviations, most customers
    first.  Both frames have the columns ``customers``, ``share`` (fraction 0…1 of
    ``customers``), ``converted``, ``converted_share`` (fraction 0…1 of the row's
    customers; NaN when it has none) and, per metric m of nps / csat / ces, ``m`` (score),
    ``m_n`` (responses), ``m_ci_low``, ``m_ci_high`` (95% interval; NaN when undefined);
    ``classes`` starts with ``class``, ``deviations`` with ``from``, ``to``, ``kind``
    (``skip`` or ``back``) and ``label`` (e.g. "skips Consideration").
    """
    stages: tuple[str, ...]
    customers: int
    converted: int
    classes: pd.DataFrame = field(repr=False)
    deviations: pd.DataFrame = field(repr=False)

    @property
    def converted_share(self) -> float:
        """Fraction 0…1 of all customers who reached the last stage (NaN when none)."""
        return self.converted / self.customers if self.customers else math.nan

    def class_row(self, name: str) -> dict:
        """One row of ``classes`` as a dict (``name`` one of :data:`CLASSES`)."""
        return self.classes.set_index("class").loc[name].to_dict() | {"class": name}

    def to_json_dict(self) -> dict:
        """SPEC §8.5's JSON: ``{"customers", "classes": [{"class", "customers", "share",
        "converted_share", "nps", "nps_n", …}], "deviations": [{"from", "to",
        "customers"}]}`` (classes carry CSAT and CES too; undefined figures are None)."""
        classes = []
        for row in self.classes.to_dict("records"):
            item = {"class": row["class"], "customers": int(row["customers"]),
                    "share": _none(row["share"]), "converted_share": _none(row["converted_share"])}
            for metric in METRICS:
                item[metric] = _none(row[metric])
                item[f"{metric}_n"] = int(row[f"{metric}_n"])
                item[f"{metric}_ci_low"] = _none(row[f"{metric}_ci_low"])
                item[f"{metric}_ci_high"] = _none(row[f"{metric}_ci_high"])
            classes.append(item)
        deviations = [{"from": r["from"], "to": r["to"], "customers": int(r["customers"])}
                      for r in self.deviations.to_dict("records")]
        return {"customers": int(self.customers), "classes": classes, "deviations": deviations}


def _none(value):
    """None for a missing number (JSON null), else a plain float."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


# ---------------------------------------------------------------------------------------
# SQL

def _resolve_column(engine: Engine, by: str) -> str:
    """The events column for a column or role name (:func:`cxdata.io.schema.resolve_column`)."""
    return resolve_column(engine.column_types(), by)


def _kernel_sql(table: str, column: str, stages: Sequence[str],
                event_filter: EventFilter | None) -> tuple[str, list]:
    """The per-customer work, correct on any set of whole customers: partial counts per
    group (``kind`` 'all' / 'class' / 'deviation').  Returns ``(sql, params)``."""
    source, params = filtered_events(table, event_filter)
    k = len(stages)
    value = f"NULLIF(CAST(ev.{quote_ident(column)} AS VARCHAR), '')"
    mapped = ", ".join(f"(CAST(? AS VARCHAR), CAST({i} AS INTEGER))" for i in range(1, k + 1))
    score_sql = []
    for metric in METRICS:
        col = quote_ident(metric)
        score_sql += [f"count({col}) AS {metric}_n",
                      f"count_if({col} >= ?) AS {metric}_high",
                      f"count_if({col} <= ?) AS {metric}_low",
                      f"CAST(COALESCE(sum({col}), 0) AS BIGINT) AS {metric}_total",
                      f"CAST(COALESCE(sum({col} * {col}), 0) AS BIGINT) AS {metric}_total_sq"]
    score_params = [v for m in METRICS for v in (_HIGH_FROM[m], _LOW_UPTO[m])]
    carried = ", ".join(f"f.{c}" for c in ["converted"] + _SCORE_COLUMNS)
    sums = ", ".join(f"CAST(sum({c}) AS BIGINT) AS {c}" for c in _SCORE_COLUMNS)
    # A class row per class the customer is in; a deviation row per deviation made.
    classes = " UNION ALL ".join(
        f"SELECT 'class' AS kind, '{name}' AS class, NULL::INTEGER AS from_idx, "
        f"NULL::INTEGER AS to_idx, {carried} FROM flagged f WHERE {condition}"
        for name, condition in (("follows", "NOT (f.skips OR f.out_of_order OR f.loops_back)"),
                                ("skips", "f.skips"), ("out of order", "f.out_of_order"),
                                ("loops back", "f.loops_back")))
    sql = f"""
        WITH ev AS ({source}),
        mapped(v, idx) AS (VALUES {mapped}),
        seq AS (
            SELECT ev.customer_id, m.idx,
                   row_number() OVER (PARTITION BY ev.customer_id ORDER BY ev.ts, ev._row) AS rn
            FROM ev JOIN mapped m ON m.v = {value}
        ),
        steps AS (
            SELECT customer_id, idx,
                   COALESCE(lag(idx) OVER (PARTITION BY customer_id ORDER BY rn), 0) AS prev_idx
            FROM seq
        ),
        firsts AS (
            SELECT customer_id, idx,
                   row_number() OVER w AS visit_no,
                   max(idx) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS max_before
            FROM (SELECT customer_id, idx, min(rn) AS first_rn FROM seq GROUP BY 1, 2)
            WINDOW w AS (PARTITION BY customer_id ORDER BY first_rn)
        ),
        per_customer AS (
            SELECT customer_id,
                   bool_or(idx <> visit_no) AS skips,
                   COALESCE(bool_or(idx < max_before), FALSE) AS out_of_order,
                   max(idx) = ? AS converted
            FROM firsts GROUP BY 1
        ),
        backs AS (SELECT DISTINCT customer_id FROM steps WHERE idx < prev_idx),
        deviations AS (
            SELECT DISTINCT customer_id, prev_idx AS from_idx, idx AS to_idx
            FROM steps WHERE idx <> prev_idx AND idx <> prev_idx + 1
        ),
        answers AS (
            SELECT customer_id, {", ".join(score_sql)}
            FROM ev WHERE customer_id IN (SELECT customer_id FROM per_customer) GROUP BY 1
        ),
        flagged AS (
            SELECT p.customer_id, p.skips, p.out_of_order, b.customer_id IS NOT NULL AS loops_back,
                   p.converted, {", ".join(f"a.{c}" for c in _SCORE_COLUMNS)}
            FROM per_customer p
            LEFT JOIN backs b ON b.customer_id = p.customer_id
            JOIN answers a ON a.customer_id = p.customer_id
        ),
        grouped AS (
            SELECT 'all' AS kind, NULL::VARCHAR AS class, NULL::INTEGER AS from_idx,
                   NULL::INTEGER AS to_idx, {carried} FROM flagged f
            UNION ALL {classes}
            UNION ALL
            SELECT 'deviation', NULL, d.from_idx, d.to_idx, {carried}
            FROM flagged f JOIN deviations d ON d.customer_id = f.customer_id
        )
        SELECT kind, class, from_idx, to_idx, count(*) AS customers,
               count_if(converted) AS converted, {sums}
        FROM grouped GROUP BY kind, class, from_idx, to_idx
    """
    # Parameters in the order of their ? in the text: filter, stages, k, score bounds.
    return sql, params + [str(s) for s in stages] + [k] + score_params


_THEN_SQL = ("SELECT kind, class, from_idx, to_idx, CAST(sum(customers) AS BIGINT) AS customers, "
             "CAST(sum(converted) AS BIGINT) AS converted, "
             + ", ".join(f"CAST(sum({c}) AS BIGINT) AS {c}" for c in _SCORE_COLUMNS)
             + " FROM kernel GROUP BY kind, class, from_idx, to_idx")


# ---------------------------------------------------------------------------------------
# Labels and sentences (pure)

def _and_list(names: Sequence[str]) -> str:
    """``["A"]`` -> "A"; ``["A", "B", "C"]`` -> "A, B and C"."""
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def deviation_label(stages: Sequence[str], from_idx: int, to_idx: int, *,
                    plural: bool = False) -> str:
    """What a deviation from map position ``from_idx`` (0 = the start) to ``to_idx``
    (1-based) does, in words: "skips Consideration", "loops back to Consideration from
    Purchase" (``plural``: "skip …", "loop back …", for a sentence about customers)."""
    if to_idx > from_idx:
        skipped = list(stages[from_idx:to_idx - 1])
        return f"{'skip' if plural else 'skips'} {_and_list(skipped)}"
    verb = "loop back" if plural else "loops back"
    return f"{verb} to {stages[to_idx - 1]} from {stages[from_idx - 1]}"


def _share(value) -> str:
    """A fraction as a whole percent; below 1% (but not 0) with one decimal ("0.4%")."""
    if value is not None and not (isinstance(value, float) and math.isnan(value)) and 0 < value < 0.01:
        return format_percent(value, 1)
    return format_percent(value, 0)


def _nps_text(score, n) -> str:
    n = int(n or 0)
    if n == 0:
        return "— (no answers)"
    return f"{format_score('nps', score)} (n = {format_count(n)})"


def deviation_sentence(deviation: Mapping, follows: Mapping, last_stage: str) -> str:
    """A sentence with a deviation's figures beside those of the customers who follow
    the map, for the map's pain-point lane, e.g. "412 customers (8%) skip Consideration
    (Aware → Purchase): 31% reach Advocacy vs 44% who follow the map; NPS +5 (n = 120) vs
    +24 (n = 300)." or "684 customers (14%) loop back to Consideration from Purchase: …".

    ``deviation``: a row of :attr:`ConformanceResult.deviations` (``from``, ``to``,
    ``kind``, ``customers``, ``share``, ``converted_share``, ``nps``, ``nps_n``; ``label``
    optional); ``follows``: the ``follows`` row of :attr:`ConformanceResult.classes`;
    ``last_stage``: the map's last stage.  Shares are whole percents, NPS in points; the
    words say what went together, not why.
    """
    customers = int(deviation["customers"])
    label = str(deviation.get("label") or "")
    # The row's label is singular ("skips X"); a sentence about customers needs the plural.
    if customers != 1:
        for singular, plural in (("skips ", "skip "), ("loops back ", "loop back ")):
            if label.startswith(singular):
                label = plural + label[len(singular):]
    who = f"{format_count(customers)} customer{'s' if customers != 1 else ''}"
    head = f"{who} ({_share(deviation['share'])}) {label}"
    if deviation.get("kind") == "skip":      # a back step names both stages already
        head += f" ({deviation['from']} → {deviation['to']})"
    reach = (f"{_share(deviation['converted_share'])} reach {last_stage} vs "
             f"{_share(follows['converted_share'])} who follow the map")
    nps = (f"NPS {_nps_text(deviation['nps'], deviation['nps_n'])} vs "
           f"{_nps_text(follows['nps'], follows['nps_n'])}")
    return f"{head}: {reach}; {nps}."


# ---------------------------------------------------------------------------------------
# Public queries

def _figures(row: Mapping, total: int) -> dict:
    """customers, share, converted, converted_share and the three scores of one group."""
    customers = int(row.get("customers") or 0)
    converted = int(row.get("converted") or 0)
    out = {"customers": customers, "share": customers / total if total else math.nan,
           "converted": converted,
           "converted_share": converted / customers if customers else math.nan}
    for metric in METRICS:
        counts = ResponseCounts(*(int(row.get(f"{metric}_{f}") or 0) for f in _COUNT_FIELDS))
        summary = summarise(metric, counts)
        out[metric] = summary.score
        out[f"{metric}_n"] = summary.n
        out[f"{metric}_ci_low"] = summary.ci_low
        out[f"{metric}_ci_high"] = summary.ci_high
    return out


_FIGURE_COLUMNS = (["customers", "share", "converted", "converted_share"]
                   + [f"{m}{suffix}" for m in METRICS for suffix in ("", "_n", "_ci_low", "_ci_high")])


def conformance(cur, table: str | None, stages: Sequence[str], *, by: str = "stage",
                event_filter: EventFilter | None = None,
                top: int | None = TOP_DEVIATIONS) -> ConformanceResult:
    """Conformance of each customer's journey to the stage order ``stages`` (SPEC §8.5;
    the classes, deviations and readings are in this module's docstring).

    ``cur``/``table``: an engine, or a DuckDB cursor and a dataset table.  ``by``: the
    column (or role) whose values the stages are.  ``top``: deviations kept (None: all).
    Repeated stage names count once, at their first position.
    """
    stages = [str(s) for s in dict.fromkeys(stages)]
    if not stages:
        raise ValueError("Name at least one stage of the map (in order).")
    engine = as_engine(cur, table)
    column = _resolve_column(engine, by)
    kernel, params = _kernel_sql(engine.table, column, stages, event_filter)
    names = ["kind", "class", "from_idx", "to_idx", "customers", "converted"] + _SCORE_COLUMNS
    rows = [dict(zip(names, row)) for row in engine.rows(kernel, params, _THEN_SQL)]
    overall = next((r for r in rows if r["kind"] == "all"), {})
    total = int(overall.get("customers") or 0)
    by_class = {r["class"]: r for r in rows if r["kind"] == "class"}
    classes = pd.DataFrame([{"class": name, **_figures(by_class.get(name, {}), total)}
                            for name in CLASSES], columns=["class"] + _FIGURE_COLUMNS)
    deviations = []
    for r in rows:
        if r["kind"] != "deviation":
            continue
        low, high = int(r["from_idx"]), int(r["to_idx"])
        deviations.append({"from": START if low == 0 else stages[low - 1], "to": stages[high - 1],
                           "kind": "skip" if high > low else "back",
                           "label": deviation_label(stages, low, high),
                           "from_idx": low, "to_idx": high, **_figures(r, total)})
    frame = pd.DataFrame(deviations, columns=["from", "to", "kind", "label", "from_idx", "to_idx"]
                         + _FIGURE_COLUMNS)
    frame = frame.sort_values(["customers", "from_idx", "to_idx"], ascending=[False, True, True])
    if top is not None:
        frame = frame.head(int(top))
    frame = frame.drop(columns=["from_idx", "to_idx"]).reset_index(drop=True)
    return ConformanceResult(tuple(stages), total, int(overall.get("converted") or 0),
                             classes, frame)


def conformance_of_map(cur, table: str | None, journey_map, **options) -> ConformanceResult:
    """:func:`conformance` over the stages of a saved journey map
    (:class:`cxdata.maps.journey_map.JourneyMap`), in the map's order."""
    stages = journey_map.stage_names()
    if not stages:
        raise ValueError(f"The journey map {journey_map.name!r} has no stages yet.")
    return conformance(cur, table, stages, **options)
