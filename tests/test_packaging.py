"""The package: a wheel built from the repository installs a `cxdata` command whose
`cxdata app` starts the app from the installed files, from any folder (about a minute)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

from tests.browser_support import (_free_port, assert_no_exception, screenshot, stop_process,
                                   wait_for_app)

ROOT = Path(__file__).resolve().parent.parent


def requirement_lines(path: Path) -> list[str]:
    return [line.split("#")[0].strip() for line in path.read_text().splitlines()
            if line.split("#")[0].strip() and not line.startswith("-r")]


def test_pyproject_dependencies_are_requirements_txt():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert sorted(project["dependencies"]) == sorted(requirement_lines(ROOT / "requirements.txt"))
    assert project["optional-dependencies"]["spark"] == requirement_lines(ROOT / "requirements-spark.txt")
    assert sorted(project["optional-dependencies"]["dev"]) == sorted(requirement_lines(ROOT / "requirements-dev.txt"))
    assert project["scripts"] == {"cxdata": "cxdata.cli:main"}



def test_the_wheel_lists_every_package_of_cxdata():
    """A sub-package missing from pyproject's list is missing from the installed app (the
    charts package once was): every folder of cxdata with an __init__.py is listed."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(ROOT).parts)
             for init in (ROOT / "cxdata").rglob("__init__.py")}
    assert found <= listed, sorted(found - listed)

def _run(args, **kwargs):
    done = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh virtual environment (the dependencies from this Python) with only the
    wheel built from the repository's tracked files installed."""
    base = tmp_path_factory.mktemp("pkg")
    source = base / "src"
    files = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT).stdout.split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    wheels = base / "whl"
    try:
        import wheel  # noqa: F401  (then no build environment needs to be downloaded)
        isolation = ["--no-build-isolation"]
    except ImportError:
        isolation = []
    _run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(wheels), *isolation])
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)])
    wheel_file = next(wheels.glob("cxjourneylab-*.whl"))
    _run([str(venv / "bin" / "pip"), "install", "--no-deps", "-q", str(wheel_file)])
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["CXDATA_WORKSPACE"] = str(base / "workspace.duckdb")
    return venv, elsewhere, env


def test_the_wheel_carries_the_app_and_a_cxdata_command(installed):
    venv, elsewhere, env = installed
    where = _run([str(venv / "bin" / "python"), "-c", "import cxdata; print(cxdata.__file__)"],
                 cwd=elsewhere, env=env).stdout.strip()
    assert where.startswith(str(venv)), where
    package = Path(where).parent
    for name in ("_app/app.py", "_app/pages/overview.py", "_app/pages/journey_map.py",
                 "_app/sample_data/interactions.csv", "_app/sample_data/maps/online_retail_sample.json",
                 "_app/.streamlit/config.toml"):
        assert (package / name).is_file(), name
    helped = _run([str(venv / "bin" / "cxdata"), "--help"], cwd=elsewhere, env=env).stdout
    assert re.search(r"^\s+app\s+start the app", helped, re.M) and "validate" in helped
    assert "usage: cxdata app" in _run([str(venv / "bin" / "cxdata"), "app", "--help"], cwd=elsewhere,
                                       env=env).stdout


def test_cxdata_app_starts_the_installed_app_from_another_folder(installed, browser):
    venv, elsewhere, env = installed
    port = _free_port()
    log = open(elsewhere / "app.log", "wb")
    process = subprocess.Popen([str(venv / "bin" / "cxdata"), "app", "--server.port", str(port),
                                "--server.headless", "true", "--server.address", "127.0.0.1",
                                "--server.fileWatcherType", "none"],
                               cwd=elsewhere, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (elsewhere / "app.log").read_text()
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as answer:
                    assert answer.status == 200 and answer.read() == b"ok"
                    break
            except OSError:
                assert time.monotonic() < deadline, "the app did not answer /_stcore/health"
                time.sleep(0.5)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(url + "/")
            wait_for_app(page)
            page.get_by_role("heading", name="Overview").wait_for(timeout=60_000)
            wait_for_app(page)
            # The packaged sample was installed on first start and is the page's dataset.
            page.locator("[data-testid='stMetric']").first.wait_for(timeout=60_000)
            assert "Sample: online retail journeys" in page.locator("[data-testid='stSidebar']").inner_text() \
                or page.locator("[data-testid='stSidebar'] input").first.input_value().startswith("Sample")
            assert_no_exception(page)
            screenshot(page, "installed_app_overview")
        finally:
            page.close()
        # The packaged config applies although the app runs from another folder.
        log.flush()
    finally:
        stop_process(process, log)
