"""AppTest of the Journey map and Report pages: create, edit, version, restore, conflict,
live update, presentation mode, and the report download."""
from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from cxdata.maps import journey_map as jm
from cxdata.store import map_store as ms
from cxdata.bootstrap import SAMPLE_FILE, SAMPLE_NAME
from cxdata.store.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent


def run_page(name: str = "journey_map.py", **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def rerun(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, at.exception
    return at


def store():
    """A cursor on the same workspace file the page uses (another "browser")."""
    return Workspace().cursor()


def create_retail_map(at: AppTest) -> str:
    at.button(key="jm_create").click()
    rerun(at)
    return at.session_state["jm_map_id"]


def edit_cell(at: AppTest, lane_index: int, stage_index: int, text: str) -> None:
    """Type into the cells grid (the editor's edit state, as the browser sends it)."""
    draft = at.session_state["jm_draft"]
    key = f"jm_grid_{at.session_state['jm_nonce']}"
    at.session_state[key] = {"edited_rows": {lane_index: {draft.stages[stage_index].id: text}},
                             "added_rows": [], "deleted_rows": []}
    rerun(at)


def open_tab(at: AppTest, label: str) -> None:
    """Open a tab under the canvas (only the open tab is drawn)."""
    at.session_state["jm_tabs"] = label
    rerun(at)


def canvas_html(at: AppTest) -> str:
    """The HTML drawn with st.html (history view) and the canvas component's data."""
    return ("".join(h.proto.body for h in at.html)
            + "".join(e.proto.json for e in at.get("bidi_component")))


def canvas_data(at: AppTest) -> dict:
    """What the page gave the canvas component (cxdata.presentation.map_canvas.canvas_payload)."""
    [element] = [e for e in at.get("bidi_component")
                 if e.proto.component_name == "cxjl_map_canvas"]
    return json.loads(element.proto.json)


def test_first_start_opens_the_example_map_linked_to_the_sample():
    at = run_page()
    draft = at.session_state["jm_draft"]
    assert draft.name == "Online retail — sample journey" and draft.dataset == SAMPLE_NAME
    assert "Checkout is hard work" in canvas_html(at)
    assert [m.name for m in ms.list_maps(store())] == ["Online retail — sample journey"]


def test_workspace_without_maps_offers_templates_and_the_example():
    # A workspace whose sample was installed before example maps existed has no map.
    ws = Workspace()
    ws.ingest(SAMPLE_FILE, SAMPLE_NAME, source="test")
    ws.set_setting("sample_installed", "yes")
    ws.set_setting("default_dataset", SAMPLE_NAME)
    assert ms.list_maps(ws.cursor()) == []
    at = run_page()
    assert [r.label for r in at.radio] == ["Start from"]
    assert at.button(key="jm_examples") is not None
    at.button(key="jm_examples").click()
    rerun(at)
    draft = at.session_state["jm_draft"]
    assert draft.name == "Online retail — sample journey" and draft.dataset == SAMPLE_NAME
    assert "Checkout is hard work" in canvas_html(at)


def test_create_edit_and_every_save_is_a_version():
    at = run_page()
    map_id = create_retail_map(at)
    assert [v.version for v in ms.list_versions(store(), map_id)] == [1]
    at.text_input(key="jm_author").set_value("Ann")
    # Pain points (lane 5, index 4) × Purchase (stage 3, index 2).
    edit_cell(at, 4, 2, "Card declined <twice>")
    versions = ms.list_versions(store(), map_id)
    assert [(v.version, v.author) for v in versions][:1] == [(2, "Ann")]
    saved = ms.load_map(store(), map_id).journey_map
    assert saved.cell(saved.lanes[4].id, saved.stages[2].id) == "Card declined <twice>"
    # HTML is escaped; the canvas gets the text as data (its script sets textContent).
    open_tab(at, "History")
    html = "".join(h.proto.body for h in at.html)
    assert "Card declined &lt;twice&gt;" in html and "<twice>" not in html
    lane = canvas_data(at)["map"]["lanes"][4]
    assert lane["cells"][saved.stages[2].id] == "Card declined <twice>"
    open_tab(at, "Persona & scenario")
    at.text_input(key=f"jm_pname_{at.session_state['jm_nonce']}").set_value("Leo")
    rerun(at)
    assert ms.load_map(store(), map_id).journey_map.persona.name == "Leo"
    assert ms.latest_version(store(), map_id) == 3
    assert not any("Unsaved" in m.value for m in at.markdown)


def test_stages_and_lanes_editor_adds_renames_and_reorders():
    at = run_page()
    map_id = create_retail_map(at)
    open_tab(at, "Stages & lanes")
    nonce = at.session_state["jm_nonce"]
    # Add "Compare" between stages 1 and 2 (Position 1.5); rename stage 6.
    at.session_state[f"jm_stages_{nonce}"] = {
        "edited_rows": {5: {"Stage": "Recommend"}},
        "added_rows": [{"Position": 1.5, "Stage": "Compare"}], "deleted_rows": []}
    rerun(at)
    saved = ms.load_map(store(), map_id).journey_map
    assert saved.stage_names() == ["Aware", "Compare", "Consideration", "Purchase", "Delivery",
                                   "Retention", "Recommend"]
    # Delete the "Actions" lane (row 1); the editors were re-created with a new key.
    nonce = at.session_state["jm_nonce"]
    at.session_state[f"jm_lanes_{nonce}"] = {"edited_rows": {}, "added_rows": [],
                                             "deleted_rows": [1]}
    rerun(at)
    saved = ms.load_map(store(), map_id).journey_map
    assert "Actions" not in [lane.name for lane in saved.lanes]
    assert ms.latest_version(store(), map_id) == 3


def test_history_view_and_restore():
    at = run_page()
    map_id = create_retail_map(at)
    original = ms.load_map(store(), map_id, 1).journey_map
    edit_cell(at, 0, 0, "Something else entirely")
    assert ms.latest_version(store(), map_id) == 2
    open_tab(at, "History")
    at.selectbox(key=f"jm_hist_{map_id}").set_value(1)
    rerun(at)
    at.button(key="jm_restore").click()
    rerun(at)
    latest = ms.load_map(store(), map_id)
    assert (latest.version, latest.info.restored_from) == (3, 1)
    assert latest.journey_map == original
    assert at.session_state["jm_draft"] == original          # the editor shows it too
    assert [v.version for v in ms.list_versions(store(), map_id)] == [3, 2, 1]


def test_a_save_after_someone_elses_merges_when_they_changed_other_cells():
    at = run_page()
    map_id = create_retail_map(at)
    # Bob, in another browser, changes a goal and saves version 2.
    bob = ms.load_map(store(), map_id).journey_map
    goals, first = bob.lanes[0].id, bob.stages[0].id
    ms.save_map(store(), map_id, jm.set_cell(bob, goals, first, "Bob's goal"),
                base_version=1, author="Bob")
    # Meanwhile Ann types a pain point, still based on version 1: nobody changed the same
    # cell, so her save is merged with Bob's (in a workshop notes arrive all the time).
    at.session_state["jm_autosave"] = True
    edit_cell(at, 4, 5, "Ann's pain point")
    assert not at.warning
    merged = ms.load_map(store(), map_id)
    assert merged.version == 3 and merged.info.note == "Merged with version 2"
    m = merged.journey_map
    assert m.cell(goals, first) == "Bob's goal"                               # theirs kept
    assert m.cell(m.lanes[4].id, m.stages[5].id) == "Ann's pain point"        # mine kept


def test_same_cell_conflict_lets_you_pick_theirs():
    at = run_page()
    map_id = create_retail_map(at)
    bob = ms.load_map(store(), map_id).journey_map
    pain, purchase = bob.lanes[4].id, bob.stages[2].id
    ms.save_map(store(), map_id, jm.set_cell(bob, pain, purchase, "Bob: fees"), base_version=1,
                author="Bob")
    edit_cell(at, 4, 2, "Ann: fees")
    [choice] = [r for r in at.radio if r.label == "Pain points × Purchase"]
    assert choice.options == ["Mine: Ann: fees", "Theirs: Bob: fees"]
    choice.set_value("Theirs: Bob: fees")
    rerun(at)
    at.button(key="jm_merge").click()
    rerun(at)
    assert ms.load_map(store(), map_id).journey_map.cell(pain, purchase) == "Bob: fees"


def test_a_viewer_without_changes_follows_newer_versions():
    at = run_page()
    map_id = create_retail_map(at)
    other = ms.load_map(store(), map_id).journey_map
    ms.save_map(store(), map_id, jm.rename_stage(other, other.stages[0].id, "Discover"),
                base_version=1, author="Bob")
    rerun(at)   # what the page's poll does every few seconds
    assert at.session_state["jm_base"] == 2
    assert at.session_state["jm_draft"].stage_names()[0] == "Discover"
    assert "Discover" in canvas_html(at)


def test_presentation_mode_has_no_editing_controls_and_steps_through_stages():
    at = run_page()
    map_id = create_retail_map(at)
    at = run_page(map=map_id, present="1")
    assert len(at.data_editor) == 0 and len(at.text_input) == 0
    data = canvas_data(at)
    assert data["mode"] == "present" and data["focus"] is None
    assert data["join"]["url"].endswith(f"/join?map={map_id}")
    assert data["join"]["qr"].startswith("data:image/svg+xml")
    at.button(key="jm_next").click()
    rerun(at)
    at.button(key="jm_next").click()
    rerun(at)
    # Stage 2 is focused (the canvas dims the others).
    data = canvas_data(at)
    assert data["focus"] == data["map"]["stages"][1]["id"]
    assert any("Stage 2 of 6: Consideration" in m.value.replace("\\", "") for m in at.markdown)
    at.button(key="jm_exit").click()
    rerun(at)
    assert "present" not in at.query_params
    assert len(at.data_editor) >= 1


def test_map_from_the_sample_dataset_fills_data_lanes():
    at = run_page()
    at.radio[0].set_value("Dataset")
    rerun(at)
    at.button(key="jm_create").click()
    rerun(at)
    draft = at.session_state["jm_draft"]
    assert draft.dataset == SAMPLE_NAME
    customers = next(lane for lane in draft.lanes if lane.topic == "customers")
    # Everyone in the sample starts at Aware: 5,000 customers (sample_data/README.md).
    assert customers.cells[draft.stages[0].id] == "5,000 customers"


def test_report_page_builds_a_downloadable_report():
    at = run_page("report.py")
    # On first start the example map (linked to the sample) is the one offered.
    example = ms.list_maps(store())[0]
    assert at.selectbox(key="report_map").value == example.map_id
    at.button(key="report_build").click()
    rerun(at)
    settings, page = at.session_state["report_html"]
    assert page.startswith("<!DOCTYPE html>") and "Key figures" in page
    assert "5,000" in page and "Checkout is hard work" in page
    assert any(d.label == "Download report (HTML)" for d in at.download_button)


def history_table(at: AppTest):
    return next(d.value for d in at.dataframe if "What changed" in d.value.columns)


def test_history_lists_versions_newest_first_with_what_changed():
    at = run_page()
    map_id = create_retail_map(at)
    at.text_input(key="jm_author").set_value("Ann")
    # The retail template's pain points: Aware "Too many similar products", Purchase
    # "Delivery fee shown late", Retention empty.
    edit_cell(at, 4, 4, "Card declined")               # v2: Retention added
    edit_cell(at, 4, 2, "Fees shown at the end")       # v3: Purchase changed
    edit_cell(at, 4, 0, "")                            # v4: Aware cleared
    open_tab(at, "History")
    table = history_table(at)
    assert table["Version"].tolist() == [4, 3, 2, 1]
    assert table["By"].tolist() == ["Ann", "Ann", "Ann", "—"]
    assert table["What changed"].tolist() == [
        "Cells: 1 removed", "Cells: 1 changed", "Cells: 1 added",
        # 6 lanes × 6 stages, less the template's two empty pain points (Retention, Advocacy).
        "First version: 6 stages, 6 lanes, 34 cells"]
    assert "_row" not in table.columns and "ts" not in table.columns
    # The version picked (the newest by default) lists its changes in words.
    details = next(d.value for d in at.dataframe if "What version 4 changed" in d.value.columns)
    assert details.iloc[:, 0].tolist() == ["Removed Pain points × Aware "
                                           "(was “Too many similar products”)"]
    at.selectbox(key=f"jm_hist_{map_id}").set_value(3)
    rerun(at)
    details = next(d.value for d in at.dataframe if "What version 3 changed" in d.value.columns)
    assert details.iloc[:, 0].tolist() == [
        "Changed Pain points × Purchase: “Delivery fee shown late” → “Fees shown at the end”"]


def new_map_popover(at: AppTest):
    """The "New map" popover block of the page (its proto says whether it is open)."""
    def walk(node):
        proto = getattr(node, "proto", None)
        if getattr(node, "type", None) == "popover" and proto.popover.label == "New map":
            yield node
        for child in getattr(node, "children", {}).values():
            yield from walk(child)
    return next(walk(at._tree))


def test_new_map_popover_closes_after_creating_a_map():
    at = run_page()
    first = at.session_state["jm_map_id"]          # the example map opens on first start
    at.session_state["jm_new_popover"] = True      # the facilitator opens "New map"
    rerun(at)
    assert new_map_popover(at).proto.popover.open is True
    at.text_input(key="jm_new_name").set_value("Checkout workshop")
    rerun(at)
    assert new_map_popover(at).proto.popover.open is True     # typing keeps it open
    at.button(key="jm_create").click()
    rerun(at)
    assert at.session_state["jm_map_id"] != first
    assert at.session_state["jm_draft"].name == "Checkout workshop"
    assert at.session_state["jm_new_popover"] is False
    assert new_map_popover(at).proto.popover.open is False
    assert any("Created “Checkout workshop”" in s.value for s in at.success)


# ---------------------------------------------------------------------------------------
# Workshop: snapshots, sessions, one cell restored, the join page

def test_history_names_a_snapshot_groups_sessions_and_restores_one_cell():
    at = run_page()
    map_id = create_retail_map(at)
    at.text_input(key="jm_author").set_value("Ann")
    edit_cell(at, 4, 2, "Fees shown at the end")       # v2
    edit_cell(at, 0, 0, "Find it fast")                # v3
    open_tab(at, "History")
    at.text_input(key="jm_snapshot_name").set_value("after workshop 1")
    at.button(key="jm_snapshot").click()
    rerun(at)
    assert [(s.version, s.name) for s in ms.list_snapshots(store(), map_id)] == [
        (3, "after workshop 1")]
    # One editing session (all saves within minutes), named by its snapshot.
    [session] = [e for e in at.expander if "versions 1–3" in e.label]
    assert "★ after workshop 1" in session.label and "Ann" in session.label
    # Version 1's pain point back, the goal typed in version 3 kept.
    at.selectbox(key=f"jm_hist_{map_id}").set_value(1)
    rerun(at)
    pain = ms.load_map(store(), map_id).journey_map.lanes[4]
    choices = at.selectbox(key="jm_cell_pick")
    choices.set_value(next(i for i, label in enumerate(choices.options)
                           if label.startswith("Pain points × Purchase")))
    rerun(at)
    at.button(key="jm_cell_restore").click()
    rerun(at)
    latest = ms.load_map(store(), map_id)
    m = latest.journey_map
    assert m.cell(pain.id, m.stages[2].id) == "Delivery fee shown late"
    assert m.cell(m.lanes[0].id, m.stages[0].id) == "Find it fast"
    assert latest.info.note == "Restored one cell from version 1"


def test_join_page_adds_a_note_and_votes_and_respects_the_lock():
    at = run_page()
    map_id = create_retail_map(at)
    join = run_page("join.py", map=map_id, join_name="Priya")
    join.text_area(key="join_text").set_value("Delivery slots <too few>")
    [add] = [b for b in join.button if b.label == "Add note"]
    add.click()
    rerun(join)
    m = ms.load_map(store(), map_id).journey_map
    [note] = m.notes
    assert (note.text, note.author, note.stage_id) == ("Delivery slots <too few>", "Priya",
                                                      m.stages[0].id)
    assert any(t.value == "Delivery slots <too few>" for t in join.text)   # plain text
    # Dot voting, opened by the facilitator.
    ms.apply_ops(store(), map_id, [{"op": "workshop", "settings": {"voting_open": True,
                                                                   "votes_per_person": 1}}])
    rerun(join)
    join.button(key=f"join_vote_{note.id}").click()
    rerun(join)
    assert ms.load_map(store(), map_id).journey_map.votes == {"Priya": {note.id: 1}}
    assert join.button(key=f"join_vote_{note.id}").disabled               # no dot left
    # Locked: no form any more, and a note sent anyway is refused.
    ms.apply_ops(store(), map_id, [{"op": "workshop", "settings": {"locked": True}}])
    rerun(join)
    assert not [b for b in join.button if b.label == "Add note"]
    assert any("locked" in w.value for w in join.warning)


def test_a_deviation_from_the_map_is_pinned_to_its_pain_points():
    """Data tab of the example map (linked to the sample): 'Does reality follow the map?'
    and one click puts a deviation, with its figures, on the pain-point lane."""
    at = run_page()
    open_tab(at, "Data")
    assert "Does reality follow the map?" in [h.value for h in at.subheader]
    pin = next(b for b in at.button if b.label == "Add to pain points")
    pin.click()
    rerun(at)
    map_id = at.session_state["jm_map_id"]
    stored = ms.load_map(store(), map_id).journey_map
    pains = next(lane for lane in stored.lanes if lane.topic == "pain_points")
    pinned = [n for n in stored.notes if n.lane_id == pains.id and n.colour == "pink"]
    assert len(pinned) == 1
    assert "customers (" in pinned[0].text and "who follow the map" in pinned[0].text
