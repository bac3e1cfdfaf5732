"""Journey map: build a map live in a workshop, present it, keep every version, export it.

SPEC §5.  The map being edited (the *draft*) lives in the session; every change is saved
at once as a new version (autosave, on by default) or with the Save button.  A save names
the version the editor started from, so a save made after somebody else's is refused
and offered as a merge instead: nothing is overwritten silently.  A fragment polls the
store every few seconds, so viewers (and the presentation window) see others' saves.

URL: ``?map=<id>`` opens a map; ``&present=1`` shows it full screen for a room.
"""
from __future__ import annotations

import dataclasses
import time
import uuid
from urllib.parse import urlsplit

import streamlit as st

from cxdata.maps import journey_map as jm
from cxdata.maps import json_format, workshop
from cxdata.maps import merge
from cxdata.maps import data_lanes, editor_tables, exports, templates
from cxdata.presentation import map_canvas as mc
from cxdata.store import map_store as ms
from cxdata.errors import CxDataError
from cxdata.ui import spark_run
from cxdata.ui.auth import author_name
from cxdata.ui.canvas_component import map_canvas
from cxdata.ui.downloads import file_stem
from cxdata.ui.filters import plain as _md
from cxdata.ui.state import current_dataset, get_workspace
from cxdata.ui.why_map import conformance_section

POLL_SECONDS = 2.5
MAP_PARAM, PRESENT_PARAM = "map", "present"

# Session state (one browser tab = one session).
MAP_ID = "jm_map_id"          # id of the open map
DRAFT = "jm_draft"            # JourneyMap as edited here
BASE_VERSION = "jm_base"      # the stored version the draft started from
BASE_MAP = "jm_base_map"      # that version's content (to see what changed here)
NONCE = "jm_nonce"            # bumped to re-create the editors when the draft is replaced
NOTICE = "jm_notice"          # (kind, text) shown once after a rerun
CHOICES = "jm_choices"        # merge choices: conflict key id -> "mine" / "theirs"
STAGE = "jm_stage"            # presentation: 0 = whole map, else 1-based stage
AUTHOR = "jm_author"          # "Your name", recorded with each version
AUTOSAVE = "jm_autosave"
PICKER = "jm_picker"
NEW_MAP_POPOVER = "jm_new_popover"   # open (True) / closed (False) "New map" popover
TAB_KEY = "jm_tabs"           # the open tab under the canvas
TABS = ["All cells as a table", "Stages & lanes", "Persona & scenario", "Data", "History",
        "Export"]

ss = st.session_state


def cursor():
    """A new cursor per call: Streamlit runs sessions (and fragments) on threads."""
    return get_workspace().cursor()


def author() -> str | None:
    """Who saves: the signed-in name when sign-in is on, else the name typed in."""
    return author_name(ss.get(AUTHOR))


def who(info: ms.VersionInfo) -> str:
    return info.author or "Someone"


def when(info: ms.VersionInfo) -> str:
    return f"{info.saved_at:%d %b %H:%M} UTC"


def notice(kind: str, text: str) -> None:
    ss[NOTICE] = (kind, text)


# ---------------------------------------------------------------------------------------
# Draft and saving

def adopt(stored: ms.StoredMap) -> None:
    """Make a stored version the draft (and the base of the next save)."""
    ss[MAP_ID] = stored.map_id
    ss[DRAFT] = stored.journey_map
    ss[BASE_VERSION] = stored.version
    ss[BASE_MAP] = stored.journey_map
    ss[NONCE] = ss.get(NONCE, 0) + 1
    ss[CHOICES] = {}
    st.query_params[MAP_PARAM] = stored.map_id


def has_local_changes() -> bool:
    return ss.get(DRAFT) is not None and ss[DRAFT] != ss.get(BASE_MAP)


def save_draft(note: str | None = None) -> bool:
    """Save the draft as a new version; False when somebody saved first (the merge
    panel then shows)."""
    if not has_local_changes():
        return True
    try:
        stored = ms.save_map(cursor(), ss[MAP_ID], ss[DRAFT], base_version=ss[BASE_VERSION],
                             author=author(), note=note)
    except ms.SaveConflict as conflict:
        # Others saved meanwhile (in a workshop: notes and votes arrive all the time).
        # When nobody changed the same field, both are kept without asking.
        result = conflict.merge()
        if result.conflicts:
            return False
        try:
            stored = ms.save_map(cursor(), ss[MAP_ID], result.merged,
                                 base_version=conflict.theirs.version, author=author(),
                                 note=note or f"Merged with version {conflict.theirs.version}")
        except ms.SaveConflict:
            return False
        adopt(stored)
        return True
    ss[BASE_VERSION] = stored.version
    ss[BASE_MAP] = stored.journey_map
    return True


def commit(new_map: jm.JourneyMap, *, note: str | None = None, reset_editors: bool = False) -> None:
    """Take an edit: it becomes the draft and, with autosave, a new version."""
    if new_map == ss[DRAFT]:
        return
    ss[DRAFT] = new_map
    if reset_editors:
        ss[NONCE] = ss.get(NONCE, 0) + 1
    if ss.get(AUTOSAVE, True):
        save_draft(note)


def open_map(map_id: str) -> None:
    try:
        adopt(ms.load_map(cursor(), map_id))
    except ms.MapNotFound as exc:
        notice("error", str(exc))


# ---------------------------------------------------------------------------------------
# Creating maps

