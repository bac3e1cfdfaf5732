"""Touchpoints: which touchpoints score badly, for whom, and whether it is improving.

Every figure comes from ``cxdata.analytics.scores`` (through the cache in ``cxdata.ui.cached``);
this page only wires widgets to those calls and to the chart builders.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from cxdata.presentation import charts, export
from cxdata.formatting import display_frame
from cxdata.ui import cached
from cxdata.ui.downloads import chart_with_downloads, file_stem
from cxdata.ui.filters import describe, filter_bar, grouping_columns, plain, with_values
from cxdata.ui.state import require_dataset
from cxdata.ui.why_funnel import score_control_section
from cxdata.ui.why_scores import comments_section, key_drivers_section

URL = "query-params"
METRICS = ("nps", "csat", "ces")
METRIC_HELP = {
    "nps": "NPS: % promoters (9–10) − % detractors (0–6), from −100 to 100.",
    "csat": "CSAT: % of ratings 4 or 5 out of 5 (top-2-box). The mean rating is in the tooltip.",
    "ces": "CES: mean effort rating 1–7, higher = easier. % easy (5–7) is in the tooltip.",
}
TABS = ["Scores", "Key drivers", "Heatmap", "Trend", "Compare segments", "Comments"]
ss = st.session_state


def score_line(metric: str, summary) -> str:
    """Caption under a score: n and the 95% interval, and a low-sample warning."""
    if not summary.n:
        return "No responses with these filters."
    text = (f"n = {summary.n:,} responses · 95% interval "
            f"{charts.format_score(metric, summary.ci_low)} … "
            f"{charts.format_score(metric, summary.ci_high)}")
    return text + (" · low sample, read with care" if summary.low_sample else "")


def available_metrics(info) -> list[str]:
    """Metrics with at least one response in the whole dataset (stable per dataset)."""
    return [m for m in METRICS if info.has_role(m) and cached.score_summary(info, m).n > 0]


def scores_tab(info, metric, by, by_label, ef, low_sample):
    frame = cached.scores_by(info, metric, by, event_filter=ef, low_sample=low_sample)
    if frame.empty:
        st.info(f"No {metric.upper()} responses with these filters. Widen the dates or "
                "clear a filter in the sidebar.")
        return frame
    st.caption("Worst first. Dot = score, line = 95% interval; groups with fewer than "
               f"{low_sample} responses are hollow and grey: their score can move a lot "
               "with a few more answers.")
    chart = cached.chart(charts.score_bars, frame, metric, group_title=by_label,
                         low_sample_threshold=low_sample)
    chart_with_downloads(chart, f"{metric} by {by_label}", key="tp_scores_chart", data=frame)
    return frame


def heatmap_tab(info, metric, by, by_label, columns, ef, low_sample):
    choices = [c for c in columns if c != by]
    if not choices:
        st.info("The dataset has no second column to cross with.")
        return
    # "For whom": a customer attribute (segment, region…) first, then channel, then stage.
    attributes = [c for c in choices if c in info.attributes]
    default = (attributes[0] if attributes else
               next((c for c in ("channel", "stage") if c in choices), choices[0]))
    cols = st.selectbox("Across", choices, index=choices.index(default), key="tp_across",
                        bind=URL, format_func=lambda c: columns[c],
                        help="The heatmap's columns: scores for each pair of values.")
    frame = cached.scores_matrix(info, metric, by, cols, event_filter=ef, low_sample=low_sample)
    if frame.empty:
        st.info("No responses with these filters.")
        return
    overall = cached.score_summary(info, metric, event_filter=ef, low_sample=low_sample)
    order = list(info.stage_order) if cols == "stage" else None
    chart = cached.chart(charts.score_heatmap,
                         frame, metric, row_title=by_label, col_title=columns[cols],
                         reference=overall.score, col_order=order,
                         low_sample_threshold=low_sample)
    chart_with_downloads(chart, f"{metric} by {by_label} and {columns[cols]}",
                         key="tp_heatmap_chart", data=frame)


def trend_tab(info, metric, columns, ef, low_sample):
    left, right = st.columns(2)
    grain = left.segmented_control("Per", ["week", "month"], default="month", key="tp_grain",
                                   bind=URL, required=True)
    split_options = [""] + list(columns)
    split = right.selectbox("Split by", split_options, index=0, key="tp_split", bind=URL,
                            format_func=lambda c: columns.get(c, "No split (all responses)"),
                            help="One line per value, e.g. per channel.")
    frame = cached.scores_trend(info, metric, grain, by=split or None, event_filter=ef,
                                low_sample=low_sample)
    if frame.empty:
        st.info("No responses with these filters.")
        return
    chart = cached.chart(charts.score_trend, frame, metric, grain=grain,
                         group_title=columns.get(split, "Group"))
    chart_with_downloads(chart, f"{metric} trend per {grain}", key="tp_trend_chart", data=frame)
    score_control_section(info, metric, grain, event_filter=ef)


def compare_tab(info, metric, by, by_label, columns, ef, low_sample):
    scope, left, mid, right = st.columns(4)
    places = cached.scores_by(info, metric, by, event_filter=ef, low_sample=low_sample)
    # Widget labels render Markdown; a column's label may be a name from the log.
    place = scope.selectbox(f"Responses at {plain(by_label.lower())}",
                            [""] + sorted(places["group"].astype(str)), index=0, key="tp_at",
                            bind=URL, format_func=lambda v: v or f"Every {by_label.lower()}",
                            help="Compare the segments on one touchpoint only.")
    if place:
        ef = with_values(ef, by, [place])
    names = [c for c in columns if c != by] or list(columns)
    default = "channel" if "channel" in names else names[0]
    column = left.selectbox("Segments from", names, index=names.index(default),
                            key="tp_seg", bind=URL, format_func=lambda c: columns[c])
    groups = cached.scores_by(info, metric, column, event_filter=ef, low_sample=low_sample)
    values = sorted(groups["group"].astype(str)) if not groups.empty else []
    if len(values) < 2:
        st.info(f"Fewer than two {plain(columns[column].lower())} values have responses with "
                "these filters; nothing to compare.")
        return
    a = mid.selectbox("Segment A", values, index=0, key="tp_a", bind=URL)
    b = right.selectbox("Segment B", values, index=1, key="tp_b", bind=URL)
    if a == b:
        st.info("Pick two different segments.")
        return
    result = cached.compare_groups(info, metric, column, a, b, event_filter=ef)
    c1, c2, c3 = st.columns(3)
    # The cards' colour marks are the chart's colours for A and B (blue, orange).
    c1.metric(f"A: {plain(a)}", charts.format_score(metric, result.score_a), border=True)
    c1.caption(f":blue[■] n = {result.n_a:,}")
    c2.metric(f"B: {plain(b)}", charts.format_score(metric, result.score_b), border=True)
    c2.caption(f":orange[■] n = {result.n_b:,}")
    c3.metric("Difference A − B", charts.format_difference(metric, result.difference),
              border=True)
    c3.caption(f"95% interval "
               f"{charts.format_difference_interval(metric, result.ci_low, result.ci_high)} · "
               f"{charts.format_p(result.p_value)}")
    if pd.isna(result.p_value):
        st.info("One of the segments has no responses, so they cannot be compared.")
    elif result.p_value < 0.05:
        st.success(f"The difference is statistically significant (p < 0.05): "
                   f"{plain(a)} and {plain(b)} really differ on {metric.upper()}.")
    else:
        st.warning("The difference is not statistically significant (p ≥ 0.05): it may be "
                   "chance. More responses would tell.")
    pair = groups[groups["group"].astype(str).isin([a, b])]
    chart_with_downloads(cached.chart(charts.comparison_chart, pair, metric, order=[a, b]),
              f"{metric} {a} vs {b}", key="tp_compare_chart", data=pair)


#: Comments listed per page of the Comments tab.
COMMENTS_PER_PAGE = 50
COMMENTS_PAGE = "tp_comments_page"


def comments_for_download(frame: pd.DataFrame, metric: str, by_label: str,
                          value: str) -> pd.DataFrame:
    """The comments as people read them: named columns, no internal ones."""
    return pd.DataFrame({by_label: value, "Time (UTC)": frame["ts"],
                         "Customer": frame["customer_id"], metric.upper(): frame["score"],
                         "Comment": frame["comment"]})


def comments_tab(info, metric, by, by_label, ef, low_sample):
    groups = cached.scores_by(info, metric, by, event_filter=ef, low_sample=low_sample)
    if groups.empty:
        st.info("No responses with these filters.")
        return
    values = groups["group"].astype(str).tolist()      # worst first
    value = st.selectbox(plain(by_label), values, index=0, key="tp_comments_of", bind=URL,
                         help="Listed worst score first.")
    selection = dict(column=by, value=value, event_filter=ef)
    total = cached.call(info, "analytics.scores", "comment_count", **selection)
    if not total:
        st.info(f"No comments for {plain(value)} with these filters.")
        return
    pages = -(-total // COMMENTS_PER_PAGE)
    # Another selection starts on its first page.
    shown_for = (by, value, metric, ef)
    if ss.get("tp_comments_for") != shown_for or ss.get(COMMENTS_PAGE, 1) > pages:
        ss[COMMENTS_PAGE] = 1
    ss["tp_comments_for"] = shown_for
    left, right = st.columns([1, 3], vertical_alignment="bottom")
    page = left.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, step=1,
                             key=COMMENTS_PAGE, disabled=pages == 1,
                             help=f"{COMMENTS_PER_PAGE} comments per page.")
    first = (page - 1) * COMMENTS_PER_PAGE
    frame = cached.comments(info, metric=metric, limit=COMMENTS_PER_PAGE, offset=first,
                            **selection)
    noun = "comment" if total == 1 else "comments"
    right.caption(f"{total:,} {noun} on {plain(value)}, lowest {metric.upper()} first · "
                  f"showing {first + 1:,}–{first + len(frame):,}.")
    # Comments are data: st.dataframe shows them as plain text, never as Markdown.
    st.dataframe(display_frame(frame), hide_index=True, column_config={
        "ts": st.column_config.DatetimeColumn("Time (UTC)", format="YYYY-MM-DD HH:mm"),
        "customer_id": "Customer", "score": st.column_config.NumberColumn(metric.upper()),
        "comment": st.column_config.TextColumn("Comment", width="large")})
    # Every comment of the selection, not only this page: made when the button is pressed.
    st.download_button(
        f"Download all {total:,} {noun} (CSV)", key="tp_comments_csv",
        data=lambda: export.csv_bytes(comments_for_download(
            cached.comments(info, metric=metric, limit=None, **selection), metric, by_label,
            value)),
        file_name=f"{file_stem(f'comments {value}')}.csv", mime="text/csv",
        icon=":material/download:", on_click="ignore",
        help="Every comment of this selection, for Excel or Sheets.")


def main() -> None:
    info = require_dataset()
    ef = filter_bar(info)
    columns = grouping_columns(info)
    st.title("Touchpoints")
    st.caption("Which touchpoints score badly, for whom, and is it improving? "
               f"Dataset **{plain(info.name)}** · {plain(describe(ef, columns))}")
    metrics = available_metrics(info)
    if not metrics:
        st.info("This dataset has no NPS, CSAT or CES responses. Map a score column on the "
                "**Data** page to see touchpoint scores.")
        return
    if not columns:
        st.info("The dataset has no touchpoint, stage, channel or attribute column to group by.")
        return
    left, mid, right = st.columns([2, 2, 1])
    metric = left.segmented_control("Score", metrics, default=metrics[0], key="tp_metric",
                                    bind=URL, required=True, format_func=str.upper,
                                    help=" ".join(METRIC_HELP[m] for m in metrics))
    names = list(columns)
    default_by = "touchpoint" if "touchpoint" in names else names[0]
    by = mid.selectbox("Group by", names, index=names.index(default_by), key="tp_by", bind=URL,
                       format_func=lambda c: columns[c])
    low_sample = right.number_input("Low sample below", min_value=1, max_value=10_000,
                                    value=30, step=5, key="tp_min", bind=URL,
                                    help="Groups with fewer responses are flagged.")
    overall = cached.score_summary(info, metric, event_filter=ef, low_sample=low_sample)
    st.metric(f"{metric.upper()} overall", charts.format_score(metric, overall.score),
              help=METRIC_HELP[metric])
    st.caption(score_line(metric, overall))
    if not overall.n:
        st.info("No responses with these filters. Widen the dates or clear a filter.")
        return
    tabs = st.tabs(TABS, key="tp_tab", bind=URL, default=TABS[0])
    by_label = columns[by]
    if tabs[0].open:
        with tabs[0]:
            scores_tab(info, metric, by, by_label, ef, low_sample)
    if tabs[1].open:
        with tabs[1]:
            key_drivers_section(info, metric, ef)
    if tabs[2].open:
        with tabs[2]:
            heatmap_tab(info, metric, by, by_label, columns, ef, low_sample)
    if tabs[3].open:
        with tabs[3]:
            trend_tab(info, metric, columns, ef, low_sample)
    if tabs[4].open:
        with tabs[4]:
            compare_tab(info, metric, by, by_label, columns, ef, low_sample)
    if tabs[5].open:
        with tabs[5]:
            comments_section(info, metric, by, ef)
            st.divider()
            comments_tab(info, metric, by, by_label, ef, low_sample)

main()
