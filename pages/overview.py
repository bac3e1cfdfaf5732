"""Overview: the dataset at a glance — customers, interactions, conversion through the
stages, NPS / CSAT / CES with n and interval, a compact funnel and the plain-language
findings.  Figures come from ``cxdata`` through ``cxdata.ui.cached``.
"""
from __future__ import annotations

import streamlit as st

from cxdata.analytics.insights import largest_drop_step, overall_scores
from cxdata.presentation import charts
from cxdata.ui import cached
from cxdata.ui.downloads import chart_with_downloads
from cxdata.ui.filters import describe, filter_bar, grouping_columns, plain
from cxdata.store import map_store as ms
from cxdata.ui.state import get_workspace, require_dataset
from cxdata.ui.why_funnel import WHY_AUTOMATIC_ROWS
from cxdata.why.findings import finding_link

METRICS = (("nps", "NPS", "% promoters (9–10) − % detractors (0–6), −100…100"),
           ("csat", "CSAT", "% of ratings 4–5 out of 5"),
           ("ces", "CES", "mean effort 1–7, higher = easier"))


def kpi_cards(info, ef, journey_funnel) -> None:
    counts = cached.dataset_counts(info, ef)
    c1, c2, c3 = st.columns(3)
    c1.metric("Customers", f"{counts['customers']:,}", border=True,
              help="Distinct customers with at least one interaction in the filters.")
    c2.metric("Interactions", f"{counts['events']:,}", border=True,
              help="Rows of the log kept by the filters.")
    if journey_funnel is not None and journey_funnel.entered:
        last = journey_funnel.steps[-1]
        # Stage names are the log's text: escaped, as the label and help render Markdown.
        c3.metric(f"Reached {plain(last.step)}", charts.format_percent(last.conversion_from_start),
                  border=True,
                  help=f"Overall conversion: share of the {journey_funnel.entered:,} customers "
                       f"who entered at {plain(journey_funnel.steps[0].step)} and reached "
                       f"{plain(last.step)} (the funnel below: steps in order, no time limit).")
    else:
        c3.metric("Overall conversion", "–", border=True,
                  help="Needs a stage column with at least two stages.")


def period_text(info, ef) -> str:
    """"01 Jan 2025 – 31 Dec 2025 (UTC)" for the filtered interactions."""
    counts = cached.dataset_counts(info, ef)
    if counts["first"] is None:
        return "no interactions"
    return f"{counts['first']:%d %b %Y} – {counts['last']:%d %b %Y} (UTC)"


def score_cards(info, counts) -> None:
    """NPS, CSAT, CES over every response (``counts``: the findings' score counts, whose
    sums they are)."""
    overall = overall_scores(counts)
    cols = st.columns(len(METRICS))
    for col, (metric, label, meaning) in zip(cols, METRICS):
        if not info.has_role(metric):
            col.metric(label, "–", border=True, help=f"{label}: {meaning}. Not in this dataset.")
            col.caption("No score column mapped.")
            continue
        summary = overall[metric]
        col.metric(label, charts.format_score(metric, summary.score), border=True,
                   help=f"{label}: {meaning}. 95% interval below.")
        if summary.n:
            col.caption(f"n = {summary.n:,} · 95% interval "
                        f"{charts.format_score(metric, summary.ci_low)} … "
                        f"{charts.format_score(metric, summary.ci_high)}"
                        + (" · low sample" if summary.low_sample else ""))
        else:
            col.caption("No responses with these filters.")


def _link_params(query: dict) -> dict:
    """The URL parameters of a finding's link: this page's dataset and filters (so that
    the page opens on the same data), then the finding's own."""
    params = {key: st.query_params.get_all(key) for key in st.query_params}
    params = {key: values if len(values) > 1 else values[0] for key, values in params.items()
              if values}
    return params | query


def finding_card(finding) -> None:
    """One finding: its title, its detail, and a link to the page with the full analysis."""
    page, label, query = finding_link(finding)
    with st.container(border=True):
        st.markdown(f"**{plain(finding.title)}**")
        st.caption(plain(finding.detail))
        st.page_link(page, label=label, icon=":material/arrow_forward:",
                     query_params=_link_params(query))