def create_from_choice() -> None:
    """Button callback of the "New map" panel."""
    source = ss.get("jm_new_source", "Template")
    name = (ss.get("jm_new_name") or "").strip() or None
    cur = cursor()
    try:
        if source == "Template":
            new = templates.from_template(ss.get("jm_new_template", "retail"),
                                   with_examples=ss.get("jm_new_examples", True), name=name)
        elif source == "Dataset":
            info = get_workspace().get_dataset(ss["jm_new_dataset"])
            if not info.stage_order:
                notice("error", f"Dataset “{info.name}” has no stages, so a map cannot be made "
                                "from it. Map events to stages on the Data page first.")
                return
            new = spark_run.run_on(info, cur, lambda source: data_lanes.map_from_dataset(
                source, info.name, info.table, list(info.stage_order), name=name), "the stage numbers")
        elif source == "JSON file":
            upload = ss.get("jm_new_file")
            if upload is None:
                notice("error", "Choose a journey map JSON file first.")
                return
            new = json_format.from_json(upload.getvalue())
            if name:
                new.name = name
        else:
            new = templates.blank_map(name or "New journey map")
    except CxDataError as exc:
        notice("error", str(exc))
        return
    stored = ms.create_map(cur, new, author=author())
    adopt(stored)
    ss[PICKER] = stored.map_id
    ss[NEW_MAP_POPOVER] = False          # the map is made: close the "New map" popover
    notice("success", f"Created “{new.name}”. Type into the cells: every change is saved.")


def install_examples() -> None:
    created = ms.install_example_maps(cursor())
    if created:
        adopt(created[0])
        ss[PICKER] = created[0].map_id


def new_map_panel() -> None:
    datasets = get_workspace().list_datasets()
    st.radio("Start from", ["Template", "Dataset", "Blank", "JSON file"], key="jm_new_source",
             horizontal=True)
    source = ss.get("jm_new_source", "Template")
    if source == "Template":
        st.selectbox("Template", list(templates.TEMPLATES), key="jm_new_template",
                     format_func=lambda k: f"{templates.TEMPLATES[k].title} — {templates.TEMPLATES[k].description}")
        st.checkbox("Start with example content (persona, cells)", value=True, key="jm_new_examples")
    elif source == "Dataset":
        if not datasets:
            st.info("No dataset in the workspace yet: add one on the Data page.")
        else:
            names = [d.name for d in datasets]
            current = current_dataset()
            index = names.index(current.name) if current and current.name in names else 0
            st.selectbox("Dataset", names, index=index, key="jm_new_dataset",
                         help="Its stages become the map's stages; touchpoint, score, "
                              "conversion and drop-off lanes are filled from the data.")
    elif source == "JSON file":
        st.file_uploader("Journey map JSON (exported from this app)", type=["json"],
                         key="jm_new_file")
    st.text_input("Name (optional)", key="jm_new_name", placeholder="e.g. Checkout workshop, 12 May")
    disabled = source == "Dataset" and not datasets
    st.button("Create map", type="primary", icon=":material/add:", on_click=create_from_choice,
              disabled=disabled, key="jm_create")


# ---------------------------------------------------------------------------------------
# Live updates and conflicts

def merge_and_save() -> None:
    """Combine the draft with the newest stored version (choices made in the panel) and
    save the result on top of it."""
    cur = cursor()
    theirs = ms.load_map(cur, ss[MAP_ID])
    result = merge.three_way_merge(ss[BASE_MAP], ss[DRAFT], theirs.journey_map, ss.get(CHOICES))
    try:
        stored = ms.save_map(cur, ss[MAP_ID], result.merged, base_version=theirs.version,
                             author=author(), note=f"Merged with version {theirs.version}")
    except ms.SaveConflict:
        notice("warning", "Another version arrived while merging; check the merge again.")
        return
    adopt(stored)
    notice("success", f"Merged with version {theirs.version} and saved as version {stored.version}.")


def discard_mine() -> None:
    open_map(ss[MAP_ID])
    notice("info", "Your unsaved changes were discarded; you see the latest version.")


def choose(key_id: str, widget_key: str) -> None:
    ss.setdefault(CHOICES, {})[key_id] = "theirs" if ss[widget_key].startswith("Theirs") else "mine"


def _shown(value: str | None) -> str:
    return "(deleted)" if value is None else (value or "(empty)")


def conflict_panel(latest: ms.StoredMap) -> None:
    """Somebody saved after the version this draft started from, and this session has
    unsaved changes: say so, and offer the merge."""
    result = merge.three_way_merge(ss[BASE_MAP], ss[DRAFT], latest.journey_map, ss.get(CHOICES))
    with st.container(border=True, key="jm_conflict"):
        st.warning(f"**{who(latest.info)} saved version {latest.version}** ({when(latest.info)}) "
                   f"after you opened version {ss[BASE_VERSION]}. Your changes are not saved yet; "
                   "nothing has been overwritten.", icon=":material/group:")
        if not result.conflicts:
            st.write("Your changes and theirs touch different cells, so both can be kept.")
        else:
            st.write(f"You both changed **{len(result.conflicts)}** "
                     f"{'field' if len(result.conflicts) == 1 else 'fields'}. Pick what to keep:")
            for index, conflict in enumerate(result.conflicts):
                widget_key = f"jm_pick_{ss.get(NONCE, 0)}_{index}"
                options = [f"Mine: {_shown(conflict.mine)}", f"Theirs: {_shown(conflict.theirs)}"]
                st.radio(conflict.label, options, index=0 if conflict.chosen == "mine" else 1,
                         key=widget_key, on_change=choose, args=(conflict.key_id, widget_key))
        with st.container(horizontal=True):
            st.button("Merge and save", type="primary", icon=":material/merge:",
                      on_click=merge_and_save, key="jm_merge")
            st.button("Discard mine, load theirs", icon=":material/undo:", on_click=discard_mine,
                      key="jm_discard")
        with st.expander(f"See version {latest.version} as {who(latest.info)} saved it"):
            st.html(mc.map_html(latest.journey_map))


