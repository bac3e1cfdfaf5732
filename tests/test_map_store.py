"""Map storage: versions, restore, conflicts, and the cell-level three-way merge."""
from __future__ import annotations

import datetime as dt
import threading

import duckdb
import pytest

from cxdata.maps import journey_map as jm
from cxdata.maps import merge
from cxdata.maps.changes import describe_changes
from cxdata.store import map_store as ms
from cxdata.bootstrap import SAMPLE_NAME
from tests.helpers_maps import memory_cursor


def base_map() -> jm.JourneyMap:
    """Three stages × three lanes with fixed ids, so tests can name cells."""
    return jm.JourneyMap(
        name="Checkout workshop",
        stages=[jm.Stage("s1", "Browse"), jm.Stage("s2", "Cart"), jm.Stage("s3", "Pay")],
        lanes=[jm.Lane("goals", "Goals", "text", "goals", {"s1": "Find it"}),
               jm.Lane("pain", "Pain points", "text", "pain_points", {"s2": "Hidden fees"}),
               jm.Lane("emo", "Emotion", "emotion", "typed", {"s1": "+1", "s2": "-1"})],
        persona=jm.Persona("Maya"), scenario="Buy a backpack")


# ---------------------------------------------------------------------------------------
# Storage and versions

def test_tables_are_created_lazily():
    cur = memory_cursor()
    assert ms.list_maps(cur) == []
    tables = {r[0] for r in cur.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"journey_maps", "journey_map_versions"} <= tables
    ms.ensure_map_tables(cur)   # idempotent


def test_every_save_is_a_version_with_author_and_utc_time():
    cur = memory_cursor()
    before = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    first = ms.create_map(cur, base_map(), author="Ann")
    assert (first.version, first.info.author, first.info.note) == (1, "Ann", "Created")
    edited = jm.set_cell(first.journey_map, "pain", "s3", "Card declined")
    second = ms.save_map(cur, first.map_id, edited, base_version=1, author=None)
    after = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    assert second.version == 2 and second.info.author is None      # "by whom if known"
    # saved_at is UTC wall time (naive): between the two UTC clock readings.
    assert before <= first.info.saved_at <= second.info.saved_at <= after
    assert [v.version for v in ms.list_versions(cur, first.map_id)] == [2, 1]
    assert ms.load_map(cur, first.map_id, 1).journey_map == base_map()
    assert ms.load_map(cur, first.map_id).journey_map.cell("pain", "s3") == "Card declined"
    assert ms.latest_version(cur, first.map_id) == 2


def test_list_and_find_maps():
    cur = memory_cursor()
    a = ms.create_map(cur, base_map(), author="Ann")
    other = base_map()
    other.name = "Support"
    b = ms.create_map(cur, other)
    renamed = ms.load_map(cur, a.map_id).journey_map
    renamed.name = "Checkout v2"
    ms.save_map(cur, a.map_id, renamed, base_version=1, author="Bob")
    summaries = {s.map_id: s for s in ms.list_maps(cur)}
    assert summaries[a.map_id].name == "Checkout v2"             # the latest version's name
    assert (summaries[a.map_id].latest_version, summaries[a.map_id].updated_by) == (2, "Bob")
    assert ms.find_map(cur, "Support").map_id == b.map_id
    assert ms.find_map(cur, a.map_id).version == 2
    with pytest.raises(ms.MapNotFound):
        ms.find_map(cur, "nope")
    with pytest.raises(ms.MapNotFound):
        ms.load_map(cur, a.map_id, 7)


def test_restore_makes_a_new_version_and_keeps_history():
    cur = memory_cursor()
    v1 = ms.create_map(cur, base_map())
    v2 = ms.save_map(cur, v1.map_id, jm.remove_stage(v1.journey_map, "s3"), base_version=1)
    v3 = ms.restore_version(cur, v1.map_id, 1, author="Ann")
    assert (v3.version, v3.info.restored_from, v3.info.note) == (3, 1, "Restored version 1")
    assert v3.journey_map == base_map()
    assert ms.load_map(cur, v1.map_id, 2).journey_map == v2.journey_map   # nothing lost
    assert [v.version for v in ms.list_versions(cur, v1.map_id)] == [3, 2, 1]


