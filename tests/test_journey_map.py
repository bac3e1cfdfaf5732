"""Journey map model: emotion rules, edits, templates, JSON / CSV / Markdown, data lanes."""
from __future__ import annotations

import csv
import io
import json

import pytest

from cxdata.maps import journey_map as jm
from cxdata.maps import emotion, json_format, workshop
from cxdata.maps import data_lanes, exports, templates
from tests.helpers_maps import STAGES, make_dataset, memory_cursor


def small_map() -> jm.JourneyMap:
    """Two stages, two lanes, fixed ids so tests can name cells."""
    return jm.JourneyMap(
        name="Test map",
        stages=[jm.Stage("s1", "Find"), jm.Stage("s2", "Buy")],
        lanes=[jm.Lane("l1", "Pain points", "text", "pain_points", {"s1": "Too many ads"}),
               jm.Lane("l2", "Emotion", "emotion", "typed", {"s1": "+1 curious", "s2": "-2"})],
        persona=jm.Persona("Maya", "Busy parent", "Save time"), scenario="Backpack for school")


# ---------------------------------------------------------------------------------------
# Emotion (SPEC §5)

@pytest.mark.parametrize("metric, value, expected", [
    ("csat", 4.5, 1.5),        # CSAT mean − 3
    ("csat", 1.0, -2.0),       # 1 − 3 = −2, the bottom of the scale
    ("nps", 30.0, 0.6),        # NPS / 50
    ("nps", -100.0, -2.0),     # −100/50 = −2
    ("nps", 100.0, 2.0),
    ("ces", 5.5, 1.0),         # (5.5 − 4)·⅔ = 1
    ("ces", 7.0, 2.0),         # (7 − 4)·⅔ = 2
    ("ces", 1.0, -2.0),        # (1 − 4)·⅔ = −2
])
def test_emotion_from_score_follows_spec(metric, value, expected):
    assert emotion.emotion_from_score(metric, value) == pytest.approx(expected)


def test_emotion_from_score_clips_and_handles_missing():
    # A CSAT mean cannot exceed 5, but a value of 6 (bad input) must still clip to +2.
    assert emotion.emotion_from_score("csat", 6.0) == 2.0
    assert emotion.emotion_from_score("nps", None) is None
    assert emotion.emotion_from_score("ces", float("nan")) is None
    with pytest.raises(ValueError):
        emotion.emotion_from_score("nps_typo", 1.0)


@pytest.mark.parametrize("text, value, words", [
    ("+1 relieved", 1.0, "relieved"),
    ("\u22121.5 stuck", -1.5, "stuck"),   # typographic minus, as typed on a Mac
    ("-0,5", -0.5, ""),                   # decimal comma
    ("3 thrilled", 2.0, "thrilled"),      # clipped to +2
    ("happy", None, "happy"),
    ("", None, ""),
])
def test_parse_emotion(text, value, words):
    assert emotion.parse_emotion(text) == value
    assert emotion.emotion_label(text) == words


def test_format_emotion_is_signed_and_reparseable():
    assert [emotion.format_emotion(v) for v in (1.0, -0.46, 0.0, 2.6)] == ["+1", "-0.5", "0", "+2"]
    assert emotion.parse_emotion(emotion.format_emotion(-1.24)) == -1.2


# ---------------------------------------------------------------------------------------
# Edits

def test_stage_edits_keep_cells_with_their_stage():
    m = small_map()
    m2 = jm.add_stage(m, "Compare", position=1, stage_id="s3")
    assert m2.stage_names() == ["Find", "Compare", "Buy"]
    assert m.stage_names() == ["Find", "Buy"]               # the original is untouched
    m3 = jm.move_stage(m2, "s1", 2)
    assert m3.stage_names() == ["Compare", "Buy", "Find"]
    assert m3.cell("l1", "s1") == "Too many ads"             # the cell moved with its stage
    m4 = jm.rename_stage(m3, "s1", "Discover")
    assert m4.stage_names() == ["Compare", "Buy", "Discover"]
    m5 = jm.remove_stage(m4, "s1")
    assert m5.stage_names() == ["Compare", "Buy"]
    assert "s1" not in m5.lane_by_id("l1").cells             # its cells went with it


