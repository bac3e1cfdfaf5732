"""AppTest of the Data page: upload, role mapping with guesses, import summary, rejects,
stage order, rename and delete — against the workspace's own numbers."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from cxdata.bootstrap import SAMPLE_NAME
from cxdata.store.workspace import Workspace
from tests.helpers_app import open_app_page, warm_server  # noqa: F401  (fixture)

CORPUS = Path(__file__).parent / "corpus"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _warm(warm_server):
    """Every test runs the Data page through app.py, as a running server does."""


def data_page() -> AppTest:
    """The Data page as the app runs it (navigation, sidebar, links to other pages)."""
    return open_app_page("data")


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader[0].set_value((name, data, "text/csv"))
    at.run()
    assert not at.exception, at.exception
    return at


def page_texts(at: AppTest) -> list[str]:
    """Every text the page shows in messages, captions, markdown and widget labels."""
    texts = [e.value for kind in ("markdown", "caption", "info", "warning", "error", "success")
             for e in at.get(kind)]
    return texts + [w.label for w in list(at.button) + list(at.selectbox) + list(at.checkbox)]


def button(at, key_part):
    return next(b for b in at.button if key_part in (b.key or ""))


def test_first_start_installs_the_sample():
    at = data_page()
    table = at.dataframe[0].value
    assert list(table["Dataset"]) == [SAMPLE_NAME]
    assert int(table["Rejected"][0]) == 0


def test_the_sample_arrives_with_its_drop_off_views():
    # the app stores the touchpoint timeline with each touchpoint's stage right after an
    # import (Workspace.prepare_views), so that no page waits for it
    from cxdata.store.timelines import find_timeline
    from cxdata.ui.state import get_workspace
    data_page()
    ws = get_workspace()
    timeline = find_timeline(ws.cursor(), ws.get_dataset(SAMPLE_NAME).table, "touchpoint")
    assert timeline is not None and {"stage", "channel"} <= set(timeline.filters)
    assert "Checkout" in timeline.codes and "Purchase" in timeline.filters["stage"].codes


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


def test_import_waits_until_customer_and_time_are_mapped():
    # "person" is no name the customer guess knows (person_id would be).
    at = upload(data_page(), "visits.csv", b"person,timestamp,touchpoint\np1,2024-03-01,Web\n")
    assert button(at, "_import").disabled
    assert "To import, choose a column for: Customer." in [c.value for c in at.caption]
    # Nothing is saved, and no command-line option is suggested to a web user.
    assert [d.name for d in Workspace().list_datasets()] == [SAMPLE_NAME]
    assert not any("--" in text for text in page_texts(at))
    next(s for s in at.selectbox if s.label == "Customer ✱").set_value("person")
    at.run()
    assert not button(at, "_import").disabled
    assert not any(c.value.startswith("To import") for c in at.caption)
    next(s for s in at.selectbox if s.label == "Time ✱").set_value("— none —")
    at.run()
    assert button(at, "_import").disabled
    assert "To import, choose a column for: Time." in [c.value for c in at.caption]


def test_binary_upload_is_refused_before_mapping():
    at = data_page()
    at.file_uploader[0].set_value(("photo.csv", (CORPUS / "binary.csv").read_bytes(), "text/csv"))
    at.run()
    assert not at.exception
    assert "binary data" in at.error[0].value


def test_stored_rows_show_everyday_column_names():
    at = data_page()
    # the dataset's first rows: no internal column names (_row, ts, customer_id)
    first_rows = next(d.value for d in at.dataframe if "Time (UTC)" in d.value.columns)
    assert {"_row", "ts", "customer_id"}.isdisjoint(first_rows.columns)
    assert list(first_rows.columns[:3]) == ["Row in file", "Customer", "Time (UTC)"]


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


# A file with 86% of its rows rejected (worked out by hand): c1 is fine; c2…c6 each have
# one invalid score and nothing else wrong (NPS 11, NPS -1, CSAT 4.5, NPS abc, CSAT 6);
# c7's time cannot be read (and its NPS 12 is bad too).  7 read, 1 accepted, 6 rejected;
# blanking only the bad scores would keep c2…c6: 1 + 5 = 6 rows, c7 still rejected.
MOSTLY_BAD = (CORPUS / "mostly_bad_scores.csv").read_text(encoding="utf-8")


def test_mostly_rejected_import_is_an_error_and_offers_to_blank_only_the_scores():
    at = upload(data_page(), "survey.csv", MOSTLY_BAD.encode())
    button(at, "_import").click()
    at.run()
    assert not at.exception
    assert not at.success
    assert at.error[0].value == ("Saved as dataset **survey**, but 6 of 7 rows (86%) were rejected: "
                                 "only 1 row is in its numbers. Check the reasons below before "
                                 "relying on them.")
    assert {m.label: m.value for m in at.metric[:3]} == {"Rows read": "7", "Accepted": "1", "Rejected": "6"}
    offer = next(m.value for m in at.markdown if "only for an invalid score" in m.value)
    assert offer.startswith("**5 of the rejected rows were rejected only for an invalid score**")
    assert offer.endswith("the dataset would have 6 rows instead of 1.")
    button(at, "_reimport").click()
    at.run()
    assert not at.exception
    # The policy picker now says what was done, and the same dataset was replaced.
    assert at.radio[0].value == "blank only the score"
    assert {m.label: m.value for m in at.metric[:3]} == {"Rows read": "7", "Accepted": "6", "Rejected": "1"}
    assert at.warning[0].value == ("Saved as dataset **survey** with 1 of 7 rows (14%) rejected: they are "
                                   "not in its numbers. The reasons are below.")
    assert not any("only for an invalid score" in m.value for m in at.markdown)
    info = Workspace().get_dataset("survey")
    assert (info.rows_accepted, info.rows_rejected) == (6, 1)
    assert [d.name for d in Workspace().list_datasets()] == ["survey", SAMPLE_NAME]


def test_clean_import_is_a_success_and_points_to_the_overview():
    at = upload(data_page(), "journeys.csv", (CORPUS / "small_journeys.csv").read_bytes())
    button(at, "_import").click()
    at.run()
    assert not at.exception
    assert at.success[0].value.startswith("Saved as dataset **journeys**: all ")
    assert not at.warning and not at.error
    links = [link.value for link in at.page_link]
    assert "Open the Overview of journeys" in links
    assert not any("Map its events" in m.value for m in at.markdown)


def test_log_without_stages_is_pointed_to_the_stage_mapping():
    at = upload(data_page(), "shop events.csv", (CORPUS / "ecommerce.csv").read_bytes())
    button(at, "_import").click()
    at.run()
    assert not at.exception
    assert any(m.value.startswith("[Map its events or touchpoints to stages ↓](#datasets-in-the-workspace)")
               for m in at.markdown)
    # The workspace section below is open on the new dataset's stage mapping.
    assert at.selectbox(key="manage_dataset").value == "shop events"
    assert at.session_state["data_tab"] == "Stage mapping"
    assert "Open the Overview of shop events" in [link.value for link in at.page_link]


def _few_customers_log() -> bytes:
    """300 rows: "customer" has 2 values (< 3, 1% of the rows), case_id 30 (≥ 10 × 2)."""
    lines = ["customer,case_id,timestamp,event"]
    lines += [f"c{i % 2},k{i % 30},2025-01-01T{i // 60 % 24:02d}:{i % 60:02d}:00Z,e{i % 3}" for i in range(300)]
    return ("\n".join(lines) + "\n").encode()


def test_customer_guess_with_few_values_is_questioned_beside_it():
    at = upload(data_page(), "cases.csv", _few_customers_log())
    assert next(s for s in at.selectbox if s.label == "Customer ✱").value == "customer"
    warning = at.warning[0].value.replace("\\", "")
    assert warning == ("“customer” has only 2 different values in 300 rows, so it may not be what "
                       "makes one journey: “case_id” has 30. If each case_id is one customer "
                       "journey, choose it as the customer.")
    next(s for s in at.selectbox if s.label == "Customer ✱").set_value("case_id")
    at.run()
    assert not at.exception and not at.warning


def test_real_xes_log_is_mapped_without_help():
    receipt = ROOT.parent / "shared" / "data" / "receipt.csv.gz"
    if not receipt.exists():
        pytest.skip("the shared receipt log is not here")
    at = upload(data_page(), "receipt.csv.gz", receipt.read_bytes())
    roles = {s.label: s.value for s in at.selectbox}
    assert (roles["Customer ✱"], roles["Time ✱"], roles["Event"], roles["Channel"]) == (
        "case:concept:name", "time:timestamp", "concept:name", "case:channel")
    assert not at.warning


def test_file_names_are_shown_as_text_not_markdown():
    at = upload(data_page(), "*bold* [x](y).csv", (CORPUS / "small_journeys.csv").read_bytes())
    assert any(m.value.startswith("**\\*bold\\* \\[x\\]\\(y\\)\\.csv** ·") for m in at.markdown)