def test_restore_with_a_stale_view_is_a_conflict():
    cur = memory_cursor()
    v1 = ms.create_map(cur, base_map())
    ms.save_map(cur, v1.map_id, jm.rename_stage(v1.journey_map, "s1", "Look"), base_version=1)
    with pytest.raises(ms.SaveConflict):
        ms.restore_version(cur, v1.map_id, 1, base_version=1)
    assert ms.latest_version(cur, v1.map_id) == 2


# ---------------------------------------------------------------------------------------
# Conflicts

def test_a_stale_save_is_told_and_writes_nothing():
    cur = memory_cursor()
    v1 = ms.create_map(cur, base_map(), author="Ann")
    ann = jm.set_cell(v1.journey_map, "pain", "s2", "Hidden fees and slow page")
    ms.save_map(cur, v1.map_id, ann, base_version=1, author="Ann")
    bob = jm.set_cell(v1.journey_map, "goals", "s3", "Pay fast")
    with pytest.raises(ms.SaveConflict) as caught:
        ms.save_map(cur, v1.map_id, bob, base_version=1, author="Bob")
    conflict = caught.value
    assert "Ann saved version 2" in str(conflict)
    assert conflict.theirs.version == 2 and conflict.theirs.journey_map == ann
    assert conflict.base == v1.journey_map and conflict.mine == bob
    assert ms.latest_version(cur, v1.map_id) == 2             # Bob's save wrote nothing
    # Different cells: the merge keeps both edits and reports no conflict.
    result = conflict.merge()
    assert result.conflicts == []
    assert result.merged.cell("pain", "s2") == "Hidden fees and slow page"
    assert result.merged.cell("goals", "s3") == "Pay fast"
    saved = ms.save_map(cur, v1.map_id, result.merged, base_version=conflict.theirs.version,
                        author="Bob", note="Merged")
    assert saved.version == 3


