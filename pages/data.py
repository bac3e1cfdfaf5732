"""Data page: upload logs, map columns to roles, import with a validation summary, and
manage the workspace's datasets (rename, delete, stage order, stage mapping, rejects)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from cxdata.io import schema
from cxdata.bootstrap import SAMPLE_NAME, reinstall_sample
from cxdata.errors import CxDataError
from cxdata.formatting import display_frame
from cxdata.io.ingest import StageMapping
from cxdata.io.profile import roles_warning
from cxdata.store.connections import is_connected
from cxdata.ui import spark_connect, uploads
from cxdata.ui.downloads import csv_button
from cxdata.ui.filters import plain
from cxdata.ui.state import (error_text, forget_dataset, get_workspace, requested_dataset,
                             select_dataset)

ACCEPTED_TYPES = ["csv", "tsv", "txt", "gz", "parquet", "json", "ndjson", "jsonl", "xlsx"]
POLICIES = ["reject the row", "blank only the score"]
#: The "Datasets in the workspace" tabs; the selected one is kept under this key.
DATASET_TABS = ["Stage order", "Stage mapping", "Rows & problems", "Rename / delete"]
#: The tabs of a connected dataset (cxdata.ui.spark_connect).
CONNECTED_TABS = ["Connection", "Stage order", "Rename / delete"]
TAB_KEY = "data_tab"
MANAGE_KEY = "manage_dataset"
#: Set by "Import again, blanking only the bad scores" (the upload's token).
REIMPORT_KEY = "_reimport"
#: More than this share of rows rejected: the summary is an error, not a warning.
MOSTLY_REJECTED = 0.5

#: Stored columns shown under their everyday names in the dataset's first rows.
PREVIEW_NAMES = {"_row": "Row in file", "customer_id": "Customer", "ts": "Time (UTC)",
                 "stage": "Stage", "event": "Event", "touchpoint": "Touchpoint",
                 "channel": "Channel", "nps": "NPS", "csat": "CSAT", "ces": "CES",
                 "comment": "Comment"}


def upload_section() -> None:
    st.subheader("Add interaction logs")
    st.caption("One row per customer interaction: customer, time, and a stage, event or touchpoint; "
               "optionally channel, NPS (0–10), CSAT (1–5), CES (1–7) and comments. "
               "CSV/TSV/TXT (also gzip-compressed), Parquet, JSON/NDJSON or Excel (.xlsx), up to 1 GB.")
    files = st.file_uploader("Interaction log files", type=ACCEPTED_TYPES, accept_multiple_files=True,
                             key="uploads")
    uploads.keep_only(files)
    if not files:
        st.info("Drop one or more files here. Each file becomes a dataset; the columns are "
                "recognised by name and you can change the guesses before importing.")
        return
    for index, upload in enumerate(files):
        with st.container(border=True):
            import_one(upload, index)


def import_one(upload, index: int) -> None:
    st.markdown(f"**{plain(upload.name)}** · {upload.size / 1_048_576:,.1f} MB")
    try:
        staged, inspected = uploads.inspect_upload(upload)
    except CxDataError as exc:
        st.error(plain(f"{upload.name}: {error_text(exc)}"))
        return
    st.caption(plain(f"Read as {inspected.format}" + (f" ({'; '.join(inspected.notes)})" if inspected.notes else "")))
    # The preview is the file's text: an empty cell shows empty, not as "None".
    st.dataframe(display_frame(inspected.preview.fillna("")), hide_index=True, height=220)
    key = f"up{index}_{staged.token}"
    roles = uploads.role_pickers(inspected.columns, inspected.roles, key)
    customer_warning(staged, roles)
    left, right = st.columns([2, 1])
    name = left.text_input("Dataset name", value=uploads.suggest_name(upload.name), key=f"{key}_name",
                           max_chars=80)
    policy = right.radio("Invalid scores", POLICIES, key=f"{key}_policy",
                         help="A score that is not a whole number in range (e.g. NPS 11 or CSAT 4.5) "
                              "either rejects its row or is left empty with a warning. Never clipped.")
    ws = get_workspace()
    replace = False
    if name.strip() and ws.has_dataset(name.strip()):
        replace = st.checkbox(f"Replace the existing dataset “{plain(name.strip())}”", key=f"{key}_replace")
    missing = schema.missing_required_roles(roles)
    clicked = st.button("Import", type="primary", key=f"{key}_import", icon=":material/download:",
                        disabled=bool(missing))
    if missing:
        st.caption("To import, choose a column for: " + ", ".join(missing) + ".")
    if st.session_state.pop(REIMPORT_KEY, None) == staged.token:
        last = st.session_state.get("last_import") or {}
        # The same file, mapping and name again, now keeping rows whose only problem is a score.
        run_import(upload, last.get("dataset", name), last.get("roles", roles), policy, True)
    elif clicked:
        run_import(upload, name, roles, policy, replace)
    last = st.session_state.get("last_import")
    if last and last.get("token") == staged.token:
        show_summary(last, key)


def customer_warning(staged, roles: dict[str, str]) -> None:
    """Beside the customer guess: a warning when it may be the wrong case notion (SPEC §1)."""
    if "customer_id" not in roles:
        return
    try:
        profile = uploads.profile_cached(staged.path, staged.token)
    except CxDataError:
        return      # the import itself will say what is wrong with the file
    warning = roles_warning(profile, roles)
    if warning:
        st.warning(plain(warning), icon=":material/person_search:")


def run_import(upload, name: str, roles: dict[str, str], policy: str, replace: bool) -> None:
    """Import the upload; its staged copy is deleted afterwards, whatever the outcome."""
    staged = uploads.stage_upload(upload)
    try:
        _import_staged(staged, name, roles, policy, replace, upload.name)
    finally:
        uploads.discard_staged(staged.token)


def _import_staged(staged, name: str, roles: dict[str, str], policy: str, replace: bool, source: str) -> None:
    ws = get_workspace()
    path = staged.path
    bar = st.progress(0.0, text="Starting…")

    def on_progress(label: str, fraction: float) -> None:
        bar.progress(max(0.0, min(1.0, fraction)) if fraction >= 0 else 0.0,
                     text=label + ("…" if fraction < 0 else f"… {fraction:.0%}"))

    blank = policy == POLICIES[1]
    try:
        result, info = ws.ingest(path, name, overrides=uploads.as_overrides(roles), replace=replace, source=source,
                                 score_policy="blank" if blank else "reject",
                                 on_progress=on_progress, max_bytes=uploads.app_max_bytes())
        # the pages' drop-off and driver views, now rather than on the first page a user opens
        ws.prepare_views(info.name, on_progress=on_progress)
    except CxDataError as exc:
        bar.empty()
        st.error(plain(error_text(exc)))
        return
    bar.empty()
    select_dataset(info.name)
    # The workspace section below opens on the new dataset, on its stage mapping when
    # the log has no stages (the next thing to do with it).
    st.session_state[MANAGE_KEY] = info.name
    if not info.has_role("stage"):
        st.session_state[TAB_KEY] = "Stage mapping"
    st.session_state["last_import"] = {
        "token": staged.token, "dataset": info.name, "roles": dict(roles),
        "read": result.rows_read, "accepted": result.rows_accepted, "rejected": result.rows_rejected,
        "reasons": result.reasons, "warnings": list(result.warnings),
        "kept_by_blanking": 0 if blank else ws.rows_rejected_for_scores_only(info.name),
        "has_stages": info.has_role("stage")}
    st.rerun()  # so that the sidebar shows the new dataset as the current one


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "0%"


def show_summary(last: dict, key: str) -> None:
    read, accepted, rejected = last["read"], last["accepted"], last["rejected"]
    name = plain(last["dataset"])
    if not rejected:
        # With nothing rejected, every problem listed is a score left empty (blank policy).
        blanked = sum(last["reasons"].values())
        st.success(f"Saved as dataset **{name}**: all {read:,} rows accepted"
                   + (f", {blanked:,} invalid scores left empty (listed below)" if blanked else "")
                   + ". It is now selected in the sidebar.", icon=":material/check_circle:")
    elif rejected > MOSTLY_REJECTED * read:
        st.error(f"Saved as dataset **{name}**, but {rejected:,} of {read:,} rows "
                 f"({_share(rejected, read)}) were rejected: only {accepted:,} "
                 + ("row is" if accepted == 1 else "rows are")
                 + " in its numbers. Check the reasons below before relying on them.",
                 icon=":material/error:")
    else:
        st.warning(f"Saved as dataset **{name}** with {rejected:,} of {read:,} rows "
                   f"({_share(rejected, read)}) rejected: they are not in its numbers. The reasons "
                   "are below.", icon=":material/warning:")
    a, b, c = st.columns(3)
    a.metric("Rows read", f"{read:,}")
    b.metric("Accepted", f"{accepted:,}", help="Rows stored in the dataset.")
    c.metric("Rejected", f"{rejected:,}", help="Rows kept aside with the reason; download them below.",
             delta=f"{rejected / read:.1%} of rows" if read and rejected else None, delta_color="inverse",
             delta_arrow="off")
    kept = last.get("kept_by_blanking") or 0
    if kept:
        with st.container(border=True):
            st.markdown(f"**{kept:,} of the rejected rows were rejected only for an invalid score** "
                        "(not a whole number in range). Importing again with “blank only the score” "
                        f"keeps them, with just that score left empty: the dataset would have "
                        f"{accepted + kept:,} rows instead of {accepted:,}.")
            st.button("Import again, blanking only the bad scores", key=f"{key}_reimport",
                      icon=":material/refresh:", on_click=_ask_reimport, args=(key, last["token"]))
    if last["reasons"]:
        reasons = pd.DataFrame(list(last["reasons"].items()), columns=["Reason", "Cells"])
        st.markdown("**Problems by reason**")
        st.dataframe(reasons, hide_index=True)
    for warning in last.get("warnings") or []:
        st.warning(plain(warning))
    ws = get_workspace()
    if last["reasons"] and ws.has_dataset(last["dataset"]):
        csv_button(ws.rejects(last["dataset"]), f"{last['dataset']} rejected rows",
                   label="Download problems (CSV)", key=f"rej_{last['token']}",
                   help="Every problem: row number, column, raw value and reason.")
    next_steps(last)


def _ask_reimport(key: str, token: str) -> None:
    # Runs before the page: the policy radio can still be switched to match.
    st.session_state[f"{key}_policy"] = POLICIES[1]
    st.session_state[REIMPORT_KEY] = token


def next_steps(last: dict) -> None:
    """Where to go after an import: the Overview, and the stage mapping for a log without stages."""
    if not get_workspace().has_dataset(last["dataset"]):
        return
    st.markdown("**Next**")
    row = st.container(horizontal=True)
    row.page_link("pages/overview.py", label=f"Open the Overview of {plain(last['dataset'])}",
                  icon=":material/dashboard:", query_params={"dataset": last["dataset"]})
    if not last.get("has_stages", True):
        row.markdown("[Map its events or touchpoints to stages ↓](#datasets-in-the-workspace) "
                     "— the log has no stage column; the Stage mapping tab below is open on it.")


def datasets_section() -> None:
    ws = get_workspace()
    st.subheader("Datasets in the workspace")
    infos = ws.list_datasets()
    if not infos:
        st.info("The workspace is empty.")
        if st.button("Install the sample dataset", icon=":material/auto_awesome:"):
            reinstall_sample(ws)
            select_dataset(SAMPLE_NAME)
            st.rerun()
        return
    table = pd.DataFrame([{"Dataset": d.name, "Source": d.source, "Rows": d.rows_accepted,
                           "Rejected": d.rows_rejected, "Stages": " → ".join(d.stage_order),
                           "Created (UTC)": d.created_at} for d in infos])
    st.dataframe(table, hide_index=True, column_config={
        "Rows": st.column_config.NumberColumn(format="localized"),
        "Rejected": st.column_config.NumberColumn(format="localized"),
        "Created (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")})
    names = [d.name for d in infos]
    if st.session_state.get(MANAGE_KEY) not in names:
        st.session_state.pop(MANAGE_KEY, None)
    chosen = st.selectbox("Manage dataset", names, key=MANAGE_KEY)
    info = ws.get_dataset(chosen)
    if is_connected(info):       # queried in place on Spark: no rows or rejects stored here
        tabs = st.tabs(CONNECTED_TABS, key="connected_tab", on_change="rerun")
        with tabs[0]:
            spark_connect.connection_panel(info)
        with tabs[1]:
            stage_order_editor(info, save=spark_connect.save_stage_order)
        with tabs[2]:
            rename_delete(info)
        return
    tabs = st.tabs(DATASET_TABS, key=TAB_KEY, on_change="rerun")
    with tabs[0]:
        stage_order_editor(info)
    with tabs[1]:
        stage_mapping_editor(info)
    with tabs[2]:
        rows_and_problems(info)
    with tabs[3]:
        rename_delete(info)


def stage_order_editor(info, save=None) -> None:
    """``save(info, order)`` stores the order (default: the workspace dataset's)."""
    if not info.stage_order:
        st.info("This dataset has no stages yet. Map events or touchpoints to stages in the "
                "**Stage mapping** tab.")
        return
    st.caption("Funnels and journey maps follow this order. Change the numbers and save.")
    frame = pd.DataFrame({"Position": range(1, len(info.stage_order) + 1), "Stage": list(info.stage_order)})
    edited = st.data_editor(frame, hide_index=True, disabled=["Stage"], key=f"order_{info.id}_{info.version}",
                            column_config={"Position": st.column_config.NumberColumn(min_value=1, step=1)})
    if st.button("Save stage order", key=f"save_order_{info.id}"):
        order = edited.sort_values(["Position", "Stage"], kind="stable")["Stage"].tolist()
        if save is None:
            get_workspace().set_stage_order(info.name, order)
        else:
            save(info, order)
        st.toast("Stage order saved.", icon=":material/check_circle:")
        st.rerun()


def stage_mapping_editor(info) -> None:
    ws = get_workspace()
    if "stage" in info.roles:
        st.info(f"Stages come from the column **{plain(info.roles['stage'])}** of the file.")
        return
    sources = [r for r in ("event", "touchpoint") if r in info.roles]
    if not sources:
        st.info("Stages can be mapped from an event or touchpoint column; this dataset has neither.")
        return
    current = info.stage_mapping or {}
    source = st.radio("Map stages from", sources, horizontal=True, key=f"map_src_{info.id}",
                      index=sources.index(current.get("source_role")) if current.get("source_role") in sources else 0)
    values = ws.distinct_values(info.name, source, limit=300)
    known = current.get("mapping", {}) if current.get("source_role") == source else {}
    frame = pd.DataFrame({source.capitalize(): values, "Stage": [known.get(v, "") for v in values]})
    st.caption(f"Type a stage for each {source} (same name = same stage); leave blank to leave it out. "
               "The stage order follows the first appearance here and can be changed afterwards.")
    edited = st.data_editor(frame, hide_index=True, disabled=[source.capitalize()],
                            key=f"map_{info.id}_{source}_{info.version}", height=320)
    if st.button("Apply stage mapping", key=f"apply_map_{info.id}", type="primary"):
        mapping = {row[source.capitalize()]: str(row["Stage"]).strip() for _, row in edited.iterrows()
                   if str(row["Stage"] or "").strip()}
        if not mapping:
            st.warning("Type at least one stage first.")
            return
        ws.set_stage_mapping(info.name, StageMapping.from_dict(source, mapping))
        st.toast("Stages mapped.", icon=":material/check_circle:")
        st.rerun()


def rows_and_problems(info) -> None:
    ws = get_workspace()
    a, b, c = st.columns(3)
    a.metric("Rows read", f"{info.rows_read:,}")
    b.metric("Accepted", f"{info.rows_accepted:,}")
    c.metric("Rejected", f"{info.rows_rejected:,}")
    roles = ", ".join(f"{schema.ROLE_LABELS[r]} ← {c}" for r, c in info.roles.items())
    st.caption(plain(f"Roles: {roles}. Attributes: {', '.join(info.attributes) or 'none'}. "
                     "Times are stored in UTC."))
    st.markdown("**First rows**")
    # The stored columns under the names people use (no internal _row / ts).
    shown = ws.preview(info.name, 50).rename(columns=PREVIEW_NAMES)
    st.dataframe(display_frame(shown), hide_index=True, height=260)
    problems = ws.rejects(info.name)
    if len(problems):
        st.markdown(f"**Problems** ({len(problems):,} cells)")
        st.dataframe(display_frame(problems.head(500)), hide_index=True, height=220)
        csv_button(problems, f"{info.name} rejected rows", label="Download problems (CSV)",
                   key=f"rej_ds_{info.id}", help="Every problem: row number, column, raw value and reason.")
    else:
        st.success("No row was rejected.")


def rename_delete(info) -> None:
    ws = get_workspace()
    new = st.text_input("New name", value=info.name, key=f"rename_{info.id}", max_chars=80)
    if st.button("Rename", key=f"do_rename_{info.id}") and new.strip() != info.name:
        try:
            renamed = ws.rename_dataset(info.name, new)
            if requested_dataset() == info.name:    # the link named it: follow the new name
                select_dataset(renamed.name)
            st.rerun()
        except CxDataError as exc:
            st.error(plain(error_text(exc)))
    st.divider()
    confirm = st.checkbox(f"Yes, delete “{plain(info.name)}” and its rejected rows", key=f"confirm_del_{info.id}")
    if st.button("Delete dataset", key=f"do_delete_{info.id}", disabled=not confirm, type="primary"):
        ws.delete_dataset(info.name)
        forget_dataset(info.name)
        st.toast(f"Deleted “{plain(info.name)}”.")
        st.rerun()


def main() -> None:
    st.title("Data")
    upload_section()
    spark_connect.connect_section()
    st.divider()
    datasets_section()


main()
