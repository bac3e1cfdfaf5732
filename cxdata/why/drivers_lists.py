"""The span of conversion drivers (SPEC §8.1) read from the factor column's timeline
instead of the events: the ``lone`` flags of :mod:`cxdata.why.drivers_span`, same rows,
same meaning, for the usual question (an ordered funnel of distinct steps, no filter).

Why: joining every event of the log with the population and folding the span per
customer was the drivers' cost (10 million events: ≈ 1.2 s of wall time on top of the
funnel's counted attempts, benchmarks/README.md).  The factor column's timeline
(:mod:`cxdata.store.timelines`: each customer's events with a value on the column as
packed keys ``(epoch µs − t_min) << bits | code`` and, beside them, the channel's code)
holds what the ``did`` factors and the channel at entry need, one short list per
customer.  What it lacks comes from the events, but only from the few that matter:

* the scores: only events with a bad score can set a ``score`` flag — unless the
  timeline keeps the score's code beside each key, as it keeps the channel's
  (:func:`score_codes`): then the keyed events' scores are read from that list (on the
  benchmark log, 0.5 s less CPU than scanning the 1 million NPS detractors and joining
  them with the population) and only the valueless events' from the events;
* events with no value on the factor column (not in the timeline): they can still be
  the step-1 event (their channel is then the entry value) or share a step's instant;
* entry attributes the timeline does not list (segment, region): from the events of
  step 1's value at t1.

Each is a scan whose filter DuckDB applies before the join (on the benchmark log,
≈ 1 million events of 10 million; it has no attributes).

Exactness is kept as in :mod:`cxdata.why.drivers_span`: ``edges`` counts the events at
the steps' instants — keys of the timeline at those times plus the valueless events —
and a customer with as many as there are distinct instants has each step event alone
at its instant, so deciding by time alone is exact; the others (``edges <> instants``)
are read again from the events and decided by ``_row`` (``_Span.tied``).

The timeline of the step column is the one the workspace stores at ingest; another
column's (touchpoint) is built here on first use and kept in the workspace like it
(:func:`factor_timeline`), dropped with the dataset's other timelines when its table
changes (not in an in-memory database, where it would not outlive the question).
Without one (a read-only workspace, Spark, a column with too many values) the drivers
read the events as before.
"""
from __future__ import annotations

from cxdata.sql import quote_ident
from cxdata.store.timelines import values_by_code


def factor_timeline(engine, column: str):
    """The stored timeline of ``column`` for ``engine``'s table, with the score lists
    (:func:`cxdata.store.timelines.ensure_timeline`: built and stored in the workspace
    when there is none yet and the workspace is a file that can be written).  None when
    it cannot be had or would not be kept: not a workspace table (Spark), an order key (a
    timeline's keys hold the file order of ties), a read-only workspace, an in-memory
    database (the command line reading a file once: building the timeline costs more
    than one question saves), or a column unfit for a timeline; the drivers then read the
    events (and report a real problem, such as memory, from there)."""
    cur = getattr(engine, "cur", None)
    if cur is None or getattr(engine, "order_key", None) is not None:
        return engine.timeline(column)
    from cxdata.store.timelines import ensure_timeline
    return ensure_timeline(cur, engine.table, column)


def lists_wanted(spec) -> bool:
    """Whether the question can be read from a timeline (:func:`lone_ctes`): no event
    filter (its channel or time range would have to be applied to the lists too); the
    pages pass an empty one for none."""
    return spec.event_filter is None or spec.event_filter.is_empty()


def lists_usable(spec, timeline) -> bool:
    """:func:`lists_wanted`, and ``timeline`` (of the factor column) counts its times
    from the dataset's earliest time, as the counted attempts do."""
    return timeline is not None and lists_wanted(spec) and timeline.time_min_us == spec.time_min_us


def score_codes(timeline, metric: str, upto: int) -> list[int] | None:
    """The codes, in ``timeline``'s list of ``metric`` (a score column kept beside every
    key, like the channel), of the scores up to ``upto`` (a bad score: SPEC §8.1); None
    when the timeline keeps no such list (the scores then come from the events)."""
    listed = timeline.filters.get(metric)
    if listed is None:
        return None
    try:
        return sorted(int(code) for text, code in listed.codes.items() if float(text) <= upto)
    except ValueError:            # not numbers after all: read the events
        return None