def insights_list(info, ef, journey, counts) -> None:
    st.subheader("What stands out")
    with st.spinner("Looking for what stands out…"):
        # the funnel drawn beside the findings is the one they quote, and the score cards
        # above them are sums of their score counts: neither computed twice; the funnel's
        # drop-off summary is the Funnel page's drop-out view (the finding links there),
        # stored under the same cache entry so that the page finds it computed
        dropoff = cached.journey_dropoff(info, journey, event_filter=ef)
        findings = cached.insights(info, event_filter=ef, journey=journey, dropoff=dropoff,
                                   counts=counts)
    if not findings:
        st.info("Nothing stands out with these filters: no drop-off, score gap or trend is "
                "large and certain enough to report.")
    for finding in findings:
        finding_card(finding)


def linked_map(info) -> tuple | None:
    """``(map_id, name, stages)`` of the journey map most recently saved for this dataset
    (the conformance finding compares with it), else None."""
    cur = get_workspace().cursor()
    try:
        summary = next((m for m in ms.list_maps(cur) if m.dataset == info.name), None)
        if summary is None:
            return None
        stored = ms.load_map(cur, summary.map_id)
        return summary.map_id, summary.name, tuple(stored.journey_map.stage_names())
    finally:
        cur.close()


def why_list(info, ef, journey_funnel) -> None:
    """The Why analyses' findings (conversion drivers, key driver, control signal,
    conformance), drawn after the others: they take longer to compute.  The journey
    funnel drawn beside them names the step whose drivers are looked at."""
    st.subheader("What goes with it")
    st.caption("Associations found by the Why analyses, not causes: each links to its full "
               "analysis.")
    # They read every event several times (about 20 s at 10 million): on a big log only
    # on request, so that the Overview itself stays quick.
    if info.rows_accepted > WHY_AUTOMATIC_ROWS and not st.toggle(
            "Look for what goes with the drop-offs and scores", value=False, key="ov_why",
            bind="query-params",
            help=f"Conversion drivers, key drivers, control limits and conformance over "
                 f"{info.rows_accepted:,} interactions: this takes a while the first time."):
        return
    with st.spinner("Looking for what goes with the drop-offs and scores…"):
        try:
            after = None if journey_funnel is None else largest_drop_step(journey_funnel)
            findings = cached.why_findings(info, event_filter=ef, after_step=after,
                                           journey_map=linked_map(info))
        except ValueError as exc:
            st.warning(plain(str(exc)))
            return
    if not findings:
        st.info("No driver, control-limit signal or deviation from the stage order is large "
                "and certain enough to report with these filters.")
    for finding in findings:
        finding_card(finding)


def main() -> None:
    info = require_dataset()
    ef = filter_bar(info)
    columns = grouping_columns(info)
    st.title("Overview")
    st.caption(f"Dataset **{plain(info.name)}** · interactions from "
               f"{plain(period_text(info, ef))} · filters: {plain(describe(ef, columns))}")
    # The same funnel the findings beside it quote (cxdata.analytics.insights.compute_journey).
    journey = cached.journey(info, event_filter=ef)
    funnel_by, journey_funnel = journey.by, journey.funnel
    kpi_cards(info, ef, journey_funnel)
    counts = cached.score_counts(info, ef)
    score_cards(info, counts)
    left, right = st.columns([3, 2], gap="large")
    with left:
        if journey_funnel is None:
            st.info("A funnel needs a stage column with at least two stages, or events or "
                    "touchpoints that at least a fifth of the customers meet. Map a stage "
                    "column (or map events to stages) on the **Data** page.")
        else:
            frame = journey_funnel.to_frame()
            if funnel_by == "stage":
                title, subtitle = "Stage funnel", ("Customers reaching each stage, in order "
                                                   "(% of those who entered)")
            else:
                title = f"{funnel_by.capitalize()} funnel"
                subtitle = f"No stages in this log: its most common {funnel_by} path (% entered)"
            chart = cached.chart(charts.funnel_bars,
                                 frame, title=title, row_height=34, subtitle=subtitle)
            chart_with_downloads(chart, title.lower(), key="ov_funnel_chart", data=frame)
            st.page_link("pages/funnel.py", label="Explore drop-offs on the Funnel page",
                         icon=":material/filter_alt:")
    with right:
        insights_list(info, ef, journey, counts)
    with left:
        why_list(info, ef, journey_funnel)


main()
