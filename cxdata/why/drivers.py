"""Conversion drivers (SPEC §8.1): which yes/no facts about a customer go with converting
from funnel step j to step j+1.

Population: the customers whose counted attempt (:func:`cxdata.analytics.funnel.counted_attempts`)
reached step j; **converted** = reached step j+1.  Candidate factors, one flag per
customer, all computed in the engine's kernel (per customer, so any split of whole
customers gives the same rows):

* ``entry``  the value of ``channel`` and of every attribute with 2…50 values on the
  counted attempt's step-1 event (missing -> "(none)");
* ``did``    a value of ``factor_column`` (touchpoint, or event) on an event after step
  j's event and before step j+1's event — for non-converters before the window's end
  (t1 + W, inclusive), anything later when there is no window: the span of an exclusion
  (SPEC §2);
* ``score``  a detractor NPS (0–6), a low CSAT (1–2) or a hard CES (1–3) on an event of
  that span or before it within the attempt (from the step-1 event on).

The kernel folds each customer's events of the span into one row of flags
(:mod:`cxdata.why.drivers_span`: one join of the population with the events; or, in an
ordered funnel of distinct steps without a filter, :mod:`cxdata.why.drivers_lists`: the
factor column's stored timeline and the few events it lacks) and counts
customers per factor: partial counts that add up over any
split of whole customers.  The ``then`` step sums them into one 2×2 table per factor (a
few dozen rows); the odds ratios, intervals, Fisher p and Benjamini–Hochberg adjustment
are computed here in Python over those rows.  Every figure is an association, never a
cause.  Without ``after_step`` a funnel runs first to find the step (pages pass it).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from scipy import stats

from cxdata.analytics import funnel
from cxdata.formatting import format_count
from cxdata.io.schema import CANONICAL_NAMES
from cxdata.sql import quote_ident
from cxdata.why.drivers_lists import factor_timeline, lists_usable, lists_wanted
from cxdata.why.drivers_span import MASK_BITS, finds_step_events, flags_ctes, mask_chunks

#: A factor held by fewer customers than this is flagged low sample (SPEC §8.1).
MIN_WITH_DEFAULT = 30
#: Attributes offered as entry factors have this many distinct values among the population.
ENTRY_VALUES = (2, 50)
Z_95 = 1.959963984540054
NO_VALUE = funnel.NO_VALUE
#: Score factors: (metric column, value label, highest score that counts, sentence text).
SCORE_FACTORS = (("nps", "detractor", 6, "a detractor NPS (0–6)"),
                 ("csat", "low", 2, "a low CSAT (1–2)"),
                 ("ces", "hard", 3, "a hard CES (1–3)"))
DRIVER_COLUMNS = ["kind", "column", "value", "with_n", "with_converted", "without_n",
                  "without_converted", "odds_ratio", "ci_low", "ci_high", "p", "p_adjusted",
                  "low_sample"]


@dataclass(frozen=True)
class DriversResult:
    """Drivers of converting from ``step_from`` (1-based index ``after_step``) to
    ``step_to``.  ``customers``: reached ``step_from``; ``converted``: of them, reached
    ``step_to``.  ``drivers``: one row per factor with :data:`DRIVER_COLUMNS` (counts of
    customers; odds ratio and its 95% interval; p and Benjamini–Hochberg adjusted p,
    0…1; ``low_sample`` when fewer than ``min_with`` customers have the factor), sorted
    by adjusted p, then |ln odds ratio| descending."""
    after_step: int
    step_from: str
    step_to: str
    customers: int
    converted: int
    drivers: pd.DataFrame

    def to_json_dict(self) -> dict:
        """SPEC §8.1's JSON shape."""
        rows = []
        for row in self.drivers.itertuples(index=False):
            item = dict(zip(DRIVER_COLUMNS, row))
            for key in ("with_n", "with_converted", "without_n", "without_converted"):
                item[key] = int(item[key])
            for key in ("odds_ratio", "ci_low", "ci_high", "p", "p_adjusted"):
                item[key] = float(item[key])
            item["low_sample"] = bool(item["low_sample"])
            rows.append(item)
        return {"step_from": self.step_from, "step_to": self.step_to,
                "customers": self.customers, "converted": self.converted, "drivers": rows}

    def sentences(self, top: int = 3, alpha: float = 0.05) -> list[str]:
        """Plain-language lines for the ``top`` factors with adjusted p below ``alpha``.

        Factors with an empty cell (everybody with it converted, or nobody without it
        did: Payment before an Order confirmation) are left out of the sentences: they
        describe the route itself, not something that goes with converting.  They stay
        in :attr:`drivers`."""
        return [driver_sentence(row, self.step_from, self.step_to)
                for _, row in self.notable(top, alpha).iterrows()]

    def notable(self, top: int = 3, alpha: float = 0.05) -> pd.DataFrame:
        """The rows :meth:`sentences` speaks of: adjusted p below ``alpha``, no empty
        cell, at most ``top``, in the drivers' order."""
        d = self.drivers
        route = ((d["with_converted"] == 0) | (d["with_converted"] == d["with_n"])
                 | (d["without_converted"] == 0) | (d["without_converted"] == d["without_n"]))
        return d[(d["p_adjusted"] < alpha) & ~route].head(top)


