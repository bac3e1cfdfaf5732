"""Plain-language findings about a dataset, each backed by the numbers behind it.

:func:`dataset_insights` looks for five kinds of finding and returns only those the data
supports (none is invented to fill a quota):

``dropoff``           the largest drop-off between consecutive stages (most customers who
                      reached a stage but never the next) and where they went next;
``worst_touchpoint``  the lowest-scoring touchpoint, only when its 95% interval lies
                      entirely below the dataset's overall score of that metric;
``trend``             a significant change over the months: the last month against the
                      first, or a *dip* (a run of months significantly below the others);
``channel``           the best and worst converting entry channel of the stage funnel
                      (conversion = reached the last stage / entered), only when a
                      two-proportion z-test says they differ;
``best_touchpoint``   like the worst, for the best (interval entirely above).

Every score metric with data (NPS, CSAT, CES; a lower CES = more effort = worse) is
examined.  When several metrics or series qualify, the largest gap relative to the width
of the metric's scale (NPS 200 points, CSAT 100 points, CES 6 points) wins, so that
"2 effort points" and "7 percentage points" are compared fairly.

Significance level 5%.  The trend search runs many tests at once (every metric, overall
and per touchpoint, first vs last month and each month vs the others), so it uses a
Bonferroni correction: p < 0.05 / number of tests.  Groups (stages, touchpoints, months,
channels) with fewer than ``MIN_GROUP`` customers or responses are not used.  All figures
come from :mod:`cxdata.analytics.funnel` and :mod:`cxdata.analytics.scores`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from cxdata.analytics import funnel
from cxdata.engines import as_engine
from cxdata.formatting import format_count as _count
from cxdata.formatting import format_number, format_p, format_percent, format_score
from cxdata.analytics.scores import (
    LOW_SAMPLE_DEFAULT, METRIC_LABELS, METRICS, MISSING_GROUP, RESPONSE_FIGURES, Comparison,
    ResponseCounts, ScoreSummary, compare_counts, counts_of, responses_by_metric,
    summarise, summed_responses, two_proportion_test,
)
from cxdata.sql import EventFilter, filtered_events, quote_ident

ALPHA = 0.05
MIN_GROUP = LOW_SAMPLE_DEFAULT
MAX_INSIGHTS = 5
#: Width of each metric's scale, to compare gaps across metrics.
SCALE_WIDTH = {"nps": 200.0, "csat": 100.0, "ces": 6.0}


@dataclass(frozen=True)
class Insight:
    """One finding: a short ``title`` a manager understands, a ``detail`` sentence or two,
    and the ``evidence`` (plain JSON-friendly numbers and labels) it rests on."""
    kind: str
    title: str
    detail: str
    evidence: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# Formatting

def _percent(fraction: float, digits: int = 0) -> str:
    """0.384 -> "38%" (the app's one percent format, whole percents in sentences)."""
    return format_percent(fraction, digits)


def _value_text(metric: str, score: float) -> str:
    """A score as shown in titles: NPS "+25" / "−12", CSAT "78%", CES "4.60" — as the
    charts and cards beside the finding show it."""
    return format_score(metric, score)


#: What the score means, for detail sentences.
_SCALE_NOTE = {
    "nps": "NPS, −100 to +100",
    "csat": "CSAT, percent of responses 4–5 of 5",
    "ces": "CES, mean effort score 1–7, higher = easier",
}
#: Appended to titles so that a number is never shown without its scale.
_TITLE_UNIT = {"nps": "", "csat": "", "ces": " (1–7, higher = easier)"}


def _signed(value: float) -> str:
    """A difference's bound with its sign: "+2.1", "−0.4"."""
    return format_number(value, 1, signed=True)


def _score_points(metric: str, difference: float) -> str:
    """Size of a score difference with its unit."""
    if metric == "nps":
        return f"{abs(difference):.0f} NPS points"
    if metric == "csat":
        return f"{abs(difference):.0f} percentage points"
    return f"{abs(difference):.2f} points on the 1–7 effort scale"


def _month(period) -> str:
    return pd.Timestamp(period).strftime("%b %Y")


def _month_range(first, last) -> str:
    """ "Jul 2025", "Jun–Aug 2025" or "Dec 2024–Feb 2025"."""
    first, last = pd.Timestamp(first), pd.Timestamp(last)
    if first == last:
        return _month(first)
    if first.year == last.year:
        return f"{first:%b}–{last:%b %Y}"
    return f"{first:%b %Y}–{last:%b %Y}"


def _num(value):
    """JSON-friendly number (None for NaN)."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


# ---------------------------------------------------------------------------------------
# Data checks

def _non_empty(cur, table: str, column: str, event_filter: EventFilter | None) -> bool:
    """Whether an event the filter keeps has a value in ``column`` (False when the table
    lacks it).  The scan stops at the first one (a count read every event: 40 ms at 10
    million, on every filter change)."""
    engine = as_engine(cur, table)
    if column not in engine.column_types():
        return False
    source, params = filtered_events(engine.table, event_filter)
    rows = engine.rows(f"WITH ev AS ({source}) SELECT 1 AS found FROM ev "
                       f"WHERE {quote_ident(column)} IS NOT NULL LIMIT 1",
                       params, "SELECT count(*) > 0 FROM kernel")
    return bool(rows[0][0])




def score_counts(cur, table: str, event_filter: EventFilter | None = None, *,
                 per: str | None = None) -> dict[str, pd.DataFrame]:
    """Per score metric with responses: its response counts per month and touchpoint
    (:func:`cxdata.analytics.scores.response_counts`) — ONE aggregation for every metric
    and every score finding (:func:`cxdata.analytics.scores.responses_by_metric`).  The
    overall score (:func:`overall_scores`), the score per touchpoint and the monthly
    series are sums of these rows (counts and sums add up), so each is exactly what its
    own query would give.

    ``per``: a column counted apart too (column ``per_value``):
    :func:`cxdata.analytics.per_value.kept_score_counts` then gives the counts under any
    filter on that column alone, without another query."""
    columns = as_engine(cur, table).column_types()
    by = "touchpoint" if "touchpoint" in columns else None
    metrics = [metric for metric in METRICS if metric in columns]
    if not metrics:
        return {}
    counts = {}
    for metric, frame in responses_by_metric(cur, table, metrics, by, grain="month",
                                             event_filter=event_filter, per=per).items():
        if by is None:
            frame = frame.assign(group=MISSING_GROUP)
        if len(frame):
            counts[metric] = frame
    return counts


def overall_scores(counts: dict[str, pd.DataFrame]) -> dict[str, ScoreSummary]:
    """NPS, CSAT and CES over every response, from :func:`score_counts` (what
    :func:`cxdata.analytics.scores.score_summary` gives; n = 0 for a metric without
    responses)."""
    return {metric: summarise(metric, _pooled(counts[metric]) if metric in counts
                              else ResponseCounts(0))
            for metric in METRICS}


def _by_touchpoint(metric: str, by_month: pd.DataFrame) -> pd.DataFrame:
    """The metric per touchpoint (the columns of :func:`cxdata.analytics.scores.scores_by`:
    group, n, score, ci_low, ci_high, low_sample, secondary)."""
    rows = []
    for _, row in summed_responses(by_month, ["group"]).iterrows():
        s = summarise(metric, counts_of(row), str(row["group"]))
        rows.append([s.group, s.n, s.score, s.ci_low, s.ci_high, s.low_sample, s.secondary])
    frame = pd.DataFrame(rows, columns=["group", "n", "score", "ci_low", "ci_high", "low_sample",
                                        "secondary"])
    return frame.astype({"n": "int64", "low_sample": bool, "secondary": "float64"})


def next_step_column(cur, table: str, event_filter: EventFilter | None = None) -> str:
    """The column that best says what a customer did next: touchpoint, else event, else
    stage (the first with values after the filter)."""
    for column in ("touchpoint", "event", "stage"):
        if _non_empty(cur, table, column, event_filter):
            return column
    return "stage"


def path_without_stages(cur, table: str, event_filter: EventFilter | None = None
                        ) -> tuple[str, list[str]]:
    """For a log without (two) stages: ``(column, steps)`` of its most common path of
    events, else touchpoints (:func:`cxdata.analytics.funnel.suggest_steps`); steps empty if none."""
    for column in ("event", "touchpoint"):
        if _non_empty(cur, table, column, event_filter):
            return column, funnel.suggest_steps(cur, table, column, event_filter=event_filter)
    return "stage", []


def journey_funnel_steps(cur, table: str, stage_order, event_filter: EventFilter | None = None
                         ) -> tuple[str, list[str]]:
    """``(column, steps)`` of THE journey funnel of a dataset: the one the Overview draws,
    its findings quote and the report prints, so that they can never disagree.

    The dataset's stage order when it has a stage column and at least two stages — all
    of them, whatever the filter (a stage without interactions under the filter shows as
    0, as on the Funnel page) — else its most common path (:func:`path_without_stages`).
    """
    stages = list(stage_order or ())
    if len(stages) >= 2 and _non_empty(cur, table, "stage", None):
        return "stage", stages
    return path_without_stages(cur, table, event_filter)


@dataclass(frozen=True)
class Journey:
    """THE journey funnel under a filter (:func:`journey_funnel_steps`, in order, no time
    limit): ``by`` and ``steps`` say which; ``funnel`` is None with fewer than two steps;
    ``channels`` holds the funnel per entry channel, (channel, FunnelResult) — customers
    and conversions, the times between steps left out (None) — when the findings compare
    entry channels (:func:`_compares_channels`), else None;
    ``event_filter`` the filter it was computed under; ``dropoff`` the drop-off summary
    the ``dropoff`` finding quotes (:func:`dropoff_question`), None when nobody drops."""
    by: str
    steps: list
    funnel: funnel.FunnelResult | None
    channels: list | None = None
    event_filter: EventFilter | None = None
    dropoff: funnel.DropoffSummary | None = None

    def fits(self, stage_order, event_filter: EventFilter | None) -> bool:
        """Whether this is the journey :func:`compute_journey` gives for ``stage_order``
        under ``event_filter``, without a query: same filter, and the stage funnel of
        those stages (or, for a log with fewer than two stages, its most common path)."""
        stages = list(stage_order or ())
        if self.event_filter != event_filter:
            return False
        return list(self.steps) == stages if self.by == "stage" else len(stages) < 2


def _compares_channels(cur, table: str, event_filter: EventFilter | None) -> bool:
    """Whether the entry channels can be compared: the log has channels under the
    filter, and the filter does not keep a single channel (every entry would be on it)."""
    kept = dict(event_filter.equals).get("channel") if event_filter is not None else None
    if kept is not None and len(kept) == 1 and kept[0] is not None:
        return False
    return _non_empty(cur, table, "channel", event_filter)


def compute_journey(cur, table: str, stage_order, event_filter: EventFilter | None = None
                    ) -> Journey:
    """The journey funnel the Overview draws and its findings quote, with the funnel per
    entry channel the channel finding compares and the drop-off summary after its
    largest drop-off — the counted attempts found once for all three
    (:func:`cxdata.analytics.funnel.funnel_with_dropoff`)."""
    by, steps = journey_funnel_steps(cur, table, stage_order, event_filter)
    if len(steps) < 2:
        return Journey(by, list(steps), None, event_filter=event_filter)
    breakdown = "channel" if _compares_channels(cur, table, event_filter) else None
    # (the channel finding compares conversions: no times between steps per channel)
    result, channels, dropoff = funnel.funnel_with_dropoff(
        cur, table, steps, next_step_column(cur, table, event_filter), largest_drop_step,
        breakdown=breakdown, group_times=False, by=by, event_filter=event_filter)
    return Journey(by, list(steps), result, channels, event_filter, dropoff)


# ---------------------------------------------------------------------------------------
# Drop-off

def _share_sentence(summary: funnel.DropoffSummary, column: str, by: str) -> str:
    """Where the drop-outs left and what they did next, in words (top value of each)."""
    text = ""
    if column != by and not summary.left_at.empty:
        top = summary.left_at.iloc[0]
        where = (f"an interaction without a {column}" if top["value"] == funnel.NO_VALUE
                 else str(top["value"]))
        text += f" Most left at {where} ({_percent(top['share'])} of them)"
    if not summary.next.empty:
        top = summary.next.iloc[0]
        if top["value"] == funnel.NO_FURTHER_EVENTS:
            after = f"{_percent(top['share'])} had no further interaction"
        elif top["value"] == funnel.NO_VALUE:
            after = f"{_percent(top['share'])} next had an interaction without a {column}"
        else:
            after = f"their most common next {column} was {top['value']} ({_percent(top['share'])})"
        text += ("; afterwards " if text else " Afterwards ") + after
    return text + ("." if text else "")


def largest_drop_step(result: funnel.FunnelResult) -> int | None:
    """1-based step of the largest drop-off of a :class:`~cxdata.analytics.funnel.FunnelResult`,
    as the ``dropoff`` finding picks it: the most customers lost (FunnelStep.dropped, as
    in the funnel view and the report) among steps with at least MIN_GROUP customers; the
    earlier on ties.  None when nobody drops."""
    candidates = [(step.dropped, -index) for index, step in enumerate(result.steps[:-1])
                  if step.customers >= MIN_GROUP and step.dropped > 0]
    return -max(candidates)[1] + 1 if candidates else None


def dropoff_question(cur, table: str, journey: Journey,
                     event_filter: EventFilter | None = None) -> tuple | None:
    """``(steps, after_step, options)``: the arguments of
    :func:`cxdata.analytics.funnel.dropoff_summary` the ``dropoff`` finding quotes — after
    the journey funnel's largest drop-off (:func:`largest_drop_step`), by
    :func:`next_step_column`; None when the journey has no funnel or nobody drops.  A
    question of its own, so that a page can ask it through its cache and share the answer
    (it is the Funnel page's drop-out view of the same funnel and step)."""
    after = largest_drop_step(journey.funnel) if journey.funnel is not None else None
    if after is None:
        return None
    # the journey's own summary answers this question: its column needs no query
    column = (journey.dropoff.column if journey.dropoff is not None
              and journey.event_filter == event_filter else next_step_column(cur, table, event_filter))
    return list(journey.steps), after, {"column": column, "by": journey.by,
                                        "event_filter": event_filter}


def _dropoff_insight(cur, table: str, journey: Journey, event_filter: EventFilter | None,
                     summary: funnel.DropoffSummary | None = None) -> Insight | None:
    """``summary``: the caller's answer to :func:`dropoff_question`, else the journey's
    own (taken as it is, column included, when it is one after this funnel's largest
    drop-off, else computed here)."""
    after = largest_drop_step(journey.funnel) if journey.funnel is not None else None
    if after is None:
        return None
    if summary is None and journey.event_filter == event_filter:
        summary = journey.dropoff
    by, stages = journey.by, list(journey.steps)
    step, following = journey.funnel.steps[after - 1], journey.funnel.steps[after]
    dropped = step.dropped
    share_lost = dropped / step.customers
    # (the drop-outs' count guards against a summary of another funnel)
    if summary is None or (summary.after_step, summary.customers) != (after, dropped):
        _, _, options = dropoff_question(cur, table, journey, event_filter)
        summary = funnel.dropoff_summary(cur, table, stages, after, **options)
    column = summary.column

    def top3(frame):
        return [{"value": str(r.value), "customers": int(r.customers), "share": _num(r.share)}
                for r in frame.head(3).itertuples()]

    title = (f"{_percent(share_lost)} of customers who reach {step.step} "
             f"never reach {following.step}")
    detail = (f"Of {_count(step.customers)} customers who reached {step.step}, "
              f"{_count(dropped)} ({_percent(share_lost)}) did not go on to {following.step}"
              f" — the most customers lost between two consecutive "
              f"{'stages' if by == 'stage' else by + 's of the most common path'}.")
    detail += _share_sentence(summary, column, by)
    if event_filter is not None and event_filter.equals:
        detail += " Only the interactions the filters keep count as steps."
    evidence = {
        "from_stage": step.step, "to_stage": following.step,
        "reached": int(step.customers), "continued": int(following.customers),
        "dropped": int(dropped), "share_lost": share_lost, "in_progress": summary.in_progress,
        "next_column": column, "left_values": top3(summary.left_at),
        "next_values": top3(summary.next), "stage_order": list(stages), "steps_by": by,
    }
    return Insight("dropoff", title, detail, evidence)


# ---------------------------------------------------------------------------------------
# Worst / best touchpoint

def _touchpoint_candidates(counts: dict[str, pd.DataFrame]) -> dict[str, list[tuple]]:
    """Per direction ("worst"/"best"): (relative gap, metric, row, overall) of every
    metric's most extreme touchpoint whose interval lies entirely beyond the overall.
    ``counts``: :func:`_score_counts`."""
    found: dict[str, list[tuple]] = {"worst": [], "best": []}
    for metric, by_month in counts.items():
        overall = summarise(metric, _pooled(by_month))
        frame = _by_touchpoint(metric, by_month)
        frame = frame[(frame["group"] != MISSING_GROUP) & (frame["n"] >= MIN_GROUP)]
        if overall.n == 0 or len(frame) < 2:
            continue
        below = frame[frame["ci_high"] < overall.score]
        if len(below):
            row = below.sort_values(["score", "group"]).iloc[0]
            gap = (overall.score - row["score"]) / SCALE_WIDTH[metric]
            found["worst"].append((gap, metric, row, overall))
        above = frame[frame["ci_low"] > overall.score]
        if len(above):
            row = above.sort_values(["score", "group"], ascending=[False, True]).iloc[0]
            gap = (row["score"] - overall.score) / SCALE_WIDTH[metric]
            found["best"].append((gap, metric, row, overall))
    return found


def _touchpoint_title(worst: bool, metric: str, name: str, score: float,
                      overall: float) -> str:
    figures = (f"{_value_text(metric, score)} vs {_value_text(metric, overall)} overall"
               f"{_TITLE_UNIT[metric]}")
    if metric == "ces":
        return f"{name} {'takes the most' if worst else 'takes the least'} effort: CES {figures}"
    if metric == "csat":
        return (f"{name} has the {'lowest' if worst else 'highest'} satisfaction: "
                f"{_value_text(metric, score)} satisfied vs {_value_text(metric, overall)} "
                "overall")
    return f"{name} has the {'lowest' if worst else 'highest'} NPS: {figures}"


def _touchpoint_insight(kind: str, metric: str, row, overall) -> Insight:
    worst = kind == "worst_touchpoint"
    name = str(row["group"])
    side = "below" if worst else "above"
    detail = (f"{name} is {_score_points(metric, row['score'] - overall.score)} {side} the "
              f"overall score ({_SCALE_NOTE[metric]}; {_count(row['n'])} responses, 95% "
              f"interval {_value_text(metric, row['ci_low'])} to {_value_text(metric, row['ci_high'])}, "
              f"entirely {side} the overall {_value_text(metric, overall.score)} from "
              f"{_count(overall.n)} responses).")
    evidence = {
        "metric": metric, "touchpoint": name, "n": int(row["n"]),
        "score": _num(row["score"]), "ci_low": _num(row["ci_low"]),
        "ci_high": _num(row["ci_high"]), "secondary": _num(row["secondary"]),
        "overall_score": _num(overall.score), "overall_n": int(overall.n),
    }
    return Insight(kind, _touchpoint_title(worst, metric, name, row["score"], overall.score),
                   detail, evidence)


def _best_of(candidates: list[tuple], kind: str) -> Insight | None:
    if not candidates:
        return None
    _, metric, row, overall = max(candidates, key=lambda c: (c[0], -METRICS.index(c[1])))
    return _touchpoint_insight(kind, metric, row, overall)


# ---------------------------------------------------------------------------------------
# Trend

@dataclass(frozen=True)
class _Change:
    """A candidate change: ``a`` (months) against ``b`` (months), a − b."""
    metric: str
    touchpoint: str | None
    pattern: str                 # "change" (last vs first month) or "dip"
    months_a: list
    months_b: list
    comparison: Comparison


def _pooled(rows: pd.DataFrame) -> ResponseCounts:
    return _added(_month_counts(rows))


def _month_counts(rows: pd.DataFrame) -> list[ResponseCounts]:
    """Each row's counts (:func:`cxdata.analytics.scores.counts_of`), read once: the
    tests below combine them many times, and plain integers add up far faster than
    frames."""
    return [ResponseCounts(*(int(v) for v in values))
            for values in rows[list(RESPONSE_FIGURES)].itertuples(index=False, name=None)]


def _added(counts: list[ResponseCounts]) -> ResponseCounts:
    """The counts of several groups pooled (counts and sums add up)."""
    return ResponseCounts(*(sum(getattr(c, name) for c in counts) for name in RESPONSE_FIGURES))


def _without(total: ResponseCounts, part: ResponseCounts) -> ResponseCounts:
    """The counts of ``total``'s groups other than ``part`` (exact: whole numbers)."""
    return ResponseCounts(*(getattr(total, name) - getattr(part, name) for name in RESPONSE_FIGURES))


def _series_changes(metric: str, touchpoint: str | None, rows: pd.DataFrame
                    ) -> tuple[int, list[_Change], list[tuple[int, Comparison]]]:
    """Tests of one monthly series: last vs first month, and (with 3+ months) each month
    against all the others.  Returns (tests run, first-vs-last change, [(month index,
    comparison vs the others)])."""
    months = list(rows["period"])
    if len(rows) < 2:
        return 0, [], []
    counts = _month_counts(rows)
    change = compare_counts(metric, _month(months[-1]), _month(months[0]), counts[-1], counts[0])
    changes = [_Change(metric, touchpoint, "change", [months[-1]], [months[0]], change)]
    against_rest = []
    if len(rows) >= 3:
        total = _added(counts)
        for i, month in enumerate(counts):
            against_rest.append((i, compare_counts(metric, _month(months[i]), "other months",
                                                   month, _without(total, month))))
    return 1 + len(against_rest), changes, against_rest


def _dip(metric: str, touchpoint: str | None, rows: pd.DataFrame,
         against_rest: list[tuple[int, Comparison]], threshold: float) -> _Change | None:
    """The run of consecutive months, around the worst one, each significantly below the
    other months; compared as one block against the months outside it."""
    below = {i for i, c in against_rest if c.difference < 0 and c.significant(threshold)}
    if not below:
        return None
    counts = _month_counts(rows)
    worst = min(below, key=lambda i: summarise(metric, counts[i]).score)
    start = end = worst
    while start - 1 in below:
        start -= 1
    while end + 1 in below:
        end += 1
    if end - start + 1 == len(counts):
        return None
    inside = _added(counts[start:end + 1])
    months = list(rows["period"])
    comparison = compare_counts(metric, _month_range(months[start], months[end]),
                                "other months", inside, _without(_added(counts), inside))
    return _Change(metric, touchpoint, "dip", months[start:end + 1],
                   [m for i, m in enumerate(months) if not start <= i <= end], comparison)


def _trend_insight(counts: dict[str, pd.DataFrame]) -> Insight | None:
    """The largest significant monthly change over every metric and series.
    ``counts``: :func:`_score_counts`."""
    tests = 0
    series_results = []
    for metric, by_month in counts.items():
        overall = summed_responses(by_month, ["period"])
        per_touchpoint = by_month[by_month["group"] != MISSING_GROUP]
        series = [(None, overall)] + list(per_touchpoint.groupby("group", sort=True))
        for name, rows in series:
            rows = rows[rows["n"] >= MIN_GROUP].sort_values("period").reset_index(drop=True)
            count, changes, against_rest = _series_changes(metric, name, rows)
            tests += count
            series_results.append((metric, name, rows, changes, against_rest))
    if tests == 0:
        return None
    threshold = ALPHA / tests
    candidates: list[_Change] = []
    for metric, name, rows, changes, against_rest in series_results:
        candidates += [c for c in changes if c.comparison.significant(threshold)]
        dip = _dip(metric, name, rows, against_rest, threshold)
        if dip is not None and dip.comparison.significant(threshold):
            candidates.append(dip)
    if not candidates:
        return None
    best = max(candidates, key=lambda c: (abs(c.comparison.difference) / SCALE_WIDTH[c.metric],
                                          c.touchpoint is None, c.pattern == "dip"))
    return _trend_text(best, tests, threshold)


def _trend_text(change: _Change, tests: int, threshold: float) -> Insight:
    c = change.comparison
    metric = change.metric
    label = METRIC_LABELS[metric]
    subject = f"{label} at {change.touchpoint}" if change.touchpoint else label
    unit = _TITLE_UNIT[metric]
    if change.pattern == "dip":
        title = (f"{subject} dipped to {_value_text(metric, c.score_a)} in {c.a}, from "
                 f"{_value_text(metric, c.score_b)} in the other months{unit}")
        detail = (f"{c.a} is {_score_points(metric, c.difference)} below the other months "
                  f"({_SCALE_NOTE[metric]}; {_count(c.n_a)} responses in {c.a}, "
                  f"{_count(c.n_b)} in the other months; 95% interval of the difference "
                  f"{_signed(c.ci_low)} to {_signed(c.ci_high)}, {format_p(c.p_value)}).")
    else:
        verb = "rose" if c.difference > 0 else "fell"  # higher is better for all three
        title = (f"{subject} {verb} from {_value_text(metric, c.score_b)} to "
                 f"{_value_text(metric, c.score_a)} between {c.b} and {c.a}{unit}")
        detail = (f"{'An improvement' if c.difference > 0 else 'A decline'} of "
                  f"{_score_points(metric, c.difference)} ({_SCALE_NOTE[metric]}; "
                  f"{_count(c.n_b)} responses in {c.b}, {_count(c.n_a)} in {c.a}; 95% "
                  f"interval of the change {_signed(c.ci_low)} to {_signed(c.ci_high)}, "
                  f"{format_p(c.p_value)}).")
    evidence = {
        "metric": metric, "touchpoint": change.touchpoint, "pattern": change.pattern,
        "months_a": [_month(m) for m in change.months_a],
        "months_b": [_month(m) for m in change.months_b],
        "score_a": _num(c.score_a), "score_b": _num(c.score_b), "n_a": c.n_a, "n_b": c.n_b,
        "difference": _num(c.difference), "ci_low": _num(c.ci_low),
        "ci_high": _num(c.ci_high), "p_value": _num(c.p_value),
        "tests": tests, "significance_threshold": threshold,
    }
    return Insight("trend", title, detail, evidence)


# ---------------------------------------------------------------------------------------
# Channel

def _channel_insight(stages: list[str], channels: list[tuple[str, funnel.FunnelResult]]
                     ) -> Insight | None:
    """``channels``: the journey funnel per entry channel (:attr:`Journey.channels`)."""
    groups = []
    for name, result in channels:
        if name == MISSING_GROUP or result.entered < MIN_GROUP:
            continue
        converted = result.steps[-1].customers
        groups.append((converted / result.entered, str(name), result.entered, converted))
    if len(groups) < 2:
        return None
    groups.sort(key=lambda g: (g[0], g[1]))
    worst, best = groups[0], groups[-1]
    difference, ci_low, ci_high, p_value = two_proportion_test(best[3], best[2],
                                                               worst[3], worst[2])
    if not p_value < ALPHA:
        return None
    ratio = best[0] / worst[0] if worst[0] > 0 else None
    title = (f"Customers entering via {best[1]} reach {stages[-1]} "
             + (f"{ratio:.1f}× as often as via {worst[1]}" if ratio
                else f"far more often than via {worst[1]}")
             + f" ({_percent(best[0])} vs {_percent(worst[0])})")
    detail = (f"{_count(best[3])} of {_count(best[2])} customers who entered at {stages[0]} "
              f"via {best[1]} reached {stages[-1]}, against {_count(worst[3])} of "
              f"{_count(worst[2])} via {worst[1]} (difference {format_number(100 * difference, 1)} "
              f"percentage points, 95% interval {format_number(100 * ci_low, 1)} to "
              f"{format_number(100 * ci_high, 1)}; {format_p(p_value)}).")
    evidence = {
        "best_channel": best[1], "best_entered": best[2], "best_converted": best[3],
        "best_conversion": best[0],
        "worst_channel": worst[1], "worst_entered": worst[2], "worst_converted": worst[3],
        "worst_conversion": worst[0],
        "difference": difference, "ci_low": ci_low, "ci_high": ci_high, "p_value": p_value,
        "from_stage": stages[0], "to_stage": stages[-1], "channels_compared": len(groups),
    }
    return Insight("channel", title, detail, evidence)


# ---------------------------------------------------------------------------------------

def dataset_insights(cur, table: str, stage_order: list[str], *,
                     event_filter: EventFilter | None = None,
                     journey: Journey | None = None,
                     dropoff: funnel.DropoffSummary | None = None,
                     counts: dict[str, pd.DataFrame] | None = None) -> list[Insight]:
    """0 to 5 findings for a dataset, in this order: drop-off, worst touchpoint, trend,
    channel, best touchpoint.  A finding appears only when the data supports it.

    ``journey``: :func:`compute_journey` under the same filter when the caller has it already —
    the Overview draws its funnel beside the findings — so that it is not computed twice.
    ``dropoff``: the drop-off summary answering :func:`dropoff_question` for that journey,
    likewise (the Overview shares it with the Funnel page's drop-out view); ``counts``:
    :func:`score_counts` under the same filter, likewise (the Overview's score cards
    are its sums)."""
    # The drop-off and channel findings quote the funnel the Overview draws beside them;
    # one the caller has is taken as it is (finding its steps again costs a pass, and on
    # a log without stages a search for its most common path).
    if journey is None or not journey.fits(stage_order, event_filter):
        journey, dropoff = compute_journey(cur, table, stage_order, event_filter), None
    stages = list(journey.steps)
    # Every score finding reads the same counts: one query for every metric.
    if counts is None:
        counts = score_counts(cur, table, event_filter)
    extremes = _touchpoint_candidates(counts)
    findings = [
        _dropoff_insight(cur, table, journey, event_filter, dropoff),
        _best_of(extremes["worst"], "worst_touchpoint"),
        _trend_insight(counts) if counts else None,
        _channel_insight(stages, journey.channels) if journey.channels is not None else None,
        _best_of(extremes["best"], "best_touchpoint"),
    ]
    return [f for f in findings if f is not None][:MAX_INSIGHTS]
