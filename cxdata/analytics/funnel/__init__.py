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
  (:mod:`cxdata.store.timelines`, built at ingest) when there is one and the filter is
  on time or on columns it keeps a list of (the channel), else from one list aggregate
  over the events (``attempts._packed_ctes``) — the same lists either way.  Ordered,
  when the step values are distinct, follows the greedy chain from the first entry
  without a window (no later entry reaches deeper) and uses the latest-start recurrence
  with one (a pass per step); it evaluates every attempt at once when a value repeats
  (``attempts._ordered_ctes``).  Ordered is the hot path (benchmarks/bench_funnel.py).
* Strict: ``lead`` over the customer's (ts, _row)-ordered events.
* Exclusions, breakdown and drop-off join the counted relation back to the events by
  ``_row``; plain counts never touch the events twice.  On a timeline with a list of the
  breakdown column (the channel) the counted attempt reads its entry's value beside its
  step-1 key instead (the events only for a customer with two step-1 events at t1).

Where each part lives
---------------------
* :mod:`.spec`: the question (steps, window, order mode, filters, exclusions) and the
  result types; durations as users type them.
* :mod:`.attempts`: the counted-attempt relation, as SQL, for each order mode.
* :mod:`.measures`: counts and conversions, breakdown, conversion over time, histogram.
* :mod:`.dropoffs`: where the drop-outs left and what they did next.
* :mod:`.with_dropoff`: a funnel and the drop-outs after one of its steps, the counted
  attempts found once (the Overview's journey, the Funnel page's funnel and drop-outs).
* :mod:`.ties`: customers whose result depends on how same-instant events are ordered.
* :mod:`.suggest`: a first funnel for logs without stages.
"""
from __future__ import annotations

from cxdata.analytics.funnel.dropoffs import DropoffSummary, dropoff_customers, dropoff_summary
from cxdata.analytics.funnel.measures import (
    compute_funnel, counted_attempts, funnel_and_breakdown, funnel_breakdown, funnel_trend,
    log_end_us, step_durations_histogram)
from cxdata.analytics.funnel.spec import (
    NO_FURTHER_EVENTS, NO_VALUE, ORDER_MODES, TREND_GRAINS, Exclusion, FunnelResult, FunnelStep,
    parse_duration)
from cxdata.analytics.funnel.suggest import suggest_steps
from cxdata.analytics.funnel.ties import tied_customers
from cxdata.analytics.funnel.with_dropoff import (
    funnel_and_dropoff, funnel_with_dropoff, most_dropped_step)

__all__ = [
    "DropoffSummary", "Exclusion", "FunnelResult", "FunnelStep", "NO_FURTHER_EVENTS", "NO_VALUE",
    "ORDER_MODES", "TREND_GRAINS", "compute_funnel", "counted_attempts", "dropoff_customers",
    "dropoff_summary", "funnel_and_breakdown", "funnel_breakdown", "funnel_trend",
    "funnel_and_dropoff", "funnel_with_dropoff", "log_end_us", "most_dropped_step",
    "parse_duration", "step_durations_histogram", "suggest_steps", "tied_customers",
]
