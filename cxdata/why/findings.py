"""Findings from the Why analyses (SPEC §8) for the Overview and the stakeholder report.

:func:`why_findings` returns :class:`cxdata.analytics.insights.Insight` objects, like the
other findings, of four kinds — each only when the data support it, each worded as an
association ("associated with, not necessarily caused by"), never a cause:

``drivers``         at the journey funnel's largest drop-off (the ``dropoff`` finding's
                    step), the strongest conversion driver (§8.1) with adjusted p < 0.05;
``key_driver``      the predictor carrying the largest share of what explains the first
                    score with data (NPS, else CSAT, else CES; §8.2), when its bootstrap
                    interval lies above every other predictor's share;
``control_signal``  a week whose conversion between two consecutive steps of the journey
                    funnel lies beyond its control limits (§8.3; the largest excursion
                    relative to its limit), with the entry channel behind it when one
                    group makes at least half of the gap;
``conformance``     the deviation class (skips, out of order, loops back) whose score
                    differs most from the customers who follow the journey map linked
                    to the dataset, else its stage order (§8.5), when the two 95%
                    intervals do not overlap: NPS first, else CSAT, else CES.

Only what the findings need is computed: drivers for one step, one key-driver fit,
weekly control charts of the k−1 consecutive step pairs (explained only for the chosen
signal), one conformance query.  :func:`finding_link` says on which page (and with which
URL parameters) the full analysis of any finding is shown.
"""
from __future__ import annotations

import math

from cxdata.analytics import funnel
from cxdata.analytics.insights import (
    MIN_GROUP, SCALE_WIDTH, Insight, _num, journey_funnel_steps, largest_drop_step,
)
from cxdata.analytics.scores import METRIC_LABELS, METRICS
from cxdata.engines import as_engine
from cxdata.formatting import format_count, format_number, format_p, format_percent, format_score
from cxdata.sql import EventFilter

ALPHA = 0.05
#: A group explains a signal when it makes at least this share of the gap.
EXPLAINS = 0.5
#: Why findings in the order they are listed.
WHY_KINDS = ("drivers", "key_driver", "control_signal", "conformance")


def _columns(cur, table: str) -> dict:
    return as_engine(cur, table).column_types()


# ---------------------------------------------------------------------------------------
# Conversion drivers at the largest drop-off

def drivers_finding(cur, table: str, stages: list[str], by: str, after_step: int,
                    event_filter: EventFilter | None = None) -> Insight | None:
    """The strongest conversion driver from step ``after_step`` (1-based) of the funnel
    ``stages`` (values of ``by``) to the next, or None when no factor is notable."""
    from cxdata.why.drivers import conversion_drivers, driver_sentence
    result = conversion_drivers(cur, table, stages, after_step, by=by, event_filter=event_filter)
    notable = result.notable(top=1, alpha=ALPHA)
    if notable.empty:
        return None
    row = notable.iloc[0]
    with_share = row["with_converted"] / row["with_n"]
    without_share = row["without_converted"] / row["without_n"]
    # the page's sentence, with the step it is about: "converted" alone would not say
    title = driver_sentence(row, result.step_from, result.step_to).replace(
        " converted ", f" went on to {result.step_to} ", 1)
    detail = (f"Of the {format_count(row['with_n'])} customers with it who reached "
              f"{result.step_from}, {format_count(row['with_converted'])} "
              f"({format_percent(with_share, 0)}) went on to {result.step_to}, against "
              f"{format_count(row['without_converted'])} of {format_count(row['without_n'])} "
              f"({format_percent(without_share, 0)}) without it (odds ratio "
              f"{format_number(row['odds_ratio'], 2)}, 95% interval "
              f"{format_number(row['ci_low'], 2)}–{format_number(row['ci_high'], 2)}; "
              f"{format_p(row['p_adjusted'])} adjusted for the {len(result.drivers)} factors "
              "tested). Going on is associated with it, not necessarily caused by it: "
              "customers who have it may differ in other ways.")
    evidence = {
        "step_from": result.step_from, "step_to": result.step_to, "after_step": result.after_step,
        "steps": list(stages), "steps_by": by, "customers": result.customers,
        "converted": result.converted, "kind": str(row["kind"]), "column": str(row["column"]),
        "value": str(row["value"]), "with_n": int(row["with_n"]),
        "with_converted": int(row["with_converted"]), "without_n": int(row["without_n"]),
        "without_converted": int(row["without_converted"]),
        "odds_ratio": _num(row["odds_ratio"]), "ci_low": _num(row["ci_low"]),
        "ci_high": _num(row["ci_high"]), "p_adjusted": _num(row["p_adjusted"]),
        "factors_tested": len(result.drivers),
    }
    return Insight("drivers", title, detail, evidence)


