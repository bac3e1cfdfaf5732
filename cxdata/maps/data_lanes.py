"""Data-linked lanes: what the linked dataset says about each stage of a map (funnel,
scores, drop-offs, top touchpoints), written into the map's cells when refreshed."""
from __future__ import annotations

from dataclasses import dataclass

from cxdata.engines import as_engine
from cxdata.formatting import format_duration
from cxdata.sql import filtered_events, quote_ident

from cxdata.maps.journey_map import METRIC_TOPICS, JourneyMap, Lane, Stage, _copy, new_id
from cxdata.maps.emotion import emotion_from_score, format_emotion

#: Touchpoints listed per stage in a data-linked touchpoints lane.
TOP_TOUCHPOINTS = 3


@dataclass(frozen=True)
class StageScore:
    """A stage's score: ``score`` in the metric's unit (NPS −100…100, CSAT top-2-box
    percent, CES mean), ``mean`` the mean response (CSAT, CES; None for NPS), ``n``
    responses."""
    score: float
    mean: float | None
    n: int
    low_sample: bool


@dataclass(frozen=True)
class StageNumbers:
    """What the data says about one stage of a map (a stage present in the dataset).

    ``customers`` / ``conversion_from_previous`` (fraction 0…1) come from the funnel over
    the map's data stages in map order; ``median_seconds_to_next`` is the funnel's median
    time from this stage to the next (seconds; None for the last stage) and
    ``reached_next`` its n; ``previous_customers`` the customers of the previous stage (the
    n that ``conversion_from_previous`` is a fraction of; None for the first stage);
    ``dropped`` the customers who reached this stage but not the next; ``dropoff_left``
    where those drop-outs left (SPEC §2: the touchpoint of their last event of this stage
    in the counted attempt), the most common first, as (touchpoint, customers, share 0…1 of
    ``dropped``); ``dropoff_next`` the most common touchpoint they went to next, with its
    share; ``dropoff_in_progress`` of the drop-outs, those whose window was still open at
    the log's end.
    """
    stage: str
    step_index: int
    is_last: bool
    customers: int
    conversion_from_previous: float | None
    median_seconds_to_next: float | None
    reached_next: int | None
    dropped: int
    dropoff_next: tuple[str, float] | None
    scores: dict[str, StageScore]
    top_touchpoints: tuple[tuple[str, int], ...]
    previous_customers: int | None = None
    dropoff_left: tuple[tuple[str, int, float], ...] = ()
    dropoff_in_progress: int = 0


def top_touchpoints_by_stage(cur, table: str, stages: list[str], *, event_filter=None,
                             top: int = TOP_TOUCHPOINTS) -> dict[str, list[tuple[str, int]]]:
    """The ``top`` touchpoints of each stage by distinct customers, most first (ties by
    name).  Returns ``{stage: [(touchpoint, customers), ...]}``."""
    if not stages:
        return {}
    engine = as_engine(cur, table)
    events_sql, params = filtered_events(engine.table, event_filter)
    stage_col, tp_col, cust_col = (quote_ident(c) for c in ("stage", "touchpoint", "customer_id"))
    placeholders = ", ".join("?" * len(stages))
    # Distinct customers per part add up: a customer's events are all in one part.
    kernel = f"""
        WITH ev AS ({events_sql})
        SELECT {stage_col} AS stage, {tp_col} AS touchpoint,
               COUNT(DISTINCT {cust_col}) AS customers
        FROM ev
        WHERE {stage_col} IN ({placeholders}) AND {tp_col} IS NOT NULL
        GROUP BY 1, 2
    """
    then = """
        WITH counted AS (SELECT stage, touchpoint, CAST(sum(customers) AS BIGINT) AS customers
                         FROM kernel GROUP BY 1, 2)
        SELECT stage, touchpoint, customers FROM counted
        QUALIFY row_number() OVER (PARTITION BY stage ORDER BY customers DESC, touchpoint) <= ?
        ORDER BY stage, customers DESC, touchpoint
    """
    rows = engine.rows(kernel, params + list(stages), then, [int(top)])
    out: dict[str, list[tuple[str, int]]] = {s: [] for s in stages}
    for stage, touchpoint, customers in rows:
        out[stage].append((touchpoint, int(customers)))
    return out


def dataset_stages(cur, table: str) -> list[str]:
    """Distinct non-empty stages of a dataset table (any order)."""
    engine = as_engine(cur, table)
    col = quote_ident("stage")
    rows = engine.rows(f"SELECT DISTINCT {col} AS stage FROM {quote_ident(engine.table)} "
                       f"WHERE {col} IS NOT NULL", (), "SELECT DISTINCT stage FROM kernel")
    return [r[0] for r in rows]


