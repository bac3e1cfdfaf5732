"""Property tests for cxdata.analytics.funnel: invariants, and agreement with an independent
pure-Python reading of SPEC §2 on random small logs (all three order modes).

The reference below is written from the SPEC, not from the SQL: the ordered depth is
found by brute force over every chain of distinct events (so the SPEC's "greedy is
exact" claim is checked too, by asserting the greedy chain reaches the same depth),
strict follows the customer's (ts, _row) sequence, unordered counts the steps matched
inside each window [t, t + W].
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from cxdata.analytics import funnel
from cxdata.store.timelines import build_timeline
from tests.helpers_events import at, make_events_table

STEP_VALUES = ("A", "B", "C")


# ---------------------------------------------------------------------------------------
# The reference

@dataclass(frozen=True)
class Ev:
    customer: str
    t: int          # seconds after helpers_events.BASE_TIME
    row: int
    stage: str | None
    channel: str | None
    touchpoint: str | None

    @property
    def key(self):
        return (self.t, self.row)


@dataclass
class Attempt:
    depth: int
    times: list    # t of the step events, len == depth
    rows: list     # _row of the step events
    entry: Ev      # the step-1 (entry) event


def _within(t, t1, window):
    return window is None or t - t1 <= window


def _in_range(t, entry):
    start, end = entry
    return (start is None or t >= start) and (end is None or t < end)


def _brute_depth(seq, steps, e1, window):
    """Largest m such that distinct events e1…em match steps 1…m with non-decreasing
    times, all within the window of e1 — by trying every chain."""
    best = 1

    def extend(i, last_t, used):
        nonlocal best
        best = max(best, i)
        if i == len(steps):
            return
        for e in seq:
            if (e.row not in used and e.stage == steps[i] and e.t >= last_t
                    and _within(e.t, e1.t, window)):
                extend(i + 1, e.t, used | {e.row})

    extend(1, e1.t, frozenset({e1.row}))
    return best


def _greedy(seq, steps, e1, window):
    """From e1, the earliest eligible unused event (by ts, then _row) for each step."""
    chain = [e1]
    for i in range(1, len(steps)):
        used = {e.row for e in chain}
        options = [e for e in seq if e.row not in used and e.stage == steps[i]
                   and e.t >= chain[-1].t]
        if not options:
            break
        nxt = min(options, key=lambda e: e.key)
        if not _within(nxt.t, e1.t, window):
            break
        chain.append(nxt)
    return chain


def ref_ordered(seq, steps, window, entry):
    best = None
    for e1 in seq:
        if e1.stage != steps[0] or not _in_range(e1.t, entry):
            continue
        depth = _brute_depth(seq, steps, e1, window)
        chain = _greedy(seq, steps, e1, window)
        assert len(chain) == depth, "greedy must reach the brute-force depth"
        if best is None or depth > best.depth:   # seq is in (ts, _row) order: ties keep the earliest
            best = Attempt(depth, [e.t for e in chain], [e.row for e in chain], e1)
    return best


def ref_strict(seq, steps, window, entry):
    best = None
    for p, e1 in enumerate(seq):
        if e1.stage != steps[0] or not _in_range(e1.t, entry):
            continue
        chain = [e1]
        for i in range(1, len(steps)):
            if p + i >= len(seq):
                break
            e = seq[p + i]
            if e.stage != steps[i] or not _within(e.t, e1.t, window):
                break
            chain.append(e)
        if best is None or len(chain) > best.depth:
            best = Attempt(len(chain), [e.t for e in chain], [e.row for e in chain], e1)
    return best


def ref_unordered(seq, steps, window, entry):
    allowed = {v: steps.count(v) for v in set(steps)}
    matching = [e for e in seq if e.stage in allowed]
    best = None
    for c in matching:
        if not _in_range(c.t, entry):
            continue
        inside = [e for e in matching if c.t <= e.t and _within(e.t, c.t, window)]
        taken, counted = {}, []
        for e in inside:   # in (ts, _row) order
            if taken.get(e.stage, 0) < allowed[e.stage]:
                taken[e.stage] = taken.get(e.stage, 0) + 1
                counted.append(e)
        if best is None or len(counted) > best.depth:
            best = Attempt(len(counted), [e.t for e in counted], [e.row for e in counted], counted[0])
    return best


def _excluded(seq, attempt, exclusions, window):
    for ex in exclusions:
        i, j = ex.after_step, ex.before_step
        if attempt.depth < i:
            continue
        after = (attempt.times[i - 1], attempt.rows[i - 1])
        for e in seq:
            if getattr(e, ex.column) != ex.value or not e.key > after:
                continue
            if attempt.depth >= j:
                if e.key < (attempt.times[j - 1], attempt.rows[j - 1]):
                    return True
            elif window is None or e.t <= attempt.times[0] + window:
                return True
    return False


_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def reference_window(text: str) -> float | None:
    """A CLI window (``90s``, ``30m``, ``12h``, ``14d``, ``2w`` or ``none``) in seconds, read
    independently of :func:`cxdata.analytics.funnel.parse_duration`; None for ``none``."""
    if text == "none":
        return None
    return float(text[:-1]) * _UNIT_SECONDS[text[-1]]


def reference_counted(events, steps, order, window, entry, exclusions=()):
    """customer -> Attempt (the counted attempt), customers outside the funnel absent."""
    by_customer = {}
    for e in sorted(events, key=lambda e: e.key):
        by_customer.setdefault(e.customer, []).append(e)
    pick = {"ordered": ref_ordered, "strict": ref_strict, "unordered": ref_unordered}[order]
    counted = {}
    for customer, seq in by_customer.items():
        attempt = pick(seq, list(steps), window, entry)
        if attempt is not None and not _excluded(seq, attempt, exclusions, window):
            counted[customer] = attempt
    return counted


def _quantile(values, q):
    """Linear interpolation between order statistics (quantile_cont)."""
    xs = sorted(values)
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def reference_steps(attempts, k):
    """[(customers, median, p90, mean)] per step from the counted attempts."""
    out = []
    for j in range(1, k + 1):
        reached = [a for a in attempts if a.depth >= j]
        if j == 1 or not reached:
            out.append((len(reached), None, None, None))
            continue
        gaps = [a.times[j - 1] - a.times[j - 2] for a in reached]
        out.append((len(reached), _quantile(gaps, 0.5), _quantile(gaps, 0.9), sum(gaps) / len(gaps)))
    return out


def assert_cli_steps_agree(result: dict, expected: list) -> None:
    """A CLI funnel's JSON (SPEC §6 shape) agrees with :func:`reference_steps`: entered and
    customers per step exactly, the median seconds from the previous step to 1 ms."""
    assert result["entered"] == expected[0][0]
    assert [s["customers"] for s in result["steps"]] == [e[0] for e in expected]
    for step, (_, median, _, _) in zip(result["steps"], expected):
        if median is None:
            assert step["median_seconds_from_previous"] is None
        else:
            assert step["median_seconds_from_previous"] == pytest.approx(median, abs=1e-3)


# ---------------------------------------------------------------------------------------
# Random logs

@st.composite
def logs(draw, distinct_times=False):
    n_customers = draw(st.integers(1, 6))
    events = []
    for c in range(n_customers):
        n = draw(st.integers(0, 8))
        times = (draw(st.lists(st.integers(0, 40), min_size=n, max_size=n, unique=True))
                 if distinct_times else draw(st.lists(st.integers(0, 16), min_size=n, max_size=n)))
        for t in times:
            events.append(dict(customer=f"c{c}", t=t,
                               stage=draw(st.sampled_from(["A", "B", "C", "A", "B", "C", "X", None])),
                               channel=draw(st.sampled_from(["web", "store", None])),
                               touchpoint=draw(st.sampled_from(["p", "q", None]))))
    # _row: file order, independent of time (a shuffled numbering) so that ties are tested
    rows = draw(st.permutations(list(range(1, len(events) + 1))))
    return [Ev(row=r, **e) for e, r in zip(events, rows)]


# distinct values (the usual funnel) and funnels that repeat a value take different paths
steps_strategy = st.one_of(
    st.permutations(STEP_VALUES).flatmap(lambda p: st.integers(2, 3).map(lambda n: list(p[:n]))),
    st.lists(st.sampled_from(STEP_VALUES), min_size=1, max_size=4))
window_strategy = st.one_of(st.none(), st.integers(0, 10))


@st.composite
def entry_ranges(draw):
    if draw(st.booleans()):
        return (None, None)
    start = draw(st.one_of(st.none(), st.integers(0, 8)))
    end = draw(st.one_of(st.none(), st.integers((start or 0) + 1, 13)))
    return (start, end)


@st.composite
def exclusion_lists(draw, k):
    if k < 2 or draw(st.integers(0, 2)) > 0:
        return ()
    i = draw(st.integers(1, k - 1))
    j = draw(st.integers(i + 1, k))
    column = draw(st.sampled_from(["stage", "touchpoint"]))
    value = draw(st.sampled_from(["X", "A", "B"] if column == "stage" else ["p", "q"]))
    return (funnel.Exclusion(value=value, column=column, after_step=i, before_step=j),)


# one in-memory database for the whole file: opening a connection costs more than a query
_CON = duckdb.connect()


def _table(events, physical_order=None, name="ev"):
    """(Re)create table ``name`` holding ``events``, stored in ``physical_order``."""
    ordered = events if physical_order is None else [events[i] for i in physical_order]
    make_events_table(_CON, [dict(_row=e.row, customer_id=e.customer, ts=e.t, stage=e.stage,
                                  channel=e.channel, touchpoint=e.touchpoint) for e in ordered],
                      table=name)
    return _CON


def _options(order, window, entry, exclusions=()):
    start, end = entry
    return dict(by="stage", order=order, window_seconds=window, exclusions=exclusions,
                entry_start=None if start is None else at(start),
                entry_end=None if end is None else at(end))


def _assert_steps_match(result, expected):
    assert [s.customers for s in result.steps] == [e[0] for e in expected]
    for step, (_, median, p90, mean) in zip(result.steps, expected):
        for got, want in ((step.median_seconds_from_previous, median),
                          (step.p90_seconds_from_previous, p90),
                          (step.mean_seconds_from_previous, mean)):
            assert (got is None) == (want is None)
            if want is not None:
                assert abs(got - want) < 1e-6


FAST = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------------------------------
# Agreement with the reference

def _check_against_reference(data, order):
    events = data.draw(logs())
    steps = data.draw(steps_strategy)
    window = data.draw(window_strategy)
    entry = data.draw(entry_ranges())
    exclusions = data.draw(exclusion_lists(len(steps)))
    options = _options(order, window, entry, exclusions)
    counted = reference_counted(events, steps, order, window, entry, exclusions)
    attempts = list(counted.values())
    con = _table(events)
    _assert_agrees(con, events, steps, options, counted, attempts)
    # the same answers from the stored per-customer timeline of the step column
    build_timeline(con, "ev", "stage")
    _assert_agrees(con, events, steps, options, counted, attempts)


def _assert_agrees(con, events, steps, options, counted, attempts):

    result = funnel.compute_funnel(con, "ev", steps, **options)
    assert result.entered == len(attempts)
    _assert_steps_match(result, reference_steps(attempts, len(steps)))

    # breakdown: the channel of the counted attempt's step-1 event
    groups = dict(funnel.funnel_breakdown(con, "ev", steps, "channel", **options))
    expected_groups = {}
    for a in attempts:
        expected_groups.setdefault(a.entry.channel or "(none)", []).append(a)
    assert set(groups) == set(expected_groups)
    for name, members in expected_groups.items():
        _assert_steps_match(groups[name], reference_steps(members, len(steps)))

    # drop-off lists: who stopped at step j, when, where they left (their last step-j
    # event in the attempt's window), whether the window is still open at the log's end,
    # and their next events after where they left (touchpoints)
    by_customer = {}
    for e in sorted(events, key=lambda e: e.key):
        by_customer.setdefault(e.customer, []).append(e)
    window, log_end = options["window_seconds"], max((e.t for e in events), default=0)
    for j in range(1, len(steps)):
        frame = funnel.dropoff_customers(con, "ev", steps, j, column="touchpoint", **options)
        expected = []
        for customer, a in sorted(counted.items()):
            if a.depth != j:
                continue
            matches = ((lambda e: e.stage in steps) if options["order"] == "unordered"
                       else (lambda e: e.stage == steps[j - 1]))
            left = [e for e in by_customer[customer] if matches(e)
                    and e.key >= (a.times[j - 1], a.rows[j - 1]) and _within(e.t, a.times[0], window)][-1]
            later = [e for e in by_customer[customer] if e.key > left.key]
            nexts = [(e.touchpoint or "(none)") for e in later[:3]] + [None] * 3
            in_progress = window is not None and a.times[0] + window > log_end
            expected.append([customer, at(a.times[j - 1]), left.touchpoint or "(none)", at(left.t),
                             in_progress] + nexts[:3])
        got = [[r.customer_id, r.step_time.to_pydatetime(), r.left_at, r.left_time.to_pydatetime(),
                bool(r.in_progress)] + [None if v is None or v != v else v
                                        for v in (r.next_1, r.next_2, r.next_3)]
               for r in frame.itertuples()]
        assert got == expected


@FAST
@given(st.data())
def test_ordered_agrees_with_reference(data):
    _check_against_reference(data, "ordered")


@FAST
@given(st.data())
def test_strict_agrees_with_reference(data):
    _check_against_reference(data, "strict")


@FAST
@given(st.data())
def test_unordered_agrees_with_reference(data):
    _check_against_reference(data, "unordered")


# ---------------------------------------------------------------------------------------
# Invariants

@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(logs(), steps_strategy, window_strategy, st.sampled_from(funnel.ORDER_MODES))
def test_counts_never_increase_along_the_funnel(events, steps, window, order):
    result = funnel.compute_funnel(_table(events), "ev", steps, window_seconds=window, order=order)
    counts = [s.customers for s in result.steps]
    assert counts == sorted(counts, reverse=True)
    assert result.entered == counts[0]
    assert all(s.dropped >= 0 for s in result.steps)


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(logs(), steps_strategy, window_strategy)
def test_ordered_never_exceeds_unordered(events, steps, window):
    # an ordered chain e1…em inside [t1, t1 + W] is also m steps matched inside that window
    con = _table(events)
    ordered = funnel.compute_funnel(con, "ev", steps, window_seconds=window, order="ordered")
    unordered = funnel.compute_funnel(con, "ev", steps, window_seconds=window, order="unordered")
    strict = funnel.compute_funnel(con, "ev", steps, window_seconds=window, order="strict")
    for s, o, u in zip(strict.steps, ordered.steps, unordered.steps):
        assert s.customers <= o.customers <= u.customers


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(logs(distinct_times=True), steps_strategy, window_strategy,
       st.sampled_from(funnel.ORDER_MODES), st.randoms(use_true_random=False))
def test_physical_row_order_does_not_matter_with_distinct_times(events, steps, window, order, rnd):
    # each event keeps its own _row; only the order the rows are stored in changes
    order_a = list(range(len(events)))
    order_b = order_a[:]
    rnd.shuffle(order_b)
    a = funnel.compute_funnel(_table(events, order_a, "ev_a"), "ev_a", steps, window_seconds=window,
                              order=order)
    b = funnel.compute_funnel(_table(events, order_b, "ev_b"), "ev_b", steps, window_seconds=window,
                              order=order)
    assert a == b


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(logs(distinct_times=True), steps_strategy, window_strategy,
       st.sampled_from(funnel.ORDER_MODES), st.randoms(use_true_random=False))
def test_file_order_only_breaks_ties(events, steps, window, order, rnd):
    # with distinct timestamps, renumbering the rows (a different file order) changes nothing
    rows = [e.row for e in events]
    rnd.shuffle(rows)
    renumbered = [Ev(e.customer, e.t, r, e.stage, e.channel, e.touchpoint) for e, r in zip(events, rows)]
    a = funnel.compute_funnel(_table(events, name="ev_a"), "ev_a", steps, window_seconds=window,
                              order=order)
    b = funnel.compute_funnel(_table(renumbered, name="ev_b"), "ev_b", steps, window_seconds=window,
                              order=order)
    assert a == b