def test_lane_edits():
    m = jm.add_lane(small_map(), "Opportunities", lane_id="l3")
    assert m.lane_by_id("l3").topic == "opportunities"       # guessed from the name
    m = jm.move_lane(m, "l3", 0)
    assert [lane.id for lane in m.lanes] == ["l3", "l1", "l2"]
    m = jm.rename_lane(m, "l3", "Ideas")
    m = jm.change_lane(m, "l3", "metric", "customers")
    assert (m.lanes[0].name, m.lanes[0].kind, m.lanes[0].data_linked) == ("Ideas", "metric", True)
    m = jm.remove_lane(m, "l1")
    assert [lane.id for lane in m.lanes] == ["l3", "l2"]
    with pytest.raises(jm.MapFormatError):
        jm.add_lane(m, "Bad", "emotion", "happiness")


def test_set_cell_trims_and_empty_clears():
    m = jm.set_cell(small_map(), "l1", "s2", "  Fees shown late \r\n at checkout ")
    assert m.cell("l1", "s2") == "Fees shown late \n at checkout"
    m = jm.set_cell(m, "l1", "s2", "   ")
    assert "s2" not in m.lane_by_id("l1").cells
    with pytest.raises(KeyError):
        jm.set_cell(m, "l1", "nope", "x")


# ---------------------------------------------------------------------------------------
# Templates

@pytest.mark.parametrize("key", list(templates.TEMPLATES))
def test_templates_have_six_stages_and_a_readable_emotion_curve(key):
    m = templates.from_template(key)
    assert len(m.stages) == 6
    kinds = [lane.kind for lane in m.lanes]
    assert kinds.count("emotion") == 1 and "touchpoints" in kinds
    lane = next(lane for lane in m.lanes if lane.kind == "emotion")
    # Every stage of the example has an emotion value on the −2…+2 scale.
    values = [emotion.parse_emotion(lane.cells.get(s.id)) for s in m.stages]
    assert all(v is not None and -2 <= v <= 2 for v in values)
    topics = {lane.topic for lane in m.lanes}
    assert {"pain_points", "opportunities"} <= topics
    bare = templates.from_template(key, with_examples=False)
    assert [s.name for s in bare.stages] == [s.name for s in m.stages]
    assert all(not lane.cells for lane in bare.lanes) and bare.persona == jm.Persona()


def test_unknown_template_is_a_plain_error():
    with pytest.raises(jm.MapFormatError, match="Unknown template"):
        templates.from_template("airline")


# ---------------------------------------------------------------------------------------
# JSON / CSV / Markdown

@pytest.mark.parametrize("key", list(templates.TEMPLATES))
def test_json_round_trips_to_the_same_map(key):
    m = templates.from_template(key)
    m = jm.set_cell(m, m.lanes[4].id, m.stages[5].id, 'Quote " and <tag> & emoji 🙂\nline 2')
    again = json_format.from_json(json_format.to_json(m))
    assert again == m
    assert json_format.to_json(again) == json_format.to_json(m)


def test_json_rejects_what_is_not_a_map():
    with pytest.raises(jm.MapFormatError, match="not a CX Journey Lab journey map"):
        json_format.from_json(json.dumps({"name": "x"}))
    with pytest.raises(jm.MapFormatError, match="not valid JSON"):
        json_format.from_json("{nope")
    data = json_format.to_json_dict(small_map())
    data["lanes"][0]["cells"]["ghost"] = "x"
    with pytest.raises(jm.MapFormatError, match="unknown stages"):
        json_format.from_json_dict(data)
    data = json_format.to_json_dict(small_map())
    data["format_version"] = 99
    with pytest.raises(jm.MapFormatError, match="newer version"):
        json_format.from_json_dict(data)



