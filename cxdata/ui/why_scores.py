"""Page sections for the Why analyses of scores: key drivers (SPEC §8.2) and comment
sentiment and topics (SPEC §8.4).  A page calls one function per section; results come
from :func:`cxdata.ui.cached.call` (cached per dataset version and parameters), charts
from :mod:`cxdata.presentation.charts_keydrivers` with their downloads.

Touchpoint names, channel values, topics and comments are user text: they are shown with
``st.text``, in dataframes or inside charts, never through Markdown or HTML.
"""
from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from cxdata.presentation import charts_keydrivers
from cxdata.formatting import format_count, format_number, format_percent
from cxdata.sql import EventFilter
from cxdata.ui import cached
from cxdata.ui.downloads import chart_with_downloads
from cxdata.store.workspace import DatasetInfo

_METRIC_LABELS = {"nps": "NPS", "csat": "CSAT", "ces": "CES"}


def key_drivers_section(info: DatasetInfo, metric: str, ef: EventFilter | None) -> None:
    """Key drivers of ``metric``: the importance × performance chart with its downloads,
    a one-sentence reading of the largest driver, and the drivers table."""
    label = _METRIC_LABELS.get(metric, metric)
    st.subheader(f"Key drivers of {label}")
    if not info.has_role(metric):
        st.info(f"This dataset has no {label} column.")
        return
    with st.spinner("Weighing the drivers…"):
        result = cached.call(info, "why.keydrivers", "key_drivers", metric, event_filter=ef)
    st.caption("Each customer's last answer against what they experienced: touchpoints, "
               "a low CSAT (1–2) or hard CES (1–3) at a touchpoint, the entry channel. "
               "Relative weights split R²; associations, not causes.")
    if result.drivers.empty or math.isnan(result.r_squared):
        st.info(f"No key driver: {format_count(result.customers)} customers answered, and no "
                "experience is shared by at least 30 of them and missed by at least 30.")
        return
    frame = charts_keydrivers.keydrivers_frame(result)
    top = frame.iloc[0]
    direction = "a lower" if top["direction"] == "negative" else "a higher"
    # User values (touchpoint, channel) inside: plain text, never Markdown.
    st.text(f"{top['label']} carries {format_number(top['share'], 0)}% of the explained variance "
            f"(95% interval {format_number(top['share_ci_low'], 0)}–{format_number(top['share_ci_high'], 0)}%; "
            f"R² = {format_number(result.r_squared, 2)}, {format_count(result.customers)} customers) "
            f"and is associated with {direction} {label} "
            f"({format_count(top['customers_with'])} customers have it).")
    y = st.radio("Vertical axis", ["score", "common"], horizontal=True,
                 format_func=lambda v: f"{label} of those customers" if v == "score" else "How common",
                 key=f"why_kd_y_{metric}", bind="query-params")
    chart = cached.chart(charts_keydrivers.importance_performance, frame, metric, y=y)
    chart_with_downloads(chart, f"key-drivers-{metric}", key=f"why_kd_chart_{metric}", data=frame,
                         alt_text=f"Key drivers of {label}: share of R² against "
                                  + ("score" if y == "score" else "how common"))
    table = pd.DataFrame({
        "Predictor": frame["label"],
        "Customers with it": frame["customers_with"],
        "Share of R² (%)": frame["share"].round(1),
        "95% interval": [f"{format_number(a, 1)} – {format_number(b, 1)}"
                         for a, b in zip(frame["share_ci_low"], frame["share_ci_high"])],
        f"{label} with it": frame["score_with"].round(2),
        f"{label} without": frame["score_without"].round(2),
        "Association": ["lower score" if d == "negative" else "higher score" if d == "positive"
                        else "none" for d in frame["direction"]],
    })
    st.dataframe(table, hide_index=True, width="stretch")


def comments_section(info: DatasetInfo, metric: str | None, by: str, ef: EventFilter | None) -> None:
    """Comment sentiment and topics per group of ``by``: the sentiment counts of every
    group, then for a chosen group its topic bars (with downloads) and example comments as
    plain text."""
    st.subheader("What the comments say")
    if not info.has_role("comment"):
        st.info("This dataset has no comment column.")
        return
    with st.spinner("Reading the comments…"):
        result = cached.call(info, "why.comments", "comment_topics", by=by, metric=metric,
                             event_filter=ef)
    if result.groups.empty:
        st.info("No comments with the current filters.")
        return
    st.caption("Sentiment from VADER for English comments (others: no sentiment); topics are "
               "key phrases (YAKE). Everything runs offline.")
    groups = result.groups
    st.dataframe(pd.DataFrame({
        "Group": groups["group"], "Comments": groups["comments"], "Read": groups["analysed"],
        "Positive": groups["positive"], "Negative": groups["negative"],
        "Neutral": groups["neutral"], "No sentiment": groups["no_sentiment"],
        "Negative (%)": [round(100 * n / a, 1) if a else None
                         for n, a in zip(groups["negative"], groups["analysed"])],
    }), hide_index=True, width="stretch")
    if groups["capped"].any():
        st.text(f"Groups with more than {format_count(result.max_comments)} comments: the newest "
                f"{format_count(result.max_comments)} were read.")
    group = st.selectbox("Topics of", list(groups["group"]), key=f"why_comments_group_{by}",
                         bind="query-params")
    topics = result.topics[result.topics["group"] == group]
    chart = cached.chart(charts_keydrivers.topic_bars, topics, title="Comment topics")
    chart_with_downloads(chart, "comment-topics", key=f"why_topics_chart_{by}", data=topics,
                         alt_text="Comment topics: comments mentioning each topic")
    examples = result.examples[result.examples["group"] == group]
    if len(examples):
        st.text("Example comments (newest first):")
        st.dataframe(pd.DataFrame({"Topic": examples["topic"], "Score": examples["score"],
                                   "Sentiment": examples["sentiment"], "Comment": examples["comment"]}),
                     hide_index=True, width="stretch")
    shown = topics.assign(negative=[format_percent(v) for v in topics["negative_share"]])
    if len(shown):
        st.dataframe(pd.DataFrame({"Topic": shown["topic"], "Comments": shown["comments"],
                                   "Mean score": shown["mean_score"].round(2), "n": shown["score_n"],
                                   "Negative": shown["negative"]}), hide_index=True, width="stretch")