def _code_bits(timeline, values: list[str], chunk: int, mask_bits: int) -> str:
    """SQL of a key ``x``'s bit in ``did`` mask ``chunk``: 1 << (position − 1) for the
    values of that chunk (position: 1-based in ``values``), 0 for any other code."""
    low = chunk * mask_bits
    cases = " ".join(f"WHEN {int(timeline.codes[v])} THEN {1 << (i - low)}"
                     for i, v in enumerate(values) if low <= i < low + mask_bits and v in timeline.codes)
    return f"CASE x & {timeline.code_mask} {cases} ELSE 0 END" if cases else "0"


def lone_ctes(span, timeline) -> list[tuple]:
    """CTEs (name, body, params, materialized) ending in ``lone``, with the columns of
    ``_Span.lone_flags`` (customer_id, converted, instants, x<i>, d<c>, bad_<metric>,
    edges), from ``timeline`` (of ``span.factor_column``) and the events without a
    factor value or with a bad score.  ``span``: the question's
    :class:`cxdata.why.drivers_span._Span`; reads its ``pop``."""
    from cxdata.why.drivers_span import MASK_BITS, _bad
    spec, values = span.spec, span.values
    bits, low = timeline.code_bits, int(spec.time_min_us)
    fv = spec.text(span.factor_column)
    scores = span.scores
    # scores the timeline keeps a list of (:func:`score_codes`): their bad values on keyed
    # events are read from the lists, not scanned and joined (valueless events still are)
    listed_scores = {m: score_codes(timeline, m, upto) for m, _, upto, _ in scores}
    listed_scores = {m: codes for m, codes in listed_scores.items() if codes is not None}
    # the few events the timeline cannot tell about: valueless, or with a bad score; one
    # branch per condition, so that DuckDB filters each column as it scans it (an OR of
    # columns is tested on every row).  A row in two score branches only repeats a
    # bool_or's input; the valueless rows, which are counted, are in the first alone.
    listed = [c in timeline.filters for c in span.entry]

    def columns(entry: bool) -> str:
        # the listed entry values of the valueless events (the others' are in the lists)
        return ", ".join(["customer_id", "epoch_us(ts) AS t", f"{fv} AS fv"]
                         + [f"{spec.text(c) if entry and listed[i] else 'NULL::VARCHAR'} AS x{i}"
                            for i, c in enumerate(span.entry)]
                         + [quote_ident(m) for m, *_ in scores])
    # A bad score at a value that is not a factor (the route) never counts: left out here.
    branches, few_params = [f"SELECT {columns(True)} FROM ev WHERE {fv} IS NULL"], []
    for m, _, upto, _ in (scores if values else ()):
        if m in listed_scores:
            continue
        branches.append(f"SELECT {columns(False)} FROM ev WHERE {quote_ident(m)} <= {int(upto)} "
                        f"AND list_contains(?, {fv})")
        few_params.append(values)
    code = "list_position(?, e.fv)" if values else "NULL::INTEGER"
    few_params = ([values] if values else []) + few_params
    few = (f"SELECT p.customer_id, p.t1, p.tj, p.tn, e.* EXCLUDE (customer_id), {code} AS code\n"
           f"FROM pop p JOIN ({' UNION ALL '.join(branches)}) e "
           f"ON e.customer_id = p.customer_id AND e.t BETWEEN p.t1 AND p.te")
    at_step = "(t = t1 OR t = tj OR t = tn)"
    folded = [f"count(*) FILTER (WHERE fv IS NULL AND {at_step}) AS blank_edges"]
    folded += [f"any_value(x{i}) FILTER (WHERE fv IS NULL AND t = t1) AS x{i}"
               for i in range(len(span.entry)) if listed[i]]
    folded += [f"coalesce(bool_or({_bad(m, upto)}) FILTER (WHERE t IS DISTINCT FROM tn), false) AS bad_{m}"
               for m, _, upto, _ in scores]
    few_flags = f"SELECT customer_id, {', '.join(folded)} FROM few GROUP BY customer_id"
    ctes = [("few", few, few_params, None), ("few_flags", few_flags, [], None)]
    if not all(listed):
        # entry columns with no list (segment, region): read from the step-1 value's events
        # at t1 — for a lone customer its step-1 event alone
        attrs = ", ".join(f"{spec.text(c)} AS x{i}" for i, c in enumerate(span.entry) if not listed[i])
        picked = ", ".join(f"any_value(e.x{i}) AS x{i}" for i in range(len(span.entry)) if not listed[i])
        ctes.append(("entry_rows", f"SELECT p.customer_id, {picked} FROM pop p JOIN "
                                   f"(SELECT customer_id, epoch_us(ts) AS t, {attrs} FROM ev "
                                   f"WHERE {spec.text(spec.by)} = ?) e "
                                   f"ON e.customer_id = p.customer_id AND e.t = p.t1 GROUP BY p.customer_id",
                     [spec.steps[0]], None))

    # times as the keys hold them (µs after the dataset's earliest), so that the lambdas
    # only shift each key (≈ 0.3 s less CPU on 10 million events)
    time = f"(x >> {bits})"
    flags, params = ["k.customer_id", "k.converted", "k.instants"], []
    for i, column in enumerate(span.entry):
        if not listed[i]:
            flags.append(f"a.x{i}")
            continue
        # the channel of the key at t1 (a lone customer has at most one), else the
        # valueless event's; code 0 = no channel
        codes = timeline.filters[column]
        names = values_by_code(codes.codes)
        at_t1 = f"list_position(list_transform(k.K, lambda x: {time}), k.u1)"
        flags.append(f"CASE WHEN {at_t1} IS NOT NULL THEN list_extract(?, "
                     f"k.{quote_ident(codes.list_column)}[{at_t1}]) ELSE f.x{i} END AS x{i}")
        params.append(names)
    did_span = f"{time} > k.uj AND {time} <= k.ue AND {time} IS DISTINCT FROM k.un"
    for c in range(span.chunks):
        bit = _code_bits(timeline, values, c, MASK_BITS)
        flags.append(f"coalesce(list_aggregate(list_transform(list_filter(k.K, lambda x: {did_span}), "
                     f"lambda x: {bit}), 'bit_or'), 0)::BIGINT AS d{c}")
    for m, *_ in scores:
        bad = f"coalesce(f.bad_{m}, false)"
        factor_codes = [int(timeline.codes[v]) for v in values if v in timeline.codes]
        if m in listed_scores and listed_scores[m] and factor_codes:
            # a bad score on a keyed event at a factor value (not the route), from the
            # step-1 event's instant to the span's end, not at step j+1's instant
            scored = quote_ident(timeline.filters[m].list_column)
            bad += (f" OR len(list_filter(k.K, lambda x, i: k.{scored}[i] IN "
                    f"({', '.join(map(str, listed_scores[m]))}) AND (x & {timeline.code_mask}) IN "
                    f"({', '.join(map(str, factor_codes))}) AND {time} BETWEEN k.u1 AND k.ue "
                    f"AND {time} IS DISTINCT FROM k.un)) > 0")
        flags.append(f"{bad} AS bad_{m}")
    flags.append(f"len(list_filter(k.K, lambda x: {time} IN (k.u1, k.uj, k.un))) "
                 f"+ coalesce(f.blank_edges, 0) AS edges")
    keyed = (f"SELECT p.*, p.t1 - {low} AS u1, p.tj - {low} AS uj, p.tn - {low} AS un, p.te - {low} AS ue, "
             f"coalesce(tl.K, []::BIGINT[]) AS K"
             + "".join(f", tl.{quote_ident(timeline.filters[c].list_column)}"
                       for c in [c for i, c in enumerate(span.entry) if listed[i]] + list(listed_scores))
             + f" FROM pop p LEFT JOIN {quote_ident(timeline.table)} tl ON tl.customer_id = p.customer_id")
    lone = (f"SELECT {', '.join(flags)}\nFROM keyed k LEFT JOIN few_flags f ON f.customer_id = k.customer_id"
            + ("" if all(listed) else " LEFT JOIN entry_rows a ON a.customer_id = k.customer_id"))
    return ctes + [("keyed", keyed, [], None), ("lone", lone, params, True)]