def test_json_version_2_carries_notes_and_version_1_files_still_read():
    m = workshop.add_note(small_map(), "l1", "s1", "Cookie wall", author="Ana", note_id="n1")
    data = json_format.to_json_dict(m)
    assert data["format_version"] == 2
    assert [n.text for n in json_format.from_json_dict(data).notes] == ["Cookie wall"]
    old = {k: v for k, v in json_format.to_json_dict(small_map()).items()
           if k not in ("notes", "votes", "workshop")}
    old["format_version"] = 1                     # as written before notes existed
    assert json_format.from_json_dict(old) == small_map()

def test_csv_has_a_row_per_lane_and_neutralises_formulas():
    m = jm.set_cell(small_map(), "l1", "s2", "=HYPERLINK(\"x\")")
    rows = list(csv.reader(io.StringIO(exports.to_csv(m))))
    assert rows[0] == ["Lane", "Holds", "Find", "Buy"]
    assert rows[1] == ["Pain points", "Pain points", "Too many ads", "'=HYPERLINK(\"x\")"]
    # "+1 curious" would be read as a formula (starts with +) and gets an apostrophe;
    # "-2" is a plain number: a spreadsheet reads it as minus two, not as a formula.
    assert rows[2] == ["Emotion", "Typed in (−2…+2)", "'+1 curious", "-2"]
    assert len(rows) == 3


def test_markdown_escapes_pipes_html_and_line_breaks():
    m = jm.set_cell(small_map(), "l1", "s2", "a | b\n<script>x</script>")
    text = exports.to_markdown(m)
    assert "# Test map" in text and "**Persona:** Maya" in text
    assert "| Lane | Find | Buy |" in text
    assert "a \\| b<br>&lt;script&gt;x&lt;/script&gt;" in text
    assert "<script>" not in text


def test_exports_carry_sticky_notes_and_votes_only_once_revealed():
    m = workshop.add_note(small_map(), "l1", "s1", "Cookie wall", author="Ana", note_id="n1")
    m = workshop.add_note(m, "l1", "s2", "=cmd", author="Bo", note_id="n2", owner="Web team",
                    status="planned")
    m = workshop.set_workshop(m, voting_open=True)
    m = workshop.cast_vote(workshop.cast_vote(m, "Cy", "n1"), "Di", "n1")
    rows = list(csv.reader(io.StringIO(exports.to_csv(m))))
    # Votes are still hidden from the room, so the export does not tell them either.
    assert rows[1] == ["Pain points", "Pain points", "Too many ads\n• Cookie wall — Ana",
                       "• =cmd — Bo · owner: Web team · status: planned"]
    m = workshop.set_workshop(m, votes_revealed=True)
    rows = list(csv.reader(io.StringIO(exports.to_csv(m))))
    assert rows[1][2] == "Too many ads\n• Cookie wall — Ana · 2 votes"
    text = exports.to_markdown(m)
    assert "| **Pain points** | Too many ads<br>• Cookie wall — Ana · 2 votes | • =cmd — Bo" in text


# ---------------------------------------------------------------------------------------
# Data-linked lanes (numbers worked out by hand from tests/helpers_maps.py)

def test_fill_linked_lanes_leaves_typed_lanes_alone():
    m = small_map()
    m = jm.add_lane(m, "Customers", "metric", "customers", lane_id="l9")
    numbers = {"Find": data_lanes.StageNumbers("Find", 1, False, 40, 1.0, 3600.0, 10, 30, None, {}, ())}
    filled = data_lanes.fill_linked_lanes(m, numbers)
    assert filled.cell("l9", "s1") == "40 customers"
    assert filled.cell("l9", "s2") == ""          # "Buy" is not in the data
    assert filled.lane_by_id("l1") == m.lane_by_id("l1")
    assert filled.lane_by_id("l2") == m.lane_by_id("l2")


