"""What each customer of a conversion-drivers population did in the span (SPEC §8.1):
one row of flags per customer (``attempt_flags``), for :mod:`cxdata.why.drivers` to count.

The span runs from the counted attempt's step-1 event to step j+1's event (converters)
or to the window's end t1 + W (the others; no window: no end): the same span as an
exclusion (SPEC §2).  It is exact to the event: an event at the instant of step 1, j or
j+1 is in or out by its file order (``_row``) against that step's event:

* the step-1 event always (its values are the ``entry`` factors);
* ``did``: after step j's event (t > tj, or at tj later in the file) and before step
  j+1's (t < tn, or at tn earlier in the file);
* ``score``: from the step-1 event on (t > t1, or at t1 not earlier in the file), to
  the same end.

The population is joined with its events once — an equi-join on the customer with a
time range, which DuckDB runs as a hash join (spilling past its memory limit) — and
folded by one aggregate per customer.  An event at none of the three instants is in or
out by its time alone, so the aggregate needs no ``_row``.  The steps' own ``_row`` are
needed only for the events at those instants:

* when the funnel reports them (:func:`cxdata.analytics.funnel.counted_attempts` with
  ``rows``: strict and unordered funnels, a value used by two steps), every event is
  decided by (time, ``_row``) in one aggregate (:func:`_exact_flags`);
* in an ordered funnel of distinct step values (:func:`finds_step_events`, the usual
  case) looking them up cost more than the rest of the question (a join of every step
  event back to the log), so the aggregate counts the events at those instants instead.
  A customer with as many as there are distinct instants has each step's event alone at
  its instant ("lone"): then the step-1 and step-j events are in, with no ``did``, and
  step j+1's is out — decided by time again.  The few others ("tied": two events at one
  instant) are read a second time, their step events found in the span (the first event
  of the step's value at its time, ``_row`` order: the funnel's choice) and decided
  exactly.  On a log without ties the second read finds no customer and costs nothing.

Flags per customer: ``converted``; ``x<i>``, entry column i's value on the step-1 event;
``d<c>``, bit masks of the ``did`` values (bit b of ``d<c>`` = ``values[62·c + b]``, an
integer ``bit_or``, far cheaper than a DISTINCT list aggregate); ``bad_<metric>``.
"""
from __future__ import annotations

from cxdata.sql import quote_ident
from cxdata.why.drivers_lists import lone_ctes

#: Bits of one BIGINT mask of ``did`` values (the sign bit stays clear).
MASK_BITS = 62
#: The span's end for a non-converter when there is no window: beyond any epoch µs.
_NO_END = "9223372036854775807"


def finds_step_events(spec) -> bool:
    """True when the span's events tell the counted attempt's step events by themselves:
    in an ordered funnel of distinct step values, step i's event is the first (by
    ``_row``) event of step i's value at time ``t<i>`` (the funnel's rank is 1).
    Otherwise the funnel reports their ``_row``."""
    return spec.order == "ordered" and len(spec.values) == spec.k


def mask_chunks(values) -> int:
    """BIGINT masks needed for the ``did`` values."""
    return (len(values) + MASK_BITS - 1) // MASK_BITS


def _bad(metric: str, upto: int) -> str:
    # a score given at a route touchpoint scores the route, not a factor: only scores at
    # no value or at a factor value (code not NULL: values are all but the route) count
    return f"({metric} <= {int(upto)} AND (fv IS NULL OR code IS NOT NULL))"


def _bits(low: int) -> tuple[str, str]:
    """One ``did`` mask: the event's bit, and "its code is in this mask"."""
    return f"1::BIGINT << (code - {low})", f"code BETWEEN {low} AND {low + MASK_BITS - 1}"


