"""The stakeholder report: one self-contained HTML file that opens anywhere, offline.

Charts are inlined as SVG drawn by vl-convert (:mod:`cxdata.presentation.export`), so the file needs
no JavaScript and references nothing outside itself: no script, font, image or style
sheet is fetched (``tests/test_report.py`` checks for any URL).  Every number comes from
the team's analytics (:mod:`cxdata.analytics.funnel`, :mod:`cxdata.analytics.scores`,
:mod:`cxdata.analytics.insights`); this module only lays them out.  All text from the data is
HTML-escaped.

Sections: key figures, funnel, drop-off, touchpoint scores, insights, what goes with
them (the Why analyses' findings, :mod:`cxdata.why.findings`), a journey map (optional),
and how the numbers are defined.  A print style sheet gives clean A4 pages
(the journey map on a landscape page).
"""
from __future__ import annotations

import datetime as dt
import html
import math
import re
from dataclasses import dataclass

from cxdata.maps.journey_map import JourneyMap
from cxdata.sql import EventFilter, event_counts


@dataclass(frozen=True)
class ReportDataset:
    """What the report needs to know about a dataset (a ``DatasetInfo`` also fits)."""
    name: str
    table: str
    stage_order: tuple[str, ...]


def _esc(text) -> str:
    return html.escape("" if text is None else str(text), quote=True)


_XMLNS = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')


_ID = re.compile(r'\bid="([^"]+)"')


def inline_svg(svg: str, label: str, id_prefix: str = "") -> str:
    """An SVG document made ready to sit inside HTML: namespace declarations dropped
    (HTML5 puts ``<svg>`` in the SVG namespace itself, and the declarations are URLs we
    promise not to contain), an accessible label, a width that shrinks to the page, and
    its ids (clip paths: ``clip1`` in every chart) prefixed so that several charts in one
    page do not borrow each other's clipping."""
    svg = re.sub(r"^<\?xml[^>]*>\s*", "", svg.strip())
    svg = _XMLNS.sub("", svg, count=0)
    if id_prefix:
        for name in set(_ID.findall(svg)):
            svg = svg.replace(f'id="{name}"', f'id="{id_prefix}{name}"')
            svg = svg.replace(f"url(#{name})", f"url(#{id_prefix}{name})")
    return svg.replace("<svg", f'<svg role="img" aria-label="{_esc(label)}" class="chart"', 1)


def _chart_svg(chart, label: str, counter=iter(range(1, 1 << 30))) -> str:
    from cxdata.presentation.export import chart_svg
    return inline_svg(chart_svg(chart).decode("utf-8"), label, id_prefix=f"c{next(counter)}-")


def _pct(fraction, digits: int = 0) -> str:
    if fraction is None or (isinstance(fraction, float) and math.isnan(fraction)):
        return "–"
    return f"{100 * float(fraction):.{digits}f}%"


def _count(value) -> str:
    return "–" if value is None else f"{int(value):,}"


# ---------------------------------------------------------------------------------------
# Data gathering (all via the analytics modules; event-level work stays in DuckDB)

# ---------------------------------------------------------------------------------------
# HTML pieces

_CSS = """
:root{--ink:#0f172a;--muted:#475569;--line:#e2e8f0;--accent:#1d2b4f}
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",Arial,sans-serif;
 color:var(--ink);background:#f8fafc;line-height:1.45}
main{max-width:1200px;margin:0 auto;padding:28px 32px 48px;background:#fff}
header.report{border-bottom:4px solid var(--accent);padding-bottom:12px;margin-bottom:20px}
header.report h1{font-size:2rem;margin:0 0 4px}
header.report p{margin:2px 0;color:var(--muted)}
section{margin:28px 0;break-inside:avoid-page}
section h2{font-size:1.4rem;margin:0 0 10px;color:var(--accent);border-bottom:1px solid var(--line);padding-bottom:4px}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:12px}
.kpi{border:1px solid var(--line);border-radius:10px;padding:12px 14px;background:#f8fafc}
.kpi .value{font-size:1.7rem;font-weight:700;line-height:1.1}
.kpi .label{color:var(--muted);font-size:.9rem}
.kpi .note{color:var(--muted);font-size:.8rem}
table.data{border-collapse:collapse;width:100%;font-size:.92rem;margin:8px 0}
table.data th,table.data td{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
table.data td.num,table.data th.num{text-align:right;font-variant-numeric:tabular-nums}
table.data tr.low td{color:#64748b}
.chart-wrap{overflow-x:auto}
svg.chart{max-width:100%;height:auto;display:block;margin:6px 0}
.insight{border-left:6px solid var(--accent);background:#f1f5f9;padding:10px 14px;margin:10px 0;border-radius:0 8px 8px 0}
.insight h3{margin:0 0 4px;font-size:1.05rem}
.insight p{margin:0}
.insight.dropoff,.insight.worst_touchpoint{border-left-color:#b91c1c}
.insight.best_touchpoint{border-left-color:#15803d}
.insight .note{margin-top:4px}
.note{color:var(--muted);font-size:.88rem}
.definitions li{margin:3px 0}
footer{color:var(--muted);font-size:.8rem;border-top:1px solid var(--line);margin-top:32px;padding-top:8px}
@page{size:A4;margin:14mm}
@page mappage{size:A4 landscape;margin:10mm}
@media print{
 body{background:#fff}
 main{max-width:none;padding:0}
 section{break-inside:avoid}
 section.map{page:mappage;break-before:page}
 .chart-wrap{overflow:visible}
 .kpi,.insight{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 a{color:inherit;text-decoration:none}
}
"""


