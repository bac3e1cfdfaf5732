"""AppTest of the Data page: upload, role mapping with guesses, import summary, rejects,
stage order, rename and delete — against the workspace's own numbers."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from cxdata.bootstrap import SAMPLE_NAME
from cxdata.workspace import Workspace

CORPUS = Path(__file__).parent / "corpus"
ROOT = Path(__file__).resolve().parent.parent


def data_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "data.py"), default_timeout=120)
    at.run()
    assert not at.exception
    return at


def button(at, key_part):
    return next(b for b in at.button if key_part in (b.key or ""))


def test_first_start_installs_the_sample():
    at = data_page()
    table = at.dataframe[0].value
    assert list(table["Dataset"]) == [SAMPLE_NAME]
    assert int(table["Rejected"][0]) == 0


def test_upload_guesses_roles_and_import_shows_the_summary():
    at = data_page()
    at.file_uploader[0].set_value(("checkout scores.csv", (CORPUS / "bad_scores.csv").read_bytes(), "text/csv"))
    at.run()
    assert not at.exception
    roles = {s.label: s.value for s in at.selectbox}
    assert roles["Customer ✱"] == "customer_id" and roles["Touchpoint"] == "touchpoint"
    assert roles["NPS (0–10)"] == "nps" and roles["Event"] == "— none —"
    assert at.text_input[0].value == "checkout scores"
    # The preview shows the file's text: c2's empty CSAT cell is empty, not "None".
    preview = at.dataframe[0].value
    assert list(preview.iloc[1]) == ["c2", "2024-03-01", "Checkout", "11", "", ""]
    button(at, "_import").click()
    at.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric[:3]}
    # bad_scores.csv: 6 rows, 4 with an invalid score (worked out in tests/test_ingest.py).
    assert metrics == {"Rows read": "6", "Accepted": "2", "Rejected": "4"}
    reasons = at.dataframe[1].value
    assert dict(zip(reasons["Reason"], reasons["Cells"])) == {
        "NPS is outside 0–10": 2, "CSAT is not a whole number": 1, "CES is not a number": 1}
    assert any(d.label == "Download problems (CSV)" for d in at.download_button)
    info = Workspace().get_dataset("checkout scores")
    assert (info.rows_accepted, info.rows_rejected) == (2, 4)


def test_blank_policy_keeps_rows():
    at = data_page()
    at.file_uploader[0].set_value(("s.csv", (CORPUS / "bad_scores.csv").read_bytes(), "text/csv"))
    at.run()
    at.radio[0].set_value("blank only the score")
    button(at, "_import").click()
    at.run()
    assert {m.label: m.value for m in at.metric[:3]} == {"Rows read": "6", "Accepted": "6", "Rejected": "0"}


def test_changing_a_role_guess_is_used_for_the_import():
    at = data_page()
    at.file_uploader[0].set_value(("cases.csv", (CORPUS / "process_mining.csv").read_bytes(), "text/csv"))
    at.run()
    next(s for s in at.selectbox if s.label == "Channel").set_value("org:resource")
    button(at, "_import").click()
    at.run()
    info = Workspace().get_dataset("cases")
    assert info.roles["channel"] == "org:resource" and "org:resource" not in info.attributes


def test_unusable_upload_gets_a_plain_error_and_nothing_is_saved():
    at = data_page()
    at.file_uploader[0].set_value(("broken.csv", (CORPUS / "missing_customer.csv").read_bytes(), "text/csv"))
    at.run()
    button(at, "_import").click()
    at.run()
    assert not at.exception
    assert at.error[0].value.startswith("No customer column found")
    assert [d.name for d in Workspace().list_datasets()] == [SAMPLE_NAME]


def test_binary_upload_is_refused_before_mapping():
    at = data_page()
    at.file_uploader[0].set_value(("photo.csv", (CORPUS / "binary.csv").read_bytes(), "text/csv"))
    at.run()
    assert not at.exception
    assert "binary data" in at.error[0].value


def test_stage_order_rename_and_delete():
    at = data_page()
    assert list(at.data_editor[0].value["Stage"]) == ["Aware", "Consideration", "Purchase", "Retention", "Advocacy"]
    # A new order saved elsewhere (another session) shows in the editor on the next run.
    Workspace().set_stage_order(SAMPLE_NAME, ["Advocacy", "Aware", "Consideration", "Purchase", "Retention"])
    at.run()
    assert not at.exception
    assert list(at.data_editor[0].value["Stage"]) == ["Advocacy", "Aware", "Consideration", "Purchase", "Retention"]
    text = next(t for t in at.text_input if (t.key or "").startswith("rename_"))
    text.set_value("Retail demo")
    button(at, "do_rename_").click()
    at.run()
    assert [d.name for d in Workspace().list_datasets()] == ["Retail demo"]
    next(c for c in at.checkbox if (c.key or "").startswith("confirm_del_")).check()
    at.run()
    button(at, "do_delete_").click()
    at.run()
    assert not at.exception
    assert Workspace().list_datasets() == []