def stage_numbers(cur, table: str, stages: list[str], *, event_filter=None,
                  low_sample: int | None = None) -> dict[str, StageNumbers]:
    """Numbers for each of ``stages`` found in the dataset, keyed by stage name.

    The funnel runs over the stages present in the data, in the order given (the map's
    order); stages missing from the data get no entry.  Uses the team's funnel and score
    definitions (:mod:`cxdata.analytics.funnel`, :mod:`cxdata.analytics.scores`): nothing is recomputed here.
    """
    from cxdata.analytics import funnel, scores  # imported here: the map model needs neither

    present = set(dataset_stages(cur, table))
    steps = [s for s in dict.fromkeys(stages) if s in present]
    if not steps:
        return {}
    result = funnel.compute_funnel(cur, table, steps, by="stage", event_filter=event_filter)
    score_kwargs = {"event_filter": event_filter}
    if low_sample is not None:
        score_kwargs["low_sample"] = low_sample
    by_metric: dict[str, dict[str, StageScore]] = {}
    for metric in scores.METRICS:
        frame = scores.scores_by(cur, table, metric, "stage", **score_kwargs)
        by_metric[metric] = {}
        for row in frame.itertuples(index=False):
            if int(row.n) <= 0:
                continue
            mean = None
            if metric == "csat":
                mean = None if row.secondary is None else float(row.secondary)
            elif metric == "ces":
                mean = float(row.score)
            by_metric[metric][row.group] = StageScore(float(row.score), mean, int(row.n),
                                                      bool(row.low_sample))
    touchpoints = top_touchpoints_by_stage(cur, table, steps, event_filter=event_filter)
    out: dict[str, StageNumbers] = {}
    for index, (step_name, step) in enumerate(zip(steps, result.steps), start=1):
        is_last = index == len(steps)
        following = None if is_last else result.steps[index]
        dropoff_next, dropoff_left, in_progress = None, (), 0
        if not is_last and step.dropped > 0:
            summary = funnel.dropoff_summary(cur, table, steps, index, column="touchpoint",
                                             by="stage", event_filter=event_filter)
            dropoff_next = _biggest_next_touchpoint(summary.next)
            dropoff_left = tuple((str(r.value), int(r.customers), float(r.share))
                                 for r in summary.left_at.head(TOP_TOUCHPOINTS).itertuples())
            in_progress = int(summary.in_progress)
        out[step_name] = StageNumbers(
            stage=step_name, step_index=index, is_last=is_last, customers=int(step.customers),
            conversion_from_previous=(None if step.conversion_from_previous is None
                                      else float(step.conversion_from_previous)),
            median_seconds_to_next=None if following is None else following.median_seconds_from_previous,
            reached_next=None if following is None else int(following.customers),
            dropped=int(step.dropped), dropoff_next=dropoff_next,
            scores={m: by_metric[m][step_name] for m in scores.METRICS
                    if step_name in by_metric[m]},
            top_touchpoints=tuple(touchpoints.get(step_name, ())),
            previous_customers=None if index == 1 else int(result.steps[index - 2].customers),
            dropoff_left=dropoff_left, dropoff_in_progress=in_progress)
    return out


_NO_FURTHER = "(no further events)"


def _biggest_next_touchpoint(frame) -> tuple[str, float] | None:
    """The most common next touchpoint among drop-outs, with its share of all drop-outs.

    Drop-outs with no further event are shown only when nobody went anywhere: a
    facilitator wants to know *where* the others went, "nowhere" is the default reading.
    """
    if frame is None or len(frame) == 0:
        return None
    rows = sorted(((str(r.value), int(r.customers), float(r.share))
                   for r in frame.itertuples(index=False)), key=lambda r: (-r[1], r[0]))
    moved = [r for r in rows if r[0] != _NO_FURTHER]
    best = moved[0] if moved else rows[0]
    return best[0], best[2]


def _responses(n: int) -> str:
    return f"n = {n:,} {'response' if n == 1 else 'responses'}"


def format_score(metric: str, score: StageScore) -> str:
    """"NPS +12 (n = 140 responses)", "CSAT 72% (n = 14 responses, low sample)",
    "CES 4.8 (n = 140 responses)"."""
    if metric == "nps":
        value = f"NPS {score.score:+.0f}"
    elif metric == "csat":
        value = f"CSAT {score.score:.0f}%"
    else:
        value = f"CES {score.score:.1f}"
    flag = ", low sample" if score.low_sample else ""
    return f"{value} ({_responses(score.n)}{flag})"


def dropoff_text(numbers: StageNumbers) -> str:
    """The "Biggest drop-off" lane: how many dropped out after this stage and where they
    left (SPEC §2), e.g. "1,460 dropped out · most left at Checkout page (41%)"."""
    text = f"{numbers.dropped:,} dropped out"
    if numbers.dropoff_in_progress:
        text += f" ({numbers.dropoff_in_progress:,} still in progress)"
    if not numbers.dropoff_left:
        return text
    where, _, share = numbers.dropoff_left[0]
    if numbers.dropped == 1:
        return f"{text} · left at {where}"
    if share >= 1.0:
        return f"{text} · all left at {where}"
    tied = [r[0] for r in numbers.dropoff_left if r[1] == numbers.dropoff_left[0][1]]
    if len(tied) > 1:
        return f"{text} · most left at {' or '.join(tied)} ({share:.0%} each)"
    return f"{text} · most left at {where} ({share:.0%})"


