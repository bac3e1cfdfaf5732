"""Join a workshop from a phone: type your name, add sticky notes to a stage's lanes, vote.

URL: ``/join?map=<id>`` (the presentation shows it with a QR code).  Every note and vote
is applied to the newest stored version at once (``map_store.apply_ops``), so people
adding notes at the same moment never overwrite each other; the page looks for others'
notes every second.
"""
from __future__ import annotations

import datetime as dt
import time

import streamlit as st

from cxdata.maps import journey_map as jm
from cxdata.maps import workshop
from cxdata.store import map_store as ms
from cxdata.ui.auth import current_user_name
from cxdata.ui.state import get_workspace

MAP_PARAM = "map"
NAME = "join_name"            # the participant's name (kept in the URL: a reload keeps it)
STAGE = "join_stage"
LANE = "join_lane"
TEXT = "join_text"
COLOUR = "join_colour"
MESSAGE = "join_message"
#: Seconds between looks at the store: others' notes appear within a second.
POLL_SECONDS = 0.5
#: Lanes a participant can add notes to: what people say, not numbers from the data.
NOTE_KINDS = ("text", "touchpoints", "emotion")

ss = st.session_state

_NARROW = """<style>
[data-testid="stSidebar"],[data-testid="stSidebarCollapsedControl"],[data-testid="stSidebarNav"],
header[data-testid="stHeader"],[data-testid="stToolbar"],[data-testid="stDecoration"]{display:none !important}
[data-testid="stMainBlockContainer"],.block-container{max-width:34rem !important;padding:1rem 1rem 3rem 1rem !important}
</style>"""


def cursor():
    return get_workspace().cursor()


def name() -> str:
    """The participant: the signed-in name when sign-in is on, else the name typed in."""
    return jm.clean_text(current_user_name() or ss.get(NAME))


def say(kind: str, text: str) -> None:
    ss[MESSAGE] = (kind, text)


def send(ops: list[dict], done: str | None = None) -> None:
    """Apply the participant's operations to the newest version of the map."""
    try:
        result = ms.apply_ops(cursor(), st.query_params.get(MAP_PARAM), ops, author=name(),
                              role="participant")
    except (workshop.EditRefused, ms.MapNotFound) as exc:
        say("warning", str(exc))
        return
    if result.messages:
        say("warning", " ".join(result.messages))
    elif done:
        say("success", done)


def add_note() -> None:
    text = jm.clean_text(ss.get(TEXT))
    if not text:
        say("warning", "Type a note first.")
        return
    send([{"op": "add_note", "id": jm.new_id("n"), "lane": ss.get(LANE), "stage": ss.get(STAGE),
           "text": text, "colour": ss.get(COLOUR) or "yellow", "author": name()}],
         done="Your note is on the map.")


def vote(note_id: str) -> None:
    send([{"op": "vote", "note": note_id}])


def unvote(note_id: str) -> None:
    send([{"op": "unvote", "note": note_id}])


def remove(note_id: str) -> None:
    send([{"op": "remove_note", "note": note_id}], done="Note removed.")


def timer_text(ends_at: float | None, label: str) -> str | None:
    if ends_at is None:
        return None
    left = max(0, int(round(ends_at - time.time())))
    return f"Timer: {label + ' · ' if label else ''}{left // 60}:{left % 60:02d} left"


def latest(map_id: str) -> ms.StoredMap:
    """The newest version, read again only when its number changed."""
    cur = cursor()
    number = ms.latest_version(cur, map_id)
    cached = ss.get("join_stored")
    if cached is None or cached.map_id != map_id or cached.version != number:
        cached = ss["join_stored"] = ms.load_map(cur, map_id, number)
    return cached


@st.fragment(run_every=POLL_SECONDS)
def watch_store(map_id: str) -> None:
    """Look for others' notes and votes (one small query); draw the page again when the
    map changed.  Cheap enough to do twice a second on every phone in the room."""
    try:
        number = ms.latest_version(cursor(), map_id)
    except ms.MapNotFound:
        return
    if number != ss.get("join_drawn"):
        st.rerun()
    stored = ss.get("join_stored")
    if stored is not None:
        timer = timer_text(stored.journey_map.workshop.timer_ends_at,
                           stored.journey_map.workshop.timer_label)
        if timer:
            st.markdown(f"**{timer}**")


