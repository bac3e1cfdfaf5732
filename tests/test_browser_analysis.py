"""Real-browser tests of the analysis pages: `streamlit run app.py` driven by headless
Chromium (fixtures in tests/browser_support.py).  Screenshots go to tests/_artifacts/.

They check what only a browser can: charts are drawn, clicking a funnel bar selects a
step, a copied link reproduces the view, filters survive switching pages, downloads
deliver real files, and no exception reaches the page.
"""
from __future__ import annotations

import pytest

from tests.browser_support import assert_no_exception, screenshot, wait_for_app

PAGES = ("overview", "funnel", "touchpoints", "paths")
VIEWPORT = {"width": 1400, "height": 1600}


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    tab = context.new_page()
    yield tab
    context.close()


def open_view(page, url: str) -> None:
    page.goto(url)
    wait_for_app(page)
    page.wait_for_selector("[data-testid='stVegaLiteChart'] svg.marks", timeout=60_000)
    wait_for_app(page)


def download_button(page, text: str):
    """Our download buttons (not Streamlit's own chart toolbar, which has a PNG action)."""
    return page.locator("[data-testid='stDownloadButton'] button").filter(has_text=text)


def selectbox_value(page, label: str) -> str:
    box = page.locator("[data-testid='stSelectbox']").filter(has_text=label).first
    return box.locator("input").input_value()


@pytest.mark.parametrize("name", PAGES)
def test_analysis_page_opens_with_charts_and_no_exception(app_server, page, name):
    open_view(page, f"{app_server.url}/{name}")
    assert page.locator("h1").first.inner_text().strip() == name.capitalize()
    assert page.locator("[data-testid='stVegaLiteChart']").count() >= 1
    # Every chart has its image downloads next to it.
    assert download_button(page, "PNG").count() >= 1
    assert download_button(page, "SVG").count() >= 1
    assert_no_exception(page)
    screenshot(page, f"analysis_{name}")


def test_click_a_funnel_step_download_and_follow_the_copied_link(app_server, page, browser):
    open_view(page, f"{app_server.url}/funnel")
    chart = page.locator("[data-testid='stVegaLiteChart']").first
    # Click the row of step 4 (Retention), to the right of its label: the whole row is
    # the click target.
    label = chart.get_by_text("4. Retention", exact=True).bounding_box()
    page.mouse.click(label["x"] + label["width"] + 150, label["y"] + label["height"] / 2)
    page.wait_for_function("() => window.location.search.includes('fn_drop=4.')",
                           timeout=30_000)
    wait_for_app(page)
    assert selectbox_value(page, "Drop-outs after") == "4. Retention"
    assert page.get_by_text("Reached Retention", exact=True).count() == 1
    assert page.get_by_text("Did not reach Advocacy", exact=True).count() == 1
    assert_no_exception(page)
    screenshot(page, "analysis_funnel_clicked")

    # The chart's downloads deliver real files.
    with page.expect_download() as png:
        download_button(page, "PNG").first.click()
    data = open(png.value.path(), "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and png.value.suggested_filename == "funnel.png"
    with page.expect_download() as csv:
        download_button(page, "CSV").first.click()
    lines = open(csv.value.path(), encoding="utf-8-sig").read().splitlines()
    assert lines[0].startswith("step_index,step,customers,conversion_from_start,")
    # The bundled sample: all 5,000 customers enter at Aware (sample_data/README.md).
    assert lines[1].startswith("1,Aware,5000,1.0,")

    copied = page.url
    other = browser.new_context(viewport=VIEWPORT).new_page()
    open_view(other, copied)
    assert selectbox_value(other, "Drop-outs after") == "4. Retention"
    assert other.get_by_text("Reached Retention", exact=True).count() == 1
    assert_no_exception(other)
    screenshot(other, "analysis_funnel_copied_link")
    other.context.close()


def test_widget_change_and_filter_carry_over_to_other_pages(app_server, page):
    open_view(page, f"{app_server.url}/touchpoints")
    page.locator("[data-testid='stButtonGroup']").first.get_by_text("CSAT", exact=True).click()
    page.wait_for_function("() => window.location.search.includes('tp_metric=CSAT')",
                           timeout=30_000)
    wait_for_app(page)
    assert page.get_by_text("CSAT overall", exact=True).count() == 1
    channel = page.locator("[data-testid='stSidebar'] [data-testid='stMultiSelect']").filter(
        has_text="Channel")
    channel.click()
    page.get_by_role("option", name="Email", exact=True).click()
    page.keyboard.press("Escape")
    page.wait_for_function("() => window.location.search.includes('channel=Email')",
                           timeout=30_000)
    wait_for_app(page)
    assert_no_exception(page)
    screenshot(page, "analysis_touchpoints_csat_email")

    page.locator("[data-testid='stSidebarNav']").get_by_text("Overview").click()
    page.wait_for_function("() => !window.location.pathname.includes('touchpoints')",
                           timeout=30_000)
    wait_for_app(page)
    page.wait_for_selector("[data-testid='stVegaLiteChart'] svg.marks", timeout=60_000)
    assert "channel=Email" in page.url
    assert page.locator("[data-testid='stMainBlockContainer']").get_by_text(
        "Channel: Email").count() >= 1
    assert_no_exception(page)
    screenshot(page, "analysis_overview_filtered")
