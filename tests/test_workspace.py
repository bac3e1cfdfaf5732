"""The workspace file: catalog, versions, rename/delete, stage order/mapping, persistence,
threads, and a clear message when another process holds the file."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cxdata.bootstrap import SAMPLE_NAME, install_sample_once
from cxdata.errors import DatasetNotFound, UnusableInput, WorkspaceBusy
from cxdata.io.ingest import StageMapping
from cxdata.store.workspace import DEFAULT_PATH, Workspace, workspace_path

CORPUS = Path(__file__).parent / "corpus"


def test_path_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("CXDATA_WORKSPACE", raising=False)
    assert workspace_path() == DEFAULT_PATH.expanduser()
    monkeypatch.setenv("CXDATA_WORKSPACE", str(tmp_path / "env.duckdb"))
    assert workspace_path() == tmp_path / "env.duckdb"
    assert workspace_path(tmp_path / "flag.duckdb") == tmp_path / "flag.duckdb"


def test_ingest_catalog_and_survives_a_restart(tmp_path):
    path = tmp_path / "ws.duckdb"
    ws = Workspace(path)
    result, info = ws.ingest(CORPUS / "bad_scores.csv", "Scores")
    assert (info.rows_read, info.rows_accepted, info.rows_rejected) == (6, 2, 4)
    assert info.roles["nps"] == "nps" and info.source == "bad_scores.csv"
    ws.close()
    again = Workspace(path)
    info2 = again.get_dataset("Scores")
    assert info2.version == info.version and info2.table == info.table
    assert len(again.rejects("Scores")) == 4
    assert again.cursor().execute(f'SELECT count(*) FROM "{info2.table}"').fetchone()[0] == 2


def test_names_are_unique_rename_and_delete(tmp_path):
    ws = Workspace(tmp_path / "ws.duckdb")
    ws.ingest(CORPUS / "utf16.csv", "A")
    with pytest.raises(UnusableInput, match="already exists"):
        ws.ingest(CORPUS / "utf16.csv", "A")
    _, replaced = ws.ingest(CORPUS / "bad_timestamps.csv", "A", replace=True)
    assert replaced.rows_read == 4 and len(ws.list_datasets()) == 1
    ws.rename_dataset("A", "  B  ")
    assert [d.name for d in ws.list_datasets()] == ["B"]
    table = ws.get_dataset("B").table
    ws.delete_dataset("B")
    assert ws.list_datasets() == []
    with pytest.raises(DatasetNotFound):
        ws.get_dataset("B")
    # The data tables went with it.
    assert ws.cursor().execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]).fetchone()[0] == 0


def test_failed_ingest_leaves_nothing_behind(tmp_path):
    ws = Workspace(tmp_path / "ws.duckdb")
    with pytest.raises(UnusableInput):
        ws.ingest(CORPUS / "missing_customer.csv", "Broken")
    assert ws.list_datasets() == []
    assert ws.cursor().execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'ds_%'").fetchone()[0] == 0


def test_stage_order_and_mapping_change_what_they_should(tmp_path):
    ws = Workspace(tmp_path / "ws.duckdb")
    _, info = ws.ingest(CORPUS / "process_mining.csv", "Cases")
    assert info.stage_order == ()
    mapped = ws.set_stage_mapping("Cases", StageMapping.from_dict("event", {"Submit": "Apply", "Review": "Decide"}))
    assert mapped.stage_order == ("Apply", "Decide") and mapped.version != info.version
    reordered = ws.set_stage_order("Cases", ["Decide"])
    # A stage left out of the new order is kept at the end; the data version is unchanged.
    assert reordered.stage_order == ("Decide", "Apply") and reordered.version == mapped.version
    _, staged = ws.ingest(CORPUS / "utf8_bom.csv", "Staged")
    with pytest.raises(UnusableInput, match="own stage column"):
        ws.set_stage_mapping("Staged", StageMapping.from_dict("event", {"x": "y"}))


def test_cursors_from_many_threads(tmp_path):
    ws = Workspace(tmp_path / "ws.duckdb")
    _, info = ws.ingest(CORPUS / "semicolon.csv", "Shop")
    counts, errors = [], []

    def work():
        try:
            cur = ws.cursor()
            for _ in range(20):
                counts.append(cur.execute(f'SELECT count(*) FROM "{info.table}"').fetchone()[0])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and counts == [3] * 160


def test_another_process_holding_the_file_gets_a_plain_message(tmp_path):
    path = tmp_path / "ws.duckdb"
    holder = subprocess.Popen([sys.executable, "-c",
                               "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(60)",
                               str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(WorkspaceBusy) as info:
            Workspace(path)
        assert "in use by another program" in str(info.value) and "--workspace" in str(info.value)
        # The app shows the same fact without a command-line option.
        web = info.value.web_message
        assert "in use by another program" in web and "--" not in web and "CXDATA_WORKSPACE" in web
    finally:
        holder.kill()
        holder.wait()


def test_sample_is_installed_once_and_not_forced_back(tmp_path):
    ws = Workspace(tmp_path / "ws.duckdb")
    info = install_sample_once(ws)
    assert info is not None and info.name == SAMPLE_NAME
    assert info.stage_order == ("Aware", "Consideration", "Purchase", "Retention", "Advocacy")
    assert info.rows_rejected == 0
    ws.delete_dataset(SAMPLE_NAME)
    assert install_sample_once(ws) is None
    assert ws.list_datasets() == []
