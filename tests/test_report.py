"""The stakeholder report: self-contained, offline, escaped, and drawn in a real browser."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from cxdata.maps import journey_map as jm
from cxdata.presentation.report import ReportDataset, build_report_html, inline_svg
from cxdata.sql import EventFilter
from tests.helpers_maps import STAGES, make_dataset, memory_cursor


@pytest.fixture(scope="module")
def report_html() -> str:
    cur = memory_cursor()
    table = make_dataset(cur)
    dataset = ReportDataset("<b>Shop</b> & Co", table, tuple(STAGES))
    workshop = jm.JourneyMap("Checkout map", stages=[jm.Stage("s1", "Aware"), jm.Stage("s2", "Purchase")],
                             lanes=[jm.Lane("p", "Pain points", "text", "pain_points",
                                            {"s2": "<script>alert(1)</script>"}),
                                    jm.Lane("e", "Emotion", "emotion", "typed", {"s1": "+1", "s2": "-2"})])
    return build_report_html(cur, dataset, journey_map=workshop,
                             generated_at=dt.datetime(2025, 4, 1, 12, 0))


def text_of(page: str) -> str:
    """Visible text, roughly: tags removed, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def test_report_references_nothing_outside_itself(report_html):
    assert "http://" not in report_html and "https://" not in report_html
    assert not re.search(r"\b(src|href)\s*=", report_html)     # no scripts, images, links
    # url() only for references inside the page (chart clip paths), each defined once.
    refs = re.findall(r"url\(([^)]*)\)", report_html)
    assert refs and all(r.startswith("#") for r in refs)
    ids = re.findall(r'\bid="([^"]+)"', report_html)
    assert len(ids) == len(set(ids)) and {r[1:] for r in refs} <= set(ids)
    assert "@import" not in report_html
    assert "<script" not in report_html
    # The browser is told so too: no script may run, nothing may be fetched.
    assert "Content-Security-Policy" in report_html and "default-src 'none'" in report_html


def test_report_escapes_user_text(report_html):
    assert "&lt;b&gt;Shop&lt;/b&gt; &amp; Co" in report_html
    assert "<b>Shop</b>" not in report_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report_html


def test_key_figures_match_the_log(report_html):
    text = text_of(report_html)
    # 6 customers, 15 rows; Purchase reached by c1, c4, c5: 3 of 6 = 50.0%.
    assert "6 customers" in text and "15 interactions" in text
    assert "50.0% reach Purchase 3 of 6 who entered at Aware" in text
    # NPS responses 9, 3, 10: P = 2, D = 1, n = 3 -> 100·(2 − 1)/3 = +33.
    assert re.search(r"\+33 NPS n=3;", text)
    # CSAT responses 5, 4, 3, 2, 5: top-2-box 3 of 5 = 60%.
    assert re.search(r"60% CSAT n=5;", text)
    # CES responses 6, 2, 7: mean 5.00.
    assert re.search(r"5\.00 CES n=3;", text)
    assert "01 Apr 2025" not in text and "2025-04-01 12:00 UTC" in text
    assert "03 Mar 2025 – 03 Mar 2025" in text                # period of the log (UTC)


def test_funnel_and_dropoff_sections(report_html):
    text = text_of(report_html)
    # Funnel rows: Aware 6 (100%), Consideration 5 (83.3%), Purchase 3 (50.0%, 60.0% of 5).
    assert "Aware 6 100.0% 100.0% 1" in text
    assert "Consideration 5 83.3% 83.3% 2" in text
    assert "Purchase 3 50.0% 60.0% 0" in text
    # Biggest loss: 2 after Consideration (c2, c6) against 1 after Aware; 2 of 5 = 40%.
    assert "2 customers (40%) reached Consideration but never Purchase" in text
    assert report_html.count('<svg role="img"') >= 4        # funnel, next steps, 3 scores


def test_report_respects_the_event_filter():
    cur = memory_cursor()
    table = make_dataset(cur)
    # Only the first hour: Aware events (6) and c1's Consideration event at +1h (inclusive).
    only_start = EventFilter(end=dt.datetime(2025, 3, 3, 10, 0, 1))
    page = build_report_html(cur, ReportDataset("Tiny", table, tuple(STAGES)),
                             event_filter=only_start)
    text = text_of(page)
    assert "6 customers" in text and "7 interactions" in text
    assert "Filtered: before 2025-03-03 10:00 UTC." in text