@st.fragment(run_every=POLL_SECONDS)
def live_updates() -> None:
    """Poll for a newer version: load it when nothing is pending here, else offer the
    merge.  Runs every few seconds on its own, without rerunning the page."""
    map_id = ss.get(MAP_ID)
    if map_id is None:
        return
    cur = cursor()
    try:
        latest_number = ms.latest_version(cur, map_id)
    except ms.MapNotFound:
        st.error("This map no longer exists in the workspace.")
        return
    if latest_number <= ss[BASE_VERSION]:
        # Autosave off and edits waiting: say so; otherwise stay quiet.
        if has_local_changes():
            st.caption(":orange[● Unsaved changes] — press **Save** (or turn autosave on).")
        return
    latest = ms.load_map(cur, map_id)
    if not has_local_changes():
        # Quietly: in a workshop new versions arrive all the time, and the canvas already
        # shows them; the tables below follow.
        adopt(latest)
        st.rerun()
    conflict_panel(latest)


# ---------------------------------------------------------------------------------------
# Editors

def lane_label(lane: jm.Lane) -> str:
    if lane.kind == "emotion" and lane.topic == "typed":
        return f"{lane.name}  (−2…+2)"
    return f"{lane.name}  (from data)" if lane.data_linked else lane.name


def cells_editor(draft: jm.JourneyMap) -> None:
    st.toggle("Autosave the tables", value=True, key=AUTOSAVE,
              help="Every change in these tables becomes a version at once. Off: use Save. "
                   "The map above always saves at once.")
    if not draft.stages or not draft.lanes:
        st.info("Add stages and lanes in **Stages & lanes** to get cells to type into.")
        return
    grid = editor_tables.to_grid(draft)
    grid["Lane"] = [lane_label(lane) for lane in draft.lanes]
    config = {"Lane": st.column_config.TextColumn("Lane", disabled=True, pinned=True, width="medium")}
    for index, stage in enumerate(draft.stages, start=1):
        config[stage.id] = st.column_config.TextColumn(f"{index}. {stage.name}", width="medium")
    edited = st.data_editor(
        grid, key=f"jm_grid_{ss[NONCE]}", hide_index=True, column_config=config,
        num_rows="fixed", width="stretch", row_height=44,
        placeholder="…")
    commit(editor_tables.apply_grid(draft, edited))
    st.caption("Click a cell and type; Enter or Tab moves on. Emotion: a number from −2 to +2, "
               "optionally followed by a word (“-1 anxious”). Lanes marked “from data” are "
               "rewritten by **Refresh numbers** (Data tab).")


def structure_editor(draft: jm.JourneyMap) -> None:
    left, right = st.columns([2, 3])
    with left:
        st.markdown("**Stages** (columns)")
        stages = st.data_editor(
            editor_tables.stages_table(draft), key=f"jm_stages_{ss[NONCE]}", hide_index=True,
            num_rows="dynamic", column_order=["Position", "Stage"], width="stretch",
            column_config={"Position": st.column_config.NumberColumn("Position", min_value=0,
                                                                     step=0.5, width="small"),
                           "Stage": st.column_config.TextColumn("Stage", required=True)})
    with right:
        st.markdown("**Lanes** (rows)")
        lanes = st.data_editor(
            editor_tables.lanes_table(draft), key=f"jm_lanes_{ss[NONCE]}", hide_index=True,
            num_rows="dynamic", column_order=["Position", "Lane", "Holds"], width="stretch",
            column_config={"Position": st.column_config.NumberColumn("Position", min_value=0,
                                                                     step=0.5, width="small"),
                           "Lane": st.column_config.TextColumn("Lane", required=True),
                           "Holds": st.column_config.SelectboxColumn(
                               "Holds", options=[label for _, _, label in editor_tables.LANE_CHOICES],
                               width="large")})
    changed = editor_tables.apply_lanes_table(editor_tables.apply_stages_table(draft, stages), lanes)
    if changed != draft:
        commit(changed, reset_editors=True)
        st.rerun()
    st.caption("Rename in place; add a row at the bottom; delete with the row's checkbox and "
               "the bin; reorder by typing a Position (2.5 goes between 2 and 3). A deleted "
               "stage's cells stay in History.")


def persona_editor(draft: jm.JourneyMap) -> None:
    nonce = ss[NONCE]
    name = st.text_input("Map name", draft.name, key=f"jm_name_{nonce}")
    left, right = st.columns(2)
    with left:
        p_name = st.text_input("Persona", draft.persona.name, key=f"jm_pname_{nonce}",
                               placeholder="e.g. Maya, busy parent")
        p_desc = st.text_area("Who they are", draft.persona.description, key=f"jm_pdesc_{nonce}",
                              height=90)
    with right:
        p_goals = st.text_area("Their goals", draft.persona.goals, key=f"jm_pgoals_{nonce}",
                               height=68)
        scenario = st.text_area("Scenario", draft.scenario, key=f"jm_scenario_{nonce}", height=90,
                                placeholder="What happens in this journey, in one or two sentences")
    new = dataclasses.replace(
        draft, name=(name or "").strip() or draft.name,
        persona=jm.Persona(*(jm.clean_text(v) for v in (p_name, p_desc, p_goals))),
        scenario=jm.clean_text(scenario))
    commit(new)


