"""Id-like columns (SPEC §2 Breakdown): a column whose values are nearly all distinct is not
offered as a breakdown or filter.  Hand-made dataset; the counts are worked out below."""
from __future__ import annotations

from pathlib import Path

from cxdata.io import profile
from cxdata.store.workspace import Workspace

#: 120 customers × 3 interactions = 360 rows.  Attributes, with what makes each one
#: id-like or not (rule: more than 50 values, and values ≥ half the filled cells, or ≥
#: half the 120 customers, or ≥ 90% of the cells dates):
#:   task_id   one per row: 360 values ≥ 180                        -> id-like
#:   email     one per customer: 120 values < 180 but ≥ 60         -> id-like
#:   deadline  55 dates (2025-02-01 … 2025-03-27), per customer: 55 < 180, 55 < 60,
#:             but every cell is a date                             -> id-like
#:   region    55 plain values r0…r54, per customer: same counts, not dates -> kept
#:   segment   2 values                                             -> kept
#:   ticket    on the first row of customers 0…59 only: 60 cells, 50 values ≥ 30,
#:             but not more than 50                                 -> kept
#:   ticket2   same 60 cells, 51 values                             -> id-like
ID_LIKE = ["task_id", "email", "deadline", "ticket2"]
KEPT = ["region", "segment", "ticket"]
STAGES = ("Aware", "Consideration", "Purchase")


def id_log_csv() -> str:
    lines = ["customer_id,timestamp,stage,touchpoint,channel,csat,task_id,email,deadline,region,"
             "segment,ticket,ticket2"]
    for c in range(120):
        for step, stage in enumerate(STAGES):
            first = step == 0 and c < 60
            day = 1 + c % 55
            deadline = f"2025-{2 + (day - 1) // 28:02d}-{(day - 1) % 28 + 1:02d}"
            lines.append(",".join([
                f"c{c}", f"2025-01-{1 + step:02d}T{c % 24:02d}:00:00Z", stage,
                ("Search ad", "Product page", "Checkout")[step], ("Web", "Store")[c % 2],
                str(1 + (c + step) % 5), f"t{c * 3 + step}", f"u{c}@example.com", deadline,
                f"r{c % 55}", ("new", "returning")[c % 2],
                f"k{c % 50}" if first else "", f"m{c % 51}" if first else ""]))
    return "\n".join(lines) + "\n"


def ingest_id_log(ws: Workspace, tmp_path: Path, name: str = "Ids"):
    path = tmp_path / "ids.csv"
    path.write_text(id_log_csv(), encoding="utf-8")
    return ws.ingest(path, name)[1]


def test_id_like_columns_by_hand(tmp_path):
    ws = Workspace(tmp_path / "ws.duckdb")
    info = ingest_id_log(ws, tmp_path)
    assert info.attributes == ("task_id", "email", "deadline", "region", "segment", "ticket", "ticket2")
    cur = ws.cursor()
    facts = profile.profile_table(cur, info.table, list(info.attributes))
    assert (facts.rows, facts.customers) == (360, 120)
    assert {c: (facts.values[c], facts.filled[c]) for c in info.attributes} == {
        "task_id": (360, 360), "email": (120, 360), "deadline": (55, 360), "region": (55, 360),
        "segment": (2, 360), "ticket": (50, 60), "ticket2": (51, 60)}
    assert facts.times["deadline"] == 360 and facts.times["region"] == 0
    assert profile.id_like_columns(cur, info.table, info.attributes) == ID_LIKE
    assert profile.id_like_columns(cur, info.table, []) == []


def test_profile_reads_the_first_rows_only(tmp_path):
    ws = Workspace(tmp_path / "ws.duckdb")
    info = ingest_id_log(ws, tmp_path)
    # The first 30 rows: customers 0…9; task ids t0…t29 (all distinct: 30 ≤ 50 values,
    # so not id-like on so few rows).
    facts = profile.profile_table(ws.cursor(), info.table, ["task_id"], limit=30)
    assert (facts.rows, facts.customers, facts.values["task_id"], facts.complete) == (30, 10, 30, False)
    assert not profile.is_id_like(facts, "task_id")


def test_sample_dataset_keeps_its_segments(tmp_path):
    from cxdata.bootstrap import install_sample_once
    ws = Workspace(tmp_path / "ws.duckdb")
    info = install_sample_once(ws)
    assert profile.id_like_columns(ws.cursor(), info.table, info.attributes) == []
