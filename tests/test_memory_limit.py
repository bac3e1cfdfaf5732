"""DuckDB's memory limit and spill folder (cxdata.store.memory): where the limit comes
from, that every connection gets it, that big work spills, and the sentence when it
cannot finish."""
from __future__ import annotations

import os

import duckdb
import pytest

from cxdata import cli
from cxdata.errors import CxDataError
from cxdata.store import memory
from cxdata.store.workspace import Workspace

GIB, MIB = 1 << 30, 1 << 20


@pytest.fixture(autouse=True)
def clean_choice(monkeypatch):
    """No --memory-limit chosen and no environment variable unless a test sets one."""
    monkeypatch.delenv(memory.ENV_VAR, raising=False)
    memory.set_memory_limit(None)
    yield
    memory.set_memory_limit(None)


def _limit(con) -> str:
    return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]


def test_default_is_half_the_memory_at_most_3_gib():
    assert memory.default_limit(24 * GIB) == 3 * GIB       # this machine: capped
    assert memory.default_limit(4 * GIB) == 2 * GIB        # a small box: half
    assert memory.default_limit(6 * GIB) == 3 * GIB


def test_a_container_limit_smaller_than_the_machine_counts(tmp_path, monkeypatch):
    limit = tmp_path / "memory.max"
    limit.write_text("2147483648\n")                         # a container given 2 GiB
    monkeypatch.setattr(memory, "_CGROUP_LIMITS", (str(limit),))
    assert memory.physical_memory() == 2 * GIB
    assert memory.default_limit() == 1 * GIB
    limit.write_text("max\n")                                # no container limit
    assert memory.physical_memory() == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def test_option_beats_environment_beats_default(monkeypatch):
    assert memory.memory_limit_bytes() == memory.default_limit()
    monkeypatch.setenv(memory.ENV_VAR, "700M")
    assert memory.memory_limit_bytes() == 700 * MIB
    memory.set_memory_limit("1.5G")                          # the command line's option
    assert memory.memory_limit_bytes() == int(1.5 * GIB)
    assert memory.memory_limit_bytes("256M") == 256 * MIB    # an explicit argument wins
    memory.set_memory_limit(None)
    assert memory.memory_limit_bytes() == 700 * MIB
    monkeypatch.setenv(memory.ENV_VAR, "none")               # DuckDB's own default
    assert memory.memory_limit_bytes() is None


@pytest.mark.parametrize("bad", ["lots", "1M", "0"])
def test_bad_limits_are_one_sentence(bad):
    with pytest.raises(CxDataError, match="--memory-limit"):
        memory.set_memory_limit(bad)


def test_workspace_connection_gets_the_limit_and_a_spill_folder_beside_it(tmp_path, monkeypatch):
    path = tmp_path / "ws.duckdb"
    ws = Workspace(path, memory_limit="500M")
    try:
        cur = ws.cursor()
        assert _limit(cur) == "500.0 MiB"
        assert cur.execute("SELECT current_setting('temp_directory')").fetchone()[0] == str(path) + ".tmp"
    finally:
        ws.close()
    monkeypatch.setenv(memory.ENV_VAR, "300M")
    ws = Workspace(path, read_only=True)
    try:
        cur = ws.cursor()
        assert _limit(cur) == "300.0 MiB"
        # Several readers may share a file: each spills into its own folder.
        assert cur.execute("SELECT current_setting('temp_directory')").fetchone()[0].startswith(
            str(path) + f".tmp-{os.getpid()}-")
    finally:
        ws.close()


def test_work_larger_than_the_limit_spills_to_disk_and_the_folder_goes_with_the_connection():
    con = memory.connect(memory_limit="64M")
    folder = con.execute("SELECT current_setting('temp_directory')").fetchone()[0]
    # 3 million 32-character texts hold about 100 MB: more than 64 MB can keep in memory.
    con.execute("CREATE TEMP TABLE big AS SELECT md5(CAST(i AS VARCHAR)) AS m FROM range(3000000) r(i)")
    files, size = con.execute("SELECT count(*), sum(size) FROM duckdb_temporary_files()").fetchone()
    assert files > 0 and size > 0
    assert os.path.isdir(folder)
    assert con.execute("SELECT count(DISTINCT m) FROM big").fetchone()[0] == 3_000_000
    con.close()
    assert not os.path.exists(folder)


def test_work_that_cannot_spill_gives_the_sentence(capsys, monkeypatch):
    """One list of 30 million integers (240 MB) is one aggregate state: it cannot be
    spilled, so 64 MB cannot hold it; the command line says what to do, exit 2."""
    def huge_list(args):
        con = memory.connect()
        con.execute("SELECT len(list(i)) FROM range(30000000) r(i)").fetchall()
        return 0
    monkeypatch.setitem(cli.COMMANDS, "datasets", huge_list)
    code = cli.main(["datasets", "--memory-limit", "64M"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_UNUSABLE
    assert err.count("\n") == 1
    assert "more memory than the limit of 64 MiB" in err
    assert "--memory-limit" in err and memory.ENV_VAR in err
    assert "narrow the date range" in err and "Spark" in err


def test_the_error_names_the_limit_and_the_app_wording_names_no_option():
    con = memory.connect(memory_limit="64M")
    try:
        with pytest.raises(duckdb.OutOfMemoryException) as caught:
            con.execute("SELECT len(list(i)) FROM range(30000000) r(i)").fetchall()
        error = memory.out_of_memory(caught.value, con)
    finally:
        con.close()
    assert isinstance(error, CxDataError)
    assert "64.0 MiB" in str(error)
    assert "--" not in error.web_message and memory.ENV_VAR in error.web_message


def test_an_engine_query_past_the_limit_raises_the_sentence_not_duckdbs_error():
    from cxdata.engines.duckdb_engine import DuckDBEngine
    con = memory.connect(memory_limit="64M")
    try:
        con.execute("CREATE TABLE ev AS SELECT 1 AS customer_id")
        engine = DuckDBEngine(con, "ev")
        with pytest.raises(memory.OutOfMemory, match="more memory than the limit of 64.0 MiB"):
            engine.rows("SELECT len(list(i)) AS n FROM range(30000000) r(i)")
        with pytest.raises(memory.OutOfMemory):
            engine.run("SELECT len(list(i)) AS n FROM range(30000000) r(i)")
        assert engine.rows("SELECT count(*) FROM ev") == [(1,)]   # the connection still works
    finally:
        con.close()