def data_editor_tab(draft: jm.JourneyMap) -> None:
    datasets = [d.name for d in get_workspace().list_datasets()]
    options = ["(none)"] + datasets + ([draft.dataset] if draft.dataset and draft.dataset not in datasets else [])
    index = options.index(draft.dataset) if draft.dataset in options else 0
    chosen = st.selectbox("Linked dataset", options, index=index, key=f"jm_ds_{ss[NONCE]}",
                          help="Data lanes (touchpoints, scores, conversion, drop-off, emotion "
                               "from a score) are filled from this dataset's stages of the same name.")
    linked = None if chosen == "(none)" else chosen
    if linked != draft.dataset:
        new = dataclasses.replace(draft, dataset=linked)
        commit(new)
        draft = new
    linked_lanes = [lane.name for lane in draft.lanes if lane.data_linked]
    if linked_lanes:
        st.write("Lanes filled from data: " + ", ".join(f"**{_md(n)}**" for n in linked_lanes))
    else:
        st.write("No lane is filled from data yet: add one in **Stages & lanes** (Holds → "
                 "Metric · …, Touchpoints · Top touchpoints from data, Emotion · From CSAT …).")
    missing = []
    if linked and linked in datasets:
        info = get_workspace().get_dataset(linked)
        missing = [s for s in draft.stage_names() if s not in set(info.stage_order)]
        if missing:
            st.caption("Stages not in the data (left empty): " + ", ".join(missing))
    if st.button("Refresh numbers from data", icon=":material/refresh:", key="jm_refresh",
                 disabled=not (linked and linked in datasets and linked_lanes)):
        info = get_workspace().get_dataset(linked)
        with st.spinner("Computing stage numbers…"):
            refreshed = spark_run.run_on(info, cursor(), lambda source: data_lanes.refresh_from_data(
                source, draft, info.table), "the stage numbers")
        commit(refreshed, note=f"Numbers refreshed from {linked}", reset_editors=True)
        notice("success", "Numbers refreshed from the data.")
        st.rerun()
    if linked and linked in datasets:
        conformance_section(get_workspace().get_dataset(linked), draft, None, on_pin=pin_pain_point)


def pin_pain_point(text: str, stage: str) -> None:
    """Button callback: ``text`` as a pink note in the pain-point lane, at ``stage`` (else
    the first stage), saved as a version of its own."""
    draft = ss[DRAFT]
    lane = next((l for l in draft.lanes if l.topic == "pain_points"), None)
    if lane is None or not draft.stages:
        notice("warning", "The map has no pain-point lane to pin this to: add one in Stages & lanes.")
        return
    target = next((s for s in draft.stages if s.name == stage), draft.stages[0])
    # As a canvas edit: applied to the newest stored version, so nobody's work is lost.
    try:
        result = ms.apply_ops(cursor(), ss[MAP_ID], [{"op": "add_note", "lane": lane.id,
                                                      "stage": target.id, "text": text,
                                                      "colour": "pink"}], author=author())
    except (workshop.EditRefused, ms.MapNotFound) as exc:
        notice("warning", str(exc))
        return
    follow(result.stored)
    notice("success", f"Added to the pain points of {target.name}.")


#: Versions listed in the History tab (autosave makes one per edit): the newest ones.
HISTORY_SHOWN = 200


#: Editing sessions listed in the History tab (newest first).
SESSIONS_SHOWN = 12


def history_tab(map_id: str) -> None:
    cur = cursor()
    snapshot_form(map_id)
    sessions = ms.edit_sessions(cur, map_id, limit=SESSIONS_SHOWN)
    st.markdown("**Editing sessions** — newest first; saves less than "
                f"{ms.SESSION_GAP_MINUTES} minutes apart belong to one session.")
    for index, session in enumerate(sessions):
        first, last = session.first, session.last
        span = (f"{first.saved_at:%d %b %H:%M}–{last.saved_at:%H:%M} UTC"
                if first.version != last.version else f"{first.saved_at:%d %b %H:%M} UTC")
        people = ", ".join(session.authors[:3]) + (f" +{len(session.authors) - 3}"
                                                   if len(session.authors) > 3 else "")
        names = "".join(f" · ★ {s.name}" for s in session.snapshots)
        title = (f"{span} · versions {first.version}–{last.version} "
                 f"({session.count} {'save' if session.count == 1 else 'saves'}) · {people}{names}")
        with st.expander(title, expanded=index == 0):
            st.caption(session.changes.summary)
            if session.changes.details:
                st.dataframe({"What this session changed": session.changes.details},
                             hide_index=True, width="stretch",
                             height=min(38 + 35 * len(session.changes.details), 250))
            if last.version != ss[BASE_VERSION]:
                st.button(f"Restore the map as at the end of this session (version {last.version})",
                          key=f"jm_restore_session_{last.version}", on_click=restore,
                          args=(last.version,), icon=":material/history:")
    versions_panel(cur, map_id)


