"""Hardening for real users: long lines near the top, imports killed midway, gzip bombs,
staged upload copies, zone abbreviations, control characters in names, links in the
Markdown map export, bidirectional overrides in displayed text."""
from __future__ import annotations

import gc
import gzip
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from cxdata import cli
from cxdata.maps import exports
from cxdata.maps import journey_map as jm
from cxdata.errors import UnusableInput
from cxdata.io.ingest import ingest_file, validate_file
from cxdata.store.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


# -- a field longer than Python's csv limit near the top --------------------------------

def test_a_comment_longer_than_131072_characters_on_line_2_is_read(tmp_path, capsys):
    comment = "y" * 200_000
    path = write(tmp_path, "long.csv", "customer_id,timestamp,event,comment\n"
                 f"c1,2024-03-01,Call,{comment}\nc2,2024-03-02,Mail,short\n")
    result = validate_file(path)
    assert (result.rows_read, result.rows_accepted, result.rows_rejected) == (2, 2, 0)
    assert result.roles["comment"] == "comment"
    assert cli.main(["validate", str(path), "--format", "json"]) == 0
    assert "field larger than field limit" not in capsys.readouterr().err


def test_a_long_header_field_is_read_too(tmp_path):
    long_name = "n" * 150_000
    path = write(tmp_path, "wide.csv", f"customer_id,timestamp,event,{long_name}\nc1,2024-03-01,Call,1\n")
    result = validate_file(path)
    assert result.rows_accepted == 1 and long_name in result.attributes


# -- an import killed midway leaves nothing behind ---------------------------------------

