"""The workshop model: sticky notes, dot voting, the lock, edit operations (as the canvas
and the join page send them), and how the store keeps everyone's notes (SPEC §5)."""
from __future__ import annotations

import datetime as dt
import threading

import duckdb
import pytest

from cxdata.maps import journey_map as jm
from cxdata.maps import json_format, operations, workshop
from cxdata.maps import merge
from cxdata.store import map_store as ms
from tests.helpers_maps import memory_cursor


def base_map() -> jm.JourneyMap:
    return jm.JourneyMap(
        name="Checkout workshop",
        stages=[jm.Stage("s1", "Browse"), jm.Stage("s2", "Cart"), jm.Stage("s3", "Pay")],
        lanes=[jm.Lane("goals", "Goals", "text", "goals", {"s1": "Find it"}),
               jm.Lane("pain", "Pain points", "text", "pain_points", {"s2": "Hidden fees"}),
               jm.Lane("opp", "Opportunities", "text", "opportunities", {})])


def with_notes() -> jm.JourneyMap:
    m = workshop.add_note(base_map(), "pain", "s2", "Fees appear late", author="Ann", note_id="n1")
    m = workshop.add_note(m, "pain", "s2", "Coupon field confusing", author="Bob", note_id="n2",
                    colour="pink")
    return workshop.add_note(m, "opp", "s3", "Show fees up front", author="Cleo", note_id="n3")


# ---------------------------------------------------------------------------------------
# Notes

def test_several_notes_per_cell_keep_their_order_colour_and_author():
    m = with_notes()
    assert [(n.text, n.colour, n.author) for n in m.notes_in("pain", "s2")] == [
        ("Fees appear late", "yellow", "Ann"), ("Coupon field confusing", "pink", "Bob")]
    assert m.notes_in("pain", "s1") == []


def test_a_note_moves_between_cells_with_its_votes():
    m = workshop.set_workshop(with_notes(), voting_open=True)
    m = workshop.cast_vote(m, "Dan", "n2")
    moved = workshop.move_note(m, "n2", "opp", "s3", index=0)
    assert [n.id for n in moved.notes_in("opp", "s3")] == ["n2", "n3"]
    assert [n.id for n in moved.notes_in("pain", "s2")] == ["n1"]
    assert workshop.vote_totals(moved) == {"n2": 1}


def test_empty_notes_and_unknown_colours_are_handled():
    with pytest.raises(workshop.EditRefused):
        workshop.add_note(base_map(), "pain", "s1", "   ")
    m = workshop.add_note(base_map(), "pain", "s1", "x", colour="<script>")
    assert m.notes[0].colour == "yellow"


def test_removing_a_stage_or_lane_removes_its_notes_and_their_votes():
    m = workshop.cast_vote(workshop.set_workshop(with_notes(), voting_open=True), "Dan", "n1")
    m = jm.remove_stage(m, "s2")
    assert [n.id for n in m.notes] == ["n3"] and m.votes == {}
    assert [n.id for n in jm.remove_lane(with_notes(), "opp").notes] == ["n1", "n2"]


def test_opportunities_carry_owner_metric_and_status():
    m = workshop.edit_note(with_notes(), "n3", owner="Priya (checkout team)",
                     metric="Checkout conversion", status="Planned")
    note = m.note_by_id("n3")
    assert (note.owner, note.metric, note.status) == ("Priya (checkout team)",
                                                      "Checkout conversion", "planned")
    with pytest.raises(workshop.EditRefused):
        workshop.edit_note(m, "n3", status="someday")


def test_notes_votes_and_workshop_round_trip_through_json():
    m = workshop.set_workshop(with_notes(), voting_open=True, votes_per_person=2, locked=False,
                        timer_ends_at=1_900_000_000.5, timer_label="Pain points")
    m = workshop.cast_vote(m, "Dan", "n1")
    again = json_format.from_json(json_format.to_json(m))
    assert again == m
    # A map saved before notes existed still reads.
    old = json_format.to_json_dict(base_map())
    for key in ("notes", "votes", "workshop"):
        old.pop(key)
    assert json_format.from_json_dict(old) == base_map()


# ---------------------------------------------------------------------------------------
# Dot voting and the lock

def test_votes_are_limited_per_person_and_refused_while_closed_or_locked():
    m = with_notes()
    with pytest.raises(workshop.EditRefused, match="not open"):
        workshop.cast_vote(m, "Dan", "n1")
    m = workshop.set_workshop(m, voting_open=True, votes_per_person=2)
    m = workshop.cast_vote(workshop.cast_vote(m, "Dan", "n1"), "Dan", "n1")    # two dots on one note
    assert workshop.votes_left(m, "Dan") == 0
    with pytest.raises(workshop.EditRefused, match="all 2"):
        workshop.cast_vote(m, "Dan", "n2")
    m = workshop.retract_vote(m, "Dan", "n1")
    assert workshop.votes_left(m, "Dan") == 1 and workshop.vote_totals(m) == {"n1": 1}
    locked = workshop.set_workshop(m, locked=True)
    with pytest.raises(workshop.EditRefused, match="locked"):
        workshop.cast_vote(locked, "Eve", "n2")