def test_map_from_dataset_fills_lanes_from_the_data():
    cur = memory_cursor()
    table = make_dataset(cur)
    m = data_lanes.map_from_dataset(cur, "Tiny", table, STAGES)
    assert m.stage_names() == STAGES and m.dataset == "Tiny"
    by_name = {lane.name: [lane.cells.get(s.id, "") for s in m.stages] for lane in m.lanes}
    # Ordered funnel: Aware 6 (everyone), Consideration 5 (all but c3), Purchase 3 (c1, c4, c5).
    assert by_name["Customers"] == ["6 customers", "5 customers", "3 customers"]
    # 5/6 = 83%, 3/5 = 60%.
    assert by_name["Conversion"] == ["Entry: 6 customers",
                                     "83% from previous (n = 6 reached previous)",
                                     "60% from previous (n = 5 reached previous)"]
    # Distinct customers per touchpoint; ties by name (Newsletter before Search ad).
    assert by_name["Top touchpoints"] == [
        "Social ad · 4 customers\nNewsletter · 1 customer\nSearch ad · 1 customer",
        "Product page · 4 customers\nLive chat · 1 customer\nReviews · 1 customer",
        "Checkout · 3 customers"]
    # CSAT top-2-box: Aware 5,3 -> 1 of 2 = 50%; Consideration 4,2,5 -> 2 of 3 = 67%.
    assert by_name["CSAT"] == ["CSAT 50% (n = 2 responses, low sample)",
                               "CSAT 67% (n = 3 responses, low sample)", "no responses"]
    # NPS: Aware one 10 -> +100; Consideration 9 and 3 -> (1 − 1)/2 = 0.
    assert by_name["NPS"] == ["NPS +100 (n = 1 response, low sample)",
                              "NPS +0 (n = 2 responses, low sample)", "no responses"]
    # CES Purchase: 6, 2, 7 -> mean 5.0.
    assert by_name["CES"] == ["no responses", "no responses",
                              "CES 5.0 (n = 3 responses, low sample)"]
    # Emotion from the first score present, CSAT: mean − 3.  Aware mean 4 -> +1;
    # Consideration mean 11/3 = 3.67 -> +0.67 shown +0.7; Purchase has no CSAT.
    lane = next(lane for lane in m.lanes if lane.kind == "emotion")
    assert lane.topic == "csat"
    assert by_name["Emotion"] == ["+1 (CSAT mean 4.00, n = 2 responses)",
                                  "+0.7 (CSAT mean 3.67, n = 3 responses)", ""]
    # Aware -> Consideration times 1h, 2h, 4h, 3h, 5h: median 3 h (n=5);
    # Consideration -> Purchase 2h, 1h, 6h: median 2 h (n=3).
    assert by_name["Time to next stage"] == [
        "Median 3.0 h to next stage (n = 5 reached next stage)",
        "Median 2.0 h to next stage (n = 3 reached next stage)", "— (last stage)"]
    # After Aware only c3 dropped, leaving at its Search ad; after Consideration c2 and c6
    # dropped.  c2's Live chat is its LAST Consideration touchpoint (where it left), c6's
    # the Product page (see test_biggest_dropoff_lane_says_where_drop_outs_left).
    assert by_name["Biggest drop-off: where drop-outs left"] == [
        "1 dropped out · left at Search ad",
        "2 dropped out · most left at Live chat or Product page (50% each)", "— (last stage)"]
    assert by_name["Pain points"] == ["", "", ""]