def snapshot_form(map_id: str) -> None:
    snapshots = ms.list_snapshots(cursor(), map_id)
    with st.container(horizontal=True, vertical_alignment="bottom"):
        st.text_input("Name this version", key="jm_snapshot_name",
                      placeholder="e.g. after workshop 1", width=320)
        st.button("Save snapshot", icon=":material/bookmark_add:", key="jm_snapshot",
                  on_click=make_snapshot, args=(map_id,))
    if snapshots:
        st.caption("Snapshots: " + " · ".join(f"★ {s.name} (version {s.version})"
                                                for s in snapshots))


def make_snapshot(map_id: str) -> None:
    try:
        snap = ms.create_snapshot(cursor(), map_id, ss.get("jm_snapshot_name", ""),
                                  author=author())
    except CxDataError as exc:
        notice("error", str(exc))
        return
    ss["jm_snapshot_name"] = ""
    notice("success", f"Version {snap.version} is now the snapshot “{snap.name}”.")


def versions_panel(cur, map_id: str) -> None:
    history = ms.version_history(cur, map_id, limit=HISTORY_SHOWN)
    latest = history[0].info.version
    named = {}
    for snap in ms.list_snapshots(cur, map_id):
        named.setdefault(snap.version, []).append(snap.name)
    st.markdown("**Every version**")
    st.caption("Newest first. Each version against the one before it"
               + (f"; the newest {HISTORY_SHOWN} of {latest}." if latest > HISTORY_SHOWN
                  else "."))
    # Plain text cells: names and notes typed by people are never rendered as Markdown.
    rows = [{"Version": h.info.version, "Saved (UTC)": f"{h.info.saved_at:%Y-%m-%d %H:%M:%S}",
             "By": h.info.author or "—", "What changed": h.changes.summary,
             "Note": " · ".join(["★ " + n for n in named.get(h.info.version, [])]
                                + ([h.info.note] if h.info.note else []))} for h in history]
    st.dataframe(rows, hide_index=True, width="stretch", height=min(38 + 35 * len(rows), 320),
                 column_config={"Version": st.column_config.NumberColumn(width=70),
                                "What changed": st.column_config.TextColumn(width="large")})
    by_version = {h.info.version: h for h in history}
    # Someone looking at the newest version keeps looking at the newest one after a save.
    key, seen_latest = f"jm_hist_{map_id}", f"jm_hist_latest_{map_id}"
    if ss.get(key) is None or ss.get(key) == ss.get(seen_latest) or ss[key] not in by_version:
        ss[key] = latest
    ss[seen_latest] = latest
    pick = st.selectbox("View version", list(by_version), key=key,
                        format_func=lambda n: (f"Version {n} — {when(by_version[n].info)}, "
                                               f"{who(by_version[n].info)}"
                                               + (f" · {by_version[n].info.note}"
                                                  if by_version[n].info.note else "")))
    picked = by_version[pick]
    if picked.changes.details:
        st.dataframe({f"What version {pick} changed": picked.changes.details},
                     hide_index=True, width="stretch",
                     height=min(38 + 35 * len(picked.changes.details), 280))
    stored = ms.load_map(cur, map_id, pick)
    previous = ms.load_map(cur, map_id, pick - 1).journey_map if pick > 1 else None
    changed = ms.changed_cells(previous, stored.journey_map)
    if pick == ss[BASE_VERSION]:
        st.caption("This is the version you are editing.")
    else:
        st.button(f"Restore version {pick}", icon=":material/history:", key="jm_restore",
                  on_click=restore, args=(pick,),
                  help="Makes a new version with this content; nothing is deleted.")
        cell_restore(map_id, stored)
    st.caption("Cells this version changed are outlined in orange." if changed else "")
    with st.container(border=True):
        st.html(mc.map_html(stored.journey_map, highlight=changed))


def cell_restore(map_id: str, stored: ms.StoredMap) -> None:
    """Put back one cell as it was in the version looked at."""
    current = ss[DRAFT]
    old = stored.journey_map
    choices = []
    for lane in current.lanes:
        try:
            old_cells = old.lane_by_id(lane.id).cells
        except KeyError:
            continue
        for stage in current.stages:
            if old_cells.get(stage.id, "") != lane.cells.get(stage.id, ""):
                choices.append((lane.id, stage.id, f"{lane.name} × {stage.name}: "
                                f"{(old_cells.get(stage.id) or '(empty)')[:60]}"))
    if not choices:
        return
    with st.container(horizontal=True, vertical_alignment="bottom"):
        pick = st.selectbox(f"Or restore one cell as in version {stored.version}",
                            range(len(choices)), format_func=lambda i: choices[i][2],
                            key="jm_cell_pick", width=520)
        st.button("Restore this cell", key="jm_cell_restore", icon=":material/undo:",
                  on_click=restore_one_cell,
                  args=(map_id, stored.version, choices[pick][0], choices[pick][1]))


def restore_one_cell(map_id: str, version: int, lane_id: str, stage_id: str) -> None:
    result = ms.restore_cell(cursor(), map_id, version, lane_id, stage_id, author=author())
    follow(result.stored, force=True)
    notice("success", f"The cell is back as in version {version} (saved as version "
                      f"{result.stored.version}).")


def restore(version: int) -> None:
    try:
        stored = ms.restore_version(cursor(), ss[MAP_ID], version, author=author(),
                                    base_version=ss[BASE_VERSION])
    except ms.SaveConflict as exc:
        notice("warning", f"{exc} Look at the newest version before restoring.")
        return
    adopt(stored)
    notice("success", f"Version {version} restored as version {stored.version}.")