# ---------------------------------------------------------------------------------------
# Key driver of a score

def key_driver_finding(cur, table: str, metrics: list[str],
                       event_filter: EventFilter | None = None) -> Insight | None:
    """The predictor carrying most of what explains the first of ``metrics`` with key
    drivers, when its bootstrap interval lies above every other predictor's share."""
    from cxdata.presentation.charts_keydrivers import keydrivers_frame
    from cxdata.why.keydrivers import key_drivers
    for metric in metrics:
        result = key_drivers(cur, table, metric, event_filter=event_filter)
        if result.drivers.empty or not math.isfinite(result.r_squared) or result.r_squared <= 0:
            continue
        frame = keydrivers_frame(result)
        top = frame.iloc[0]
        others = frame["share"].iloc[1:]
        if len(others) and not top["share_ci_low"] > others.max():
            return None
        label = METRIC_LABELS[metric]
        name = str(top["label"])
        title = f"{name} carries {format_number(top['share'], 0)}% of what explains {label}"
        lower = top["direction"] == "negative"
        detail = (f"What customers experienced explains R² = {format_number(result.r_squared, 2)} "
                  f"of their last {label} ({format_count(result.customers)} customers, "
                  f"{len(frame)} predictors); {name[0].lower() + name[1:]} carries "
                  f"{format_number(top['share'], 0)}% of it (95% bootstrap interval "
                  f"{format_number(top['share_ci_low'], 0)}–{format_number(top['share_ci_high'], 0)}%).")
        if math.isfinite(float(top.get("score_with", math.nan))):
            detail += (f" The {format_count(top['customers_with'])} customers who had it give "
                       f"{format_score(metric, top['score_with'])} against "
                       f"{format_score(metric, top['score_without'])} for the others.")
        detail += (f" Having it is associated with a {'lower' if lower else 'higher'} {label}, "
                   "not necessarily its cause: those customers may differ in other ways.")
        evidence = {
            "metric": metric, "predictor": str(top["predictor"]), "value": str(top["value"]),
            "label": name, "customers": result.customers, "r_squared": _num(result.r_squared),
            "share": _num(top["share"]), "share_ci_low": _num(top["share_ci_low"]),
            "share_ci_high": _num(top["share_ci_high"]), "direction": str(top["direction"]),
            "customers_with": int(top["customers_with"]),
            "score_with": _num(top.get("score_with")), "score_without": _num(top.get("score_without")),
            "next_share": _num(others.max()) if len(others) else None,
        }
        return Insight("key_driver", title, detail, evidence)
    return None


# ---------------------------------------------------------------------------------------
# A week beyond its control limits

def _excursion(bucket) -> float:
    """How far beyond its limit a bucket lies, in half-widths of its limits (> 1)."""
    half = (bucket.ucl - bucket.centre) if bucket.value > bucket.centre else (bucket.centre - bucket.lcl)
    return abs(bucket.value - bucket.centre) / half if half > 0 else math.inf


