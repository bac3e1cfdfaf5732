"""The import's large-log paths give the same answers as the plain ones: rows numbered in
slices, the quick path for ISO times ending in Z, and an import under a small memory
limit (spilling to disk) that loses nothing."""
from __future__ import annotations

import duckdb
import pytest

from cxdata.io import ingest
from cxdata.io.ingest import ingest_file
from cxdata.store import memory
from cxdata.store.workspace import Workspace


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _con():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def test_times_ending_in_z_after_a_digit_skip_the_zone_lookup_and_mean_utc(tmp_path):
    # The quick path takes only "…<digit>Z"; " Z", "z" and "UTC" go through the zone
    # table, and every one of them means UTC.  "1:30 pst" is UTC−8 → 09:30.
    path = write(tmp_path, "z.csv", "customer_id,timestamp,event\n"
                 "a,2025-03-30T01:30:00Z,x\nb,2025-03-30T01:30:00.250Z,x\nc,2025-03-30 01:30:00 Z,x\n"
                 "d,2025-03-30T01:30:00z,x\ne,2025-03-30 01:30:00 UTC,x\nf,2025-03-30 01:30 pst,x\n"
                 "g,2025-03-30 01:30:00+02:00,x\nh,2025-03-30 01:30:00XZ,x\n")
    con = _con()
    result = ingest_file(con, path, table="ev", rejects_table="rej")
    got = {c: str(t) for c, t in con.execute("SELECT customer_id, ts FROM ev").fetchall()}
    assert got == {"a": "2025-03-30 01:30:00", "b": "2025-03-30 01:30:00.250000",
                   "c": "2025-03-30 01:30:00", "d": "2025-03-30 01:30:00", "e": "2025-03-30 01:30:00",
                   "f": "2025-03-30 09:30:00", "g": "2025-03-29 23:30:00"}
    # "XZ" is no zone: the row is rejected, not read as UTC.
    assert result.rows_rejected == 1 and result.problems[0].row == 8


def test_rows_numbered_in_slices_count_every_line_and_the_unreadable_ones(tmp_path, monkeypatch):
    """Slices of 3 rows over 10 records, two of them unreadable lines (rows 4 and 8):
    the accepted rows keep their line's number whatever slice numbered them."""
    monkeypatch.setattr(ingest, "NUMBERING_SLICE", 3)
    lines = ["customer_id,timestamp,event"]
    for row in range(1, 11):
        lines.append(f"c{row},2024-01-01 00:00:{row:02d},e" if row not in (4, 8) else f"c{row},broken")
    path = write(tmp_path, "slices.csv", "\n".join(lines) + "\n")
    con = _con()
    result = ingest_file(con, path, table="ev", rejects_table="rej")
    assert (result.rows_read, result.rows_accepted, result.rows_rejected) == (10, 8, 2)
    rows = con.execute("SELECT _row, customer_id FROM ev ORDER BY _row").fetchall()
    assert rows == [(r, f"c{r}") for r in (1, 2, 3, 5, 6, 7, 9, 10)]
    assert [p.row for p in result.problems] == [4, 8]


def test_an_import_under_a_small_memory_limit_loses_nothing(tmp_path):
    """400,000 rows (about 25 MB of text, more once parsed and compressed in flight) into a
    workspace limited to 64 MB: every row is accounted for, each customer's timeline too."""
    path = tmp_path / "big.csv"
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT 'C' || (i % 40000) AS customer_id,
                            strftime(TIMESTAMP '2024-01-01' + to_seconds(i * 7), '%Y-%m-%dT%H:%M:%SZ') AS timestamp,
                            ['Aware', 'Consideration', 'Purchase'][1 + i % 3] AS stage,
                            CASE WHEN i % 1000 = 0 THEN '11' WHEN i % 10 = 0 THEN CAST(i % 11 AS VARCHAR) END AS nps
                     FROM range(400000) r(i)) TO '{path}' (HEADER)""")
    con.close()
    ws = Workspace(tmp_path / "ws.duckdb", memory_limit="64M")
    try:
        result, info = ws.ingest(path, "big")
        # Every 1000th row carries NPS 11: 400 rows rejected; they are all the rows of the
        # 40 customers whose number is a multiple of 1000, so 39,960 customers remain.
        assert (result.rows_read, result.rows_accepted, result.rows_rejected) == (400_000, 399_600, 400)
        cur = ws.cursor()
        assert cur.execute(f'SELECT count(*), min(_row), max(_row), count(DISTINCT _row) '
                           f'FROM "{info.table}"').fetchone() == (399_600, 2, 400_000, 399_600)
        from cxdata.store.timelines import find_timeline
        timeline = find_timeline(cur, info.table, "stage")
        assert timeline is not None
        assert cur.execute(f'SELECT count(*), sum(len(K)) FROM "{timeline.table}"').fetchone() == (39_960, 399_600)
        leftovers = cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '%cx_rej%'").fetchone()[0]
        assert leftovers == 0
    finally:
        ws.close()
    assert not (tmp_path / "ws.duckdb.tmp").exists()       # the spill folder went with it


@pytest.fixture(autouse=True)
def _no_memory_choice(monkeypatch):
    monkeypatch.delenv(memory.ENV_VAR, raising=False)
    memory.set_memory_limit(None)