def export_tab(draft: jm.JourneyMap) -> None:
    stem = file_stem(draft.name)
    snapshot = json_format.from_json_dict(json_format.to_json_dict(draft))   # the lambdas run later, elsewhere
    st.write("Pictures of the canvas (made on this machine, no internet needed):")
    with st.container(horizontal=True):
        st.download_button("PNG", data=lambda: mc.map_png(snapshot), file_name=f"{stem}.png",
                           mime="image/png", icon=":material/image:", on_click="ignore",
                           key="jm_png")
        st.download_button("SVG", data=lambda: mc.map_svg(snapshot).encode("utf-8"),
                           file_name=f"{stem}.svg", mime="image/svg+xml", icon=":material/draw:",
                           on_click="ignore", key="jm_svg")
        st.download_button("PDF", data=lambda: mc.map_pdf(snapshot), file_name=f"{stem}.pdf",
                           mime="application/pdf", icon=":material/picture_as_pdf:",
                           on_click="ignore", key="jm_pdf")
    st.write("The map as data:")
    with st.container(horizontal=True):
        st.download_button("JSON (re-imports)", data=json_format.to_json(draft).encode("utf-8"),
                           file_name=f"{stem}.json", mime="application/json",
                           icon=":material/data_object:", on_click="ignore", key="jm_json")
        st.download_button("CSV", data=("\ufeff" + exports.to_csv(draft)).encode("utf-8"),
                           file_name=f"{stem}.csv", mime="text/csv", icon=":material/table_view:",
                           on_click="ignore", key="jm_csv")
        st.download_button("Markdown", data=exports.to_markdown(draft).encode("utf-8"),
                           file_name=f"{stem}.md", mime="text/markdown",
                           icon=":material/description:", on_click="ignore", key="jm_md")


# ---------------------------------------------------------------------------------------
# The canvas: the map itself is the editor (cxdata/ui/canvas/), live for everyone

CANVAS_KEY = "jm_canvas_component"
ACKED = "jm_canvas_acked"        # canvas client id -> last operation number applied
CANVAS_MESSAGE = "jm_canvas_message"
LIVE = "jm_live"                 # (map id, StoredMap) last drawn by the canvas
#: How often the canvas looks for others' saves (seconds): notes appear within a second.
LIVE_SECONDS = 1.0


def follow(stored: ms.StoredMap, *, force: bool = False) -> None:
    """The canvas saved ``stored``: the tables below follow it, unless they hold edits
    of their own that are not saved yet (those are merged when they are saved)."""
    ss[LIVE] = (stored.map_id, stored)
    if force or not has_local_changes():
        ss[DRAFT] = stored.journey_map
        ss[BASE_MAP] = stored.journey_map
        if ss.get(BASE_VERSION) != stored.version:
            ss[BASE_VERSION] = stored.version
            ss[NONCE] = ss.get(NONCE, 0) + 1


def on_canvas_ops() -> None:
    """Widget callback: apply the canvas's new operations to the newest stored version."""
    value = ss[CANVAS_KEY].get("ops") if hasattr(ss[CANVAS_KEY], "get") else None
    map_id = ss.get(MAP_ID)
    if not value or map_id is None:
        return
    client = str(value.get("client", ""))
    acked = ss.setdefault(ACKED, {})
    done = acked.get(client, 0)
    fresh = [item for item in value.get("ops") or [] if int(item.get("seq", 0)) > done]
    if not fresh:
        return
    messages = []
    try:
        result = ms.apply_ops(cursor(), map_id, [item["op"] for item in fresh], author=author())
        messages = result.messages
        follow(result.stored)
    except (workshop.EditRefused, ms.MapNotFound) as exc:
        messages = [str(exc)]
    acked[client] = max(int(item["seq"]) for item in fresh)
    if messages:
        ss[CANVAS_MESSAGE] = {"id": uuid.uuid4().hex, "client": client, "text": " ".join(messages)}


def latest_stored(map_id: str) -> ms.StoredMap:
    """The newest version, read again only when its number changed (the canvas polls)."""
    cur = cursor()
    number = ms.latest_version(cur, map_id)
    cached = ss.get(LIVE)
    if cached and cached[0] == map_id and cached[1].version == number:
        return cached[1]
    stored = ms.load_map(cur, map_id, number)
    ss[LIVE] = (map_id, stored)
    return stored


def join_url(map_id: str) -> str:
    """The link participants open on their phones (this server's address)."""
    try:
        parts = urlsplit(st.context.url or "")
        base = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
    except Exception:          # no browser context (tests): a relative link still works
        base = ""
    return f"{base}/join?map={map_id}"


@st.fragment(run_every=LIVE_SECONDS)
def live_canvas(map_id: str, mode: str, focus_stage_id: str | None = None) -> None:
    """The canvas, redrawn from the store every second (others' notes, votes, edits).
    A fragment: its own edits and the polling rerun only this part of the page."""
    try:
        stored = latest_stored(map_id)
    except ms.MapNotFound:
        st.error("This map no longer exists in the workspace.")
        return
    if mode == "present":
        ss["jm_present_version"] = stored.version
    payload = mc.canvas_payload(
        stored.journey_map, version=stored.version, mode=mode, focus_stage_id=focus_stage_id,
        author=author(), acked=ss.get(ACKED), message=ss.get(CANVAS_MESSAGE),
        join_url=join_url(map_id) if mode == "present" else None,
        show_context=focus_stage_id is None)
    with st.container(key="jm_canvas"):
        map_canvas(payload, key=CANVAS_KEY if mode == "edit" else "jm_present_canvas",
                   on_ops=on_canvas_ops if mode == "edit" else None)


