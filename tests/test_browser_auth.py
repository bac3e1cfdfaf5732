"""Real browser: with an [auth] section in the secrets, a fresh server's first visitor who
follows a link to a page sees only the sign-in screen: no navigation, no sidebar, no data."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.browser_support import (_free_port, assert_no_exception, screenshot, stop_process,
                                   wait_for_app)

ROOT = Path(__file__).resolve().parent.parent
SECRETS = """[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "a-cookie-secret-for-the-tests"
client_id = "cx-journey-lab"
client_secret = "not-a-real-secret"
server_metadata_url = "https://id.example.org/.well-known/openid-configuration"
"""


def test_a_fresh_server_shows_only_the_sign_in_screen(tmp_path, browser):
    port = _free_port()
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(SECRETS.format(port=port))
    env = dict(os.environ, CXDATA_WORKSPACE=str(tmp_path / "workspace.duckdb"), PYTHONPATH=str(ROOT))
    log = open(tmp_path / "app.log", "wb")
    # From the folder holding .streamlit/secrets.toml, as a deployment has it.
    process = subprocess.Popen([sys.executable, "-m", "cxdata", "app", "--server.port", str(port),
                                "--server.address", "127.0.0.1", "--server.headless", "true",
                                "--server.fileWatcherType", "none"],
                               cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (tmp_path / "app.log").read_text()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.5)
        for path in ("/", "/funnel?dataset=Anything"):
            check_sign_in_screen(browser, f"http://127.0.0.1:{port}{path}")
    finally:
        stop_process(process, log)


def check_sign_in_screen(browser, url: str) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    try:
        page.goto(url)
        wait_for_app(page)
        page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
        wait_for_app(page)
        assert page.locator("h1").all_inner_texts() == ["CX Journey Lab"]
        assert "Sign in to see this team's journeys, datasets and maps." in page.inner_text("body")
        # Neither the app's navigation nor Streamlit's list of the pages folder.
        assert page.locator("[data-testid='stSidebar']").count() == 0
        assert page.locator("[data-testid='stSidebarNav']").count() == 0
        assert page.locator("[data-testid='stMetric']").count() == 0
        assert_no_exception(page)
        screenshot(page, "sign_in_screen")
    finally:
        page.close()