def test_refresh_matches_stages_by_name_and_skips_unknown_ones():
    cur = memory_cursor()
    table = make_dataset(cur)
    m = jm.JourneyMap("Workshop", stages=[jm.Stage("a", "Purchase"), jm.Stage("b", "Delight"),
                                          jm.Stage("c", "Aware")],
                      lanes=[jm.Lane("n", "Customers", "metric", "customers"),
                             jm.Lane("e", "Feeling", "emotion", "ces"),
                             jm.Lane("t", "Notes", "text", "notes", {"b": "keep me"})])
    out = data_lanes.refresh_from_data(cur, m, table)
    # The funnel runs over the data stages in *map* order: Purchase (3 customers), then
    # Aware after Purchase: c1, c4, c5 have no Aware event after their purchase -> 0.
    assert out.cell("n", "a") == "3 customers"
    assert out.cell("n", "c") == "0 customers"
    assert out.cell("n", "b") == ""                    # Delight is not in the data
    # CES mean at Purchase 5 -> (5 − 4)·⅔ = +0.67.
    assert out.cell("e", "a") == "+0.7 (CES mean 5.00, n = 3 responses)"
    assert out.cell("t", "b") == "keep me"


def test_data_lanes_say_their_unit_and_what_n_counts():
    cur = memory_cursor()
    table = make_dataset(cur)
    m = data_lanes.map_from_dataset(cur, "Tiny", table, STAGES)
    by_topic = {(lane.kind, lane.topic): [lane.cells.get(s.id, "") for s in m.stages]
                for lane in m.lanes}
    # Top touchpoints: distinct customers, and they say so.
    assert by_topic[("touchpoints", "data")][2] == "Checkout · 3 customers"
    assert by_topic[("touchpoints", "data")][0].split("\n")[0] == "Social ad · 4 customers"
    # Conversion from the previous stage: 5 of the 6 who reached Aware; 3 of the 5 who
    # reached Consideration.  n is what the percentage is of.
    assert by_topic[("metric", "conversion")] == [
        "Entry: 6 customers", "83% from previous (n = 6 reached previous)",
        "60% from previous (n = 5 reached previous)"]
    # Scores: n is responses.
    assert by_topic[("metric", "csat")][0] == "CSAT 50% (n = 2 responses, low sample)"
    assert by_topic[("metric", "nps")][0] == "NPS +100 (n = 1 response, low sample)"
    assert by_topic[("emotion", "csat")][0] == "+1 (CSAT mean 4.00, n = 2 responses)"
    # Median time to the next stage, of those who reached it (5, then 3).
    assert by_topic[("metric", "median_time")][:2] == [
        "Median 3.0 h to next stage (n = 5 reached next stage)",
        "Median 2.0 h to next stage (n = 3 reached next stage)"]


def test_biggest_dropoff_lane_says_where_drop_outs_left():
    cur = memory_cursor()
    table = make_dataset(cur)
    m = data_lanes.map_from_dataset(cur, "Tiny", table, STAGES)
    [lane] = [lane for lane in m.lanes if lane.topic == "dropoff_touchpoint"]
    assert lane.name == "Biggest drop-off: where drop-outs left"
    assert jm.METRIC_TOPICS["dropoff_touchpoint"] == "Biggest drop-off: where drop-outs left"
    cells = [lane.cells.get(s.id, "") for s in m.stages]
    # After Aware only c3 dropped: its last Aware touchpoint was the Search ad.
    # After Consideration c2 (last Consideration touchpoint: Live chat, 10 min after
    # Reviews) and c6 (Product page) dropped: one each, 50% each.
    assert cells == ["1 dropped out · left at Search ad",
                     "2 dropped out · most left at Live chat or Product page (50% each)",
                     "— (last stage)"]


def test_biggest_dropoff_text_of_a_large_group():
    numbers = data_lanes.StageNumbers("Consideration", 2, False, 3805, 0.761, 3600.0, 2345, 1460,
                              None, {}, (), previous_customers=5000,
                              dropoff_left=(("Checkout page", 599, 0.41),
                                            ("Product page", 400, 0.274)))
    lane = jm.Lane("l", "Biggest drop-off", "metric", "dropoff_touchpoint")
    assert data_lanes.linked_cell_text(lane, numbers) == (
        "1,460 dropped out · most left at Checkout page (41%)")
    conversion = jm.Lane("c", "Conversion", "metric", "conversion")
    assert data_lanes.linked_cell_text(conversion, numbers) == (
        "76% from previous (n = 5,000 reached previous)")
