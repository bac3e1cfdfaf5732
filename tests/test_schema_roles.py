"""Role guesses (SPEC §1): XES logs, the ``case:`` prefix, and the case-notion warning, on
hand-made logs and on the real receipt log."""
from __future__ import annotations

from pathlib import Path

import pytest

from cxdata.io import profile, schema
from cxdata.io.ingest import MissingRole, check_roles, validate_file

RECEIPT = Path(__file__).resolve().parents[2] / "shared" / "data" / "receipt.csv.gz"
needs_receipt = pytest.mark.skipif(not RECEIPT.exists(), reason="the shared receipt log is not here")


def test_xes_case_id_wins_over_a_customer_column():
    columns = ["customer", "case:concept:name", "concept:name", "time:timestamp"]
    assert schema.guess_roles(columns) == {"customer_id": "case:concept:name", "timestamp": "time:timestamp",
                                           "event": "concept:name"}
    # Only time:timestamp beside it is enough to declare the XES case notion.
    assert schema.guess_roles(["customer", "case:concept:name", "time:timestamp", "activity"])[
        "customer_id"] == "case:concept:name"


def test_without_xes_names_the_alias_order_decides():
    # case:concept:name alone, with a plain customer column and plain names: not an XES
    # log, so "customer" (earlier in the list) wins.
    assert schema.guess_roles(["customer", "case:concept:name", "timestamp", "activity"])[
        "customer_id"] == "customer"


def test_case_prefix_is_ignored_when_no_unprefixed_column_fits():
    columns = ["case:channel", "case:concept:name", "concept:name", "time:timestamp", "case:rating"]
    assert schema.guess_roles(columns) == {
        "customer_id": "case:concept:name", "timestamp": "time:timestamp", "event": "concept:name",
        "channel": "case:channel", "csat": "case:rating"}
    # An unprefixed column fits first; the prefixed one stays an attribute.
    assert schema.guess_roles(["customer_id", "timestamp", "event", "case:channel", "channel"])[
        "channel"] == "channel"
    # The case id itself is never read as "concept:name" (the event) once the prefix goes.
    assert "event" not in schema.guess_roles(["case:concept:name", "time:timestamp", "user"],
                                             {"customer_id": "user"})


def test_overrides_still_win_in_an_xes_log():
    columns = ["customer", "case:concept:name", "concept:name", "time:timestamp", "case:channel"]
    roles = schema.guess_roles(columns, {"customer_id": "customer", "channel": "concept:name"})
    assert roles == {"customer_id": "customer", "timestamp": "time:timestamp", "channel": "concept:name"}


@needs_receipt
def test_real_receipt_log_needs_no_map():
    result = validate_file(RECEIPT)
    assert result.roles == {"customer_id": "case:concept:name", "timestamp": "time:timestamp",
                            "event": "concept:name", "channel": "case:channel"}
    assert (result.rows_read, result.rows_rejected) == (8577, 0)
    # 1,434 cases in 8,577 rows (16.7%): no case-notion warning.
    assert not any("different values" in note for note in result.notes)


@needs_receipt
def test_real_receipt_log_with_a_department_as_customer_is_warned():
    # org:group has 10 values in 8,577 rows (< 85.77, 1%); case:concept:name has 1,434
    # (≥ 10 × 10, and fewer than half the rows, so it is a case notion, unlike the
    # 8,577 task ids of concept:instance or the timestamps).
    result = validate_file(RECEIPT, overrides={"customer_id": "org:group"})
    warning = profile.case_notion_warning(profile.profile_file(RECEIPT), "org:group")
    assert warning == ("“org:group” has only 10 different values in 8,577 rows, so it may not be "
                       "what makes one journey: “case:concept:name” has 1,434. If each "
                       "case:concept:name is one customer journey, choose it as the customer.")
    assert warning in result.notes


def _log(tmp_path, customers: int, rows: int, cases: int) -> Path:
    """``rows`` rows: customer c(i % customers), case k(i % cases), a row id, a time."""
    lines = ["customer,case_id,row_id,timestamp,event"]
    for i in range(rows):
        lines.append(f"c{i % customers},k{i % cases},r{i},2025-01-01T{i // 60 % 24:02d}:{i % 60:02d}:00Z,e{i % 3}")
    path = tmp_path / "log.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_case_notion_warning_on_a_hand_made_log(tmp_path):
    # 300 rows: "customer" (guessed, the alias comes before case_id) has 2 values < 3
    # (1% of 300); case_id has 30 ≥ 10 × 2 and < 150 (half the rows); row_id has 300
    # (tells rows apart, not suggested); timestamp is the time column.
    path = _log(tmp_path, customers=2, rows=300, cases=30)
    result = validate_file(path)
    assert result.roles["customer_id"] == "customer"
    assert ("“customer” has only 2 different values in 300 rows, so it may not be what makes "
            "one journey: “case_id” has 30. If each case_id is one customer journey, choose "
            "it as the customer.") in result.notes


@pytest.mark.parametrize("customers, cases, warned", [
    (3, 30, False),     # 3 values is not fewer than 1% of 300 rows
    (2, 19, False),     # no other column has 10 × 2 = 20 values (row_id tells rows apart)
    (2, 20, True),
])
def test_case_notion_warning_thresholds(tmp_path, customers, cases, warned):
    path = _log(tmp_path, customers=customers, rows=300, cases=cases)
    found = profile.roles_warning(profile.profile_file(path), schema.guess_roles(
        ["customer", "case_id", "row_id", "timestamp", "event"]))
    assert (found is not None) == warned


def test_missing_roles_in_words_and_for_the_web():
    assert schema.missing_required_roles({}) == ["Customer", "Time", "a Journey stage, Event or Touchpoint"]
    assert schema.missing_required_roles({"customer_id", "timestamp", "touchpoint"}) == []
    with pytest.raises(MissingRole) as info:
        check_roles({"timestamp": "t", "event": "e"}, ["c", "t", "e"])
    assert str(info.value).endswith("; name it with --map customer_id=COLUMN.")
    assert "--map" not in info.value.web_message
    assert info.value.web_message.startswith("No customer column found")


@needs_receipt
def test_validate_command_prints_the_warning_and_keeps_its_json(tmp_path):
    import json
    import subprocess
    import sys
    run = [sys.executable, "-m", "cxdata", "validate", str(RECEIPT), "--map", "customer_id=org:group"]
    text = subprocess.run(run, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    assert text.returncode == 0
    assert "“org:group” has only 10 different values in 8,577 rows" in text.stdout
    data = json.loads(subprocess.run(run + ["--format", "json"], capture_output=True, text=True,
                                     cwd=Path(__file__).resolve().parents[1]).stdout)
    assert set(data) == {"rows_read", "rows_accepted", "rows_rejected", "roles", "problems"}
