"""The Docker recipe, as far as it can be checked without a Docker daemon: the Dockerfile
runs as a non-root user, keeps the workspace on a volume, turns XSRF protection on, sets
the upload limit, and its HEALTHCHECK asks the URL that its CMD serves — and that CMD,
run here, starts the app and answers its health check."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


from tests.browser_support import _free_port, stop_process

ROOT = Path(__file__).resolve().parent.parent


def instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def single(name: str) -> str:
    values = [rest for word, rest in instructions() if word == name]
    assert len(values) == 1, f"{name}: {values}"
    return values[0]


def environment() -> dict[str, str]:
    env = {}
    for word, rest in instructions():
        if word == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def exec_form(text: str) -> list[str]:
    assert text.startswith("["), f"exec form expected (no shell between the signal and the app): {text}"
    return json.loads(text)


def test_dockerfile_base_user_volume_and_settings():
    assert single("FROM") == "python:3.11-slim"
    user = single("USER")
    assert user not in ("root", "0") and not user.startswith("0:")
    env = environment()
    volume = exec_form(single("VOLUME"))
    assert Path(env["CXDATA_WORKSPACE"]).parent.as_posix() in volume
    assert env["STREAMLIT_SERVER_ENABLE_XSRF_PROTECTION"] == "true"
    assert int(env["STREAMLIT_SERVER_MAX_UPLOAD_SIZE"]) > 0
    assert env["CXDATA_MAX_BYTES"]
    # The volume's folder is made and owned by the user before USER switches to it.
    runs = " ".join(rest for word, rest in instructions() if word == "RUN")
    assert f"chown {user}:{user} /data" in runs and "useradd" in runs


def cmd_and_port() -> tuple[list[str], int]:
    cmd = exec_form(single("CMD"))
    assert cmd[:2] == ["cxdata", "app"]
    return cmd, int(cmd[cmd.index("--server.port") + 1])


def healthcheck() -> list[str]:
    text = single("HEALTHCHECK")
    return exec_form(text[text.index("CMD") + 3:].strip())


def test_the_healthcheck_asks_the_port_the_cmd_serves():
    _, port = cmd_and_port()
    probe = healthcheck()
    assert f"http://127.0.0.1:{port}/_stcore/health" in " ".join(probe)
    assert single("EXPOSE") == str(port)


def test_compose_keeps_the_workspace_on_a_named_volume():
    text = (ROOT / "compose.yaml").read_text()
    assert re.search(r"^\s+- workspace:/data$", text, re.M) and re.search(r"^volumes:\n  workspace:", text, re.M)
    assert '"8501:8501"' in text


def test_the_cmd_run_here_starts_the_app_and_passes_the_healthcheck(tmp_path):
    """The Dockerfile's CMD and HEALTHCHECK, run on this machine with its ENV (the
    workspace in a temporary folder, another free port): `cxdata` is this checkout's."""
    cmd, port = cmd_and_port()
    free = _free_port()
    local = [sys.executable, "-m", "cxdata"] + [str(free) if a == str(port) else a for a in cmd[1:]]
    env = {**os.environ, **environment(), "CXDATA_WORKSPACE": str(tmp_path / "data" / "workspace.duckdb"),
           "PYTHONPATH": str(ROOT)}
    (tmp_path / "data").mkdir()
    log = open(tmp_path / "app.log", "wb")
    process = subprocess.Popen(local, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        probe = [sys.executable if a == "python" else a.replace(f":{port}/", f":{free}/") for a in healthcheck()]
        deadline = time.monotonic() + 90
        while subprocess.run(probe, capture_output=True).returncode != 0:
            assert process.poll() is None, (tmp_path / "app.log").read_text()
            assert time.monotonic() < deadline, "no healthy answer within 90 s"
            time.sleep(1)
        with urllib.request.urlopen(f"http://127.0.0.1:{free}/_stcore/health", timeout=5) as answer:
            assert answer.read() == b"ok"
        # The Dockerfile's settings reached the app.
        with urllib.request.urlopen(f"http://127.0.0.1:{free}/_stcore/host-config", timeout=5) as answer:
            config = json.loads(answer.read())
        assert config.get("enableXsrfProtection", True) is not False
    finally:
        stop_process(process, log)
