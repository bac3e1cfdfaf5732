"""How much memory DuckDB may use, where it spills past that, and what to say when even
spilling is not enough.

Every DuckDB connection cxdata opens (the workspace's, and the private in-memory ones the
command line reads files into) goes through :func:`connect`, which sets

* ``memory_limit``: the ``--memory-limit`` option (:func:`set_memory_limit`), else the
  environment variable ``CXDATA_MEMORY_LIMIT``, else :func:`default_limit` — half the
  machine's memory, at most 3 GiB.  Sizes are bytes or a number with K, M, G or T
  (binary units); ``none`` leaves DuckDB's own default (80 % of the memory);
* ``temp_directory``: where sorts, joins and aggregations larger than the limit spill.
  Beside a workspace file (the disk that holds the data has room for it, unlike a small
  ``/tmp``), in the system's temporary folder for an in-memory database.  DuckDB deletes
  the folder when the connection closes.

The default leaves room: DuckDB's limit covers its buffers, not everything a process
holds (Python, pandas frames, DuckDB's own bookkeeping), so a process peaks somewhat above
it.  3 GiB keeps a command under 4 GiB at 100 million events (benchmarks/bench_scale.py)
and leaves most of a laptop's memory to everything else; on a larger server, raising it
lets big work spill less.
"""
from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import duckdb

from cxdata.errors import CxDataError

ENV_VAR = "CXDATA_MEMORY_LIMIT"
#: The default limit: this share of the machine's memory, at most DEFAULT_CAP bytes.
DEFAULT_SHARE = 0.5
DEFAULT_CAP = 3 << 30
_NONE = ("none", "off", "duckdb")

#: The process-wide choice of the command line's --memory-limit (None: not given).
_chosen: str | None = None


class OutOfMemory(CxDataError):
    """DuckDB could not finish within its memory limit even by spilling to disk.
    ``str(exc)`` names the command-line option; :attr:`web_message` is for the app."""

    def __init__(self, limit: str):
        self.limit = limit
        super().__init__(f"The work needs more memory than the limit of {limit}: raise the limit "
                         f"(--memory-limit or the environment variable {ENV_VAR}), narrow the date "
                         "range, or use Spark (--spark).")

    @property
    def web_message(self) -> str:
        return (f"The work needs more memory than the limit of {self.limit}: narrow the date range, "
                f"or start the app with a higher limit (the environment variable {ENV_VAR}), "
                "or use Spark.")


def set_memory_limit(text: str | None) -> None:
    """Use ``text`` (the ``--memory-limit`` option) for the connections opened from now
    on in this process; None goes back to the environment variable or the default."""
    global _chosen
    if text is not None:
        _parse(text, "--memory-limit")     # refuse a bad value now, in the user's words
    _chosen = text


#: Where a container's memory limit is written (cgroup v2, then v1).
_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def physical_memory() -> int | None:
    """The memory this process may use in bytes: the machine's, or a container's limit
    when that is smaller (None when the system does not say)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = None
    for name in _CGROUP_LIMITS:
        try:
            text = Path(name).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and (total is None or int(text) < total):
            total = int(text)
        break
    return total


def default_limit(total: int | None = None) -> int:
    """Half of ``total`` (default: the machine's memory), at most :data:`DEFAULT_CAP`."""
    total = physical_memory() if total is None else total
    if not total:
        return DEFAULT_CAP
    return int(min(total * DEFAULT_SHARE, DEFAULT_CAP))


def _parse(text: str, where: str) -> int | None:
    from cxdata.io.sources import parse_size
    if str(text).strip().lower() in _NONE:
        return None
    try:
        size = parse_size(text)
    except ValueError as exc:
        raise CxDataError(f"{where}: {exc}") from None
    if size is None:
        raise CxDataError(f"{where}: {text!r} is not a memory limit; write a size such as 4G, or none.")
    if size < (64 << 20):
        raise CxDataError(f"{where}: {text!r} is too small; DuckDB needs at least 64M.")
    return size


def memory_limit_bytes(explicit: str | None = None) -> int | None:
    """The limit in bytes: ``explicit``, else the ``--memory-limit`` of this process,
    else ``$CXDATA_MEMORY_LIMIT``, else :func:`default_limit`.  None: DuckDB's default."""
    if explicit is not None:
        return _parse(explicit, "memory limit")
    if _chosen is not None:
        return _parse(_chosen, "--memory-limit")
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return _parse(env, f"The environment variable {ENV_VAR}")
    return default_limit()


def _mib(size: int) -> str:
    return f"{max(size >> 20, 1)}MiB"


def describe(size: int | None) -> str:
    """A limit as people write it (``3 GiB``, ``512 MiB``)."""
    if size is None:
        return "DuckDB's default (80% of the memory)"
    if size >= 1 << 30:
        return f"{size / (1 << 30):.1f} GiB".replace(".0 ", " ")
    return f"{size >> 20} MiB"


def connect(database: str | os.PathLike | None = None, *, read_only: bool = False,
            memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the memory limit and a spill folder (see the module
    docstring); ``database`` None is a private in-memory database."""
    size = memory_limit_bytes(memory_limit)
    config = {"temp_directory": spill_directory(database, read_only)}
    if size is not None:
        config["memory_limit"] = _mib(size)
    if database is None:
        return duckdb.connect(config=config)
    return duckdb.connect(str(database), read_only=read_only, config=config)


def spill_directory(database: str | os.PathLike | None, read_only: bool = False) -> str:
    """Where a connection spills.  One writer holds a workspace file at a time, so it
    uses ``<file>.tmp`` (DuckDB's own choice); readers, which may be several, each get
    their own folder, as does every in-memory database."""
    if database is None:
        return str(Path(tempfile.gettempdir()) / f"cxdata-spill-{uuid.uuid4().hex[:12]}")
    suffix = f".tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}" if read_only else ".tmp"
    return str(database) + suffix


def current_limit(con) -> str:
    """The limit a connection runs with, as DuckDB prints it."""
    try:
        return str(con.execute("SELECT current_setting('memory_limit')").fetchone()[0])
    except duckdb.Error:
        return "the memory limit"


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, (duckdb.OutOfMemoryException, MemoryError)) or (
        isinstance(exc, duckdb.Error) and "out of memory" in str(exc).lower())


def out_of_memory(exc: BaseException, con=None) -> OutOfMemory:
    """The plain error for ``exc`` (an out-of-memory failure), naming the limit."""
    return OutOfMemory(current_limit(con) if con is not None else describe(memory_limit_bytes()))