def test_inline_svg_drops_namespace_urls_and_prefixes_ids():
    svg = ('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" '
           'xmlns:xlink="http://www.w3.org/1999/xlink" width="1"><clipPath id="clip1"/>'
           '<g clip-path="url(#clip1)"/></svg>')
    out = inline_svg(svg, "A & B", id_prefix="c7-")
    assert out == ('<svg role="img" aria-label="A &amp; B" class="chart" width="1">'
                   '<clipPath id="c7-clip1"/><g clip-path="url(#c7-clip1)"/></svg>')


def test_report_opens_offline_in_chromium_with_charts_drawn(report_html, tmp_path, browser):
    path = tmp_path / "report.html"
    path.write_text(report_html, encoding="utf-8")
    context = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
    try:
        page = context.new_page()
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.as_uri())
        charts = page.locator("svg.chart")
        assert charts.count() >= 4
        for i in range(charts.count()):
            box = charts.nth(i).bounding_box()
            assert box["width"] > 200 and box["height"] > 50
            # Marks are drawn: the funnel and score charts consist of paths.
            assert charts.nth(i).locator("path").count() > 0
        assert page.locator(".cxm-grid").count() == 1
        assert page.locator(".cxm-pt").count() == 2              # two emotion points
        pdf = page.pdf(prefer_css_page_size=True)
    finally:
        context.close()
    assert requests == [path.as_uri()]                            # nothing else was fetched
    assert pdf[:5] == b"%PDF-"
    # A4 portrait pages, and the journey map on an A4 landscape page (842 × 595 pt).
    boxes = set(re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf))
    assert {(round(float(w)), round(float(h))) for w, h in boxes} == {(595, 842), (842, 595)}


def test_table_name_form_and_roles_limit_the_scores():
    cur = memory_cursor()
    table = make_dataset(cur)
    page = build_report_html(cur, table, STAGES, dataset_name="Tiny log",
                             roles={"customer_id": "id", "timestamp": "t", "stage": "s",
                                    "csat": "rating"})
    text = text_of(page)
    assert "Dataset: Tiny log" in text
    assert "CSAT by touchpoint" in page
    # NPS and CES are not mapped in this log's roles: no sections, no KPI cards for them.
    assert "NPS by touchpoint" not in page and "CES by touchpoint" not in page
    assert not re.search(r"\+33 NPS", text)


def test_a_log_without_stages_reports_its_most_common_event_path():
    from tests.helpers_events import make_events_table
    cur = memory_cursor()
    # u1, u4 signup → verify → order; u2 signup → verify → help; u3 signup only.  The
    # suggested path: signup (met first by 4), verify (3 go on to it), order (2, beating
    # help's 1): 4 → 3 → 2.  One customer is lost after signup (u3) and one after verify
    # (u2): a tie goes to the earlier step, and u3 did nothing more.
    make_events_table(cur, [("u1", 0, None, "signup"), ("u1", 60, None, "verify"),
                            ("u1", 120, None, "order"), ("u2", 0, None, "signup"),
                            ("u2", 30, None, "verify"), ("u2", 90, None, "help"),
                            ("u3", 10, None, "signup"), ("u4", 0, None, "signup"),
                            ("u4", 40, None, "verify"), ("u4", 70, None, "order")], table="evlog")
    page = build_report_html(cur, "evlog", [], dataset_name="Event log")
    text = text_of(page)
    assert "No stages in this log: its most common event path" in page
    # verify: u1 after 60 s, u2 30 s, u4 40 s -> median 40 s; order: u1 60 s, u4 30 s -> 45 s.
    assert ("Event Customers From start From previous Dropped before next Median time from "
            "previous signup 4 100.0% 100.0% 1 – verify 3 75.0% 75.0% 1 40 s "
            "order 2 50.0% 66.7% 0 45 s") in text
    assert "1 customer (25%) reached signup but never verify" in text
    assert "A customer counts at an event" in text
    assert "(no further events) 1 (100.0%)" in text
