"""Real browser: user text is shown as text on every page.  A dataset, an upload, stages,
touchpoints, channels, an attribute and its values that carry Markdown links and images
and HTML must never become a live link or an image the browser fetches; the browser must
send no request to the host they name.  The upload's staged copy is gone after import."""
from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

import pytest

from tests.browser_support import AppServer, assert_no_exception, screenshot, wait_for_app

NAME = "[x](http://host/) ![i](http://host/p.png)"
FILE_NAME = "[up](http:host) ![f](http:host) **b**.csv"
STAGES = ["Aware [s](http://host/stage)", "![st](http://host/stage.png) Buy", "[k](http://host/keep) <b>Keep</b>"]
TOUCHPOINTS = ["<img src=http://host/tp.png>", "[tp](http://host/tp) **Chat**", "Call \u202eevil"]
CHANNELS = ["<a href=http://host/ch>Web</a>", "Shop"]
ATTRIBUTE = "![seg](http://host/seg.png)"
SEGMENTS = ["[v](http://host/v)", "<img src=http://host/v.png>"]


def hostile_log() -> str:
    """60 customers over January 2025; every text value carries Markdown or HTML."""
    rows = [f"customer_id,timestamp,stage,touchpoint,channel,nps,csat,ces,comment,{ATTRIBUTE}"]
    for c in range(60):
        depth = 1 + c % 3
        for s in range(depth):
            tp = TOUCHPOINTS[(c + s) % 3]
            rows.append(f"c{c},2025-01-{1 + c % 20:02d}T1{s}:00:00Z,{STAGES[s]},{tp},{CHANNELS[c % 2]},"
                        f"{c % 11},{1 + c % 5},{1 + c % 7},see ![c](http://host/c.png) [c](http://host/c),"
                        f"{SEGMENTS[c % 2]}")
    return "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory, chromium_path):
    """The app with its own temporary folder, so that staged upload copies can be counted."""
    base = tmp_path_factory.mktemp("usertext")
    temp = base / "tmp"
    temp.mkdir()
    saved = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(temp)
    try:
        app = AppServer(base / "workspace.duckdb")
    finally:
        if saved is None:
            os.environ.pop("TMPDIR")
        else:
            os.environ["TMPDIR"] = saved
    app.temp = temp
    yield app
    app.stop()


class Watch:
    """Requests to ``host`` made by one browser page."""

    def __init__(self, page):
        self.requests: list[str] = []
        page.on("request", self._seen)

    def _seen(self, request) -> None:
        if urllib.parse.urlparse(request.url).hostname == "host":
            self.requests.append(request.url)


def live_elements(page) -> list[str]:
    """Links and images that point at ``host``, in the page and in its frames."""
    found = []
    for frame in page.frames:
        found += frame.eval_on_selector_all(
            "a[href*='//host'], a[href^='http:host'], img[src*='//host'], img[src^='http:host'], "
            "[srcset*='//host']", "els => els.map(e => e.outerHTML)")
    return found


@pytest.fixture(scope="module")
def imported(server, browser, tmp_path_factory):
    """Upload the log on the Data page under a Markdown file name, name the dataset with
    Markdown, import it; returns what the Data page showed and fetched meanwhile."""
    folder = tmp_path_factory.mktemp("upload")
    path = folder / FILE_NAME
    path.write_text(hostile_log(), encoding="utf-8")
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    watch = Watch(page)
    try:
        page.goto(server.url + "/data")
        wait_for_app(page)
        page.get_by_text("Datasets in the workspace").wait_for(timeout=60_000)
        page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(path))
        page.get_by_text("Columns → roles").wait_for(timeout=60_000)
        wait_for_app(page)
        staged_before = sorted(p.name for p in server.temp.glob("cxdata-upload-*"))
        name_box = page.get_by_label("Dataset name")
        name_box.fill(NAME)
        name_box.press("Enter")
        wait_for_app(page)
        page.get_by_role("button", name="Import", exact=True).click()
        page.get_by_text("Saved as dataset").first.wait_for(timeout=90_000)
        wait_for_app(page)
        assert_no_exception(page)
        screenshot(page, "user_text_data_after_import")
        main = page.locator("[data-testid='stMain']").inner_text()
        staged_after = sorted(p.name for p in server.temp.glob("cxdata-upload-*"))
        return {"main": main, "live": live_elements(page), "requests": list(watch.requests),
                "staged_before": staged_before, "staged_after": staged_after}
    finally:
        page.close()


