"""The cached workspace and the dataset picked in the sidebar, shared by every page.

The URL is the one record of the current dataset (``?dataset=NAME``): a copied link opens
the same dataset, and browser Back / Forward move between datasets like between pages.  A
URL without the parameter means the workspace's default dataset.  A URL naming a dataset
the workspace does not have never falls back to another one: the pages say so and let the
user choose (:func:`require_dataset`).
"""
from __future__ import annotations

import streamlit as st

from cxdata.bootstrap import install_sample_once
from cxdata.errors import CxDataError
from cxdata.store.workspace import DatasetInfo, Workspace, workspace_path

#: The URL parameter naming the current dataset.
DATASET_KEY = "dataset"
#: The sidebar selectbox (not bound to the URL itself: see sidebar_dataset_picker).
_PICKER_KEY = "_dataset_picker"
#: Set by the selectbox's on_change: the user picked a dataset in this rerun.
_PICKED_KEY = "_dataset_picked"
#: How many datasets the "missing dataset" notice offers as buttons.
_CHOICES_SHOWN = 12


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
    same page is chosen again because page identities are their URL paths.  The rerun
    keeps the query string and adds no browser history entry.
    """
    from streamlit.runtime.pages_manager import PagesManager
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def error_text(exc: CxDataError) -> str:
    """The sentence to show an app user: the error's ``web_message`` when it has one
    (errors whose command-line wording names an option, e.g. ``--map``), else ``str``."""
    return getattr(exc, "web_message", None) or str(exc)


def get_workspace() -> Workspace:
    """The process-wide workspace (one DuckDB connection; use ``ws.cursor()`` per query).

    Stops the page with a plain message when the file cannot be opened.
    """
    _leave_pages_directory_mode()
    try:
        return _open_workspace(str(workspace_path()))
    except CxDataError as exc:
        st.error(error_text(exc))
        st.stop()


def dataset_names() -> list[str]:
    return [d.name for d in get_workspace().list_datasets()]


def requested_dataset() -> str | None:
    """The dataset the URL names (``?dataset=``), or None."""
    return st.query_params.get(DATASET_KEY) or None


def missing_dataset() -> str | None:
    """The name the URL gives when the workspace has no dataset of that name (a link to
    a renamed or deleted dataset, or a mistyped one), else None."""
    name = requested_dataset()
    return name if name and not get_workspace().has_dataset(name) else None


def current_dataset() -> DatasetInfo | None:
    """The dataset the URL names, else the workspace's default dataset.

    None when the workspace has no dataset, or when the URL names one it does not have
    (:func:`missing_dataset`): another dataset's numbers must not appear under that link.
    """
    ws = get_workspace()
    name = requested_dataset()
    if name:
        return ws.get_dataset(name) if ws.has_dataset(name) else None
    datasets = ws.list_datasets()
    if not datasets:
        return None
    default = ws.get_setting("default_dataset")
    return next((d for d in datasets if d.name == default), datasets[0])


def select_dataset(name: str) -> None:
    """Make ``name`` the current dataset (after an upload, a rename, or a choice).

    Only the URL changes; the sidebar picker follows it on the next run (it is drawn
    before the page, so its widget cannot change in this run).
    """
    st.query_params[DATASET_KEY] = name


def forget_dataset(name: str) -> None:
    """After ``name`` was deleted: a URL naming it goes back to the default dataset."""
    if requested_dataset() == name:
        st.query_params.pop(DATASET_KEY, None)


def _picked() -> None:
    st.session_state[_PICKED_KEY] = True


def sidebar_dataset_picker() -> DatasetInfo | None:
    """The sidebar selectbox of datasets; returns the current dataset (None when there
    is none, or when the URL names a missing one).

    The selectbox shows what the URL names, so Back, Forward and links set it; a choice
    in it writes the URL (one history entry, so Back returns to the previous dataset).
    Nothing is written while the user has not chosen: a first visit adds no entry.
    """
    ws = get_workspace()
    names = [d.name for d in ws.list_datasets()]
    if not names:
        st.sidebar.info("No dataset yet: add one on the **Data** page.")
        return None
    if st.session_state.pop(_PICKED_KEY, False) and st.session_state.get(_PICKER_KEY) in names:
        select_dataset(st.session_state[_PICKER_KEY])
    current = current_dataset()
    # Also undoes a clearing of the box (its ×): the URL still names the dataset.
    st.session_state[_PICKER_KEY] = current.name if current else None
    st.sidebar.selectbox("Dataset", names, index=None, key=_PICKER_KEY, on_change=_picked,
                         placeholder="Choose a dataset", help="All analysis pages use this dataset.")
    missing = missing_dataset()
    if missing:
        st.sidebar.caption(f"The link names “{_plain(missing)}”, which is not in this workspace.")
        return None
    if current is not None:
        st.sidebar.caption(f"{current.rows_accepted:,} interaction{'' if current.rows_accepted == 1 else 's'} · "
                           + (f"{len(current.stage_order)} stages" if current.stage_order else "no stages"))
    return current


def _plain(text: object) -> str:
    from cxdata.ui.filters import plain
    return plain(text)


def missing_dataset_notice(name: str) -> None:
    """Say that the link's dataset is not in the workspace and offer the ones that are."""
    st.warning(f"This link is to the dataset “{_plain(name)}”, which is not in this workspace: "
               "it may have been renamed or deleted. Nothing is shown until you choose a "
               "dataset.", icon=":material/link_off:")
    names = dataset_names()
    if not names:
        st.page_link("pages/data.py", label="Add a dataset on the Data page", icon=":material/upload_file:")
        return
    st.markdown("**Open one of the datasets in this workspace:**")
    row = st.container(horizontal=True)
    for i, other in enumerate(names[:_CHOICES_SHOWN]):
        row.button(_plain(other), key=f"_open_dataset_{i}", on_click=select_dataset, args=(other,),
                   icon=":material/dataset:")
    if len(names) > _CHOICES_SHOWN:
        st.caption(f"{len(names) - _CHOICES_SHOWN:,} more in the sidebar's Dataset list.")


def require_dataset() -> DatasetInfo:
    """The current dataset; else a notice (missing dataset, or none yet) that stops the page."""
    missing = missing_dataset()
    if missing:
        missing_dataset_notice(missing)
        st.stop()
    info = current_dataset()
    if info is None:
        st.info("There is no dataset yet. Upload an interaction log on the **Data** page, "
                "or reinstall the sample there.")
        st.page_link("pages/data.py", label="Go to Data", icon=":material/upload_file:")
        st.stop()
    return info
