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
    # XES names: the case is the customer, and case:channel is the channel (SPEC §1)
    assert data["roles"] == {"customer_id": "case:concept:name", "timestamp": "time:timestamp",
                             "event": "concept:name", "channel": "case:channel"}
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
    (["funnel", CORPUS / "utf16.csv", "--window", "3 fortnights"], "Cannot read the duration '3 fortnights'"),
    (["scores", CORPUS / "utf16.csv", "--metric", "nps"], "The log has no NPS column"),
    (["funnel", CORPUS / "utf16.csv", "--by", "colour"], "Unknown column 'colour'"),
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


# -- analytics subcommands on a log small enough to work out by hand ----------------------
# small_journeys.csv: c1 Aware → Consideration (+1 day) → Purchase (+1 day), Email;
# c2 Aware → Consideration (+4 days), Web; c3 Aware only, Web; c4 Consideration only (never enters).
SMALL = CORPUS / "small_journeys.csv"


def test_funnel_json_numbers_worked_out_by_hand():
    code, out, err = run("funnel", SMALL, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["entered"] == 3
    steps = data["steps"]
    assert [s["step"] for s in steps] == ["Aware", "Consideration", "Purchase"]
    assert [s["customers"] for s in steps] == [3, 2, 1]
    assert [round(s["conversion_from_start"], 4) for s in steps] == [1.0, 0.6667, 0.3333]
    assert [round(s["conversion_from_previous"], 4) for s in steps] == [1.0, 0.6667, 0.5]
    assert [s["dropped"] for s in steps] == [1, 1, 0]
    # Aware → Consideration: c1 1 day, c2 4 days → median 2.5 days = 216,000 s; then c1's 1 day.
    assert [s["median_seconds_from_previous"] for s in steps] == [None, 216000, 86400]
    assert set(steps[0]) == {"step", "customers", "conversion_from_start", "conversion_from_previous",
                             "dropped", "median_seconds_from_previous"}


def test_funnel_window_and_breakdown():
    code, out, _ = run("funnel", SMALL, "--window", "2d", "--format", "json")
    # With a 2-day window c2's Consideration (4 days after Aware) no longer counts.
    assert [s["customers"] for s in json.loads(out)["steps"]] == [3, 1, 1]
    code, out, _ = run("funnel", SMALL, "--breakdown", "channel", "--format", "json")
    groups = {g["group"]: g for g in json.loads(out)["groups"]}
    assert set(groups) == {"Email", "Web"}
    assert (groups["Email"]["entered"], [s["customers"] for s in groups["Email"]["steps"]]) == (1, [1, 1, 1])
    assert (groups["Web"]["entered"], [s["customers"] for s in groups["Web"]["steps"]]) == (2, [2, 1, 0])


def test_scores_json_by_stage():
    code, out, err = run("scores", SMALL, "--metric", "csat", "--by", "stage", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["metric"] == "csat"
    groups = {g["group"]: g for g in data["groups"]}
    # CSAT = % of responses 4–5: Aware (4, 4) 100%, Consideration (2) 0%, Purchase (5) 100%.
    assert {k: (g["n"], g["score"]) for k, g in groups.items()} == {
        "Aware": (2, 100.0), "Consideration": (1, 0.0), "Purchase": (1, 100.0)}
    assert all(g["low_sample"] for g in groups.values())
    # Aware's two responses have an interval; a group of one response has none (SPEC §6).
    assert groups["Aware"]["ci_low"] <= groups["Aware"]["score"] <= groups["Aware"]["ci_high"]
    assert all((g["ci_low"], g["ci_high"]) == (None, None)
               for name, g in groups.items() if name != "Aware")


def test_paths_json_transitions_and_variants():
    code, out, err = run("paths", SMALL, "--by", "stage", "--top", "20", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    trans = {(t["from"], t["to"]): t["customers"] for t in data["transitions"]}
    assert trans == {("start", "Aware"): 3, ("start", "Consideration"): 1, ("Aware", "Consideration"): 2,
                     ("Consideration", "Purchase"): 1, ("Aware", "end"): 1, ("Consideration", "end"): 2,
                     ("Purchase", "end"): 1}
    variants = {tuple(v["path"]): (v["customers"], v["share"]) for v in data["variants"]}
    assert variants == {("Aware", "Consideration", "Purchase"): (1, 0.25), ("Aware", "Consideration"): (1, 0.25),
                        ("Aware",): (1, 0.25), ("Consideration",): (1, 0.25)}


EXCLUSION_LOG = """customer_id,timestamp,stage,touchpoint
a,2025-01-01T10:00:00Z,Aware,Ad
a,2025-01-02T10:00:00Z,Consideration,Support call
a,2025-01-03T10:00:00Z,Purchase,Checkout
b,2025-01-01T10:00:00Z,Aware,Ad
b,2025-01-01T12:00:00Z,Aware,Support call
b,2025-01-02T10:00:00Z,Consideration,Web
b,2025-01-04T10:00:00Z,Purchase,Checkout
c,2025-01-01T10:00:00Z,Aware,Ad
c,2025-01-05T10:00:00Z,Consideration,Web
c,2025-01-06T10:00:00Z,Purchase,Support call
"""


@pytest.mark.parametrize("exclude, expected", [
    # a's support call is its Consideration event, b's a second Aware event at 12:00, c's
    # its Purchase event.  Steps 1-3: a's and b's lie after Aware and before Purchase;
    # c's is the Purchase event itself, not before it -> only c stays.
    ("Support call", [1, 1, 1]),
    ("Support call@1-3", [1, 1, 1]),
    # 1-2: only b's comes before its Consideration event (a's is that event).
    ("Support call@1-2", [2, 2, 2]),
    # 2-3: nobody's comes after their Consideration event and before their Purchase.
    ("Support call@2-3", [3, 3, 3]),
])
def test_funnel_exclusions_by_hand(tmp_path, exclude, expected):
    log = tmp_path / "log.csv"
    log.write_text(EXCLUSION_LOG, encoding="utf-8")
    code, out, err = run("funnel", log, "--exclude", exclude, "--exclude-by", "touchpoint",
                         "--format", "json")
    assert code == 0, err
    assert [s["customers"] for s in json.loads(out)["steps"]] == expected


@pytest.mark.parametrize("args, sentence", [
    (["--exclude", "Web@3-1"], "--exclude 'Web@3-1': the steps must be two of 1…3 in order, such as @1-3."),
    (["--exclude", "@1-2"], "--exclude needs a value, got '@1-2'."),
    (["--exclude", "Web", "--exclude-by", "nosuch"], "Unknown column 'nosuch'"),
])
def test_funnel_bad_exclusions_are_one_sentence(tmp_path, args, sentence):
    log = tmp_path / "log.csv"
    log.write_text(EXCLUSION_LOG, encoding="utf-8")
    code, out, err = run("funnel", log, *args)
    assert code == 2 and out == "" and err.startswith(sentence) and "Traceback" not in err


# -- scores: a group of one response has no interval (SPEC §6) ------------------------------
# Web has two responses per metric, App one: c1 Web (NPS 10, CSAT 5, CES 6), c2 Web (3, 2, 3),
# c3 App (9, 4, 7).
ONE_RESPONSE_LOG = """customer_id,timestamp,touchpoint,nps,csat,ces
c1,2025-01-01T10:00:00Z,Web,10,5,6
c2,2025-01-02T10:00:00Z,Web,3,2,3
c3,2025-01-03T10:00:00Z,App,9,4,7
"""


def _web_interval_from_scipy(metric):
    """Web's 95% interval (two responses) per SPEC §4, computed with SciPy."""
    from scipy import stats
    z = stats.norm.ppf(0.975)
    if metric == "nps":
        # P = 1 (10), D = 1 (3), n = 2: n' = 5, p' = d' = 1.75 / 5, v = (p' + d' − 0) / n'.
        p = d = 1.75 / 5
        half = z * ((p + d - (p - d) ** 2) / 5) ** 0.5
        return 100 * (p - d - half), 100 * (p - d + half)
    if metric == "csat":
        # One of two is 4–5: Wilson interval of 1/2, in percent.
        ci = stats.binomtest(1, 2).proportion_ci(confidence_level=0.95, method="wilson")
        return 100 * ci.low, 100 * ci.high
    # CES 6 and 3: mean 4.5, s = √4.5, half = t(0.975, 1)·s/√2.
    half = stats.t.ppf(0.975, 1) * 4.5 ** 0.5 / 2 ** 0.5
    return 4.5 - half, 4.5 + half


@pytest.mark.parametrize("metric, web_score, app_score", [
    ("nps", 0.0, 100.0),      # Web: 1 promoter − 1 detractor of 2; App: one promoter
    ("csat", 50.0, 100.0),    # Web: 1 of 2 rated 4–5; App: its one 4
    ("ces", 4.5, 7.0),        # Web: mean of 6 and 3; App: 7
])
def test_scores_group_of_one_response_has_no_interval_in_every_format(tmp_path, metric,
                                                                       web_score, app_score):
    log = tmp_path / "one.csv"
    log.write_text(ONE_RESPONSE_LOG, encoding="utf-8")
    low, high = _web_interval_from_scipy(metric)

    code, out, err = run("scores", log, "--metric", metric, "--by", "touchpoint", "--format", "json")
    assert (code, err) == (0, "")
    groups = {g["group"]: g for g in json.loads(out)["groups"]}
    assert groups["App"] == {"group": "App", "n": 1, "score": app_score, "ci_low": None,
                             "ci_high": None, "low_sample": True}
    web = groups["Web"]
    assert (web["n"], web["score"]) == (2, web_score)
    assert web["ci_low"] == pytest.approx(low, abs=1e-9)
    assert web["ci_high"] == pytest.approx(high, abs=1e-9)

    code, out, err = run("scores", log, "--metric", metric, "--by", "touchpoint", "--format", "csv")
    assert (code, err) == (0, "")
    rows = out.splitlines()
    assert rows[0] == "group,n,score,ci_low,ci_high,low_sample"
    # No interval is an empty cell (a spreadsheet's blank), never an error or "nan".
    assert f"App,1,{app_score!r},,,true" in rows
    web_row = next(r for r in rows if r.startswith("Web,")).split(",")
    assert float(web_row[3]) == pytest.approx(low, abs=1e-9)
    assert float(web_row[4]) == pytest.approx(high, abs=1e-9)

    code, out, err = run("scores", log, "--metric", metric, "--by", "touchpoint")
    assert (code, err) == (0, "")
    [app_line] = [line for line in out.splitlines() if line.strip().startswith("App")]
    assert "[— … —]" in app_line and "n=      1" in app_line
    [web_line] = [line for line in out.splitlines() if line.strip().startswith("Web")]
    assert f"[{low:.1f} … {high:.1f}]" in web_line


DROPOFF_LOG = """customer_id,timestamp,stage,touchpoint
a,2025-01-06T10:00:00Z,Aware,Ad
a,2025-01-06T11:00:00Z,Aware,Web
a,2025-01-07T10:00:00Z,,Support call
b,2025-01-06T10:00:00Z,Aware,Ad
b,2025-01-08T10:00:00Z,Consideration,Web
c,2025-01-13T10:00:00Z,Aware,Email
e,2025-01-19T10:00:00Z,Aware,Ad
d,2025-01-20T09:00:00Z,Aware,Ad
d,2025-01-20T10:00:00Z,Consideration,Web
"""


def test_funnel_dropoffs_after_and_over_time_by_hand(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text(DROPOFF_LOG, encoding="utf-8")
    code, out, err = run("funnel", log, "--step", "Aware", "--step", "Consideration", "--window", "3d",
                         "--dropoffs-after", "1", "--every", "week", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    # a, c and e never reach Consideration within 3 days.  a left at its LAST Aware touchpoint
    # (Web, 11:00), then called support; c and e did nothing more.  The log ends Jan 20 10:00:
    # e's window (Jan 19 10:00 + 3 d) is still open then, a's and c's closed long before.
    assert data["dropoffs"] == {
        "after_step": 1, "customers": 3, "in_progress": 1,
        "left_at": [{"value": "Ad", "customers": 1, "share": 1 / 3},
                    {"value": "Email", "customers": 1, "share": 1 / 3},
                    {"value": "Web", "customers": 1, "share": 1 / 3}],
        "next": [{"value": "(no further events)", "customers": 2, "share": 2 / 3},
                 {"value": "Support call", "customers": 1, "share": 1 / 3}]}
    # Weeks from Monday: Jan 6 (a, b: b converts), Jan 13 (c, and e on Sunday 19th: none),
    # Jan 20 (d converts).  Jan 13's week ends Jan 20 00:00, + 3 d = Jan 23, after the log's
    # end: incomplete; Jan 6's closes on Jan 16: complete.
    assert data["over_time"] == [
        {"start": "2025-01-06", "entered": 2, "converted": 1, "conversion": 0.5, "incomplete": False},
        {"start": "2025-01-13", "entered": 2, "converted": 0, "conversion": 0.0, "incomplete": True},
        {"start": "2025-01-20", "entered": 1, "converted": 1, "conversion": 1.0, "incomplete": True}]
    code, out, _ = run("funnel", log, "--step", "Aware", "--step", "Consideration", "--window", "3d",
                       "--dropoffs-after", "1", "--every", "week")
    assert "Dropped out after step 1 (Aware): 3 customers, 1 of them still in progress" in out
    assert "2025-01-13  entered         2  converted         0     0.0%  incomplete: may still rise" in out
    code, out, _ = run("funnel", log, "--step", "Aware", "--step", "Consideration",
                       "--dropoffs-after", "1", "--dropoff-column", "stage", "--format", "csv")
    # no window: nobody is in progress; by stage everyone left at Aware
    assert out.splitlines()[:2] == ["kind,value,customers,share", "left_at,Aware,3,1.0"]


def test_funnel_dropoffs_after_the_last_step_is_one_sentence():
    code, out, err = run("funnel", SMALL, "--dropoffs-after", "3")
    assert code == 2 and out == ""
    assert err.startswith("--dropoffs-after takes a step 1…2 (the last step has no next step to miss).")


def test_a_conversion_with_nothing_to_divide_by_is_null_and_a_dash():
    # Nobody has a 'Nowhere' event: 0 entered, so no conversion at all (SPEC §6)
    code, out, err = run("funnel", SMALL, "--step", "Nowhere", "--step", "Aware", "--format", "json")
    assert code == 0, err
    steps = json.loads(out)["steps"]
    assert [(s["customers"], s["conversion_from_start"], s["conversion_from_previous"]) for s in steps] == [
        (0, None, None), (0, None, None)]
    code, out, _ = run("funnel", SMALL, "--step", "Nowhere", "--step", "Aware")
    assert "—" in out.splitlines()[2] and "0.0%" not in out