def room(map_id: str) -> None:
    try:
        stored = latest(map_id)
    except ms.MapNotFound:
        st.error("This workshop map no longer exists. Ask the facilitator for the new link.")
        return
    ss["join_drawn"] = stored.version
    m, ws = stored.journey_map, stored.journey_map.workshop
    if not m.stages:
        st.info("The map has no stages yet. Wait for the facilitator to add some.")
        return
    message = ss.pop(MESSAGE, None)
    if message:
        getattr(st, message[0])(message[1])
    if ws.locked:
        st.warning("The facilitator has locked the map: you can look, not add.",
                   icon=":material/lock:")
    stage_ids = [s.id for s in m.stages]
    names = {s.id: f"{i}. {s.name}" for i, s in enumerate(m.stages, start=1)}
    if ss.get(STAGE) not in stage_ids:
        ss[STAGE] = stage_ids[0]
    stage_id = st.selectbox("Stage", stage_ids, key=STAGE, format_func=names.get)
    lanes = [lane for lane in m.lanes if lane.kind in NOTE_KINDS and not lane.data_linked]
    if not lanes:
        st.info("This map has no lane for notes yet.")
        return
    lane_ids = [lane.id for lane in lanes]
    if ss.get(LANE) not in lane_ids:
        ss[LANE] = lane_ids[0]
    if not ws.locked:
        with st.form("join_add", border=True, enter_to_submit=False, clear_on_submit=True):
            st.selectbox("Lane", lane_ids, key=LANE,
                         format_func=lambda i: m.lane_by_id(i).name)
            st.text_area("Your note", key=TEXT, height=90, max_chars=500,
                         placeholder="One idea per note")
            st.segmented_control("Colour", list(jm.NOTE_COLOURS), key=COLOUR,
                                 default="yellow", required=True)
            st.form_submit_button("Add note", type="primary", icon=":material/sticky_note_2:",
                                  on_click=add_note, width="stretch")
    voting = ws.voting_open and not ws.locked
    mine = m.votes.get(name(), {})
    if voting:
        st.info(f"**Dot voting:** {workshop.votes_left(m, name())} of {ws.votes_per_person} votes "
                "left. Tap ● on the notes that matter most.", icon=":material/how_to_vote:")
    totals = workshop.vote_totals(m) if ws.votes_revealed else {}
    stage_notes = [n for n in m.notes if n.stage_id == stage_id]
    st.markdown(f"**Notes on {names[stage_id]}** ({len(stage_notes)})")
    if not stage_notes:
        st.caption("No notes here yet. Be the first!")
    for lane in m.lanes:
        notes = [n for n in stage_notes if n.lane_id == lane.id]
        if not notes:
            continue
        st.caption(lane.name)
        for note in notes:
            with st.container(border=True, key=f"join_note_{note.id}"):
                # Plain text: what people type is never read as Markdown or HTML.
                st.text(note.text)
                details = [f"— {note.author}" if note.author else ""]
                if totals.get(note.id):
                    details.append(f"● {totals[note.id]} votes")
                if mine.get(note.id):
                    details.append(f"your dots: {mine[note.id]}")
                st.caption(" · ".join(d for d in details if d) or " ")
                if voting or (note.author == name() and not ws.locked):
                    with st.container(horizontal=True):
                        if voting:
                            st.button("● Vote", key=f"join_vote_{note.id}", on_click=vote,
                                      args=(note.id,), disabled=workshop.votes_left(m, name()) <= 0)
                            if mine.get(note.id):
                                st.button("Take back", key=f"join_unvote_{note.id}",
                                          on_click=unvote, args=(note.id,), type="tertiary")
                        if note.author == name() and not ws.locked:
                            st.button("Remove", key=f"join_remove_{note.id}", on_click=remove,
                                      args=(note.id,), type="tertiary")
    if ws.votes_revealed:
        results = workshop.vote_results(m)
        if results:
            st.markdown("**Votes, most first**")
            st.dataframe([{"Rank": r.rank, "Votes": r.votes, "Note": r.note.text}
                          for r in results], hide_index=True, width="stretch")
    st.caption(f"Updated {dt.datetime.now(dt.timezone.utc):%H:%M:%S} UTC · version {stored.version}")


def main() -> None:
    st.html(_NARROW)
    map_id = st.query_params.get(MAP_PARAM)
    maps = {m.map_id: m for m in ms.list_maps(cursor())}
    if not map_id or map_id not in maps:
        st.title("Join a workshop")
        st.info("Open the link (or scan the QR code) that the facilitator's presentation "
                "shows: it names the map you add notes to.")
        return
    st.subheader(maps[map_id].name)
    if current_user_name() is None:      # signed in: the name comes from the login
        st.text_input("Your name", key=NAME, bind="query-params", max_chars=60,
                      placeholder="So the room knows whose note it is")
    if not name():
        st.caption("Type your name to add notes and vote.")
        return
    top = st.container()      # the timer shows at the top, drawn by the watcher
    room(map_id)
    with top:
        watch_store(map_id)


main()