# ---------------------------------------------------------------------------------------
# Workshop: dot voting, lock, timer

def workshop_op(**settings) -> None:
    try:
        result = ms.apply_ops(cursor(), ss[MAP_ID], [{"op": "workshop", "settings": settings}],
                              author=author())
    except workshop.EditRefused as exc:
        notice("error", str(exc))
        return
    follow(result.stored)


def start_timer() -> None:
    minutes = float(ss.get("jm_timer_minutes") or 5)
    workshop_op(timer_ends_at=time.time() + 60 * minutes,
                timer_label=ss.get("jm_timer_label") or "")


def set_votes_per_person() -> None:
    workshop_op(votes_per_person=int(ss.get("jm_votes_n") or 0))


def workshop_panel(map_id: str) -> None:
    stored = latest_stored(map_id)
    ws = stored.journey_map.workshop
    url = join_url(map_id)
    st.markdown("**The room joins** on their phones:")
    st.code(url, language=None)
    st.caption("The presentation shows this link with a QR code.")
    st.divider()
    st.markdown("**Dot voting**")
    if ss.get("jm_votes_n") is None:
        ss["jm_votes_n"] = ws.votes_per_person
    st.number_input("Votes per person", min_value=0, max_value=99, step=1, key="jm_votes_n",
                    on_change=set_votes_per_person)
    with st.container(horizontal=True):
        st.button("Close voting" if ws.voting_open else "Open voting", key="jm_voting",
                  icon=":material/how_to_vote:", on_click=workshop_op,
                  kwargs={"voting_open": not ws.voting_open})
        st.button("Hide votes" if ws.votes_revealed else "Reveal votes", key="jm_reveal",
                  icon=":material/visibility:", on_click=workshop_op,
                  kwargs={"votes_revealed": not ws.votes_revealed})
    totals = workshop.vote_totals(stored.journey_map)
    st.caption(f"{sum(totals.values())} dots placed by {len(stored.journey_map.votes)} "
               f"{'person' if len(stored.journey_map.votes) == 1 else 'people'}"
               + ("" if ws.votes_revealed else " · totals hidden until you reveal them"))
    if ws.votes_revealed:
        results = workshop.vote_results(stored.journey_map)
        if results:
            st.dataframe([{"Rank": r.rank, "Votes": r.votes, "Note": r.note.text,
                           "By": r.note.author or "—"} for r in results],
                         hide_index=True, width="stretch")
    st.divider()
    st.markdown("**Lock and timer**")
    st.button("Unlock the map" if ws.locked else "Lock the map", key="jm_lock",
              icon=":material/lock_open:" if ws.locked else ":material/lock:",
              on_click=workshop_op, kwargs={"locked": not ws.locked},
              help="Locked: participants can no longer add notes or vote.")
    with st.container(horizontal=True, vertical_alignment="bottom"):
        st.number_input("Minutes", min_value=0.5, max_value=240.0, value=5.0, step=0.5,
                        key="jm_timer_minutes", width=110)
        st.text_input("Label", key="jm_timer_label", placeholder="e.g. Pain points", width=160)
    with st.container(horizontal=True):
        st.button("Start timer", key="jm_timer_start", icon=":material/timer:",
                  on_click=start_timer)
        st.button("Stop timer", key="jm_timer_stop", icon=":material/timer_off:",
                  on_click=workshop_op, kwargs={"timer_ends_at": None},
                  disabled=ws.timer_ends_at is None)


# ---------------------------------------------------------------------------------------
# Presentation mode

_HIDE_CHROME = """<style>
[data-testid="stSidebar"],[data-testid="stSidebarCollapsedControl"],[data-testid="stSidebarNav"],
header[data-testid="stHeader"],[data-testid="stToolbar"],[data-testid="stDecoration"]{display:none !important}
[data-testid="stMainBlockContainer"],.block-container{padding:.5rem 1rem .25rem 1rem !important;max-width:100% !important}
.st-key-jm_present_bar{gap:.5rem !important}
.st-key-jm_present_bar h4{padding:0 !important;margin:0 !important}
</style>"""


def step(delta: int, count: int) -> None:
    ss[STAGE] = max(0, min(count, ss.get(STAGE, 0) + delta))


def go_to(index: int) -> None:
    ss[STAGE] = index


def exit_presentation() -> None:
    st.query_params.pop(PRESENT_PARAM, None)
    ss[STAGE] = 0


def presentation(map_id: str) -> None:
    st.html(_HIDE_CHROME)
    try:
        stored = latest_stored(map_id)
    except ms.MapNotFound as exc:
        st.error(str(exc))
        st.button("Back to editing", on_click=exit_presentation)
        return
    m = stored.journey_map
    count = len(m.stages)
    index = min(ss.get(STAGE, 0), count)
    with st.container(horizontal=True, vertical_alignment="center", key="jm_present_bar"):
        st.button("Previous", icon=":material/arrow_back:", shortcut="Left", key="jm_prev",
                  on_click=step, args=(-1, count), disabled=index == 0)
        st.button("Next", icon=":material/arrow_forward:", shortcut="Right", key="jm_next",
                  on_click=step, args=(1, count), disabled=index >= count)
        st.button("Whole map", icon=":material/grid_view:", shortcut="Home", key="jm_whole",
                  on_click=go_to, args=(0,), disabled=index == 0)
        label = (f"Stage {index} of {count}: {m.stages[index - 1].name}" if index
                 else f"Whole map · {count} stages · ← → to step through")
        st.markdown(f"#### {_md(label)}")
        st.space("stretch")
        st.caption("Updates live")
        st.button("Exit", icon=":material/close:", shortcut="Esc", key="jm_exit",
                  on_click=exit_presentation, type="tertiary")
    focus = m.stages[index - 1].id if index else None
    live_canvas(map_id, "present", focus)


