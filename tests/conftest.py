"""Shared fixtures: a temporary workspace for every test, and a real app + browser for
the browser tests (see tests/browser_support.py)."""
from __future__ import annotations

import pytest

from tests.browser_support import app_server, browser, chromium_path  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
def _private_workspace(tmp_path, monkeypatch):
    """Every test gets its own workspace file; nothing touches ~/.cxdata.  Every chart a
    page draws is checked against the Vega-Lite schema (the app skips the check)."""
    monkeypatch.setenv("CXDATA_WORKSPACE", str(tmp_path / "workspace.duckdb"))
    monkeypatch.setenv("CXDATA_CHECK_CHARTS", "1")
    yield


@pytest.fixture(scope="module")
def sample():
    """The shipped sample log ingested into a private in-memory DuckDB (table ``events``),
    for the tests that check its planted stories."""
    import duckdb

    from cxdata.bootstrap import SAMPLE_FILE
    from cxdata.io.ingest import ingest_file
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    ingest_file(connection, SAMPLE_FILE, table="events", rejects_table="rejects")
    yield connection
    connection.close()
