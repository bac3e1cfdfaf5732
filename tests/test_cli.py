"""The command line (SPEC §6): JSON shapes, exit codes 0/1/2, one plain sentence on
stderr and never a traceback."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cxdata.cli import main

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
RECEIPT = ROOT.parent / "shared" / "data" / "receipt.csv.gz"


def run(*args, env_workspace=None):
    """Run ``python -m cxdata`` as a user would; returns (exit code, stdout, stderr)."""
    env = dict(os.environ)
    if env_workspace:
        env["CXDATA_WORKSPACE"] = str(env_workspace)
    proc = subprocess.run([sys.executable, "-m", "cxdata", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def test_validate_json_shape_and_exit_1_when_rows_are_rejected():
    code, out, err = run("validate", CORPUS / "bad_timestamps.csv", "--format", "json")
    assert code == 1 and err == ""
    data = json.loads(out)
    assert set(data) == {"rows_read", "rows_accepted", "rows_rejected", "roles", "problems"}
    assert (data["rows_read"], data["rows_accepted"], data["rows_rejected"]) == (4, 2, 2)
    assert data["problems"][0] == {"row": 2, "column": "timestamp", "value": "yesterday",
                                   "reason": "time is not a readable date/time"}


def test_validate_real_logs_of_other_shapes_without_any_map():
    code, out, _ = run("validate", RECEIPT, "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["rows_rejected"] == 0 and data["rows_read"] == 8577
    assert data["roles"] == {"customer_id": "case:concept:name", "timestamp": "time:timestamp", "event": "concept:name"}
    code, out, _ = run("validate", CORPUS / "ecommerce.csv", "--format", "json")
    assert code == 0 and json.loads(out)["roles"] == {"customer_id": "user_id", "timestamp": "event_time",
                                                     "event": "event_type"}


def test_map_option_fills_a_role():
    code, out, _ = run("validate", RECEIPT, "--map", "channel=case:channel", "--format", "json")
    assert code == 0 and json.loads(out)["roles"]["channel"] == "case:channel"


@pytest.mark.parametrize("args, sentence", [
    (["validate", CORPUS / "empty.csv"], "The file is empty"),
    (["validate", CORPUS / "binary.csv"], "This is not a text, JSON, Parquet or Excel file"),
    (["validate", CORPUS / "missing_customer.csv"], "No customer column found"),
    (["validate", CORPUS / "empty_sheet.xlsx"], "The workbook's sheets are empty"),
    (["validate", "no/such/file.csv"], "The file no/such/file.csv does not exist."),
    (["validate", CORPUS / "utf16.csv", "--map", "mood=x"], "Unknown role 'mood' in --map"),
    (["validate", CORPUS / "utf16.csv", "--map", "nps=nope"], "The file has no column 'nope' to use as nps"),
    (["funnel", CORPUS / "utf16.csv", "--window", "3 fortnights"], "Unknown"),
    (["frobnicate"], "Argument SUBCOMMAND: invalid choice"),
])
def test_unusable_input_exit_2_with_one_sentence(args, sentence):
    code, out, err = run(*args)
    assert code == 2, (out, err)
    assert err.startswith(sentence) or sentence in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_csv_output_is_spreadsheet_safe():
    code, out, _ = run("validate", CORPUS / "bad_scores.csv", "--format", "csv")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "row,column,value,reason"
    # "-1" is a raw cell value (text), so it is neutralised for spreadsheets.
    assert lines[2] == "3,nps,'-1,NPS is outside 0–10"


def test_ingest_then_use_the_dataset_by_name(tmp_path):
    ws = tmp_path / "cli.duckdb"
    code, out, _ = run("ingest", CORPUS / "bad_scores.csv", "--name", "scores", "--format", "json", env_workspace=ws)
    assert code == 1 and json.loads(out)["dataset"] == "scores"
    code, out, _ = run("datasets", "--format", "json", "--workspace", ws)
    assert code == 0 and [d["name"] for d in json.loads(out)["datasets"]] == ["scores"]
    code, out, err = run("datasets", "rename", "scores", "checkout", "--workspace", ws)
    assert code == 0 and "checkout" in out
    code, _, err = run("funnel", "ws:nope", "--workspace", ws)
    assert code == 2 and err.startswith("There is no dataset named 'nope'")


def test_sample_writes_the_shipped_log(tmp_path):
    target = tmp_path / "s.csv"
    assert main(["sample", "-o", str(target), "--customers", "50", "--seed", "3"]) == 0
    code = main(["validate", str(target)])
    assert code == 0
    again = tmp_path / "t.csv"
    main(["sample", "-o", str(again), "--customers", "50", "--seed", "3"])
    assert target.read_bytes() == again.read_bytes()
