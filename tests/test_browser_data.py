"""Real browser: upload a log on the Data page and see the validation summary."""
from __future__ import annotations

from pathlib import Path

from tests.browser_support import assert_no_exception, screenshot, wait_for_app

CORPUS = Path(__file__).parent / "corpus"


def test_upload_on_the_data_page_shows_the_summary(app_server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(app_server.url + "/data")
        wait_for_app(page)
        page.get_by_text("Datasets in the workspace").wait_for(timeout=60_000)
        page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(CORPUS / "bad_timestamps.csv"))
        page.get_by_text("Columns → roles").wait_for(timeout=60_000)
        wait_for_app(page)
        page.get_by_role("button", name="Import").click()
        page.get_by_text("Saved as dataset").wait_for(timeout=60_000)
        wait_for_app(page)
        # 2 of 4 rows rejected: a warning that says so, not a green "Saved".
        alert = page.locator("[data-testid='stAlertContentWarning']").filter(has_text="Saved as dataset")
        assert "with 2 of 4 rows (50%) rejected" in alert.inner_text()
        assert page.locator("[data-testid='stAlertContentSuccess']").count() == 0
        summary = page.locator("[data-testid='stMetric']")
        texts = [[line for line in summary.nth(i).inner_text().split("\n") if line.strip()][:2] for i in range(3)]
        # bad_timestamps.csv: 4 rows, "yesterday" and "2024-13-45" cannot be read.
        assert texts == [["Rows read", "4"], ["Accepted", "2"], ["Rejected", "2"]]
        assert page.get_by_text("time is not a readable date/time").count() >= 1
        # The new dataset is now the one every page uses (the sidebar picker says so).
        picker = page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first
        shown = picker.inner_text() + " " + " ".join(
            picker.locator("input").nth(i).input_value() for i in range(picker.locator("input").count()))
        assert "bad timestamps" in shown, shown
        assert_no_exception(page)
        screenshot(page, "data_page_after_upload")
    finally:
        page.close()


# 7 rows, 6 rejected (86%); 5 of them only for an invalid score (see test_pages_data.py).
MOSTLY_BAD = (Path(__file__).parent / "corpus" / "mostly_bad_scores.csv").read_text(encoding="utf-8")


def metric_values(page) -> list[list[str]]:
    summary = page.locator("[data-testid='stMain'] [data-testid='stMetric']")
    return [[line for line in summary.nth(i).inner_text().split("\n") if line.strip()][:2] for i in range(3)]


def test_a_mostly_rejected_file_is_an_error_and_can_keep_its_rows(app_server, browser, tmp_path):
    path = tmp_path / "survey_export.csv"
    path.write_text(MOSTLY_BAD, encoding="utf-8")
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    try:
        page.goto(app_server.url + "/data")
        wait_for_app(page)
        page.get_by_text("Datasets in the workspace").wait_for(timeout=60_000)
        page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(path))
        page.get_by_text("Columns → roles").wait_for(timeout=60_000)
        wait_for_app(page)
        page.get_by_role("button", name="Import", exact=True).click()
        error = page.locator("[data-testid='stAlertContentError']").filter(has_text="Saved as dataset")
        error.wait_for(timeout=60_000)
        wait_for_app(page)
        assert "6 of 7 rows (86%) were rejected: only 1 row is in its numbers" in error.inner_text()
        assert metric_values(page) == [["Rows read", "7"], ["Accepted", "1"], ["Rejected", "6"]]
        offer = page.get_by_text("5 of the rejected rows were rejected only for an invalid score")
        assert offer.count() == 1
        assert "would have 6 rows instead of 1" in page.locator("[data-testid='stMain']").inner_text()
        assert_no_exception(page)
        screenshot(page, "data_page_mostly_rejected")
        page.get_by_role("button", name="Import again, blanking only the bad scores").click()
        warning = page.locator("[data-testid='stAlertContentWarning']").filter(has_text="Saved as dataset")
        warning.wait_for(timeout=60_000)
        wait_for_app(page)
        assert "with 1 of 7 rows (14%) rejected" in warning.inner_text()
        assert metric_values(page) == [["Rows read", "7"], ["Accepted", "6"], ["Rejected", "1"]]
        screenshot(page, "data_page_blanked_scores")
        # The next step: the Overview of the new dataset.
        page.get_by_role("link", name="Open the Overview of survey export").click()
        page.locator("h1").filter(has_text="Overview").wait_for(timeout=60_000)   # the default page: /
        wait_for_app(page)
        page.locator("[data-testid='stMetric']").filter(has_text="Customers").first.wait_for(timeout=60_000)
        assert "dataset=survey+export" in page.url
        customers = page.locator("[data-testid='stMetric']").filter(has_text="Customers").first.inner_text()
        assert "6" in customers.split("\n")     # c1…c6 are in the dataset now
        assert_no_exception(page)
    finally:
        page.close()
