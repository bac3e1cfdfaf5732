"""AppTest of the whole app (``app.py`` with its navigation), as a running server has it.

A real server runs Streamlit's legacy pages-directory mode only until ``st.navigation`` is
first called in the process (``cxdata.ui.state._leave_pages_directory_mode`` handles that
first visit).  AppTest starts every run afresh in that mode, so each run would begin with
the page alone and a rerun, which drops a button click.  ``warm_server`` makes AppTest
start its runs as a warmed-up server does.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parent.parent / "app.py"


class _WarmPagesManager(PagesManager):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False


@pytest.fixture
def warm_server(monkeypatch):
    import streamlit.testing.v1.app_test as app_test
    monkeypatch.setattr(app_test, "PagesManager", _WarmPagesManager)
    yield
    PagesManager.uses_pages_directory = None


def open_app_page(page: str, timeout: int = 120, **query) -> AppTest:
    """``pages/<page>.py`` run through ``app.py`` (needs the ``warm_server`` fixture)."""
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    for key, value in query.items():
        at.query_params[key] = value
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at


SAMPLE = APP.parent / "sample_data" / "interactions.csv"


def sample_dataset():
    """The bundled sample as a dataset of the running script's workspace, ingested on
    first use — for the page functions that :func:`run_section` runs."""
    from cxdata.ui.state import get_workspace
    ws = get_workspace()
    if not ws.has_dataset("sample"):
        ws.ingest(str(SAMPLE), "sample")
    return ws.get_dataset("sample")


def run_section(function, *, query: dict | None = None) -> AppTest:
    """Run ``function`` — a section of a page, drawn on :func:`sample_dataset` — alone in
    AppTest, with ``query`` as URL parameters.  AppTest runs a function's source as a
    script of its own (no closure): other inputs must reach it another way (attributes of
    ``builtins`` set for the whole test, as reruns read them too)."""
    at = AppTest.from_function(function, default_timeout=120)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at
