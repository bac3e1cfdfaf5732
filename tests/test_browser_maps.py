"""Real browser, two browser contexts (two people): an edit made in one shows up in the
other without any click, in the editor and in the presentation window."""
from __future__ import annotations

import re
import uuid

from tests.browser_support import assert_no_exception, screenshot, wait_for_app

#: Generous: the page polls every 2.5 s; a loaded CI machine may need a few rounds.
LIVE_TIMEOUT_MS = 30_000
#: The map drawn under the editor / in presentation mode (History draws others).
CANVAS = ".st-key-jm_canvas"


def open_page(context, url: str):
    page = context.new_page()
    page.goto(url)
    wait_for_app(page)
    return page


def create_map(page, name: str) -> str:
    """Create a map from the default template through the UI; returns its id."""
    page.get_by_role("button", name=re.compile("Create map|New map")).first.wait_for(timeout=60_000)
    if page.get_by_role("button", name="Create map").count() == 0:
        page.get_by_role("button", name="New map").click()
    page.get_by_label("Name (optional)").fill(name)
    page.get_by_role("button", name="Create map").click()
    page.wait_for_url(re.compile(r"[?&]map=map_"), timeout=60_000)
    wait_for_app(page)
    return re.search(r"map=(map_[0-9a-f]+)", page.url).group(1)


def type_scenario(page, text: str) -> None:
    page.get_by_role("tab", name="Persona & scenario").click()
    box = page.get_by_label("Scenario", exact=True)
    box.fill(text)
    box.press("Tab")          # a text area commits on blur; autosave makes it a version
    wait_for_app(page)


def test_an_edit_in_one_browser_appears_in_the_other(app_server, browser):
    facilitator = browser.new_context(viewport={"width": 1500, "height": 1100})
    colleague = browser.new_context(viewport={"width": 1500, "height": 1100})
    try:
        ann = open_page(facilitator, app_server.url + "/journey_map")
        map_id = create_map(ann, f"Live test {uuid.uuid4().hex[:6]}")
        bob = open_page(colleague, f"{app_server.url}/journey_map?map={map_id}")
        bob.locator(CANVAS + " .cxm-grid").wait_for(timeout=60_000)
        assert_no_exception(bob)

        first = f"Scenario typed by Ann {uuid.uuid4().hex[:6]}"
        type_scenario(ann, first)
        ann.get_by_text("All changes saved").wait_for(timeout=30_000)
        # Bob does nothing: his page picks up version 2 by itself.
        bob.locator(CANVAS + " .cxm-context", has_text=first).wait_for(timeout=LIVE_TIMEOUT_MS)
        bob.get_by_text("Version 2").first.wait_for(timeout=LIVE_TIMEOUT_MS)
        assert_no_exception(bob)
        screenshot(bob, "journey_map_live_update")

        # The projector window (presentation mode) follows the facilitator too.
        bob.goto(f"{app_server.url}/journey_map?map={map_id}&present=1")
        wait_for_app(bob)
        # The presentation's style sheet hides the sidebar (it may land a moment after
        # the script run ends on a loaded machine).
        bob.locator("[data-testid='stSidebar']").wait_for(state="hidden", timeout=30_000)
        assert bob.locator("[data-testid='stDataFrame']").count() == 0   # no editing grid
        second = f"Second scenario {uuid.uuid4().hex[:6]}"
        type_scenario(ann, second)
        bob.locator(CANVAS + " .cxm-context", has_text=second).wait_for(timeout=LIVE_TIMEOUT_MS)
        bob.keyboard.press("ArrowRight")
        bob.locator(".cxm-stage.cxm-focus").wait_for(timeout=30_000)
        assert bob.locator(".cxm-stage.cxm-dim").count() == 5
        assert_no_exception(bob)
        screenshot(bob, "journey_map_presentation")
        screenshot(ann, "journey_map_editor")
    finally:
        facilitator.close()
        colleague.close()
