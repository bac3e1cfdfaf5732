"""Ingestion per SPEC §1: every format and encoding, timestamps to UTC, score rules,
row accounting, and the corpus of bad inputs under tests/corpus/ with exact outcomes."""
from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import duckdb
import pytest

from cxdata.errors import UnusableInput
from cxdata.io.ingest import StageMapping, ingest_file, inspect_file, validate_file

CORPUS = Path(__file__).parent / "corpus"


def ingest(path, **kwargs):
    """Ingest into an in-memory DuckDB; returns (result, rows as dicts ordered by _row)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    result = ingest_file(con, path, table="ev", rejects_table="rej", **kwargs)
    cur = con.execute("SELECT * FROM ev ORDER BY _row")
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    return result, rows, con


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


# -- formats and encodings -------------------------------------------------------------

def test_latin1_semicolon_file_is_decoded_not_mangled():
    result, rows, _ = ingest(CORPUS / "latin1.csv")
    assert result.rows_read == 2 and result.rows_rejected == 0
    assert [r["comment"] for r in rows] == ["Café in Zürich", "naïve"]
    assert "Latin-1" in result.format


def test_utf8_bom_does_not_leak_into_the_first_column_name():
    result, rows, _ = ingest(CORPUS / "utf8_bom.csv")
    assert result.roles["customer_id"] == "customer_id"
    assert [r["stage"] for r in rows] == ["Aware", "Purchase"]


def test_utf16_file_is_read():
    result, rows, _ = ingest(CORPUS / "utf16.csv")
    assert result.rows_accepted == 2
    assert [r["customer_id"] for r in rows] == ["c1", "c2"]
    assert "UTF-16" in result.format


def test_gzip_tab_separated_file():
    result, rows, _ = ingest(CORPUS / "gzipped.csv.gz")
    assert "gzip" in result.format
    assert [(r["customer_id"], r["touchpoint"]) for r in rows] == [("c1", "Web"), ("c2", "App")]


def test_semicolon_delimiter_is_sniffed_and_decimal_commas_stay_text():
    result, rows, _ = ingest(CORPUS / "semicolon.csv")
    assert result.roles == {"customer_id": "user_id", "timestamp": "event_time", "event": "event_type"}
    assert [r["price"] for r in rows] == ["1,50", "1,50", "3,00"]


def test_parquet_keeps_instants_and_scores():
    result, rows, _ = ingest(CORPUS / "log.parquet")
    assert [r["ts"] for r in rows] == [dt.datetime(2024, 3, 1, 10), dt.datetime(2024, 3, 2, 12)]
    assert [r["csat"] for r in rows] == [5, None]


def test_json_array_with_offset_and_nested_value():
    result, rows, _ = ingest(CORPUS / "array.json")
    # 10:00 at +01:00 is 09:00 UTC; a date alone is midnight UTC.
    assert [r["ts"] for r in rows] == [dt.datetime(2024, 3, 1, 9), dt.datetime(2024, 3, 1)]
    assert json.loads(rows[0]["extra"]) == {"a": 1}
    assert rows[1]["csat"] is None


def test_ndjson_epoch_milliseconds():
    result, rows, _ = ingest(CORPUS / "epoch_ms.ndjson")
    # 1709287200000 ms = 2024-03-01 10:00:00 UTC; one hour later for the second event.
    assert [r["ts"] for r in rows] == [dt.datetime(2024, 3, 1, 10), dt.datetime(2024, 3, 1, 11)]
    assert result.roles["customer_id"] == "distinct_id"


def test_xlsx_first_sheet_skips_blank_rows_and_reads_whole_floats_as_integers():
    result, rows, _ = ingest(CORPUS / "log.xlsx")
    assert result.roles == {"customer_id": "Customer ID", "timestamp": "Timestamp", "stage": "Stage", "nps": "NPS"}
    assert [r["customer_id"] for r in rows] == ["c1", "c2", "c3"]
    assert [r["nps"] for r in rows] == [9, 3, None]
    assert rows[1]["ts"] == dt.datetime(2024, 3, 2, 11, 30)


@pytest.mark.parametrize("text, expected", [
    ("2011-10-01T00:38:44.546+02:00", dt.datetime(2011, 9, 30, 22, 38, 44, 546000)),
    ("2019-10-01 00:00:00 UTC", dt.datetime(2019, 10, 1)),
    ("2024-03-01", dt.datetime(2024, 3, 1)),
    ("2024-03-01T10:00:00Z", dt.datetime(2024, 3, 1, 10)),
    ("2024-03-01 10:00:00 +0200", dt.datetime(2024, 3, 1, 8)),
    ("1709287200", dt.datetime(2024, 3, 1, 10)),
    ("1709287200000", dt.datetime(2024, 3, 1, 10)),
    ("2024/03/01 10:30", dt.datetime(2024, 3, 1, 10, 30)),
    # Offsets and zone names, with and without a space or fraction, all land in UTC.
    ("2024-03-01 10:00", dt.datetime(2024, 3, 1, 10)),
    ("2024-3-1 1:2:3", dt.datetime(2024, 3, 1, 1, 2, 3)),
    ("2024-03-01T10:00:00.5+01", dt.datetime(2024, 3, 1, 9, 0, 0, 500000)),
    ("2024-03-01 10:00:00-05:30", dt.datetime(2024, 3, 1, 15, 30)),
    ("2024-03-01 10:00:00+14", dt.datetime(2024, 2, 29, 20)),
    ("2024-03-01 10:00:00 Europe/Berlin", dt.datetime(2024, 3, 1, 9)),
    ("2024-03-01 10:00:00 America/New_York", dt.datetime(2024, 3, 1, 15)),
])
def test_timestamp_forms_are_stored_as_utc(tmp_path, text, expected):
    path = write(tmp_path, "t.csv", f'customer_id,timestamp,event\nc1,"{text}",x\n')
    _, rows, _ = ingest(path)
    assert rows[0]["ts"] == expected


def test_real_process_mining_log_validates_without_rejects():
    result = validate_file(Path(__file__).resolve().parents[2] / "shared" / "data" / "receipt.csv.gz")
    assert (result.rows_read, result.rows_rejected) == (8577, 0)
    assert result.roles == {"customer_id": "case:concept:name", "timestamp": "time:timestamp",
                            "event": "concept:name", "channel": "case:channel"}


def test_attribute_named_like_a_canonical_column_is_kept_aside(tmp_path):
    # "ts" is not a role alias here because "timestamp" wins; the "ts" column is an attribute
    # and must not shadow the canonical ts column.
    path = write(tmp_path, "a.csv", "customer_id,timestamp,event,ts\nc1,2024-03-01,x,keep me\n")
    result, rows, _ = ingest(path)
    assert result.attributes == ["ts (attribute)"]
    assert rows[0]["ts (attribute)"] == "keep me" and rows[0]["ts"] == dt.datetime(2024, 3, 1)


def test_overrides_win_and_a_column_fills_one_role(tmp_path):
    path = write(tmp_path, "o.csv", "case,when,what,source\nk1,2024-03-01,Submit,Desk\n")
    result, rows, _ = ingest(path, overrides={"channel": "source", "event": "what", "timestamp": "when"})
    assert result.roles == {"customer_id": "case", "timestamp": "when", "event": "what", "channel": "source"}
    assert rows[0]["channel"] == "Desk"


def test_stage_order_default_and_first_appearance(tmp_path):
    default = write(tmp_path, "d.csv", "customer_id,timestamp,stage\nc,2024-03-02,purchase\nc,2024-03-01,Aware\n")
    assert ingest(default)[0].stage_order == ["Aware", "purchase"]
    custom = write(tmp_path, "c.csv", "customer_id,timestamp,stage\nc,2024-03-02,Try\nc,2024-03-01,Buy\nc,2024-03-03,Try\n")
    assert ingest(custom)[0].stage_order == ["Try", "Buy"]


def test_stage_mapping_for_a_log_without_stages():
    mapping = StageMapping.from_dict("event", {"Submit": "Apply", "Review": "Decide"})
    result, rows, _ = ingest(CORPUS / "process_mining.csv", stage_mapping=mapping)
    assert [r["stage"] for r in rows] == ["Apply", "Decide", "Apply"]
    assert result.stage_order == ["Apply", "Decide"]


def test_inspect_reads_only_a_preview_and_guesses_roles():
    info = inspect_file(CORPUS / "ecommerce.csv", rows=1)
    assert len(info.preview) == 1
    assert info.roles == {"customer_id": "user_id", "timestamp": "event_time", "event": "event_type"}


def test_very_long_line_is_read_whole(tmp_path):
    comment = "x" * (5 * 1024 * 1024)
    path = write(tmp_path, "long.csv", f"customer_id,timestamp,event,comment\nc1,2024-03-01,Call,{comment}\nc2,2024-03-01,Call,short\n")
    result, rows, _ = ingest(path)
    assert result.rows_accepted == 2
    assert len(rows[0]["comment"]) == 5 * 1024 * 1024


# -- scores ---------------------------------------------------------------------------

def test_scores_reject_rows_by_default():
    result, rows, con = ingest(CORPUS / "bad_scores.csv")
    # c1 (4.0 is 4) and c6 (no scores) pass; 11 and -1 are out of 0–10, 4.5 is fractional, abc not a number.
    assert (result.rows_read, result.rows_accepted, result.rows_rejected) == (6, 2, 4)
    assert [(r["customer_id"], r["nps"], r["csat"], r["ces"]) for r in rows] == [("c1", 4, 5, 7), ("c6", None, None, None)]
    assert [p.to_dict() for p in result.problems] == [
        {"row": 2, "column": "nps", "value": "11", "reason": "NPS is outside 0–10"},
        {"row": 3, "column": "nps", "value": "-1", "reason": "NPS is outside 0–10"},
        {"row": 4, "column": "csat", "value": "4.5", "reason": "CSAT is not a whole number"},
        {"row": 5, "column": "ces", "value": "abc", "reason": "CES is not a number"},
    ]


def test_scores_can_be_blanked_with_a_warning_instead():
    result, rows, con = ingest(CORPUS / "bad_scores.csv", score_policy="blank")
    assert (result.rows_accepted, result.rows_rejected) == (6, 0)
    assert [r["nps"] for r in rows] == [4, None, None, None, None, None]
    actions = con.execute("SELECT DISTINCT action FROM rej").fetchall()
    assert actions == [("blanked",)]
    assert all(p.reason.endswith("(score left blank, row kept)") for p in result.problems)


# -- the corpus of bad inputs: exact outcomes -----------------------------------------

UNUSABLE = {
    "empty.csv": "The file is empty: it has no header and no rows.",
    "binary.csv": "This is not a text, JSON, Parquet or Excel file (it holds binary data); "
                  "export the log as CSV, JSON, Parquet or XLSX.",
    "missing_customer.csv": "No customer column found",
    "missing_timestamp.csv": "No time column found",
    "empty_sheet.xlsx": "The workbook's sheets are empty: there is no header row and no data.",
    "header_only.csv": "The file has a header but no data rows.",
    "not_objects.json": "The file could not be read as JSON; it must be an array of objects",
}


@pytest.mark.parametrize("name, message", sorted(UNUSABLE.items()))
def test_unusable_inputs_get_one_plain_sentence(name, message):
    with pytest.raises(UnusableInput) as info:
        validate_file(CORPUS / name)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value) and "Traceback" not in str(info.value)


def test_unreadable_timestamps_reject_only_their_rows():
    result = validate_file(CORPUS / "bad_timestamps.csv")
    assert (result.rows_read, result.rows_accepted, result.rows_rejected) == (4, 2, 2)
    assert [(p.row, p.value, p.reason) for p in result.problems] == [
        (2, "yesterday", "time is not a readable date/time"),
        (3, "2024-13-45", "time is not a readable date/time"),
    ]


def test_lines_with_the_wrong_number_of_fields_are_rejected_whole_not_truncated():
    result, rows, _ = ingest(CORPUS / "field_count.csv")
    assert (result.rows_read, result.rows_accepted, result.rows_rejected) == (4, 2, 2)
    assert [r["customer_id"] for r in rows] == ["c1", "c4"]
    # Row numbers count the rejected lines: c4 is the 4th data row.
    assert [r["_row"] for r in rows] == [1, 4]
    assert [(p.row, p.column, p.value) for p in result.problems] == [
        (2, "(whole line)", "c2,2024-03-01,Visit,surplus"), (3, "(whole line)", "c3,2024-03-01")]


def test_spreadsheet_formulas_are_kept_verbatim_and_neutralised_on_export():
    from cxdata.presentation.export import csv_bytes
    result, rows, con = ingest(CORPUS / "formulas.csv")
    assert result.rows_rejected == 0
    assert rows[0]["customer_id"] == "+31612345678"
    assert rows[0]["comment"] == '=HYPERLINK("http://example.invalid","click")'
    exported = csv_bytes(con.execute("SELECT customer_id, comment FROM ev ORDER BY _row").df(), excel_bom=False)
    lines = exported.decode("utf-8").splitlines()
    assert lines[1].startswith("'+31612345678,")
    assert "'=HYPERLINK" in lines[1] and lines[2] == "'@c2,'-2 stars"


def test_duplicate_header_names_keep_both_columns_with_a_note():
    result, rows, _ = ingest(CORPUS / "duplicate_headers.csv")
    assert result.attributes == ["note", "note_1"]
    assert (rows[0]["note"], rows[0]["note_1"]) == ("first", "second")
    assert any("more than once" in n for n in result.notes)


def test_a_late_invalid_utf8_byte_rejects_that_line_only(tmp_path):
    good = "".join(f"c{i:06d},2024-03-01,Visit\n" for i in range(70000))  # 1.7 MB, beyond the sniff sample
    data = b"customer_id,timestamp,event\n" + good.encode() + b"c\xff\xfe,2024-03-01,Visit\nlast,2024-03-01,Visit\n"
    result, rows, _ = ingest(write(tmp_path, "late.csv", data))
    # The 1 MB sniff sample is valid UTF-8, so the file is read as UTF-8; the bad line is
    # the 70,001st data row and is rejected with its reason, the last line still read.
    assert (result.rows_read, result.rows_rejected) == (70002, 1)
    assert (result.problems[0].row, result.problems[0].reason) == (
        70001, "the line has bytes that are not valid in the file's encoding")
    assert rows[-1]["customer_id"] == "last"


def test_gzip_that_is_not_gzip_gets_a_message(tmp_path):
    path = write(tmp_path, "broken.csv.gz", b"\x1f\x8b" + b"not really gzip" * 10)
    with pytest.raises(UnusableInput, match="could not be decompressed"):
        validate_file(path)


def test_gzip_round_trip_of_the_sample_counts_every_row(tmp_path):
    source = Path(__file__).resolve().parent.parent / "sample_data" / "interactions.csv"
    lines = source.read_bytes().count(b"\n") - 1
    packed = tmp_path / "sample.csv.gz"
    packed.write_bytes(gzip.compress(source.read_bytes(), mtime=0))
    result = validate_file(packed)
    assert result.rows_read == lines and result.rows_rejected == 0


def test_progress_is_reported_while_a_large_file_is_read(tmp_path):
    path = tmp_path / "big.csv"
    con = duckdb.connect()
    con.execute("COPY (SELECT 'c' || (i % 50000) AS customer_id, TIMESTAMP '2025-01-01' + INTERVAL (i) SECOND AS ts, "
                "'Aware' AS stage, repeat('x', 60) AS comment FROM range(1500000) t(i)) TO ? (HEADER)", [str(path)])
    seen: list[tuple[str, float]] = []
    result = validate_file(path, on_progress=lambda label, fraction: seen.append((label, fraction)))
    assert result.rows_accepted == 1_500_000
    fractions = [f for label, f in seen if label == "Reading and validating rows" and f >= 0]
    assert fractions and all(0 <= f <= 1 for f in fractions)
    assert [label for label, _ in seen][0] == "Reading the file's layout"


def test_spaces_around_values_are_trimmed_and_blank_values_are_empty(tmp_path):
    # Only spaces are trimmed (a tab stays); a customer of spaces alone is empty: rejected.
    path = write(tmp_path, "s.csv", "customer_id,timestamp,stage,touchpoint,channel\n"
                                    '" c1 ", 2024-03-01 10:00 ,Aware ,  Web, Email\n'
                                    'c2,2024-03-01 11:00,"\tAware", ,Web\n'
                                    '"   ",2024-03-01 12:00,Aware,Web,Web\n')
    result, rows, _ = ingest(path)
    assert (result.rows_read, result.rows_accepted, result.rows_rejected) == (3, 2, 1)
    assert [(r["customer_id"], r["ts"], r["stage"], r["touchpoint"], r["channel"]) for r in rows] == [
        ("c1", dt.datetime(2024, 3, 1, 10), "Aware", "Web", "Email"),
        ("c2", dt.datetime(2024, 3, 1, 11), "\tAware", None, "Web")]
    assert result.reasons == {"customer is empty": 1}
