"""cxdata.why.conformance (SPEC §8.5): does reality follow the map?

A tiny log worked by hand (map A → B → C → D), the deviation sentence, the sample's story 7
(sample_data/README.md) and the ``conformance`` command's JSON.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import pytest

from cxdata import cli

from cxdata.store import map_store
from cxdata.maps.templates import blank_map
from cxdata.analytics.scores import ResponseCounts, summarise
from cxdata.sql import EventFilter
from cxdata.why import cli_conformance
from cxdata.why.conformance import (CLASSES, conformance, conformance_of_map, deviation_label,
                                    deviation_sentence)
from tests.helpers_events import at, make_events_table

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "interactions.csv"
STAGES = ["Aware", "Consideration", "Purchase", "Retention", "Advocacy"]
MAP = ["A", "B", "C", "D"]


def _visits(customer, stages, start=0, scores=None):
    """One event per stage, a minute apart; ``scores``: {position: dict of scores}."""
    rows = []
    for i, stage in enumerate(stages):
        row = {"customer_id": customer, "ts": start + 60 * i, "stage": stage}
        row.update((scores or {}).get(i, {}))
        rows.append(row)
    return rows


# Worked by hand (map A → B → C → D; "X" is not a stage of the map):
#   c1  A B          follows, stops early                      NPS 10
#   c2  A B C D      follows, converted                        NPS 9, CSAT 5
#   c3  A C          skips (B)                 dev A→C          NPS 3
#   c4  A C B        skips, out of order, loops back  A→C, C→B  NPS 6, CES 2
#   c5  A B A B A    loops back (first visits in order)  B→A    NPS 8
#   c6  B C          skips (A)                 dev start→B      NPS 0
#   c7  A X B        follows (X ignored)                        NPS 10 on the X event
#   c8  X X          not counted (no mapped event)              NPS 10 (ignored)
#   c9  A B C B D    loops back, converted     dev C→B, B→D     CSAT 2
#                    (B→D is a step the map does not draw, though C was visited: a
#                    deviation, yet first visits are in order, so not in "skips")
#   c10 B, A at the same instant, B first in the file: skips, out of order, loops back;
#                                              dev start→B, B→A
#   c11 A B A        loops back                dev B→A          NPS 7
TINY = (_visits("c1", "AB", scores={1: {"nps": 10}})
        + _visits("c2", "ABCD", 1000, {2: {"nps": 9}, 3: {"csat": 5}})
        + _visits("c3", "AC", 2000, {1: {"nps": 3}})
        + _visits("c4", "ACB", 3000, {0: {"nps": 6}, 2: {"ces": 2}})
        + _visits("c5", "ABABA", 4000, {4: {"nps": 8}})
        + _visits("c6", "BC", 5000, {0: {"nps": 0}})
        + _visits("c7", "AXB", 6000, {1: {"nps": 10}})
        + _visits("c8", "XX", 7000, {0: {"nps": 10}})
        + _visits("c9", "ABCBD", 8000, {1: {"csat": 2}})
        + [{"customer_id": "c10", "ts": 9000, "stage": "B"},
           {"customer_id": "c10", "ts": 9000, "stage": "A"}]
        + _visits("c11", "ABA", 10000, {2: {"nps": 7}}))


@pytest.fixture()
def tiny():
    con = duckdb.connect()
    make_events_table(con, TINY)
    return con


def _classes(result) -> dict:
    return {row["class"]: row for row in result.classes.to_dict("records")}


def test_classes_worked_by_hand(tiny):
    result = conformance(tiny.cursor(), "ev", MAP)
    assert result.stages == tuple(MAP)
    assert (result.customers, result.converted) == (10, 2)        # c8 not counted; c2, c9
    classes = _classes(result)
    assert list(result.classes["class"]) == list(CLASSES)
    assert {name: row["customers"] for name, row in classes.items()} == {
        "follows": 3, "skips": 4, "out of order": 2, "loops back": 5}
    assert {name: row["converted"] for name, row in classes.items()} == {
        "follows": 1, "skips": 0, "out of order": 0, "loops back": 1}
    assert classes["follows"]["share"] == pytest.approx(0.3)
    assert classes["follows"]["converted_share"] == pytest.approx(1 / 3)
    assert classes["loops back"]["converted_share"] == pytest.approx(1 / 5)
    assert classes["skips"]["converted_share"] == 0.0


def test_each_kind_of_journey_alone(tiny):
    def classes_of(*stages, start=0):
        con = duckdb.connect()
        make_events_table(con, _visits("x", stages, start))
        result = conformance(con.cursor(), "ev", MAP)
        return {name for name, row in _classes(result).items() if row["customers"]}

    assert classes_of("A") == {"follows"}                          # stops at once
    assert classes_of("A", "A", "B", "B", "C") == {"follows"}      # repeats are no loop
    assert classes_of("A", "B", "D") == {"skips"}                  # C never visited
    assert classes_of("B") == {"skips"}                            # starts after A
    assert classes_of("A", "C", "B") == {"skips", "out of order", "loops back"}
    assert classes_of("A", "B", "C", "A") == {"loops back"}
    assert classes_of("A", "X", "B") == {"follows"}                # X is not in the map


def test_scores_per_class_are_all_the_customers_responses(tiny):
    classes = _classes(conformance(tiny.cursor(), "ev", MAP))
    # follows = c1, c2, c7: NPS 10, 9, 10 (c7's on its unmapped X event); CSAT 5 (c2)
    follows_nps = summarise("nps", ResponseCounts(3, 3, 0, 29, 281))
    assert follows_nps.score == 100.0
    row = classes["follows"]
    assert (row["nps"], row["nps_n"]) == (100.0, 3)
    assert (row["nps_ci_low"], row["nps_ci_high"]) == pytest.approx(
        (follows_nps.ci_low, follows_nps.ci_high))
    assert (row["csat"], row["csat_n"]) == (100.0, 1) and math.isnan(row["csat_ci_low"])
    assert row["ces_n"] == 0 and math.isnan(row["ces"])
    # skips = c3, c4, c6, c10: NPS 3, 6, 0 -> three detractors; CES 2 (c4)
    row = classes["skips"]
    expected = summarise("nps", ResponseCounts(3, 0, 3, 9, 45))
    assert (row["nps"], row["nps_n"]) == (-100.0, 3)
    assert (row["nps_ci_low"], row["nps_ci_high"]) == pytest.approx((expected.ci_low, expected.ci_high))
    assert (row["ces"], row["ces_n"]) == (2.0, 1)
    # loops back = c4, c5, c9, c10, c11: NPS 6, 8, 7 -> one detractor in three: −33.3
    row = classes["loops back"]
    expected = summarise("nps", ResponseCounts(3, 0, 1, 21, 149))
    assert row["nps"] == pytest.approx(-100 / 3) and row["nps_n"] == 3
    assert (row["nps_ci_low"], row["nps_ci_high"]) == pytest.approx((expected.ci_low, expected.ci_high))
    assert (row["csat"], row["csat_n"]) == (0.0, 1)                # c9's CSAT 2
    # out of order = c4, c10: one NPS answer (6): no interval
    row = classes["out of order"]
    assert (row["nps"], row["nps_n"]) == (-100.0, 1) and math.isnan(row["nps_ci_low"])


def test_deviations_counted_once_per_customer(tiny):
    deviations = conformance(tiny.cursor(), "ev", MAP).deviations
    got = [(r["from"], r["to"], r["kind"], r["label"], r["customers"])
           for r in deviations.to_dict("records")]
    # B→A: c5 (twice, counted once), c10, c11; then ties by map position of "from"
    assert got == [("B", "A", "back", "loops back to A from B", 3),
                   ("start", "B", "skip", "skips A", 2),
                   ("A", "C", "skip", "skips B", 2),
                   ("C", "B", "back", "loops back to B from C", 2),
                   ("B", "D", "skip", "skips C", 1)]
    row = deviations.iloc[0]
    assert row["share"] == pytest.approx(0.3) and row["converted"] == 0
    assert (row["nps"], row["nps_n"]) == (0.0, 2)                   # c5 8, c11 7: passives
    assert list(conformance(tiny.cursor(), "ev", MAP, top=1).deviations["from"]) == ["B"]


def test_a_filter_and_another_column(tiny):
    # Only the first 3,000 s: c1, c2, c3 (c4 starts at 3,000 s).
    import datetime as dt
    early = EventFilter(end=dt.datetime(2024, 1, 1, 0, 50))
    result = conformance(tiny.cursor(), "ev", MAP, event_filter=early)
    assert result.customers == 3
    assert _classes(result)["skips"]["customers"] == 1
    nobody = conformance(tiny.cursor(), "ev", MAP, event_filter=EventFilter(end=at(-1)))
    assert (nobody.customers, nobody.converted, len(nobody.deviations)) == (0, 0, 0)
    payload = nobody.to_json_dict()
    assert [(c["customers"], c["share"], c["converted_share"], c["nps"], c["nps_n"])
            for c in payload["classes"]] == [(0, None, None, None, 0)] * 4
    con = duckdb.connect()
    make_events_table(con, [{"customer_id": "a", "ts": 0, "touchpoint": "Ad"},
                            {"customer_id": "a", "ts": 1, "touchpoint": "Cart"}])
    result = conformance(con.cursor(), "ev", ["Ad", "Page", "Cart"], by="touchpoint")
    assert _classes(result)["skips"]["customers"] == 1
    with pytest.raises(ValueError):
        conformance(con.cursor(), "ev", [])
    with pytest.raises(ValueError):
        conformance(con.cursor(), "ev", ["Ad"], by="no such column")


def test_a_saved_maps_stages(tiny):
    jmap = blank_map("Tiny", stage_names=MAP)
    assert conformance_of_map(tiny.cursor(), "ev", jmap).classes.equals(
        conformance(tiny.cursor(), "ev", MAP).classes)
    with pytest.raises(ValueError):
        conformance_of_map(tiny.cursor(), "ev", blank_map("Empty", stage_names=()))


def test_deviation_labels_and_sentence():
    assert deviation_label(STAGES, 1, 3) == "skips Consideration"
    assert deviation_label(STAGES, 1, 4, plural=True) == "skip Consideration and Purchase"
    assert deviation_label(STAGES, 0, 4) == "skips Aware, Consideration and Purchase"
    assert deviation_label(STAGES, 3, 2) == "loops back to Consideration from Purchase"
    follows = {"converted_share": 0.44, "nps": 24.0, "nps_n": 300}
    skip = {"from": "Aware", "to": "Purchase", "kind": "skip", "label": "skips Consideration",
            "customers": 412, "share": 0.0824, "converted_share": 0.31, "nps": 5.2, "nps_n": 120}
    assert deviation_sentence(skip, follows, "Advocacy") == (
        "412 customers (8%) skip Consideration (Aware → Purchase): 31% reach Advocacy vs 44% "
        "who follow the map; NPS +5 (n = 120) vs +24 (n = 300).")
    back = {"from": "Purchase", "to": "Consideration", "kind": "back",
            "label": "loops back to Consideration from Purchase", "customers": 1, "share": 0.004,
            "converted_share": 0.0, "nps": float("nan"), "nps_n": 0}
    assert deviation_sentence(back, follows, "Advocacy") == (
        "1 customer (0.4%) loops back to Consideration from Purchase: 0% reach Advocacy vs 44% "
        "who follow the map; NPS — (no answers) vs +24 (n = 300).")


# ---------------------------------------------------------------------------------------
# The sample (sample_data/README.md, story 7)

def test_the_sample_story_one_customer_in_eight_skips(sample):
    result = conformance(sample.cursor(), "events", STAGES)
    assert (result.customers, result.converted) == (5000, 443)     # 443 reach Advocacy
    classes = _classes(result)
    assert classes["skips"]["customers"] == 627                     # 12.5 %
    assert classes["skips"]["share"] == pytest.approx(0.125, abs=0.001)
    assert classes["out of order"]["customers"] == 173              # 3.5 %
    assert classes["loops back"]["customers"] == 1053               # 21.1 %
    assert classes["follows"]["customers"] == 3590
    # skippers' NPS +2 (n = 230) against +24 (n = 620) for everybody else
    assert round(classes["skips"]["nps"]) == 2 and classes["skips"]["nps_n"] == 230
    top = result.deviations.head(2)
    assert list(zip(top["from"], top["to"], top["customers"])) == [
        ("Aware", "Purchase", 808), ("Purchase", "Consideration", 684)]
    assert top.iloc[0]["label"] == "skips Consideration"


# ---------------------------------------------------------------------------------------
# The command

def _run(argv, capsys) -> tuple[int, str]:
    parser = cli._Parser(prog="python -m cxdata")
    sub = parser.add_subparsers(dest="command", parser_class=cli._Parser)
    cli_conformance.add_parser(sub, cli._common)
    try:
        args = parser.parse_args(argv)
        code = cli_conformance.run(args, cli.load_data, cli.emit, cli.open_workspace)
    except cli.CxDataError as exc:
        return 2, str(exc)
    return code, capsys.readouterr().out


def _check_shape(payload: dict) -> None:
    assert set(payload) == {"customers", "classes", "deviations"}
    assert [c["class"] for c in payload["classes"]] == list(CLASSES)
    for item in payload["classes"]:
        assert {"class", "customers", "share", "converted_share", "nps", "nps_n"} <= set(item)
    for item in payload["deviations"]:
        assert set(item) == {"from", "to", "customers"}


def test_cli_json_with_stages(capsys):
    argv = ["conformance", str(SAMPLE), "--format", "json"] + [a for s in STAGES for a in ("--stage", s)]
    code, out = _run(argv, capsys)
    assert code == 0
    payload = json.loads(out)
    _check_shape(payload)
    assert payload["customers"] == 5000
    skips = payload["classes"][1]
    assert (skips["customers"], skips["nps_n"]) == (627, 230)
    assert payload["deviations"][0] == {"from": "Aware", "to": "Purchase", "customers": 808}


def test_cli_json_with_a_journey_map(capsys, tmp_path):
    from cxdata.store.workspace import Workspace
    ws = Workspace(tmp_path / "ws.duckdb")
    map_store.create_map(ws.cursor(), blank_map("Retail", stage_names=STAGES))
    ws.close()
    code, out = _run(["conformance", str(SAMPLE), "--journey-map", "Retail", "--format", "json",
                      "--workspace", str(tmp_path / "ws.duckdb")], capsys)
    assert code == 0
    payload = json.loads(out)
    _check_shape(payload)
    assert payload["classes"][3]["customers"] == 1053


def test_cli_text_and_errors(capsys):
    code, out = _run(["conformance", str(SAMPLE), "--stage", "Aware", "--stage", "Purchase"], capsys)
    assert code == 0 and "skips Consideration" not in out and "Aware → Purchase" in out
    code, message = _run(["conformance", str(SAMPLE)], capsys)
    assert code == 2 and "--stage" in message


# ---------------------------------------------------------------------------------------
# Charts and the map page's section

def test_charts_draw_classes_and_deviations(tiny):
    from cxdata.presentation.charts_conformance import class_bars, deviation_bars
    result = conformance(tiny.cursor(), "ev", MAP)
    spec = class_bars(result.classes, "D").to_dict()
    rows = spec["datasets"][next(iter(spec["datasets"]))]
    assert [r["class"] for r in rows] == list(CLASSES)
    assert rows[0]["bar_text"] == "3 (30.0%)" and rows[0]["nps_label"] == "+100 (n = 3)"
    spec = deviation_bars(result.deviations, "D", top=2).to_dict()
    rows = spec["datasets"][next(iter(spec["datasets"]))]
    assert [r["step"] for r in rows] == ["B → A", "start → B"]
    empty = result.deviations.iloc[0:0]
    assert "No deviations" in json.dumps(deviation_bars(empty, "D").to_dict())


def _section_script():
    import streamlit as st

    from cxdata.maps.templates import blank_map
    from cxdata.ui.state import get_workspace
    from cxdata.ui.why_map import conformance_section

    ws = get_workspace()
    if not ws.has_dataset("tiny"):
        ws.ingest(st.session_state["csv"], "tiny")
    pinned = st.session_state.setdefault("pinned", [])
    conformance_section(ws.get_dataset("tiny"), blank_map("Tiny", stage_names=list("ABCD")),
                        None, lambda text, stage: pinned.append((text, stage)))


def test_the_section_draws_cards_charts_and_pins_a_sentence(tmp_path):
    from streamlit.testing.v1 import AppTest
    csv = tmp_path / "tiny.csv"
    lines = ["customer_id,timestamp,stage,nps"]
    for row in TINY:
        ts = at(row["ts"]).isoformat()
        lines.append(f"{row['customer_id']},{ts}Z,{row['stage']},{row.get('nps', '')}")
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    app = AppTest.from_function(_section_script, default_timeout=60)
    app.session_state["csv"] = str(csv)
    app.run()
    assert not app.exception, app.exception
    assert [m.label for m in app.metric] == ["Follows", "Skips", "Out of order", "Loops back"]
    assert [m.value for m in app.metric] == ["3", "4", "2", "5"]
    buttons = [b for b in app.button if b.label == "Add to pain points"]
    assert len(buttons) == 5
    buttons[0].click().run()
    assert not app.exception, app.exception
    # the sentence, and the stage it leads to (where the map pins it)
    assert app.session_state["pinned"] == [(
        "3 customers (30%) loop back to A from B: 0% reach D vs 33% who follow the map; "
        "NPS +0 (n = 2) vs +100 (n = 3).", "A")]


def test_cli_csv_and_an_unknown_map(capsys, tmp_path):
    code, out = _run(["conformance", str(SAMPLE), "--format", "csv", "--top", "2"]
                     + [a for s in STAGES for a in ("--stage", s)], capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("kind,group,from,to,customers,share")
    assert len(lines) == 1 + 4 + 2 and lines[2].startswith("class,skips,,,627,")
    from cxdata.store.workspace import Workspace
    Workspace(tmp_path / "ws.duckdb").close()
    code, message = _run(["conformance", str(SAMPLE), "--journey-map", "Nope",
                          "--workspace", str(tmp_path / "ws.duckdb")], capsys)
    assert code == 2 and "Nope" in message
