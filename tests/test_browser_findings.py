"""Real-browser test: every Overview finding quotes the funnel the chart beside it draws,
under every filter (the chart's own CSV download is the chart's data)."""
from __future__ import annotations

import csv
import io
import re

import pytest

from tests.browser_support import assert_no_exception, wait_for_app

# None, one channel (whose interactions are all at the start of the journey), another
# channel, and a segment attribute of the sample.
FILTERS = ["", "channel=Email", "channel=Web", "channel=Store", "segment=New"]
DROPOFF = re.compile(r"Of ([\d,]+) customers who reached (.+?), ([\d,]+) \((\d+)%\) did not go on to "
                     r"(.+?) —")


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1400}, accept_downloads=True)
    tab = context.new_page()
    yield tab
    context.close()


def _funnel_csv(page) -> list[dict]:
    """The Overview funnel chart's data, as its CSV download button delivers it."""
    button = page.locator("[data-testid='stDownloadButton'] button").filter(has_text="CSV").first
    # Streamlit makes a page inert while a rerun redraws it: wait until it is live again.
    page.wait_for_function("(el) => !el.closest('[inert]')", arg=button.element_handle(),
                           timeout=60_000)
    with page.expect_download() as info:
        button.click()
    text = open(info.value.path(), encoding="utf-8-sig").read()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("query", FILTERS)
def test_the_dropoff_finding_quotes_the_funnel_chart_beside_it(app_server, page, query):
    page.goto(f"{app_server.url}/?{query}")     # the Overview is the app's main page
    wait_for_app(page)
    page.wait_for_selector("[data-testid='stVegaLiteChart'] svg.marks", timeout=60_000)
    wait_for_app(page)
    assert_no_exception(page)
    rows = _funnel_csv(page)
    customers = {row["step"]: int(row["customers"]) for row in rows}
    order = [row["step"] for row in rows]
    found = DROPOFF.search(page.locator("[data-testid='stMain']").inner_text().replace("\n", " "))
    if found is None:
        # No drop-off finding: then no step lost as many as 30 customers' worth to report.
        assert all(int(r["dropped"]) == 0 or int(r["customers"]) < 30 for r in rows[:-1]), rows
        return
    reached, step, dropped, percent, following = found.groups()
    reached, dropped = int(reached.replace(",", "")), int(dropped.replace(",", ""))
    # the finding's steps are consecutive steps of the chart, with the chart's numbers
    assert order.index(following) == order.index(step) + 1
    assert reached == customers[step]
    assert dropped == customers[step] - customers[following]
    assert int(percent) == round(100 * dropped / reached)
    # and the largest loss of the chart
    assert dropped == max(int(r["dropped"]) for r in rows[:-1] if int(r["customers"]) >= 30)