def test_results_are_ranked_with_ties_sharing_a_rank():
    m = workshop.set_workshop(with_notes(), voting_open=True, votes_per_person=3)
    for voter, notes in {"Ann": ["n2", "n2", "n3"], "Bob": ["n3", "n1"], "Cleo": ["n2"]}.items():
        for note in notes:
            m = workshop.cast_vote(m, voter, note)
    results = workshop.vote_results(m)
    # n2: 3 dots (2 people), n3: 2 dots, n1: 1 dot.
    assert [(r.rank, r.note.id, r.votes, r.voters) for r in results] == [
        (1, "n2", 3, 2), (2, "n3", 2, 2), (3, "n1", 1, 1)]
    tied = workshop.cast_vote(m, "Dan", "n1")
    assert [(r.rank, r.note.id) for r in workshop.vote_results(tied)] == [
        (1, "n2"), (2, "n1"), (2, "n3")]


# ---------------------------------------------------------------------------------------
# Operations

def test_participants_may_only_add_notes_and_vote_and_nothing_while_locked():
    m = with_notes()
    added, _ = operations.apply_op(m, {"op": "add_note", "lane": "pain", "stage": "s1", "text": "Slow",
                               "id": "n9"}, author="Eve", role="participant")
    assert added.note_by_id("n9").author == "Eve"
    with pytest.raises(workshop.EditRefused, match="facilitator"):
        operations.apply_op(m, {"op": "set_cell", "lane": "pain", "stage": "s1", "text": "x"},
                    author="Eve", role="participant")
    with pytest.raises(workshop.EditRefused, match="own notes"):
        operations.apply_op(m, {"op": "remove_note", "note": "n1"}, author="Eve", role="participant")
    locked = workshop.set_workshop(m, locked=True)
    with pytest.raises(workshop.EditRefused, match="locked"):
        operations.apply_op(locked, {"op": "add_note", "lane": "pain", "stage": "s1", "text": "x"},
                    author="Eve", role="participant")


def test_a_cell_changed_meanwhile_keeps_both_texts():
    m = base_map()
    # Bob saw "Hidden fees" and typed over it, but Ann had changed the cell already.
    ann = jm.set_cell(m, "pain", "s2", "Fees shown at the end")
    out, message = operations.apply_op(ann, {"op": "set_cell", "lane": "pain", "stage": "s2",
                                     "text": "Delivery fee surprise", "base": "Hidden fees"},
                               author="Bob")
    assert out.cell("pain", "s2") == "Fees shown at the end"
    assert [(n.text, n.author) for n in out.notes_in("pain", "s2")] == [
        ("Delivery fee surprise", "Bob")]
    assert "kept as a note" in message
    # Without a clash the cell simply changes.
    same, message = operations.apply_op(m, {"op": "set_cell", "lane": "pain", "stage": "s2",
                                    "text": "New", "base": "Hidden fees"})
    assert same.cell("pain", "s2") == "New" and message is None


def test_removing_and_restoring_a_stage_brings_back_cells_and_notes():
    m = with_notes()
    removed, _ = operations.apply_op(m, {"op": "remove_stage", "stage": "s2"})
    restored, _ = operations.apply_op(removed, {
        "op": "restore_stage", "stage": {"id": "s2", "name": "Cart"}, "position": 1,
        "cells": {"pain": "Hidden fees"},
        "notes": [operations.note_to_dict(n) for n in m.notes if n.stage_id == "s2"]})
    assert restored.stage_names() == ["Browse", "Cart", "Pay"]
    assert restored.cell("pain", "s2") == "Hidden fees"
    assert [n.id for n in restored.notes_in("pain", "s2")] == ["n1", "n2"]


def test_an_edit_to_something_deleted_meanwhile_is_skipped_with_a_message():
    out, message = operations.apply_op(base_map(), {"op": "set_cell", "lane": "gone", "stage": "s1",
                                            "text": "x"})
    assert out == base_map() and "removed" in message


# ---------------------------------------------------------------------------------------
# The store

def stored_map():
    cur = memory_cursor()
    return cur, ms.create_map(cur, with_notes(), author="Ann")


def test_apply_ops_saves_at_once_on_the_newest_version():
    cur, stored = stored_map()
    result = ms.apply_ops(cur, stored.map_id, [
        {"op": "add_note", "lane": "goals", "stage": "s1", "text": "Wants reviews", "id": "n7"}],
        author="Eve", role="participant")
    assert result.saved and result.stored.version == 2
    info = ms.version_info(cur, stored.map_id, 2)
    assert info.author == "Eve" and info.note == "Autosave: Note added"
    unchanged = ms.apply_ops(cur, stored.map_id, [{"op": "remove_note", "note": "missing"}])
    assert not unchanged.saved and unchanged.stored.version == 2