#: No script, no network: inline styles only, images only as data (none are used).
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _kpi(value: str, label: str, note: str = "") -> str:
    note_html = f'<div class="note">{_esc(note)}</div>' if note else ""
    return (f'<div class="kpi"><div class="value">{_esc(value)}</div>'
            f'<div class="label">{_esc(label)}</div>{note_html}</div>')


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset(),
           row_classes: list[str] | None = None) -> str:
    head = "".join(f'<th class="num">{_esc(h)}</th>' if i in numeric else f"<th>{_esc(h)}</th>"
                   for i, h in enumerate(headers))
    body = []
    for r_index, row in enumerate(rows):
        cls = f' class="{row_classes[r_index]}"' if row_classes and row_classes[r_index] else ""
        cells = "".join(f'<td class="num">{_esc(v)}</td>' if i in numeric else f"<td>{_esc(v)}</td>"
                        for i, v in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _score_text(metric: str, value) -> str:
    from cxdata.presentation.charts import format_score
    return format_score(metric, value)


_METRIC_NAMES = {"nps": "NPS", "csat": "CSAT", "ces": "CES"}
_METRIC_NOTES = {"nps": "−100…100: % promoters (9–10) − % detractors (0–6)",
                 "csat": "% satisfied (4–5 of 5)", "ces": "mean effort 1–7, higher = easier"}


def _filter_text(event_filter: EventFilter | None) -> str:
    if event_filter is None or event_filter.is_empty():
        return "All interactions."
    parts = []
    if event_filter.start is not None:
        parts.append(f"from {event_filter.start:%Y-%m-%d %H:%M} UTC")
    if event_filter.end is not None:
        parts.append(f"before {event_filter.end:%Y-%m-%d %H:%M} UTC")
    for column, values in event_filter.equals:
        shown = ", ".join("(empty)" if v is None else str(v) for v in values)
        parts.append(f"{column} = {shown}")
    return "Filtered: " + "; ".join(parts) + "."


def _finding_html(finding) -> str:
    """A finding as a box: title, detail, and where the app shows its full analysis."""
    from cxdata.why.findings import finding_link
    _, label, _ = finding_link(finding)
    return (f'<div class="insight {_esc(finding.kind)}"><h3>{_esc(finding.title)}</h3>'
            f"<p>{_esc(finding.detail)}</p>"
            f'<p class="note">In the app: {_esc(label)}.</p></div>')


def _findings_sections(found) -> list[str]:
    """The "Insights" section, and the "What goes with it" section of the Why analyses'
    findings (associations, not causes) when there are any."""
    from cxdata.why.findings import WHY_KINDS
    plain_findings = [f for f in found if f.kind not in WHY_KINDS]
    why = [f for f in found if f.kind in WHY_KINDS]
    items = ("".join(_finding_html(f) for f in plain_findings) if plain_findings else
             '<p class="note">No finding is strong enough to report with these data.</p>')
    sections = [f'<section class="insights"><h2>Insights</h2>{items}</section>']
    if why:
        sections.append(
            '<section class="insights why"><h2>What goes with it</h2>'
            '<p class="note">Associations found by the Why analyses — conversion drivers, key '
            "drivers of a score, control limits, conformance to the stage order. Each is "
            "associated with the outcome, not necessarily its cause.</p>"
            + "".join(_finding_html(f) for f in why) + "</section>")
    return sections


# ---------------------------------------------------------------------------------------
# The report

def build_report_html(cur, dataset, stage_order=None, *, roles: dict | None = None,
                      dataset_name: str | None = None, journey_map: JourneyMap | None = None,
                      event_filter: EventFilter | None = None, title: str | None = None,
                      generated_at: dt.datetime | None = None) -> str:
    """The stakeholder report as one HTML document (a ``str``; write it as UTF-8).

    ``dataset``: a workspace ``DatasetInfo`` (or anything with ``.name``, ``.table``,
    ``.stage_order`` and optionally ``.roles``, e.g. :class:`ReportDataset`), or the
    dataset *table name*, then with ``stage_order`` (and optionally ``roles``,
    ``dataset_name``).  ``roles`` (role -> source column) limits the score sections to
    the scores the log has; without it every score with responses is shown.
    ``journey_map``: a map to include (its stored cells are shown as they are).
    ``event_filter`` applies to every number.  ``generated_at``: the time printed in the
    footer (default: now, UTC).
    """
    if isinstance(dataset, str):
        dataset = ReportDataset(dataset_name or dataset, dataset, tuple(stage_order or ()))
    if roles is None:
        roles = getattr(dataset, "roles", None)
    from cxdata.presentation import charts
    from cxdata.analytics import funnel, insights, scores

    table = dataset.table
    stage_order = list(dataset.stage_order or ())
    generated_at = generated_at or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    title = title or f"Customer journey report: {dataset.name}"
    counts = event_counts(cur, table, event_filter)
    sections: list[str] = []

    # -- key figures ---------------------------------------------------------------
    # The journey funnel the Overview shows and the findings below quote.
    by, stages = insights.journey_funnel_steps(cur, table, stage_order, event_filter)
    step_word = "stage" if by == "stage" else by
    result = funnel.compute_funnel(cur, table, stages, by=by,
                                   event_filter=event_filter) if stages else None
    metrics = [m for m in scores.METRICS if roles is None or m in roles]
    summaries = {m: scores.score_summary(cur, table, m, event_filter=event_filter)
                 for m in metrics}
    kpis = [_kpi(_count(counts["customers"]), "customers"),
            _kpi(_count(counts["events"]), "interactions")]
    if result is not None and result.steps and len(result.steps) > 1:
        last = result.steps[-1]
        kpis.append(_kpi(_pct(last.conversion_from_start, 1), f"reach {last.step}",
                         f"{last.customers:,} of {result.entered:,} who entered at {result.steps[0].step}"))
    for metric, summary in summaries.items():
        if summary.n > 0:
            kpis.append(_kpi(_score_text(metric, summary.score), _METRIC_NAMES[metric],
                             f"n={summary.n:,}; 95% interval {_score_text(metric, summary.ci_low)}"
                             f" … {_score_text(metric, summary.ci_high)}"))
    period = ""
    if counts["first"] is not None:
        period = f"{counts['first']:%d %b %Y} – {counts['last']:%d %b %Y} (UTC)"
    sections.append('<section class="kpis-section"><h2>Key figures</h2>'
                    f'<div class="kpis">{"".join(kpis)}</div></section>')

    # -- funnel --------------------------------------------------------------------
    if result is not None and result.steps:
        frame = result.to_frame()
        chart = charts.funnel_bars(frame, title="Journey funnel",
                                   subtitle=("Customers reaching each stage, in stage order "
                                             if by == "stage" else
                                             f"No stages in this log: its most common {by} path ")
                                            + "(% of those who entered)")
        rows = [[f"{s.step}", _count(s.customers), _pct(s.conversion_from_start, 1),
                 _pct(s.conversion_from_previous, 1), _count(s.dropped),
                 charts.format_duration(s.median_seconds_from_previous)]
                for s in result.steps]
        sections.append(
            '<section class="funnel"><h2>Funnel</h2>'
            f'<div class="chart-wrap">{_chart_svg(chart, "Journey funnel")}</div>'
            + _table([step_word.capitalize(), "Customers", "From start", "From previous",
                      "Dropped before next", "Median time from previous"], rows,
                     numeric={1, 2, 3, 4, 5})
            + f'<p class="note">A customer counts at {"an" if step_word[0] in "aeiou" else "a"} '
              f'{step_word} when they reached every '
              f"earlier {step_word} first, in order (ordered funnel, no time window).</p></section>")

        # -- drop-off ----------------------------------------------------------------
        candidates = [(s.dropped, i) for i, s in enumerate(result.steps[:-1], start=1)
                      if s.dropped > 0]
        if candidates:
            dropped, after = max(candidates, key=lambda c: (c[0], -c[1]))
            step = result.steps[after - 1]
            nxt = result.steps[after]
            share = dropped / step.customers if step.customers else float("nan")
            next_column = insights.next_step_column(cur, table, event_filter)
            summary = funnel.dropoff_summary(cur, table, stages, after, column=next_column,
                                             by=by, event_filter=event_filter)
            left_chart = charts.share_bars(
                summary.left_at, title=f"Where customers who dropped out after {step.step} left",
                label_title=next_column.capitalize(),
                subtitle=f"Their last {step.step} interaction, by {next_column}")
            next_chart = charts.share_bars(
                summary.next, title="What they did next", label_title=next_column.capitalize(),
                subtitle=f"Their first interaction after that last {step.step} one, by {next_column}")
            left_part = ("" if next_column == by else
                         f'<div class="chart-wrap">{_chart_svg(left_chart, "Where drop-outs left")}</div>')
            sections.append(
                '<section class="dropoff"><h2>Biggest drop-off</h2>'
                f"<p><strong>{_count(dropped)}</strong> customer{'' if dropped == 1 else 's'} ({_pct(share)}) reached "
                f"<strong>{_esc(step.step)}</strong> but never <strong>{_esc(nxt.step)}</strong>.</p>"
                + left_part
                + f'<div class="chart-wrap">{_chart_svg(next_chart, "What drop-outs did next")}</div>'
                "</section>")

    # -- touchpoint scores ----------------------------------------------------------
    score_parts = []
    for metric in metrics:
        if summaries[metric].n == 0:
            continue
        frame = scores.scores_by(cur, table, metric, "touchpoint", event_filter=event_filter)
        if frame.empty:
            continue
        chart = charts.score_bars(frame, metric, group_title="Touchpoint",
                                  low_sample_threshold=scores.LOW_SAMPLE_DEFAULT,
                                  title=f"{_METRIC_NAMES[metric]} by touchpoint")
        rows = [[str(r.group), _count(r.n), _score_text(metric, r.score),
                 f"{_score_text(metric, r.ci_low)} … {_score_text(metric, r.ci_high)}",
                 "low sample" if bool(r.low_sample) else ""]
                for r in frame.itertuples(index=False)]
        classes = ["low" if bool(r.low_sample) else "" for r in frame.itertuples(index=False)]
        score_parts.append(
            f"<h3>{_METRIC_NAMES[metric]} <span class=\"note\">({_esc(_METRIC_NOTES[metric])})</span></h3>"
            f'<div class="chart-wrap">{_chart_svg(chart, _METRIC_NAMES[metric] + " by touchpoint")}</div>'
            + _table(["Touchpoint", "n", _METRIC_NAMES[metric], "95% interval", ""], rows,
                     numeric={1, 2}, row_classes=classes))
    if score_parts:
        sections.append('<section class="scores"><h2>Touchpoint scores</h2>'
                        + "".join(score_parts) + "</section>")

    # -- insights -------------------------------------------------------------------
    found = insights.dataset_insights(cur, table, stage_order, event_filter=event_filter)
    from cxdata.why.findings import why_findings
    linked = None
    if journey_map is not None and getattr(journey_map, "dataset", None) == dataset.name:
        linked = (None, journey_map.name, tuple(journey_map.stage_names()))
    found += why_findings(cur, table, stage_order, event_filter=event_filter, journey_map=linked)
    sections += _findings_sections(found)

    # -- journey map ------------------------------------------------------------------
    if journey_map is not None:
        from cxdata.presentation.map_canvas import map_html
        sections.append('<section class="map"><h2>Journey map</h2>'
                        + map_html(journey_map) + "</section>")

    sections.append(
        '<section class="definitions"><h2>How the numbers are defined</h2><ul class="definitions">'
        "<li>Customers: distinct customer ids; interactions: rows of the log.</li>"
        "<li>Funnel: customers who reached each stage after all earlier ones, in order; "
        "conversions are shares of those who entered at the first stage.</li>"
        "<li>NPS: % promoters (9–10) − % detractors (0–6) of the responses; CSAT: % of "
        "responses 4–5 of 5; CES: mean effort 1–7, higher = easier. n = responses. "
        f"Fewer than {scores.LOW_SAMPLE_DEFAULT} responses are marked “low sample”.</li>"
        "<li>Intervals are 95%: adjusted Wald (NPS), Wilson (CSAT), t (CES).</li>"
        "<li>What goes with it: conversion drivers are odds ratios of going on to the next "
        "stage with a factor against without it (95% interval, Fisher p adjusted by "
        "Benjamini–Hochberg); a key driver's share is its relative weight in the R² of "
        "customers' last score (95% bootstrap interval); a control-limit signal is a week "
        "whose conversion lies beyond 3 standard errors of the centre; conformance compares "
        "customers who skip, reorder or loop back through the stages with those who follow "
        "them. All are associations, not causes.</li>"
        "</ul></section>")

    header = (f'<header class="report"><h1>{_esc(title)}</h1>'
              f"<p>Dataset: <strong>{_esc(dataset.name)}</strong>"
              + (f" · {_esc(period)}" if period else "") + "</p>"
              f"<p>{_esc(_filter_text(event_filter))}</p></header>")
    footer = (f"<footer>Generated {generated_at:%Y-%m-%d %H:%M} UTC by CX Journey Lab. "
              "This file is self-contained and works offline.</footer>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            # Nothing may run or be fetched: the file is complete as it is.
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body><main>"
            + header + "".join(sections) + footer + "</main></body></html>\n")