class _Span:
    """The SQL of one drivers question's span (see the module's docstring)."""

    def __init__(self, spec, j: int, factor_column, entry: list[str], values: list[str], scores) -> None:
        self.spec, self.j = spec, j
        self.factor_column, self.entry, self.values, self.scores = factor_column, entry, values, scores
        self.chunks = mask_chunks(values)

    def pop(self, exact_rows: bool) -> tuple:
        """``pop``: one row per customer who reached step j: converted, t1, tj, tn (epoch
        µs; tn NULL when not converted), te the span's last instant and either the step
        events' ``_row`` r1, rj, rn (given by the funnel) or ``instants``, the number of
        distinct instants among t1, tj, tn (read twice then: materialized)."""
        j, n, w = self.j, self.j + 1, self.spec.window_us
        end, params = ("t1 + ?", [w]) if w is not None else (_NO_END, [])
        extra = (f"r1, r{j} AS rj, r{n} AS rn" if exact_rows else
                 f"1 + (t{j} > t1)::INTEGER + coalesce(t{n} > t{j}, false)::INTEGER AS instants")
        return ("pop", f"SELECT customer_id, depth >= {n} AS converted, t1, t{j} AS tj, t{n} AS tn, "
                       f"CASE WHEN depth >= {n} THEN t{n} ELSE {end} END AS te, {extra} "
                       f"FROM counted WHERE depth >= {j}", params, None if exact_rows else True)

    def joined(self, population: str, with_rows: bool, few: bool = False) -> tuple[str, list]:
        """The customers of ``population`` (pop's columns) joined with their events from
        t1 to te: pop's columns, then t (epoch µs), r (``_row``) and s (the step column's
        value) when ``with_rows``, fv and its ``code`` in the values, x<i>, the scores.

        ``few``: ``population`` is a handful of customers (the tied ones).  The span is
        then also stated on ``ts`` itself (implied by the one on t, so the same rows):
        DuckDB passes the build side's earliest and latest instant to the scan of the
        events, which skips every row group outside them by its min/max — a log stored in
        time order is not read past those few customers' spans.  (The customer's equality
        alone prunes nothing there: every row group holds nearly every customer.)"""
        spec = self.spec
        columns = ([f"{spec.text(c)} AS x{i}" for i, c in enumerate(self.entry)]
                   + [quote_ident(m) for m, *_ in self.scores] + (["ts AS _ts"] if few else []))
        rows = f", _row AS r, {spec.text(spec.by)} AS s" if with_rows else ""
        fv = spec.text(self.factor_column) if self.factor_column else "NULL"
        code, params = ("list_position(?, e.fv)", [self.values]) if self.values else ("NULL::INTEGER", [])
        events = (f"SELECT customer_id, epoch_us(ts) AS t{rows}, {fv} AS fv"
                  + "".join(", " + c for c in columns) + " FROM ev")
        on_ts = ""
        if few:
            # (te + 1 µs, exclusive: also right for a ts finer than the µs that t truncates)
            on_ts = (f" AND e._ts >= make_timestamp(p.t1) AND e._ts < CASE WHEN p.te < {_NO_END} - 1 "
                     f"THEN make_timestamp(p.te + 1) ELSE 'infinity'::TIMESTAMP END")
        return (f"SELECT p.*, e.* EXCLUDE (customer_id{', _ts' if few else ''}), {code} AS code\n"
                f"FROM {population} p JOIN ({events}) e ON e.customer_id = p.customer_id "
                f"AND e.t BETWEEN p.t1 AND p.te{on_ts}"), params

    def _flags(self) -> list[str]:
        return (["customer_id", "converted"] + [f"x{i}" for i in range(len(self.entry))]
                + [f"d{c}" for c in range(self.chunks)] + [f"bad_{m}" for m, *_ in self.scores])

    def _fold(self, step1: str, did: str, score: str) -> list[str]:
        """The aggregates of the flags, given SQL conditions on an event of the span:
        ``step1`` it is the step-1 event, ``did`` its ``did`` value counts, ``score``
        its score counts."""
        columns = [f"any_value(x{i}) FILTER (WHERE {step1}) AS x{i}" for i in range(len(self.entry))]
        for c in range(self.chunks):
            bit, held = _bits(1 + c * MASK_BITS)
            columns.append(f"coalesce(bit_or({bit}) FILTER (WHERE {held} AND {did}), 0) AS d{c}")
        for m, _, upto, _ in self.scores:
            columns.append(f"coalesce(bool_or({_bad(m, upto)}) FILTER (WHERE {score}), false) AS bad_{m}")
        return columns

    def exact_flags(self, source: str) -> str:
        """Flags of the customers of ``source`` (``joined`` rows with r1, rj, rn), every
        event decided by its time and ``_row``.  The step-1 event is in the span even
        when step j+1's comes before it in the file at its instant: a ``did`` value on
        it counts if it is after step j's event."""
        from_t1 = "(t > t1 OR (t = t1 AND r >= r1))"
        before_n = "(NOT converted OR t < tn OR (t = tn AND r < rn))"
        after_j = "(t > tj OR (t = tj AND r > rj))"
        columns = self._fold("r = r1", f"{after_j} AND (r = r1 OR ({from_t1} AND {before_n}))",
                             f"{from_t1} AND {before_n}")
        return (f"SELECT customer_id, any_value(converted) AS converted, {', '.join(columns)} "
                f"FROM {source} GROUP BY customer_id")

    def lone_flags(self) -> str:
        """``lone``: flags of every customer of ``span`` by time alone, right for those
        with each step event alone at its instant (``edges`` = ``instants``): the event
        at t1 is the step-1 event, ``did`` after tj, scores from t1 on, both before tn."""
        columns = self._fold("t = t1", "t > tj AND t IS DISTINCT FROM tn", "t IS DISTINCT FROM tn")
        return (f"SELECT customer_id, converted, instants, {', '.join(columns)}, "
                "count(*) FILTER (WHERE t = t1 OR t = tj OR t = tn) AS edges "
                "FROM span GROUP BY customer_id, converted, instants")

    def tied(self) -> tuple[str, list]:
        """``tied``: the customers with another event at a step's instant, joined with
        their events again, with r1, rj, rn: the first event (``_row``) of each step's
        value at its time."""
        spec = self.spec
        body, params = self.joined("(SELECT * FROM pop WHERE customer_id IN "
                                   "(SELECT customer_id FROM lone WHERE edges <> instants))", True, few=True)
        steps = [("r1", "t1", 1), ("rj", "tj", self.j), ("rn", "tn", self.j + 1)]
        found = ", ".join(f"min(r) FILTER (WHERE t = {t} AND s = ?) OVER (PARTITION BY customer_id) AS {r}"
                          for r, t, _ in steps)
        return f"SELECT *, {found} FROM ({body})", [spec.steps[i - 1] for _, _, i in steps] + params

    def ctes(self, exact_rows: bool, timeline=None) -> list[tuple]:
        """CTE definitions (name, body, params, materialized) ending in ``attempt_flags``;
        ``exact_rows``: ``counted`` holds r1, rj, rn; ``timeline``: the factor column's,
        to read ``lone`` from (:mod:`cxdata.why.drivers_lists`) instead of the events."""
        ctes = [self.pop(exact_rows)]
        if exact_rows:
            body, params = self.joined("pop", True)
            return ctes + [("span", body, params, None),
                           ("attempt_flags", self.exact_flags("span"), [], True)]
        if timeline is not None:
            ctes += lone_ctes(self, timeline)
        else:
            body, params = self.joined("pop", False)
            ctes += [("span", body, params, None), ("lone", self.lone_flags(), [], True)]
        tied, tied_params = self.tied()
        flags = ", ".join(self._flags())
        return ctes + [("tied", tied, tied_params, None),
                       ("attempt_flags", f"SELECT {flags} FROM lone WHERE edges = instants\nUNION ALL\n"
                                         f"SELECT {flags} FROM ({self.exact_flags('tied')})", [], True)]


def flags_ctes(spec, j: int, factor_column: str | None, entry: list[str], values: list[str],
               scores, exact_rows: bool, timeline=None) -> list[tuple]:
    """The CTEs (name, body, params, materialized) that end in ``attempt_flags``: one row
    per customer who reached step ``j`` (customer_id, converted, x<i>, d<c>, bad_<metric>;
    see the module's docstring).  ``values``: the ``did`` values of ``factor_column`` (their
    1-based position is the code); ``scores``: the score factors present; ``exact_rows``:
    ``counted`` holds the step events' ``_row`` (r1, r<j>, r<j+1>), needed unless
    :func:`finds_step_events`; ``timeline``: the factor column's stored timeline, when
    :func:`cxdata.why.drivers_lists.lists_usable` (then ``lone`` comes from it)."""
    return _Span(spec, j, factor_column, entry, list(values), scores).ctes(exact_rows, timeline)
