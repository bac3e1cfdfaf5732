"""Map canvas: escaping, emotion curve alignment, and the PNG / SVG / PDF exports."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from cxdata.maps import journey_map as jm
from cxdata.maps import workshop
from cxdata.presentation import map_canvas as mc


def workshop_map() -> jm.JourneyMap:
    """Four stages; the emotion lane skips stage 3 (no value typed there)."""
    return jm.JourneyMap(
        name="Checkout <b>workshop</b>",
        stages=[jm.Stage("s1", "Browse"), jm.Stage("s2", "Cart"), jm.Stage("s3", "Pay"),
                jm.Stage("s4", "Deliver")],
        lanes=[jm.Lane("pain", "Pain points", "text", "pain_points",
                       {"s2": "<script>alert('x')</script>", "s3": "Card & PIN"}),
               jm.Lane("emo", "Emotion", "emotion", "typed",
                       {"s1": "+2 excited", "s2": "-1", "s4": "-2 late"}),
               jm.Lane("opp", "Opportunities", "text", "opportunities", {"s1": "Size guide"})],
        persona=jm.Persona("Maya <3"), scenario="Back to school")


def test_user_text_is_escaped_never_raw_html():
    page = mc.map_html(workshop_map())
    assert "<script>" not in page and "<b>workshop" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "Checkout &lt;b&gt;workshop&lt;/b&gt;" in page and "Maya &lt;3" in page
    assert "Card &amp; PIN" in page


def test_pain_points_and_opportunities_are_emphasised():
    page = mc.map_html(workshop_map())
    strong_cells = re.findall(r'class="cxm-cell cxm-strong[^"]*"', page)
    # Pain points and opportunities: 2 lanes × 4 stages; emotion is a curve, not cells.
    assert len(strong_cells) == 8
    assert mc.lane_style(workshop_map().lanes[0]).fill != mc.lane_style(workshop_map().lanes[2]).fill


def test_html_emotion_points_sit_under_their_stage_columns():
    page = mc.map_html(workshop_map())
    points = re.findall(r'class="cxm-pt" data-stage="(\d)" data-value="([-\d.]+)" '
                        r'style="left:([\d.]+)%;top:([\d.]+)%', page)
    # Four equal columns: centres at 12.5%, 37.5%, 87.5% (stage 3 has no value).
    assert [(int(s), float(left)) for s, _, left, _ in points] == [(1, 12.5), (2, 37.5), (4, 87.5)]
    tops = {int(s): float(top) for s, _, _, top in points}
    assert tops[1] < tops[2] < tops[4]          # +2 highest, −2 lowest (top grows downwards)
    # The line breaks at the gap: one band through stages 1–2 only, its upper edge at
    # the two column centres, then back along its lower edge.
    [band] = re.findall(r'class="cxm-curve" style="clip-path:polygon\(([^)]+)\)', page)
    xs = [float(corner.split("%")[0]) for corner in band.split(", ")]
    assert xs == [12.5, 37.5, 37.5, 12.5]
    assert "<svg" not in page          # st.html's sanitiser would drop it


def test_presentation_focus_dims_other_stages():
    m = workshop_map()
    page = mc.map_html(m, focus_stage_id="s2", present=True)
    headers = re.findall(r'<div class="cxm-stage([^"]*)" data-stage="(\d)"', page)
    assert headers == [(" cxm-dim", "1"), (" cxm-focus", "2"), (" cxm-dim", "3"), (" cxm-dim", "4")]
    assert 'class="cxm cxm-present"' in page


def test_drawing_puts_each_emotion_point_at_its_column_centre():
    layout = mc.ChartLayout(label_width=200, column_width=250)
    drawing = mc.map_drawing(workshop_map(), layout)
    # Column i spans 200 + 250·i … 200 + 250·(i+1): centres 325, 575, 1075 for stages 1, 2, 4.
    assert [p["x"] for p in drawing.points] == [325, 575, 1075]
    ys = [p["y"] for p in drawing.points]
    assert ys[0] < ys[1] < ys[2]                   # +2, −1, −2 top to bottom
    assert [p["run"] for p in drawing.points] == ["emo:0", "emo:0", "emo:1"]
    assert drawing.width == 200 + 4 * 250


def test_wrap_text_keeps_line_breaks_and_truncates():
    assert mc.wrap_text("one two three", 8, 5) == ["one two", "three"]
    assert mc.wrap_text("a\nb", 10, 5) == ["a", "b"]
    assert mc.wrap_text("word " * 20, 10, 2) == ["word word", "word word…"]


def test_exports_png_pdf_svg():
    m = workshop_map()
    png = mc.map_png(m, scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # PNG IHDR: width and height as big-endian 4-byte ints at offsets 16 and 20.
    width = int.from_bytes(png[16:20], "big")
    assert width == mc.map_drawing(m).width + 2 * 12          # + padding on both sides
    assert mc.map_pdf(m)[:5] == b"%PDF-"
    svg = mc.map_svg(m)
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    texts = " ".join(t for t in root.itertext())
    for expected in ("Browse", "Deliver", "Pain points", "<script>alert('x')", "excited"):
        assert expected in texts
    assert "<script>" not in svg                  # text is escaped in the SVG markup


def test_image_exports_show_sticky_notes_under_the_cell_text():
    m = workshop_map()
    lane = next(x for x in m.lanes if x.kind == "text")
    m = workshop.add_note(m, lane.id, "s2", "Delivery fee shock", author="Ana")
    texts = [" ".join(t["lines"]) for t in mc.map_drawing(m).texts]
    assert "• Delivery fee shock — Ana" in " ".join(texts)
    assert "Delivery fee shock" in " ".join(ET.fromstring(mc.map_svg(m)).itertext())


@pytest.mark.parametrize("lanes", [[], [jm.Lane("e", "Emotion", "emotion", "typed")]])
def test_empty_maps_still_draw(lanes):
    m = jm.JourneyMap("Empty", stages=[], lanes=lanes)
    assert "no stages yet" in mc.map_html(m)
    assert mc.map_drawing(m).width > 0


# ---------------------------------------------------------------------------------------
# The canvas component's data

from urllib.parse import parse_qs, urlsplit  # noqa: E402

from cxdata.maps import journey_map as jm  # noqa: E402


def _linked_map() -> jm.JourneyMap:
    return jm.JourneyMap(
        name="Linked", dataset="Shop log",
        stages=[jm.Stage("s1", "Aware"), jm.Stage("s2", "Consideration"), jm.Stage("s3", "Buy")],
        lanes=[jm.Lane("conv", "Conversion", "metric", "conversion",
                       {"s1": "Entry", "s2": "76%", "s3": "62%"}),
               jm.Lane("cust", "Customers", "metric", "customers", {"s2": "3,805 customers"}),
               jm.Lane("csat", "CSAT", "metric", "csat", {"s2": "CSAT 84%"}),
               jm.Lane("tp", "Top touchpoints", "touchpoints", "data", {"s2": "Reviews"}),
               jm.Lane("pain", "Pain points", "text", "pain_points", {"s2": "<b>fees</b>"})],
        notes=[jm.Note("n1", "pain", "s2", "Fees late <script>", author="Ann")])


def _query(link: dict) -> tuple[str, dict]:
    parts = urlsplit(link["url"])
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


def test_evidence_links_open_the_analysis_with_the_dataset_and_stage():
    # Bound widgets read their value as they show it: labels, not internal names.
    m = _linked_map()
    path, query = _query(mc.evidence_link(m, m.lane_by_id("conv"), 1))
    # Conversion into Consideration: who dropped out after Aware.
    assert path == "/funnel" and query == {"dataset": "Shop log", "fn_by": "Journey stage",
                                           "fn_tab": "Drop-outs", "fn_drop": "1. Aware"}
    path, query = _query(mc.evidence_link(m, m.lane_by_id("cust"), 1))
    assert query["fn_drop"] == "2. Consideration"
    path, query = _query(mc.evidence_link(m, m.lane_by_id("cust"), 2))   # the last stage
    assert query["fn_drop"] == "2. Consideration"
    path, query = _query(mc.evidence_link(m, m.lane_by_id("csat"), 1))
    assert path == "/touchpoints" and query == {"dataset": "Shop log", "tp_metric": "CSAT",
                                                "tp_by": "Journey stage", "tp_tab": "Scores"}
    path, query = _query(mc.evidence_link(m, m.lane_by_id("tp"), 1))
    assert query == {"dataset": "Shop log", "tp_by": "Touchpoint", "filter_on": "Journey stage",
                     "f_stage": "Consideration"}
    assert mc.evidence_link(m, m.lane_by_id("pain"), 1) is None          # typed lane
    unlinked = jm.JourneyMap(m.name, m.stages, m.lanes)
    assert mc.evidence_link(unlinked, m.lane_by_id("conv"), 1) is None   # no dataset


def test_canvas_payload_carries_text_as_data_and_hides_votes_until_revealed():
    m = workshop.set_workshop(_linked_map(), voting_open=True, votes_per_person=2)
    m = workshop.cast_vote(workshop.cast_vote(m, "Bob", "n1"), "Cleo", "n1")
    data = mc.canvas_payload(m, version=7, mode="present", join_url="http://host/join?map=x")
    pain = next(lane for lane in data["map"]["lanes"] if lane["id"] == "pain")
    assert pain["cells"]["s2"] == "<b>fees</b>"          # data, drawn with textContent
    assert data["map"]["notes"][0]["text"] == "Fees late <script>"
    assert data["votes"] == {"placed": 2, "voters": 2, "totals": None, "results": []}
    assert data["join"]["qr"].startswith("data:image/svg+xml")
    conv = next(lane for lane in data["map"]["lanes"] if lane["id"] == "conv")
    assert set(conv["evidence"]) == {"s1", "s2", "s3"} and pain["evidence"] == {}
    revealed = mc.canvas_payload(workshop.set_workshop(m, votes_revealed=True), version=8)
    assert revealed["votes"]["totals"] == {"n1": 2}
    assert revealed["votes"]["results"] == [{"rank": 1, "votes": 2, "text": "Fees late <script>",
                                             "note": "n1"}]


def test_qr_code_encodes_the_join_link():
    uri = mc.qr_data_uri("http://host:8501/join?map=map_1")
    assert uri.startswith("data:image/svg+xml") and "svg" in uri


def test_history_drawing_outlines_changed_cells_and_escapes_notes():
    m = _linked_map()
    html = mc.map_html(m, highlight=[("pain", "s2")])
    assert html.count("cxm-changed") == 2                 # the rule and the one cell
    assert "Fees late &lt;script&gt;" in html and "<script>" not in html