def control_signal_finding(cur, table: str, stages: list[str], by: str,
                           event_filter: EventFilter | None = None,
                           grain: str = "week") -> Insight | None:
    """The week (``grain``) whose conversion between two consecutive steps of ``stages``
    lies furthest beyond its control limits, explained by entry channel."""
    from cxdata.presentation.charts_why import period_name
    from cxdata.why.trends import SIGNAL_BEYOND, conversion_trend_limits, explain_conversion
    options = dict(by=by, event_filter=event_filter)
    best = None
    for index in range(len(stages) - 1):
        pair = stages[index:index + 2]
        if pair[0] == pair[1]:
            continue
        chart = conversion_trend_limits(cur, table, pair, grain, **options)
        beyond = chart.buckets[chart.buckets["signal"] == SIGNAL_BEYOND]
        for bucket in beyond.itertuples():
            if bucket.n < MIN_GROUP:
                continue
            key = (_excursion(bucket), -index)
            if best is None or key > best[0]:
                best = (key, pair, chart, bucket)
    if best is None:
        return None
    _, pair, chart, bucket = best
    explain = "channel" if "channel" in _columns(cur, table) else None
    chart = explain_conversion(cur, table, pair, chart, explain, **options)
    rows = chart.explanations[chart.explanations["start"] == bucket.start]
    group = rows.iloc[0] if len(rows) and rows.iloc[0]["contribution"] >= EXPLAINS else None
    fell = bucket.value < bucket.centre
    period = period_name(bucket.start, grain)
    period_text = period[0].lower() + period[1:] if grain == "week" else period
    subject = f"{group['group']} conversion" if group is not None else "Conversion"
    title = (f"{subject} from {pair[0]} to {pair[1]} {'fell below' if fell else 'rose above'} "
             f"its control limit in the {period_text}")
    complete = int((~chart.buckets["incomplete"]).sum())
    detail = (f"{format_percent(bucket.value, 0)} of the {format_count(bucket.n)} customers who "
              f"entered at {pair[0]} that {grain} reached {pair[1]}, against a centre of "
              f"{format_percent(bucket.centre, 0)} over {complete} complete {grain}s (control "
              f"limits {format_percent(bucket.lcl, 0)}–{format_percent(bucket.ucl, 0)}).")
    if group is not None:
        detail += (f" By entry channel, {group['group']} makes {format_percent(group['contribution'], 0)} "
                   f"of the gap ({format_percent(group['value'], 0)} of its customers went on): "
                   f"the {'dip' if fell else 'rise'} is associated with that channel, not "
                   "necessarily caused by it.")
    evidence = {
        "steps": list(pair), "steps_by": by, "grain": grain,
        "start": str(bucket.start.date()), "n": int(bucket.n), "value": _num(bucket.value),
        "centre": _num(bucket.centre), "lcl": _num(bucket.lcl), "ucl": _num(bucket.ucl),
        "signal": bucket.signal, "explained_by": explain,
        "group": None if group is None else str(group["group"]),
        "group_value": None if group is None else _num(group["value"]),
        "contribution": None if group is None else _num(group["contribution"]),
    }
    return Insight("control_signal", title, detail, evidence)


# ---------------------------------------------------------------------------------------
# Does reality follow the stage order?

_CLASS_WORDS = {"skips": "skip a stage", "out of order": "visit stages out of order",
                "loops back": "loop back to an earlier stage"}