# ---------------------------------------------------------------------------------------
# Page

def show_notice() -> None:
    item = ss.pop(NOTICE, None)
    if item:
        kind, text = item
        getattr(st, kind)(text)


def editor(maps: list[ms.MapSummary]) -> None:
    map_id = ss[MAP_ID]
    ids = [m.map_id for m in maps]
    names = {m.map_id: m for m in maps}
    if ss.get(PICKER) not in ids:
        ss[PICKER] = map_id
    top = st.container(horizontal=True, vertical_alignment="bottom", key="jm_top")
    with top:
        st.selectbox("Journey map", ids, key=PICKER, on_change=lambda: open_map(ss[PICKER]),
                     format_func=lambda i: names[i].name + (f"  ·  {names[i].dataset}"
                                                            if names[i].dataset else ""),
                     width=300, label_visibility="collapsed")
        # A popover that tracks its state can be closed from code: creating a map does.
        with st.popover("New map", icon=":material/add:", key=NEW_MAP_POPOVER,
                        on_change="rerun"):
            new_map_panel()
        with st.popover("Workshop", icon=":material/groups:", key="jm_workshop_popover",
                        on_change="rerun"):
            workshop_panel(map_id)
        st.button("Present", icon=":material/slideshow:", key="jm_present", type="primary",
                  on_click=lambda: st.query_params.update({PRESENT_PARAM: "1", MAP_PARAM: map_id}),
                  help="Full screen for the room: no editing controls, ← → steps through stages.")
        # A query-only link stays on this page whatever its URL path is.
        st.link_button("", f"?{MAP_PARAM}={map_id}&{PRESENT_PARAM}=1",
                       icon=":material/open_in_new:",
                       help="Present in a new window — for the projector: it follows your "
                            "edits live while you type here.")
        st.text_input("Your name", key=AUTHOR, placeholder="Your name (on notes and history)",
                      width=220, label_visibility="collapsed")
    status = st.container(key="jm_status")
    show_notice()
    live = st.container()
    canvas_slot = st.container()
    # Only the open tab is drawn: the page reruns whenever someone in the room saves, and
    # History (every version's changes) is too much work to redo each time unseen.
    tabs = st.tabs(TABS, key=TAB_KEY, default=TABS[0], on_change="rerun")
    panels = (lambda: cells_editor(ss[DRAFT]), lambda: structure_editor(ss[DRAFT]),
              lambda: persona_editor(ss[DRAFT]), lambda: data_editor_tab(ss[DRAFT]),
              lambda: history_tab(map_id), lambda: export_tab(ss[DRAFT]))
    for tab, panel in zip(tabs, panels):
        if tab.open:
            with tab:
                panel()
    # Filled last, so they reflect the saves made by the tables in this run.
    with canvas_slot:
        live_canvas(map_id, "edit")
    with status:
        status_line()
    with live:
        live_updates()


def status_line() -> None:
    """The tables' own saving state; silent when they agree with the store (the canvas
    says "All changes saved" for itself)."""
    if not has_local_changes():
        return
    with st.container(horizontal=True, vertical_alignment="center"):
        info = ms.version_info(cursor(), ss[MAP_ID], ss[BASE_VERSION])
        st.markdown(f":orange[**Unsaved changes in the tables**] · based on version {info.version}")
        st.space("stretch")
        st.button("Save", icon=":material/save:", key="jm_save", shortcut="Ctrl+Enter",
                  on_click=manual_save)


def manual_save() -> None:
    if save_draft("Saved"):
        notice("success", f"Saved as version {ss[BASE_VERSION]}.")


def main() -> None:
    cur = cursor()
    maps = ms.list_maps(cur)
    wanted = st.query_params.get(MAP_PARAM)
    if st.query_params.get(PRESENT_PARAM) == "1":
        target = wanted or ss.get(MAP_ID) or (maps[0].map_id if maps else None)
        if target is None:
            st.info("There is no journey map to present yet.")
            st.button("Back to editing", on_click=exit_presentation)
            return
        presentation(target)
        return
    if wanted and wanted != ss.get(MAP_ID) and any(m.map_id == wanted for m in maps):
        open_map(wanted)
    if ss.get(MAP_ID) is None or not any(m.map_id == ss[MAP_ID] for m in maps):
        if maps:
            open_map(maps[0].map_id)
        else:
            st.title("Journey map")
            show_notice()
            st.write("Map a customer journey with the room: stages as columns, lanes for goals, "
                     "touchpoints, emotions, pain points and opportunities, and the real numbers "
                     "from your data beside each stage. Start from a template or a dataset.")
            with st.container(border=True, key="jm_first"):
                new_map_panel()
            if ms.EXAMPLE_MAPS_DIR.is_dir():
                st.button("Open the example map (online retail, linked to the sample data)",
                          icon=":material/auto_awesome:", on_click=install_examples,
                          key="jm_examples")
            return
    editor(maps)


main()