def test_many_people_adding_notes_at_once_lose_nothing(tmp_path):
    # One connection, one cursor per thread: how the app serves its sessions.
    connection = duckdb.connect(str(tmp_path / "ws.duckdb"))
    cur = connection.cursor()
    stored = ms.create_map(cur, with_notes(), author="Ann")
    people = [f"P{i}" for i in range(6)]
    errors = []

    def add(name: str) -> None:
        mine = connection.cursor()
        try:
            for k in range(5):
                ms.apply_ops(mine, stored.map_id, [
                    {"op": "add_note", "lane": "pain", "stage": "s3", "text": f"{name} #{k}"}],
                    author=name, role="participant")
        except Exception as exc:            # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    final = ms.load_map(cur, stored.map_id)
    texts = {n.text for n in final.journey_map.notes_in("pain", "s3")}
    assert texts == {f"{p} #{k}" for p in people for k in range(5)}
    assert final.version == 1 + 6 * 5


def test_the_merge_keeps_notes_and_votes_added_on_both_sides():
    base = workshop.set_workshop(with_notes(), voting_open=True)
    mine = workshop.add_note(base, "goals", "s2", "Mine", note_id="m1")
    mine = workshop.cast_vote(mine, "Ann", "n1")
    theirs = workshop.add_note(base, "goals", "s3", "Theirs", note_id="t1")
    theirs = workshop.cast_vote(workshop.remove_note(theirs, "n2"), "Bob", "n3")
    result = merge.three_way_merge(base, mine, theirs)
    assert not result.conflicts
    merged = result.merged
    assert {n.id for n in merged.notes} == {"n1", "n3", "m1", "t1"}
    assert merged.votes == {"Ann": {"n1": 1}, "Bob": {"n3": 1}}
    assert merged.workshop.voting_open


def test_restore_one_cell_from_an_old_version():
    cur, stored = stored_map()
    ms.apply_ops(cur, stored.map_id, [{"op": "set_cell", "lane": "pain", "stage": "s2",
                                       "text": "Fees fixed"},
                                      {"op": "set_cell", "lane": "goals", "stage": "s1",
                                       "text": "Find it fast"}])
    result = ms.restore_cell(cur, stored.map_id, 1, "pain", "s2", author="Ann")
    m = result.stored.journey_map
    assert m.cell("pain", "s2") == "Hidden fees" and m.cell("goals", "s1") == "Find it fast"
    assert result.stored.info.note == "Restored one cell from version 1"
    assert ms.changed_cells(ms.load_map(cur, stored.map_id, 2).journey_map, m) == [("pain", "s2")]


def test_named_snapshots_and_editing_sessions():
    cur, stored = stored_map()
    for text in ("a", "b"):
        ms.apply_ops(cur, stored.map_id, [{"op": "set_cell", "lane": "goals", "stage": "s2",
                                           "text": text}], author="Ann")
    snap = ms.create_snapshot(cur, stored.map_id, "  after   workshop 1 ", author="Ann")
    assert (snap.version, snap.name) == (3, "after workshop 1")
    with pytest.raises(Exception):
        ms.create_snapshot(cur, stored.map_id, "  ")
    # A later save, an hour after: a second session.
    ms.apply_ops(cur, stored.map_id, [{"op": "add_note", "lane": "goals", "stage": "s3",
                                       "text": "Later"}], author="Bob")
    cur.execute("UPDATE journey_map_versions SET saved_at = saved_at + INTERVAL 1 HOUR "
                "WHERE map_id = ? AND version = 4", [stored.map_id])
    sessions = ms.edit_sessions(cur, stored.map_id)
    assert [(s.first.version, s.last.version, s.count) for s in sessions] == [(4, 4, 1), (1, 3, 3)]
    assert sessions[0].authors == ("Bob",) and "Notes: 1 added" in sessions[0].changes.summary
    assert [s.name for s in sessions[1].snapshots] == ["after workshop 1"]
    assert [s.name for s in ms.list_snapshots(cur, stored.map_id)] == ["after workshop 1"]


def test_group_sessions_splits_on_pauses():
    t0 = dt.datetime(2026, 5, 1, 9, 0)
    infos = [ms.VersionInfo("m", v, t0 + dt.timedelta(minutes=minute), "Ann", None, None)
             for v, minute in [(1, 0), (2, 5), (3, 24), (4, 60), (5, 61)]]
    groups = ms.group_sessions(infos, gap_minutes=20)
    assert [[i.version for i in g] for g in groups] == [[5, 4], [3, 2, 1]]


def test_a_draft_saved_while_typing_never_becomes_a_note():
    m = base_map()
    ann = jm.set_cell(m, "pain", "s2", "Fees shown at the end")
    out, message = operations.apply_op(ann, {"op": "set_cell", "lane": "pain", "stage": "s2",
                                     "text": "Deliv", "base": "Hidden fees", "draft": True})
    assert out == ann and message is None
    # A draft on top of the sender's own previous draft is an ordinary change.
    typed = jm.set_cell(m, "pain", "s2", "Deliv")
    out, _ = operations.apply_op(typed, {"op": "set_cell", "lane": "pain", "stage": "s2",
                                 "text": "Delivery fee", "base": "Deliv", "draft": True})
    assert out.cell("pain", "s2") == "Delivery fee"