def conformance_finding(cur, table: str, stages: list[str],
                        event_filter: EventFilter | None = None, *,
                        map_name: str | None = None, map_id: str | None = None) -> Insight | None:
    """The deviation class whose score differs most (relative to the scale) from the
    customers who follow the stage order, when their 95% intervals do not overlap.
    ``stages``: the dataset's stage order, or the stages of the journey map ``map_name``
    (``map_id``) linked to the dataset."""
    from cxdata.why.conformance import conformance
    if len(stages) < 2:
        return None
    result = conformance(cur, table, stages, event_filter=event_filter)
    follows = result.class_row("follows")
    candidates = []
    for row in result.classes.to_dict("records"):
        if row["class"] == "follows":
            continue
        for metric in METRICS:
            n, n_f = int(row[f"{metric}_n"]), int(follows[f"{metric}_n"])
            if n < MIN_GROUP or n_f < MIN_GROUP:
                continue
            low, high = row[f"{metric}_ci_low"], row[f"{metric}_ci_high"]
            f_low, f_high = follows[f"{metric}_ci_low"], follows[f"{metric}_ci_high"]
            if any(not math.isfinite(float(v)) for v in (low, high, f_low, f_high)):
                continue
            if high < f_low or low > f_high:
                gap = abs(row[metric] - follows[metric]) / SCALE_WIDTH[metric]
                candidates.append((-METRICS.index(metric), gap, row, metric))
    if not candidates:
        return None
    # NPS first (the journey's headline score), then CSAT, CES; the largest gap of it
    _, _, row, metric = max(candidates, key=lambda c: (c[0], c[1]))
    label = METRIC_LABELS[metric]
    name = row["class"]
    kind = {"skips": "skip", "loops back": "back"}.get(name)
    common = (result.deviations[result.deviations["kind"] == kind].head(1)
              if kind else result.deviations.head(0))
    most_often = ""
    if len(common):
        top = common.iloc[0]
        most_often = (f" (most often {top['label'].replace('skips ', '').replace('loops back ', 'back ')}: "
                      f"{top['from']} → {top['to']})")
    order = "the stage order" if map_name is None else "the journey map"
    title = (f"{format_percent(row['share'], 1)} of customers {_CLASS_WORDS[name]}{most_often}; "
             f"their {label} is {format_score(metric, row[metric])} against "
             f"{format_score(metric, follows[metric])} for those who follow {order}")
    against = ("the stage order" if map_name is None else f"the journey map “{map_name}”")
    detail = (f"Against {against} {' → '.join(result.stages)}, "
              f"{format_count(row['customers'])} of {format_count(result.customers)} customers "
              f"{_CLASS_WORDS[name]}: {label} {format_score(metric, row[metric])} (n = "
              f"{format_count(row[f'{metric}_n'])}, 95% {format_score(metric, row[f'{metric}_ci_low'])} to "
              f"{format_score(metric, row[f'{metric}_ci_high'])}) against "
              f"{format_score(metric, follows[metric])} (n = {format_count(follows[f'{metric}_n'])}, "
              f"95% {format_score(metric, follows[f'{metric}_ci_low'])} to "
              f"{format_score(metric, follows[f'{metric}_ci_high'])}) for the "
              f"{format_count(follows['customers'])} who follow it; "
              f"{format_percent(row['converted_share'], 0)} of them reach {result.stages[-1]} "
              f"against {format_percent(follows['converted_share'], 0)}. Their route is "
              "associated with the difference, not necessarily its cause.")
    evidence = {
        "stages": list(result.stages), "map_name": map_name, "map_id": map_id,
        "class": name, "metric": metric,
        "customers": int(row["customers"]), "share": _num(row["share"]),
        "score": _num(row[metric]), "n": int(row[f"{metric}_n"]),
        "ci_low": _num(row[f"{metric}_ci_low"]), "ci_high": _num(row[f"{metric}_ci_high"]),
        "follows_customers": int(follows["customers"]), "follows_score": _num(follows[metric]),
        "follows_n": int(follows[f"{metric}_n"]),
        "converted_share": _num(row["converted_share"]),
        "follows_converted_share": _num(follows["converted_share"]),
        "deviation": None if not len(common) else {"from": str(common.iloc[0]["from"]),
                                                   "to": str(common.iloc[0]["to"])},
    }
    return Insight("conformance", title, detail, evidence)


# ---------------------------------------------------------------------------------------

