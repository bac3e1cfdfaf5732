"""``cxdata app``: the Streamlit app started from the installed package."""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from cxdata.cli.base import EXIT_OK
from cxdata.errors import UnusableInput


APP_HELP = """usage: cxdata app [STREAMLIT OPTION …]

Start the CX Journey Lab app (the Streamlit app installed with the package); it prints the
address to open (http://localhost:8501 unless you choose another port).  Every option goes
to `streamlit run`, e.g.:

  cxdata app --server.port 8600
  cxdata app --server.address 0.0.0.0 --server.headless true

The app's own settings (upload limit, theme, no usage statistics) are its defaults; an
option given here, or a STREAMLIT_* environment variable, wins over them.  The workspace
is $CXDATA_WORKSPACE, else ~/.cxdata/workspace.duckdb.
"""


def app_directory() -> Path:
    """The folder holding the app (``app.py``, ``pages/``, ``sample_data/``,
    ``.streamlit/config.toml``): ``cxdata/_app`` in an installed package, else the
    repository's root when running from a checkout."""
    here = Path(__file__).resolve().parents[1]      # the cxdata package
    for candidate in (here / "_app", here.parent):
        if (candidate / "app.py").is_file() and (candidate / "pages").is_dir():
            return candidate
    raise UnusableInput(f"The app's files were not found beside {here}; reinstall the package.")


def app_config_environment(app_dir: Path, environ: dict[str, str]) -> dict[str, str]:
    """``environ`` plus the app's ``.streamlit/config.toml`` as ``STREAMLIT_*`` variables
    (Streamlit reads config.toml only from the working folder, and ``cxdata app`` runs from
    any folder).  A variable already set is kept; command-line options win over both."""
    import tomllib
    env = dict(environ)
    config = app_dir / ".streamlit" / "config.toml"
    if not config.is_file():
        return env
    for section, options in tomllib.loads(config.read_text(encoding="utf-8")).items():
        for option, value in (options or {}).items():
            name = "STREAMLIT_" + "_".join(
                re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", part).upper() for part in (section, option))
            env.setdefault(name, str(value).lower() if isinstance(value, bool) else str(value))
    return env


def cmd_app(args) -> int:
    """``cxdata app [STREAMLIT OPTION …]``: ``streamlit run`` on the app's ``app.py``."""
    extra = list(args.streamlit_args or [])
    if extra[:1] and extra[0] in ("-h", "--help"):
        sys.stdout.write(APP_HELP)
        return EXIT_OK
    app_dir = app_directory()
    env = app_config_environment(app_dir, dict(os.environ))
    command = [sys.executable, "-m", "streamlit", "run", str(app_dir / "app.py"), *extra]
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "posix":
        os.execve(sys.executable, command, env)      # the app takes this process's place
    import subprocess
    return subprocess.call(command, env=env)