def linked_cell_text(lane: Lane, numbers: StageNumbers | None) -> str:
    """The text a data-linked lane shows for one stage; "" when the data has nothing."""
    if numbers is None:
        return ""
    if lane.kind == "touchpoints":
        return "\n".join(f"{tp} · {n:,} {'customer' if n == 1 else 'customers'}"
                         for tp, n in numbers.top_touchpoints)
    if lane.kind == "emotion":
        score = numbers.scores.get(lane.topic)
        if score is None:
            return ""
        basis = score.mean if lane.topic in ("csat", "ces") else score.score
        value = emotion_from_score(lane.topic, basis)
        if value is None:
            return ""
        what = {"csat": f"CSAT mean {basis:.2f}", "ces": f"CES mean {basis:.2f}",
                "nps": f"NPS {basis:+.0f}"}[lane.topic]
        return f"{format_emotion(value)} ({what}, {_responses(score.n)})"
    topic = lane.topic
    if topic == "customers":
        return f"{numbers.customers:,} customers"
    if topic == "conversion":
        if numbers.step_index == 1:
            return f"Entry: {numbers.customers:,} customers"
        # The percentage is of the previous stage's customers: that is its n.
        base = ("" if numbers.previous_customers is None
                else f" (n = {numbers.previous_customers:,} reached previous)")
        if numbers.conversion_from_previous is None:
            return "nobody reached the previous stage"
        return f"{numbers.conversion_from_previous:.0%} from previous{base}"
    if topic in ("nps", "csat", "ces"):
        score = numbers.scores.get(topic)
        return format_score(topic, score) if score else "no responses"
    if topic == "median_time":
        if numbers.is_last:
            return "— (last stage)"
        if not numbers.reached_next:
            return "nobody reached the next stage"
        return (f"Median {format_duration(numbers.median_seconds_to_next)} to next stage "
                f"(n = {numbers.reached_next:,} reached next stage)")
    if topic == "dropoff_touchpoint":
        if numbers.is_last:
            return "— (last stage)"
        if numbers.dropped == 0:
            return "Nobody dropped out"
        return dropoff_text(numbers)
    return ""


def fill_linked_lanes(jmap: JourneyMap, numbers: dict[str, StageNumbers]) -> JourneyMap:
    """A copy of the map whose data-linked lanes hold the given numbers (matched by stage
    name); typed lanes are untouched."""
    out = _copy(jmap)
    for lane in out.lanes:
        if not lane.data_linked:
            continue
        lane.cells = {}
        for stage in out.stages:
            text = linked_cell_text(lane, numbers.get(stage.name))
            if text:
                lane.cells[stage.id] = text
    return out


def refresh_from_data(cur, jmap: JourneyMap, table: str, *, event_filter=None) -> JourneyMap:
    """Recompute the data-linked lanes of a map from a dataset table."""
    return fill_linked_lanes(jmap, stage_numbers(cur, table, jmap.stage_names(),
                                                 event_filter=event_filter))


def map_from_dataset(cur, dataset_name: str, table: str, stage_order: list[str], *,
                     event_filter=None, name: str | None = None) -> JourneyMap:
    """A new map with the dataset's stages, touchpoint and metric lanes filled from the
    data, an emotion lane derived from the first score the data has (CSAT, else NPS,
    else CES; typed when none), and empty pain-point and opportunity lanes."""
    stages = [Stage(new_id("s"), s) for s in stage_order]
    numbers = stage_numbers(cur, table, list(stage_order), event_filter=event_filter)
    available = [m for m in ("csat", "nps", "ces")
                 if any(m in n.scores for n in numbers.values())]
    lanes = [Lane(new_id("l"), "Top touchpoints", "touchpoints", "data"),
             Lane(new_id("l"), "Customers", "metric", "customers"),
             Lane(new_id("l"), "Conversion", "metric", "conversion")]
    for metric in available:
        lanes.append(Lane(new_id("l"), metric.upper(), "metric", metric))
    emotion_topic = available[0] if available else "typed"
    lanes += [Lane(new_id("l"), "Emotion", "emotion", emotion_topic),
              Lane(new_id("l"), METRIC_TOPICS["dropoff_touchpoint"], "metric",
                   "dropoff_touchpoint"),
              Lane(new_id("l"), "Time to next stage", "metric", "median_time"),
              Lane(new_id("l"), "Pain points", "text", "pain_points"),
              Lane(new_id("l"), "Opportunities", "text", "opportunities")]
    jmap = JourneyMap(name=name or f"{dataset_name} journey", stages=stages, lanes=lanes,
                      dataset=dataset_name)
    return fill_linked_lanes(jmap, numbers)
