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
