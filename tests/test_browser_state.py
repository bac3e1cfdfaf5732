"""Real browser: app-wide state — a link to a dataset the workspace lacks, browser Back
after switching pages, and no request to any host but the app's own.  Screenshots go to
tests/_artifacts/."""
from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.browser_support import assert_no_exception, screenshot, wait_for_app

SAMPLE = "Sample: online retail journeys"
VIEWPORT = {"width": 1400, "height": 1000}


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    tab = context.new_page()
    yield tab
    context.close()


def open_url(page, url: str) -> None:
    page.goto(url)
    wait_for_app(page)


def sidebar_channels(page) -> list[str]:
    """The chips of the sidebar's Channel filter."""
    box = page.locator("[data-testid='stSidebar'] [data-testid='stMultiSelect']").filter(has_text="Channel")
    return [t.strip() for t in box.locator("[data-tag]").all_inner_texts()]


def test_link_to_a_missing_dataset_names_it_and_shows_no_sample_numbers(app_server, page):
    # The dataset is named by the "dataset" URL parameter (cxdata/ui/state.py DATASET_KEY).
    open_url(page, f"{app_server.url}/?dataset=NoSuch")
    notice = page.locator("[data-testid='stAlertContentWarning']").first
    assert notice.inner_text().strip().endswith(
        "This link is to the dataset “NoSuch”, which is not in this workspace: it may have been "
        "renamed or deleted. Nothing is shown until you choose a dataset.")
    # Not one figure or chart of the sample under a link that named another dataset.
    assert page.locator("[data-testid='stMetric']").count() == 0
    assert page.locator("[data-testid='stVegaLiteChart']").count() == 0
    assert "5,000" not in page.locator("[data-testid='stMain']").inner_text()
    assert "dataset=NoSuch" in page.url
    assert_no_exception(page)
    screenshot(page, "state_missing_dataset")
    # Choosing a dataset opens it, and the URL now names it.
    page.get_by_role("button", name=SAMPLE).click()
    page.locator("[data-testid='stMetric']").first.wait_for(timeout=60_000)
    wait_for_app(page)
    metric = page.locator("[data-testid='stMetric']").filter(has_text="Customers").first
    assert "5,000" in metric.inner_text()     # sample_data/README.md: 5,000 customers
    assert "dataset=Sample" in page.url
    assert_no_exception(page)


def test_back_after_switching_pages_restores_the_filters(app_server, page):
    open_url(page, f"{app_server.url}/funnel")
    # A first visit adds no history entry (Back from here would show the defaults).
    assert page.evaluate("history.length") == 2        # about:blank, then the app
    box = page.locator("[data-testid='stSidebar'] [data-testid='stMultiSelect']").filter(has_text="Channel")
    box.click()
    page.get_by_role("option", name="Web", exact=True).click()
    page.keyboard.press("Escape")
    page.wait_for_function("() => location.search.includes('channel=Web')", timeout=30_000)
    wait_for_app(page)
    page.locator("[data-testid='stSidebarNav'] a").filter(has_text="Touchpoints").click()
    page.wait_for_function("() => location.pathname.endsWith('/touchpoints')", timeout=30_000)
    wait_for_app(page)
    assert sidebar_channels(page) == ["Web"] and "channel=Web" in page.url
    page.go_back()
    page.wait_for_function("() => location.pathname.endsWith('/funnel')", timeout=30_000)
    wait_for_app(page)
    page.locator("h1").filter(has_text="Funnel").wait_for(timeout=60_000)
    # The previous state, not the defaults: the Funnel with the Web filter.
    assert "channel=Web" in page.url
    assert sidebar_channels(page) == ["Web"]
    assert_no_exception(page)
    screenshot(page, "state_back_keeps_filters")


@pytest.mark.parametrize("path", ["/overview?channel=Web", "/?channel=Web"])
def test_a_shared_overview_link_opens_the_overview_with_its_filter(app_server, browser, path):
    """A link to the Overview opened in a new session (a stakeholder's browser): the page,
    not Streamlit's "Page not found" notice, with the link's channel filter applied; then
    the filter carries over to the Funnel (the app draws the Overview's filter bar too)."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        open_url(page, app_server.url + path)
        page.locator("h1").filter(has_text="Overview").wait_for(timeout=60_000)
        assert "Page not found" not in page.inner_text("body")
        # the sidebar's filter bar may still be drawing when the title shows
        page.locator("[data-testid='stSidebar'] [data-testid='stMultiSelect'] [data-tag]").first.wait_for(
            timeout=30_000)
        assert sidebar_channels(page) == ["Web"]
        page.locator("[data-testid='stSidebarNav'] a").filter(has_text="Funnel").click()
        page.wait_for_function("() => location.pathname.endsWith('/funnel')", timeout=30_000)
        wait_for_app(page)
        assert sidebar_channels(page) == ["Web"] and "channel=Web" in page.url
        assert_no_exception(page)
        screenshot(page, "state_shared_overview_link")
    finally:
        context.close()


def test_no_request_leaves_the_machine(app_server, page):
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("websocket", lambda socket: requests.append(socket.url))
    for path in ("/", "/funnel", "/touchpoints", "/paths", "/journey_map", "/report", "/data"):
        open_url(page, app_server.url + path)
        page.wait_for_timeout(1500)          # late requests: favicon, fonts, icons
    hosts = {urlparse(url).hostname for url in requests if urlparse(url).scheme not in ("data", "blob")}
    assert hosts == {"127.0.0.1"}, sorted({u for u in requests if urlparse(u).hostname != "127.0.0.1"})


def test_a_why_view_picked_in_the_browser_is_in_the_url(app_server, page):
    # The Funnel's "Why do they drop here?" after Purchase (sample story 4): picking one
    # factor writes ?why_factor=…, and the link opens on it again.
    open_url(page, f"{app_server.url}/funnel?fn_drop=3.+Purchase")
    box = page.locator("[data-testid='stSelectbox']").filter(has_text="Look at one factor")
    box.wait_for(timeout=60_000)
    box.scroll_into_view_if_needed()
    box.click()
    # typed, not clicked: the list opens near the page's end and moves while it settles
    page.keyboard.type("Did Newsletter")
    page.keyboard.press("Enter")
    page.wait_for_function("() => location.search.includes('why_factor=Did+Newsletter')"
                           " || location.search.includes('why_factor=Did%20Newsletter')",
                           timeout=30_000)
    wait_for_app(page)
    link = page.url
    open_url(page, link)
    page.get_by_text("Customers who used Newsletter after Purchase converted").first.wait_for(
        timeout=60_000)
    assert_no_exception(page)