def test_the_upload_and_import_show_the_names_as_text(imported):
    assert imported["live"] == [] and imported["requests"] == []
    assert f"Saved as dataset {NAME}" in imported["main"]
    assert FILE_NAME in imported["main"]


def test_the_staged_upload_copy_is_deleted_after_the_import(imported):
    assert len(imported["staged_before"]) == 1, imported["staged_before"]
    assert imported["staged_after"] == []


def url(server, page_path: str, **params) -> str:
    # The Overview is the default page: its address is the app's root.
    path = "" if page_path == "overview" else page_path
    return f"{server.url}/{path}?" + urllib.parse.urlencode({"dataset": NAME, **params})


#: (page, tabs to open one after the other)
PAGES = [("overview", []), ("touchpoints", ["Scores", "Heatmap", "Trend", "Compare segments", "Comments"]),
         ("paths", ["Transitions", "Journeys", "After drop-off"]), ("report", []),
         ("data", ["Stage order", "Stage mapping", "Rows & problems", "Rename / delete"])]
#: The Funnel page (step names in its drop-off section's labels and messages) and the map.
OTHERS = [("funnel", []),
          ("journey_map", [])]


#: URL parameters of a page's walk: the attribute filtered on and grouped by.
PARAMS = {"touchpoints": {"filter_on": ATTRIBUTE, "tp_by": ATTRIBUTE}}


def walk(server, browser, page_path: str, tabs: list[str]) -> tuple[list[str], list[str], str]:
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    watch = Watch(page)
    live: list[str] = []
    try:
        page.goto(url(server, page_path, **PARAMS.get(page_path, {})))
        wait_for_app(page)
        # a page's title, or (the journey map's editor has none) its first picker
        page.locator("[data-testid='stMain'] h1, [data-testid='stMain'] [data-testid='stSelectbox']"
                     ).first.wait_for(timeout=60_000)
        wait_for_app(page)
        if page_path == "report":
            page.get_by_role("button", name="Build report").click()
            page.get_by_text("preview below").wait_for(timeout=90_000)
            wait_for_app(page)
        if page_path == "touchpoints":
            # The attribute as a sidebar filter (its name is the widget's label) and as the
            # grouping (its name in the tabs' labels and texts).
            page.get_by_text(f"{ATTRIBUTE}", exact=True).first.wait_for(timeout=60_000)
        live += live_elements(page)
        for tab in tabs:
            page.get_by_role("tab", name=tab).click()
            wait_for_app(page)
            live += live_elements(page)
        assert_no_exception(page)
        assert "Page not found" not in page.inner_text("body")
        screenshot(page, f"user_text_{page_path}")
        return live, list(watch.requests), page.locator("[data-testid='stMain']").inner_text()
    finally:
        page.close()


@pytest.mark.parametrize("page_path, tabs", PAGES, ids=[p for p, _ in PAGES])
def test_every_page_shows_user_text_as_text(server, browser, imported, page_path, tabs):
    live, requests, text = walk(server, browser, page_path, tabs)
    assert live == [], live
    assert requests == [], requests
    # The dataset's name is shown literally where the page names it.
    if page_path in ("overview", "touchpoints", "paths", "report"):
        assert NAME in text
    assert "\u202e" not in text


@pytest.mark.parametrize("page_path, tabs", OTHERS, ids=["funnel", "journey_map"])
def test_pages_of_other_owners_show_user_text_as_text(server, browser, imported, page_path, tabs):
    live, requests, _ = walk(server, browser, page_path, tabs)
    assert live == [] and requests == [], (live, requests)