# ---------------------------------------------------------------------------------------
# Statistics of one 2×2 table (pure)

def odds_ratio(a: int, b: int, c: int, d: int) -> tuple[float, float, float]:
    """Odds ratio (a·d)/(b·c) of a 2×2 table (with the factor: a converted, b not;
    without: c converted, d not) and its 95% interval exp(ln OR ± 1.96·√(1/a+1/b+1/c+1/d)).
    When any cell is 0, 0.5 is added to all four (Haldane–Anscombe), for the ratio and
    the interval alike.  Returns ``(odds_ratio, ci_low, ci_high)``."""
    cells = [float(a), float(b), float(c), float(d)]
    if min(cells) == 0:
        cells = [x + 0.5 for x in cells]
    a, b, c, d = cells
    log_or = math.log(a * d / (b * c))
    half = Z_95 * math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    return math.exp(log_or), math.exp(log_or - half), math.exp(log_or + half)


def fisher_p(a: int, b: int, c: int, d: int) -> float:
    """Two-sided Fisher exact p of the uncorrected table [[a, b], [c, d]] (0…1)."""
    return float(stats.fisher_exact([[a, b], [c, d]], alternative="two-sided").pvalue)


def adjust_bh(p_values) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (0…1), in the order given."""
    values = [float(p) for p in p_values]
    if not values:
        return []
    return [float(x) for x in stats.false_discovery_control(values, method="bh")]


def drivers_table(factors: pd.DataFrame, customers: int, converted: int,
                  min_with: int = MIN_WITH_DEFAULT) -> pd.DataFrame:
    """From per-factor counts (kind, column, value, with_n, with_converted) and the
    population (``customers``, of whom ``converted``), the drivers frame
    (:data:`DRIVER_COLUMNS`), sorted by adjusted p then |ln OR| (largest first).
    Factors held by everybody or nobody are left out: there is nothing to compare."""
    rows = []
    for kind, column, value, with_n, with_conv in factors[
            ["kind", "column", "value", "with_n", "with_converted"]].itertuples(index=False):
        with_n, with_conv = int(with_n), int(with_conv)
        without_n, without_conv = customers - with_n, converted - with_conv
        if with_n == 0 or without_n == 0:
            continue
        a, b = with_conv, with_n - with_conv
        c, d = without_conv, without_n - without_conv
        ratio, low, high = odds_ratio(a, b, c, d)
        rows.append([kind, column, value, with_n, with_conv, without_n, without_conv,
                     ratio, low, high, fisher_p(a, b, c, d)])
    frame = pd.DataFrame(rows, columns=DRIVER_COLUMNS[:11])
    frame["p_adjusted"] = adjust_bh(frame["p"]) if len(frame) else pd.Series(dtype="float64")
    frame["low_sample"] = frame["with_n"] < int(min_with)
    # rounded: a ratio and its reciprocal must tie, whatever the last bit of the log
    frame["_strength"] = [round(-abs(math.log(x)), 9) for x in frame["odds_ratio"]]
    frame = frame.sort_values(["p_adjusted", "_strength", "kind", "column", "value"],
                              kind="mergesort").drop(columns="_strength")
    for key in ("with_n", "with_converted", "without_n", "without_converted"):
        frame[key] = frame[key].astype("int64")
    for key in ("odds_ratio", "ci_low", "ci_high", "p", "p_adjusted"):
        frame[key] = frame[key].astype("float64")
    frame["low_sample"] = frame["low_sample"].astype(bool)
    return frame[DRIVER_COLUMNS].reset_index(drop=True)


# ---------------------------------------------------------------------------------------
# Sentences

def format_ratio(value: float) -> str:
    """An odds ratio for text: one decimal ("0.4", "2.1"), two significant digits below
    0.1 ("0.042"), whole numbers from 10 ("575", "1,256"); missing -> "–"."""
    if value is None or not math.isfinite(value):
        return "–"
    if value < 0.1:
        return f"{value:.2g}"
    if value < 10:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def driver_sentence(row, step_from: str, step_to: str) -> str:
    """One driver as a sentence of association, e.g. "Customers who used Live chat after
    Purchase converted 0.4× as often (95% 0.3–0.5, n = 812)".  ``row``: a row of the
    drivers frame (mapping or namedtuple with its fields)."""
    get = row.get if hasattr(row, "get") else (lambda k: getattr(row, k))
    kind, column, value = get("kind"), get("column"), get("value")
    if kind == "did":
        who = f"Customers who used {value} after {step_from}"
    elif kind == "score":
        label = {metric: text for metric, key, _, text in SCORE_FACTORS}.get(column, f"{value} {column}")
        who = f"Customers who gave {label} before reaching {step_to}"
    else:
        who = f"Customers whose {column} at entry was {value}"
    return (f"{who} converted {format_ratio(get('odds_ratio'))}× as often "
            f"(95% {format_ratio(get('ci_low'))}–{format_ratio(get('ci_high'))}, "
            f"n = {format_count(get('with_n'))})")


# ---------------------------------------------------------------------------------------
# The query

def _entry_columns(types: dict, by: str) -> list[str]:
    """Channel (when the log has one) and every attribute column, in table order."""
    return [c for c in types if c == "channel" or (c not in CANONICAL_NAMES and c != by)]


def _factor_sql(spec, j: int, factor_column: str | None, entry: list[str],
                values: Sequence[str] = (), rows_given: bool = False,
                timeline=None) -> tuple[list, str, list]:
    """(CTE definitions as (name, body, params, materialized), kernel SELECT, its params).

    The population's events from the step-1 event to the span's end (step j+1's event
    for converters, else the window's end), folded into one row per customer
    (``attempt_flags``, :mod:`cxdata.why.drivers_span`): the entry values (on the step-1
    event), the ``did`` values as bit masks and the bad-score flags.  ``combos`` counts the
    customers (``n``) of each combination of flags; ``factor_rows`` unfolds each into one
    row (converted, n, kind, col, value) per factor held, plus one ``base`` row; the
    kernel adds them up per factor (with_n, with_converted): partial counts that add up
    over any split of whole customers, so only a few rows leave each part.  ``values``: every value of
    ``factor_column`` that can be a ``did`` factor, i.e. all but the route
    (:func:`route_values`).  ``rows_given``: ``counted`` holds the step events' ``_row``
    (r1, rj, rn), needed unless :func:`finds_step_events`; ``timeline``: the factor
    column's, when the span can be read from it (:mod:`cxdata.why.drivers_lists`)."""
    scores = [s for s in SCORE_FACTORS if s[0] in spec.column_types]
    values = list(values) if factor_column is not None else []
    chunks = mask_chunks(values)
    ctes = flags_ctes(spec, j, factor_column, entry, values, scores, rows_given, timeline)
    # customers with the same flags counted once: a few hundred rows to unfold, not one
    # per customer
    flags = ", ".join(["converted"] + [f"x{i}" for i in range(len(entry))] + [f"d{c}" for c in range(chunks)]
                      + [f"bad_{m}" for m, *_ in scores])
    ctes.append(("combos", f"SELECT {flags}, count(*) AS n FROM attempt_flags GROUP BY ALL", [], True))
    selects = ["SELECT converted, n, 'base' AS kind, '' AS col, '' AS value FROM combos"]
    params: list = []
    for i, column in enumerate(entry):
        selects.append(f"SELECT converted, n, 'entry', ?, coalesce(x{i}, ?) FROM combos")
        params += [column, NO_VALUE]
    if chunks:
        masks = "[" + ", ".join(f"d{c}" for c in range(chunks)) + "]"
        held = (f"list_filter(range({len(values)}), lambda i: ({masks}[i // {MASK_BITS} + 1] "
                f">> (i % {MASK_BITS})) & 1 = 1)")
        selects.append(f"SELECT converted, n, 'did', ?, (?)[i + 1] FROM "
                       f"(SELECT converted, n, unnest({held}) AS i FROM combos)")
        params += [factor_column, values]
    for metric, label, _, _ in scores:
        selects.append(f"SELECT converted, n, 'score', ?, ? FROM combos WHERE bad_{metric}")
        params += [metric, label]
    ctes.append(("factor_rows", "\nUNION ALL\n".join(selects), params, None))
    kernel = ("SELECT kind, col, value, sum(n) AS with_n, "
              "coalesce(sum(n) FILTER (WHERE converted), 0) AS with_converted FROM factor_rows GROUP BY ALL")
    return ctes, kernel, []


def value_stages(engine, column: str, stage_column: str = "stage") -> dict[str, str]:
    """The dataset's stage of each value of ``column``: the ``stage_column`` value most of
    its events carry, over the whole log (no filter: a filter must not move a touchpoint
    to another stage); ties go to the stage first in text order.  Empty when the log has
    no such columns."""
    return values_and_stages(engine, column, stage_column)[1]


def values_and_stages(engine, column: str | None,
                      stage_column: str = "stage") -> tuple[list[str], dict[str, str]]:
    """Every value of ``column`` over the whole log (as text, sorted) and
    :func:`value_stages`, from one scan.  ``([], {})`` for None."""
    types = engine.column_types()
    if column is None or column not in types:
        return [], {}
    with_stage = stage_column in types and column != stage_column
    text = {c: quote_ident(c) if str(types[c]).upper().startswith("VARCHAR")
            else f"CAST({quote_ident(c)} AS VARCHAR)" for c in (column, stage_column) if c in types}
    stage = text[stage_column] if with_stage else "NULL::VARCHAR"
    rows = engine.rows(f"SELECT {text[column]} AS v, {stage} AS s, count(*) AS n "
                       f"FROM {quote_ident(engine.table)} WHERE v IS NOT NULL GROUP BY 1, 2",
                       [], "SELECT v, s, CAST(sum(n) AS BIGINT) AS n FROM kernel GROUP BY 1, 2 "
                           "ORDER BY v, (s IS NULL), n DESC, s")
    stages: dict[str, str] = {}
    for value, stage_value, _ in rows:
        if stage_value is not None:
            stages.setdefault(value, stage_value)   # a value's first row: its most common
    return list(dict.fromkeys(value for value, _, _ in rows)), stages


def route_values(engine, spec, j: int, factor_column: str | None,
                 stages: dict[str, str] | None = None) -> list[str]:
    """Values of ``factor_column`` that are not ``did`` factors of converting from step
    ``j`` to ``j+1``: they are the route itself, not something done beside it (SPEC
    §8.1 as the team reads it; docs/metrics.md).

    * step j+1's own value, when the steps are values of ``factor_column``: reaching it
      is the outcome itself;
    * every value whose stage (:func:`value_stages`) is the stage of step j+1 or of a
      later step: doing it is reaching the next step, or skipping it (a Purchase
      touchpoint before Consideration);
    * when the steps are stages, every value of step j's own stage as well: converting
      from a stage means finishing it, so Checkout and Payment inside Purchase say that
      the customer went on (odds ratios in the thousands otherwise).

    Live chat, a Consideration touchpoint used between Purchase and Retention, stays a
    factor; so do earlier stages' touchpoints (a reminder email).  In a touchpoint funnel
    (Product page -> Cart) the other touchpoints of step j's stage (Reviews) stay too.
    ``stages``: :func:`value_stages` of ``factor_column`` when the caller has it.
    """
    if factor_column is None:
        return []
    route = {spec.steps[j]} if factor_column == spec.by else set()
    stages = value_stages(engine, factor_column) if stages is None else stages
    if not stages:
        return sorted(route)
    if spec.by == "stage":
        own = set(spec.steps[j - 1:])
    else:
        by_stages = stages if spec.by == factor_column else value_stages(engine, spec.by)
        own = {by_stages[s] for s in spec.steps[j:] if s in by_stages}
    return sorted(route | {value for value, stage in stages.items() if stage in own})


def _then_sql(entry_keep: list[str]) -> tuple[str, list]:
    """2×2 counts per factor: the kernel's partial counts summed; entry attributes with
    more than :data:`ENTRY_VALUES` values are dropped here, before any row reaches Python."""
    keep = ", ".join("?" * len(entry_keep)) or "NULL"
    sql = ("WITH g AS (SELECT kind, col, value, CAST(sum(with_n) AS BIGINT) AS with_n, "
           "CAST(sum(with_converted) AS BIGINT) AS with_converted FROM kernel GROUP BY kind, col, value)\n"
           "SELECT kind, col, value, with_n, with_converted FROM g\n"
           "QUALIFY kind <> 'entry' OR col IN (" + keep + ") "
           "OR count(*) OVER (PARTITION BY kind, col) BETWEEN ? AND ?\n"
           "ORDER BY kind, col, value")
    return sql, list(entry_keep) + list(ENTRY_VALUES)


def most_dropped_step(result) -> int:
    """1-based step j (1…k−1) with the most customers dropped after it; the earliest on
    ties.  ``result``: a :class:`cxdata.analytics.funnel.FunnelResult`, or the list of
    customers reaching each step."""
    reached = [s.customers for s in result.steps] if hasattr(result, "steps") else list(result)
    dropped = [reached[i] - reached[i + 1] for i in range(len(reached) - 1)]
    return 1 + dropped.index(max(dropped))


def step_reach(cur, table: str, steps: list[str], **options) -> list[int]:
    """Customers reaching each step of the funnel (``options`` as for
    :func:`cxdata.analytics.funnel.compute_funnel`) — its counts only: without the times
    between steps (quantiles over every customer) the funnel's query costs less, and
    finding the default step is the first of two passes."""
    sql, spec, engine = funnel.counted_attempts(cur, table, list(steps), **options)
    rows = sql.run(engine, "SELECT depth, count(*) AS n FROM counted GROUP BY depth",
                   "SELECT depth, CAST(sum(n) AS BIGINT) FROM kernel GROUP BY depth")
    at_depth = {int(depth): int(n) for depth, n in rows}
    return [sum(n for depth, n in at_depth.items() if depth >= j) for j in range(1, spec.k + 1)]


def conversion_drivers(cur, table: str, steps: list[str], after_step: int | None = None, *,
                       by: str = "stage", window_seconds: float | None = None,
                       order: str = "ordered", event_filter=None,
                       factor_column: str | None = "touchpoint",
                       min_with: int = MIN_WITH_DEFAULT, **options) -> DriversResult:
    """SPEC §8.1: the factors associated with converting from step ``after_step``
    (1-based; default: the step with the most dropped customers) to the next.

    ``steps``/``by``/``window_seconds`` (seconds, None = none)/``order``/
    ``event_filter`` and ``options`` (entry range, exclusions) are the funnel's, as in
    :func:`cxdata.analytics.funnel.compute_funnel`.  ``factor_column``: the column of ``did``
    factors (touchpoint; the event column is used when the log has no touchpoint;
    None = no ``did`` factors).  Returns a :class:`DriversResult`; raises ValueError
    (one plain sentence) for unusable parameters.
    """
    options = dict(by=by, window_seconds=window_seconds, order=order,
                   event_filter=event_filter, **options)
    k = len(steps or ())
    if k < 2:
        raise ValueError("Conversion drivers need a funnel of at least two steps.")
    if after_step is None:
        after_step = most_dropped_step(step_reach(cur, table, list(steps), **options))
    after_step = int(after_step)
    if not 1 <= after_step < k:
        raise ValueError(f"Conversion drivers look at a step 1…{k - 1} and the one after it, "
                         f"not step {after_step}.")
    sql, spec, engine = funnel.counted_attempts(cur, table, list(steps), **options)
    rows_given = not finds_step_events(spec)
    if rows_given:     # the funnel looks up its step events' _row
        sql, spec, engine = funnel.counted_attempts(cur, table, list(steps),
                                                    rows=[1, after_step, after_step + 1], **options)
    types = spec.column_types
    if factor_column is not None and factor_column not in types:
        factor_column = "event" if factor_column == "touchpoint" and "event" in types else None
    entry = _entry_columns(types, spec.by)
    values, stages = values_and_stages(engine, factor_column)
    route = set(route_values(engine, spec, after_step, factor_column, stages))
    values = [v for v in values if v not in route]
    timeline = None
    if not rows_given and factor_column is not None and lists_wanted(spec):
        # the factor column's timeline, built on first use: one short list per customer
        # instead of a join of every event with the population
        found = factor_timeline(engine, factor_column)
        timeline = found if lists_usable(spec, found) else None
    ctes, kernel_select, kernel_params = _factor_sql(spec, after_step, factor_column, entry, values,
                                                       rows_given, timeline)
    for name, body, params, materialized in ctes:
        sql.cte(name, body, params, materialized=materialized)
    then, then_params = _then_sql([c for c in entry if c == "channel"])
    rows = sql.run(engine, kernel_select, then, then_params, kernel_params=kernel_params)
    frame = pd.DataFrame(rows, columns=["kind", "column", "value", "with_n", "with_converted"])
    base = frame[frame["kind"] == "base"]
    customers = int(base["with_n"].sum())
    converted = int(base["with_converted"].sum())
    drivers = drivers_table(frame[frame["kind"] != "base"], customers, converted, min_with)
    labels = spec.labels()
    return DriversResult(after_step=after_step, step_from=labels[after_step - 1],
                         step_to=labels[after_step], customers=customers, converted=converted,
                         drivers=drivers)