def why_findings(cur, table: str, stage_order, *, event_filter: EventFilter | None = None,
                 metrics: list[str] | None = None, after_step: int | None = None,
                 journey_map: tuple | None = None) -> list[Insight]:
    """0 to 4 Why findings (:data:`WHY_KINDS`, in that order) about the dataset table
    ``table`` with stage order ``stage_order``, after ``event_filter``.

    ``metrics``: the score metrics with data (default: those of NPS, CSAT, CES that
    have a column); ``after_step``: the journey funnel's step of the largest drop-off
    (:func:`largest_drop_step`), when the caller has the funnel (else it runs here);
    ``journey_map``: ``(map_id, name, stages)`` of a journey map linked to the dataset,
    whose stages the conformance finding compares with (else the stage order)."""
    by, stages = journey_funnel_steps(cur, table, stage_order, event_filter)
    types = _columns(cur, table)
    if metrics is None:
        metrics = [m for m in METRICS if m in types]
    found = []
    if len(stages) >= 2:
        if after_step is None:
            after_step = largest_drop_step(
                funnel.compute_funnel(cur, table, stages, by=by, event_filter=event_filter))
        if after_step is not None:
            found.append(drivers_finding(cur, table, stages, by, after_step, event_filter))
    if metrics:
        found.append(key_driver_finding(cur, table, metrics, event_filter))
    if len(stages) >= 2:
        found.append(control_signal_finding(cur, table, stages, by, event_filter))
    if journey_map is not None and len(journey_map[2]) >= 2:
        map_id, name, map_stages = journey_map
        found.append(conformance_finding(cur, table, list(map_stages), event_filter,
                                         map_name=name, map_id=map_id))
    elif by == "stage" and len(stages) >= 2:
        found.append(conformance_finding(cur, table, stages, event_filter))
    return [f for f in found if f is not None]


# ---------------------------------------------------------------------------------------
# Where each finding's full analysis is shown

def finding_link(finding: Insight) -> tuple[str, str, dict]:
    """``(page, label, query)`` of the page that shows ``finding``'s full analysis: the
    page file (``pages/….py``), a link text, and the URL parameters that open the right
    tab and choice (values as the pages' bound widgets write them)."""
    e = finding.evidence
    metric_tab = lambda tab: {"tp_metric": str(e.get("metric", "")).upper(), "tp_tab": tab}  # noqa: E731
    if finding.kind == "dropoff":
        stages = e.get("stage_order") or []
        query = {"fn_tab": "Drop-outs"}
        if e.get("from_stage") in stages:
            index = stages.index(e["from_stage"]) + 1
            query["fn_drop"] = f"{index}. {e['from_stage']}"
        return "pages/funnel.py", "See who dropped out on the Funnel page", query
    if finding.kind == "drivers":
        return ("pages/funnel.py", "See every factor on the Funnel page (Why do they drop here?)",
                {"fn_tab": "Drop-outs", "fn_drop": f"{e['after_step']}. {e['step_from']}"})
    if finding.kind in ("worst_touchpoint", "best_touchpoint"):
        return "pages/touchpoints.py", "See every touchpoint's score", metric_tab("Scores")
    if finding.kind == "trend":
        return "pages/touchpoints.py", "See the trend on the Touchpoints page", metric_tab("Trend")
    if finding.kind == "key_driver":
        return "pages/touchpoints.py", "See every key driver on the Touchpoints page", metric_tab("Key drivers")
    if finding.kind == "control_signal":
        query = {"fn_tab": "Over time", "fn_grain": e.get("grain", "week")}
        if e.get("steps_by") == "stage":
            query["fn_steps_stage"] = list(e["steps"])
        if e.get("explained_by"):
            query["why_explain"] = e["explained_by"]
        return "pages/funnel.py", "See the control chart on the Funnel page", query
    if finding.kind == "channel":
        return ("pages/funnel.py", "See the funnel by channel",
                {"fn_tab": "Breakdown", "fn_breakdown": "Channel"})
    if finding.kind == "conformance":
        if e.get("map_id"):
            return ("pages/journey_map.py", "See it on the journey map (Journey map → Data)",
                    {"map": e["map_id"]})
        return ("pages/journey_map.py", "Compare with a journey map (Journey map → Data)", {})
    return "pages/overview.py", "Overview", {}
