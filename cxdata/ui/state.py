"""The cached workspace and the dataset picked in the sidebar, shared by every page."""
from __future__ import annotations

import streamlit as st

from cxdata.bootstrap import install_sample_once
from cxdata.errors import CxDataError
from cxdata.workspace import DatasetInfo, Workspace, workspace_path

DATASET_KEY = "dataset"


@st.cache_resource(show_spinner="Opening the workspace…")
def _open_workspace(path: str) -> Workspace:
    ws = Workspace(path)
    install_sample_once(ws)
    return ws


def _leave_pages_directory_mode() -> None:
    """Make a direct link to a page (``/funnel?…``) run through ``app.py``.

    Streamlit treats an app with a ``pages/`` folder as a legacy multipage app until
    ``st.navigation`` has been called once in the process; a server whose first visitor
    follows a link to a page would then run that page alone, without the app's navigation
    and sidebar.  Switching the flag off and rerunning lets ``app.py`` take over, and the
    same page is chosen again because page identities are their URL paths.
    """
    from streamlit.runtime.pages_manager import PagesManager
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def get_workspace() -> Workspace:
    """The process-wide workspace (one DuckDB connection; use ``ws.cursor()`` per query).

    Stops the page with a plain message when the file cannot be opened.
    """
    _leave_pages_directory_mode()
    try:
        return _open_workspace(str(workspace_path()))
    except CxDataError as exc:
        st.error(str(exc))
        st.stop()


def dataset_names() -> list[str]:
    return [d.name for d in get_workspace().list_datasets()]


def current_dataset() -> DatasetInfo | None:
    """The dataset chosen in the sidebar, or None when the workspace has none."""
    name = st.session_state.get(DATASET_KEY) or st.query_params.get(DATASET_KEY)
    ws = get_workspace()
    if name and ws.has_dataset(name):
        return ws.get_dataset(name)
    datasets = ws.list_datasets()
    if not datasets:
        return None
    default = ws.get_setting("default_dataset")
    chosen = next((d for d in datasets if d.name == default), datasets[0])
    return chosen


_PICKER_KEY = "_dataset_picker"
_PENDING_KEY = "_dataset_pending"


def select_dataset(name: str) -> None:
    """Make ``name`` the current dataset (used after an upload or a rename).

    The sidebar picker is drawn before the page, so its widget state cannot change in
    this run: the choice is parked and applied when the picker is drawn next.
    """
    st.session_state[DATASET_KEY] = name
    st.session_state[_PENDING_KEY] = name
    st.query_params[DATASET_KEY] = name


def sidebar_dataset_picker() -> DatasetInfo | None:
    """The sidebar selectbox of datasets; keeps the choice in the URL (``?dataset=``)."""
    ws = get_workspace()
    names = [d.name for d in ws.list_datasets()]
    if not names:
        st.sidebar.info("No dataset yet: add one on the **Data** page.")
        return None
    pending = st.session_state.pop(_PENDING_KEY, None)
    if pending in names:
        st.session_state[_PICKER_KEY] = pending
    elif st.session_state.get(_PICKER_KEY) not in names:
        st.session_state.pop(_PICKER_KEY, None)
    current = current_dataset()
    index = names.index(current.name) if current and current.name in names else 0
    chosen = st.sidebar.selectbox("Dataset", names, index=index, key=_PICKER_KEY,
                                  help="All analysis pages use this dataset.")
    if chosen != st.session_state.get(DATASET_KEY):
        st.session_state[DATASET_KEY] = chosen
    if st.query_params.get(DATASET_KEY) != chosen:
        st.query_params[DATASET_KEY] = chosen
    info = ws.get_dataset(chosen)
    st.sidebar.caption(f"{info.rows_accepted:,} interactions · "
                       + (f"{len(info.stage_order)} stages" if info.stage_order else "no stages"))
    return info


def require_dataset() -> DatasetInfo:
    """The current dataset, or an empty state pointing to the Data page (stops the page)."""
    info = current_dataset()
    if info is None:
        st.info("There is no dataset yet. Upload an interaction log on the **Data** page, "
                "or reinstall the sample there.")
        st.page_link("pages/data.py", label="Go to Data", icon=":material/upload_file:")
        st.stop()
    return info
