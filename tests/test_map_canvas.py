"""Map canvas: escaping, emotion curve alignment, and the PNG / SVG / PDF exports."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from cxdata import journey_map as jm
from cxdata import map_canvas as mc


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


@pytest.mark.parametrize("lanes", [[], [jm.Lane("e", "Emotion", "emotion", "typed")]])
def test_empty_maps_still_draw(lanes):
    m = jm.JourneyMap("Empty", stages=[], lanes=lanes)
    assert "no stages yet" in mc.map_html(m)
    assert mc.map_drawing(m).width > 0