def test_two_threads_saving_from_the_same_version_never_both_win(tmp_path):
    con = duckdb.connect(str(tmp_path / "maps.duckdb"))
    v1 = ms.create_map(con.cursor(), base_map())
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def editor(name: str) -> None:
        cur = con.cursor()                      # one cursor per thread, as in the app
        mine = jm.set_cell(v1.journey_map, "goals", "s2", f"{name} was here")
        barrier.wait()
        try:
            ms.save_map(cur, v1.map_id, mine, base_version=1, author=name)
            outcomes.append("saved")
        except ms.SaveConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=editor, args=(n,)) for n in ("Ann", "Bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "saved"]
    assert ms.latest_version(con.cursor(), v1.map_id) == 2


# ---------------------------------------------------------------------------------------
# Three-way merge

def test_same_cell_changed_twice_is_a_conflict_resolved_by_choice():
    base = base_map()
    mine = jm.set_cell(base, "pain", "s2", "Fees shown late")
    theirs = jm.set_cell(base, "pain", "s2", "Delivery cost surprise")
    result = merge.three_way_merge(base, mine, theirs)
    [conflict] = result.conflicts
    assert conflict.key == ("cell", "pain", "s2") and conflict.label == "Pain points × Cart"
    assert (conflict.base, conflict.mine, conflict.theirs) == ("Hidden fees", "Fees shown late",
                                                               "Delivery cost surprise")
    assert conflict.chosen == "mine" and result.merged.cell("pain", "s2") == "Fees shown late"
    picked = merge.three_way_merge(base, mine, theirs, {conflict.key_id: "theirs"})
    assert picked.merged.cell("pain", "s2") == "Delivery cost surprise"
    assert picked.conflicts[0].chosen == "theirs"


def test_identical_changes_are_not_conflicts():
    base = base_map()
    both = jm.set_cell(base, "emo", "s3", "+2")
    result = merge.three_way_merge(base, both, both)
    assert result.conflicts == [] and result.merged == both


def test_structure_changes_on_both_sides_combine():
    base = base_map()
    mine = jm.add_stage(base, "Deliver", stage_id="s4")                  # added at the end
    mine = jm.set_cell(mine, "goals", "s4", "Arrives Monday")
    theirs = jm.rename_stage(base, "s2", "Basket")
    theirs = jm.add_lane(theirs, "Opportunities", lane_id="opp", position=2)
    theirs = jm.set_cell(theirs, "opp", "s1", "Size guide")
    result = merge.three_way_merge(base, mine, theirs)
    assert result.conflicts == []
    m = result.merged
    assert m.stage_names() == ["Browse", "Basket", "Pay", "Deliver"]
    assert [lane.id for lane in m.lanes] == ["goals", "pain", "opp", "emo"]
    assert m.cell("goals", "s4") == "Arrives Monday" and m.cell("opp", "s1") == "Size guide"


def test_deleting_a_stage_the_other_side_edited_keeps_it_whole():
    base = base_map()
    mine = jm.remove_stage(base, "s2")
    theirs = jm.set_cell(base, "goals", "s2", "Check the total")
    result = merge.three_way_merge(base, mine, theirs)
    # One conflict: the stage mine deleted and theirs typed into.
    [conflict] = result.conflicts
    assert conflict.key == ("stage", "s2") and (conflict.mine, conflict.theirs) == (None, "Cart")
    assert conflict.label.startswith("Stage “Cart”")
    assert conflict.chosen == "theirs"                     # nothing typed is lost by default
    m = result.merged
    assert m.stage_names() == ["Browse", "Cart", "Pay"]
    # The stage comes back with all of its cells from the side that kept it.
    assert m.cell("goals", "s2") == "Check the total"
    assert m.cell("pain", "s2") == "Hidden fees" and m.cell("emo", "s2") == "-1"
    # Choosing "mine" deletes it after all, cells included.
    gone = merge.three_way_merge(base, mine, theirs, {"stage/s2": "mine"}).merged
    assert gone.stage_names() == ["Browse", "Pay"]
    assert all("s2" not in lane.cells for lane in gone.lanes)


def test_deleting_a_lane_nobody_else_touched_just_deletes_it():
    base = base_map()
    mine = jm.remove_lane(base, "pain")
    theirs = jm.set_cell(base, "goals", "s3", "Pay quickly")
    result = merge.three_way_merge(base, mine, theirs)
    assert result.conflicts == []
    assert [lane.id for lane in result.merged.lanes] == ["goals", "emo"]
    assert result.merged.cell("goals", "s3") == "Pay quickly"


def test_both_reordering_differently_is_one_conflict():
    base = base_map()
    mine = jm.move_stage(base, "s3", 0)        # Pay, Browse, Cart
    theirs = jm.move_stage(base, "s1", 2)      # Cart, Pay, Browse
    result = merge.three_way_merge(base, mine, theirs)
    [conflict] = result.conflicts
    assert conflict.key == ("order", "stages")
    assert (conflict.mine, conflict.theirs) == ("Pay → Browse → Cart", "Cart → Pay → Browse")
    assert result.merged.stage_names() == ["Pay", "Browse", "Cart"]
    theirs_order = merge.three_way_merge(base, mine, theirs, {"order/stages": "theirs"})
    assert theirs_order.merged.stage_names() == ["Cart", "Pay", "Browse"]


def test_one_side_reordering_and_the_other_editing_combine():
    base = base_map()
    mine = jm.move_lane(base, "emo", 0)
    theirs = jm.set_cell(base, "emo", "s3", "-2 card declined")
    result = merge.three_way_merge(base, mine, theirs)
    assert result.conflicts == []
    assert [lane.id for lane in result.merged.lanes] == ["emo", "goals", "pain"]
    assert result.merged.cell("emo", "s3") == "-2 card declined"


def test_example_maps_install_once_and_link_to_the_sample():
    cur = memory_cursor()
    created = ms.install_example_maps(cur)
    assert len(created) >= 1
    sample = ms.load_map_by_name(cur, "Online retail — sample journey")
    assert sample.dataset == SAMPLE_NAME
    assert sample.stage_names() == ["Aware", "Consideration", "Purchase", "Retention", "Advocacy"]
    assert any(lane.data_linked for lane in sample.lanes)
    assert ms.install_example_maps(cur) == []                 # second call: nothing new
    assert len(ms.list_maps(cur)) == len(created)


# ---------------------------------------------------------------------------------------
# History: what changed in each version

def test_describe_changes_of_cells_in_plain_words():
    old = base_map()
    new = jm.set_cell(old, "pain", "s3", "Card declined")          # added
    new = jm.set_cell(new, "goals", "s1", "Find it fast")           # changed
    new = jm.set_cell(new, "emo", "s2", "")                         # removed
    changes = describe_changes(old, new)
    assert changes.summary == "Cells: 1 added, 1 changed, 1 removed"
    assert changes.details == [
        "Added Pain points × Pay: “Card declined”",
        "Changed Goals × Browse: “Find it” → “Find it fast”",
        "Removed Emotion × Cart (was “-1”)"]


def test_describe_changes_of_stages_lanes_and_persona():
    old = base_map()
    new = jm.add_stage(old, "Deliver", stage_id="s4")
    new = jm.rename_stage(new, "s1", "Discover")
    new = jm.remove_stage(new, "s2")                 # its two cells go with it
    new = jm.add_lane(new, "Owners", "text", "owners", lane_id="own")
    new = jm.remove_lane(new, "goals")
    new.persona = jm.Persona("Maya, busy parent")
    changes = describe_changes(old, new)
    # Cells of a removed stage or lane are not counted again one by one.
    assert changes.summary == ("Stages: 1 added, 1 renamed, 1 removed · Lanes: 1 added, "
                               "1 removed · Persona")
    assert changes.details == [
        "Added stage “Deliver”",
        "Renamed stage “Browse” to “Discover”",
        "Removed stage “Cart” (with 2 cells)",
        "Added lane “Owners”",
        "Removed lane “Goals” (with 1 cell)",
        "Changed the persona's name: “Maya” → “Maya, busy parent”"]
    assert describe_changes(old, old).summary == "No change"
    first = describe_changes(None, old)
    assert first.summary == "First version: 3 stages, 3 lanes, 4 cells"


def test_version_history_is_newest_first_with_changes_against_the_previous_version():
    cur = memory_cursor()
    v1 = ms.create_map(cur, base_map(), author="Ann")
    v2 = ms.save_map(cur, v1.map_id, jm.set_cell(v1.journey_map, "pain", "s3", "Card declined"),
                     base_version=1, author="Bob")
    v3 = ms.save_map(cur, v1.map_id, jm.set_cell(v2.journey_map, "pain", "s3", ""),
                     base_version=2, author="Ann")
    ms.restore_version(cur, v1.map_id, 2, author="Cy")
    history = ms.version_history(cur, v1.map_id)
    assert [(h.info.version, h.info.author) for h in history] == [
        (4, "Cy"), (3, "Ann"), (2, "Bob"), (1, "Ann")]
    assert [h.changes.summary for h in history] == [
        "Cells: 1 added", "Cells: 1 removed", "Cells: 1 added",
        "First version: 3 stages, 3 lanes, 4 cells"]
    assert history[1].changes.details == ["Removed Pain points × Pay (was “Card declined”)"]
    # A limit keeps the newest versions, each still compared with its own predecessor.
    assert [(h.info.version, h.changes.summary) for h in ms.version_history(cur, v1.map_id,
                                                                           limit=2)] == [
        (4, "Cells: 1 added"), (3, "Cells: 1 removed")]
    assert v3.version == 3