def _tables(path) -> set[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
    finally:
        con.close()


def test_an_ingest_killed_with_sigkill_leaves_no_table_once_the_workspace_opens(tmp_path):
    workspace = tmp_path / "ws.duckdb"
    log = write(tmp_path, "log.csv", "customer_id,timestamp,stage\n"
                + "".join(f"c{i},2024-03-01T10:00:{i % 60:02d},Aware\n" for i in range(500)))
    Workspace(workspace).ingest(log, "Kept").__class__   # one dataset that must survive
    # The import is killed (SIGKILL: no cleanup runs) after its dataset table was written,
    # while the customer timelines are being gathered.
    script = textwrap.dedent(f"""
        import os, signal
        import cxdata.store.workspace as w
        def die(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)
        w._build_default_timeline = die
        w.Workspace({str(workspace)!r}).ingest({str(log)!r}, "Half")
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == -signal.SIGKILL
    left = _tables(workspace)
    kept = Workspace(workspace, read_only=True)
    info = kept.get_dataset("Kept")
    kept.close()
    orphans = {t for t in left if t.startswith(("ds_", "rej_", "cx_rej_"))
               and not t.startswith((info.table, info.rejects_table))}
    assert orphans, "the killed import should have left its tables (else this test tests nothing)"
    # Opening the workspace for writing sweeps them; the catalog's dataset is untouched.
    ws = Workspace(workspace)
    assert [d.name for d in ws.list_datasets()] == ["Kept"]
    assert ws.cursor().execute(f'SELECT count(*) FROM "{info.table}"').fetchone()[0] == 500
    ws.close()
    after = _tables(workspace)
    assert not (after & orphans)
    assert {t for t in after if t.startswith(("ds_", "rej_", "cx_rej_"))} == {
        t for t in left if t.startswith((info.table, info.rejects_table))}


# -- a gzip file that expands without limit ----------------------------------------------

def _bomb(tmp_path, rows: int = 400_000) -> Path:
    # 400,000 rows of 28 bytes: 11.2 MB of text in a file of a few tens of KB.
    text = "customer_id,timestamp,event\n" + "c1,2024-03-01T10:00:00,Call\n" * rows
    return write(tmp_path, "bomb.csv.gz", gzip.compress(text.encode(), 9))


def test_a_gzip_file_expanding_past_the_limit_is_stopped_with_a_sentence(tmp_path):
    path = _bomb(tmp_path)
    assert path.stat().st_size < 200_000
    with pytest.raises(UnusableInput, match=r"expands to more than 1 MB once decompressed"):
        validate_file(path, max_bytes=1 << 20)
    # Under the limit it is read as before.
    assert validate_file(path, max_bytes=64 << 20).rows_accepted == 400_000


def test_the_limit_comes_from_cxdata_max_bytes_or_ingest_max_bytes(tmp_path, monkeypatch, capsys):
    path = _bomb(tmp_path)
    workspace = str(tmp_path / "ws.duckdb")
    assert cli.main(["ingest", str(path), "--name", "Bomb", "--workspace", workspace, "--max-bytes", "2M"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("The file expands to more than 2 MB once decompressed") and "Traceback" not in err
    monkeypatch.setenv("CXDATA_MAX_BYTES", "5M")
    assert cli.main(["validate", str(path)]) == 2
    assert "more than 5 MB" in capsys.readouterr().err
    # The option wins over the environment.
    assert cli.main(["ingest", str(path), "--name", "Bomb", "--workspace", workspace, "--max-bytes", "20M"]) == 0
    assert cli.main(["ingest", str(path), "--name", "X", "--workspace", workspace, "--max-bytes", "lots"]) == 2
    assert "--max-bytes" in capsys.readouterr().err


def test_an_uncompressed_file_larger_than_the_limit_is_stopped_too(tmp_path):
    path = write(tmp_path, "big.csv", "customer_id,timestamp,event\n" + "c1,2024-03-01,Call\n" * 1000)
    with pytest.raises(UnusableInput, match="more than this installation reads"):
        validate_file(path, max_bytes=1000)


# -- staged upload copies ------------------------------------------------------------------

def test_staged_copies_are_deleted_when_the_session_state_goes(tmp_path):
    from cxdata.ui.uploads import StagedFiles
    first, second = tmp_path / "cxdata-upload-a.csv", tmp_path / "cxdata-upload-b.csv"
    first.write_text("x")
    second.write_text("y")
    staged = StagedFiles()
    staged["t1"] = str(first)
    staged["t2"] = str(second)
    del staged
    gc.collect()
    assert not first.exists() and not second.exists()


# -- zone abbreviations mean their fixed offset --------------------------------------------

def test_a_zone_abbreviation_means_its_fixed_offset(tmp_path):
    # 2025-03-30: Europe is on summer time from 01:00 UTC; the USA since 9 March.  A written
    # PST is still UTC−8 (09:30 UTC), PDT UTC−7, EST UTC−5, CET UTC+1, BST (British) UTC+1.
    path = write(tmp_path, "zones.csv", "customer_id,timestamp,event\n"
                 "a,2025-03-30 01:30 PST,x\nb,2025-03-30 01:30 PDT,x\nc,2025-03-30 01:30 EST,x\n"
                 "d,2025-07-30 01:30 CET,x\ne,2025-07-30 01:30 BST,x\nf,2025-03-30T01:30:00Z,x\n"
                 "g,2025-03-30 01:30:00 UTC,x\nh,2025-03-30 01:30 pst,x\n")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    result = ingest_file(con, path, table="ev", rejects_table="rej")
    assert result.rows_rejected == 0
    got = {c: str(t) for c, t in con.execute("SELECT customer_id, ts FROM ev").fetchall()}
    assert got == {"a": "2025-03-30 09:30:00", "b": "2025-03-30 08:30:00", "c": "2025-03-30 06:30:00",
                   "d": "2025-07-30 00:30:00", "e": "2025-07-30 00:30:00", "f": "2025-03-30 01:30:00",
                   "g": "2025-03-30 01:30:00", "h": "2025-03-30 09:30:00"}


# -- control characters in dataset names -----------------------------------------------------

@pytest.mark.parametrize("bad", ["Web\x00 2025", "Web \u202e5202", "a\x07b"])
def test_a_dataset_name_with_a_control_character_is_refused(tmp_path, bad):
    log = write(tmp_path, "log.csv", "customer_id,timestamp,stage\nc1,2024-03-01,Aware\n")
    ws = Workspace(tmp_path / "ws.duckdb")
    with pytest.raises(UnusableInput, match="cannot contain control characters"):
        ws.ingest(log, bad)
    ws.ingest(log, "Good")
    with pytest.raises(UnusableInput, match="cannot contain control characters"):
        ws.rename_dataset("Good", bad)
    assert [d.name for d in ws.list_datasets()] == ["Good"]
    ws.close()


# -- the Markdown export of a journey map --------------------------------------------------

def test_markdown_export_shows_links_and_images_as_text():
    m = jm.JourneyMap(name="[x](http://host/) ![i](http://host/p.png)",
                      stages=[jm.Stage("s1", "Find"), jm.Stage("s2", "Buy")],
                      lanes=[jm.Lane("l1", "Pain points", "text", "pain_points", {})])
    m = jm.set_cell(m, "l1", "s2", "see ![i](http://host/p.png) <img src=x>")
    text = exports.to_markdown(m)
    assert text.splitlines()[0] == "# \\[x\\]\\(http://host/\\) \\!\\[i\\]\\(http://host/p.png\\)"
    assert "see \\!\\[i\\]\\(http://host/p.png\\) &lt;img src=x&gt;" in text
    assert "](http" not in text and "<img" not in text


# -- bidirectional controls in displayed text ---------------------------------------------

def test_display_text_removes_bidi_controls_but_keeps_right_to_left_letters():
    from cxdata.formatting import display_text
    assert display_text("Checkout\u202e gnippihs") == "Checkout gnippihs"
    assert display_text("\u2067שלום\u2069 ok\u200f") == "שלום ok"


def test_plain_removes_bidi_controls():
    from cxdata.ui.filters import plain
    assert plain("a\u202eb*") == "ab\\*"


def test_display_frame_strips_bidi_controls_from_text_cells_only():
    import pandas as pd
    from cxdata.formatting import display_frame
    frame = pd.DataFrame({"touchpoint\u202e": ["Call \u202eevil", "Web"], "nps": [9, 3]})
    shown = display_frame(frame)
    assert list(shown.columns) == ["touchpoint", "nps"]
    assert shown["touchpoint"].tolist() == ["Call evil", "Web"] and shown["nps"].tolist() == [9, 3]
    assert frame.iloc[0, 0] == "Call \u202eevil"      # the data itself (and its downloads) unchanged
