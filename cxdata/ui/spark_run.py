"""Connected datasets in the app: queried in place on Spark (SPEC §7).

* One Spark session per app process (:func:`spark_session`), whatever the number of
  visitors and datasets.
* One :class:`~cxdata.engines.spark_engine.SparkEngine` per connection definition
  (:func:`engine_for`): its canonical events are kept in Spark's cache after the first
  query, so later questions start from them.  A few engines are kept; the oldest one's
  cached events are released when another is needed.
* Every query runs in a worker thread while the page shows "Running on Spark…" with the
  seconds counting (:func:`with_progress`); when it is done, a toast gives the time it
  took.  Its result is cached by ``cxdata.ui.cached`` like any other.
* A narrowed dataset (a customer sample, a day range) is labelled on every chart and in
  every export (:func:`sample_label`, used by ``cxdata.ui.downloads``).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections import OrderedDict

import streamlit as st

from cxdata.engines.spark_engine import Narrowing, SparkEngine, SparkSource, redact, session
from cxdata.errors import CxDataError
from cxdata.store import connections
from cxdata.store.connections import Connection, is_connected

#: Engines kept at once (each may hold its events in Spark's cache).
MAX_ENGINES = 4
#: Seconds between two updates of the elapsed time.
TICK = 1.0
_LOCK = threading.RLock()
_ENGINES: OrderedDict[tuple, SparkEngine] = OrderedDict()


def spark_session(url: str):
    """The process's Spark session for ``url`` (made once; two visitors arriving
    together do not start two)."""
    with _LOCK:
        return session(url)


def narrowing_of(connection: Connection) -> Narrowing:
    return Narrowing(connection.sample_percent, connection.start_day, connection.end_day)


def _definition(connection: Connection) -> tuple:
    """What an engine depends on (not the name, id or version: a rename keeps the engine)."""
    return (connection.url, connection.source, tuple(sorted(connection.roles.items())),
            connection.order_key, connection.score_policy, connection.sample_percent,
            connection.start_day, connection.end_day)


def engine_for(connection: Connection) -> SparkEngine:
    """The engine of a connection (made on first use: reads the source's schema)."""
    key = _definition(connection)
    with _LOCK:
        if key in _ENGINES:
            _ENGINES.move_to_end(key)
            return _ENGINES[key]
        engine = SparkEngine(spark_session(connection.url), SparkSource.parse(connection.source),
                             connection.overrides, order_key=connection.order_key,
                             score_policy=connection.score_policy, narrowing=narrowing_of(connection))
        _ENGINES[key] = engine
        while len(_ENGINES) > MAX_ENGINES:
            _, old = _ENGINES.popitem(last=False)
            _release(old)
        return engine


def _release(engine: SparkEngine) -> None:
    events = getattr(engine, "_events", None)
    if events is not None:
        with contextlib.suppress(Exception):    # the session may be gone already
            events[0].unpersist()


@contextlib.contextmanager
def _not_replayed():
    """Show elements from inside a cached function without them being stored with its
    result: a cache hit must not show "Running on Spark…" again.  (Streamlit records the
    elements a cached function draws while this context variable is set.)"""
    try:
        from streamlit.runtime.scriptrunner_utils.script_run_context import in_cached_function
    except ImportError:         # another Streamlit: the progress is then replayed, harmless
        yield
        return
    token = in_cached_function.set(False)
    try:
        yield
    finally:
        in_cached_function.reset(token)


def with_progress(what: str, work):
    """``work()`` in a worker thread while a status says "Running on Spark: what…" with
    the seconds counting; a toast with the time taken when it is done.  Exceptions of
    ``work`` are raised here."""
    started_at = dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S")
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:        # handed to the page's thread
            outcome["error"] = exc

    with _not_replayed():
        box = st.empty()
        status = box.status(f"Running on Spark: {what}… (started {started_at} UTC)", expanded=False)
        start = time.monotonic()
        worker = threading.Thread(target=run, daemon=True, name="cxdata-spark-query")
        worker.start()
        while worker.is_alive():
            worker.join(TICK)
            if worker.is_alive():
                status.update(label=f"Running on Spark: {what}… {time.monotonic() - start:,.0f} s "
                                    f"(started {started_at} UTC)")
        elapsed = time.monotonic() - start
        box.empty()
        if "error" in outcome:
            raise outcome["error"]
        st.toast(f"Spark: {what} in {elapsed:,.1f} s", icon=":material/timer:")
    return outcome["value"]


def run_connected(table: str, target, args: tuple, kwargs: dict):
    """``target(engine, None, *args, **kwargs)`` on the connected dataset ``table``, with
    its progress shown.  A connection that cannot be made stops the page with its
    sentence (errors of the analysis itself go to the page, as on DuckDB)."""
    from cxdata.ui.state import error_text, get_workspace
    try:
        connection = connections.by_table(get_workspace(), table)
        engine = with_progress("connecting", lambda: engine_for(connection)) \
            if _definition(connection) not in _ENGINES else engine_for(connection)
    except CxDataError as exc:
        from cxdata.ui.filters import plain
        st.error(plain(error_text(exc)), icon=":material/cloud_off:")
        st.stop()
    name = getattr(target, "__name__", "query")
    what = _WHAT.get(name, name.replace("_", " ").strip())
    return with_progress(what, lambda: target(engine, None, *args, **kwargs))


#: How the progress names the analyses whose function names say it less plainly.
_WHAT = {"compute_funnel": "the funnel", "event_counts": "counting customers and interactions",
         "id_like_columns": "profiling the columns", "distinct_values": "listing a column's values",
         "dataset_insights": "what stands out", "journey_funnel_steps": "the journey's steps"}


def narrowing_shown(info=None) -> Narrowing | None:
    """The narrowing of ``info`` (default: the current dataset) when it is a narrowed
    connected dataset, else None."""
    from cxdata.ui.state import current_dataset, get_workspace
    try:
        info = info if info is not None else current_dataset()
        if info is None or not is_connected(info):
            return None
        narrowing = narrowing_of(connections.by_table(get_workspace(), info.table))
    except Exception:    # no workspace or no script run (a helper used alone): no label
        return None
    return narrowing if narrowing.active else None


def sample_label(info=None) -> str:
    """"Sample: 10% of customers …" for a narrowed connected dataset, else ""."""
    narrowing = narrowing_shown(info)
    return narrowing.label() if narrowing else ""


def sample_slug(info=None) -> str:
    """``sample-10pct`` (a file-name part) for a narrowed connected dataset, else ""."""
    narrowing = narrowing_shown(info)
    return narrowing.slug() if narrowing else ""


def shown_url(connection: Connection) -> str:
    """The connection's URL with any token cut short (the only form ever shown)."""
    return redact(connection.url)


def run_on(info, cur, work, what: str):
    """``work(source)``: ``source`` is ``cur`` for a workspace dataset, and for a connected
    one its engine (the analyses take either; the table name they are given then does not
    matter), run with its progress shown.  For pages that call the analytics directly."""
    if not is_connected(info):
        return work(cur)
    from cxdata.ui.state import get_workspace
    connection = connections.by_table(get_workspace(), info.table)
    engine = with_progress("connecting", lambda: engine_for(connection))
    return with_progress(what, lambda: work(engine))


def sidebar_note(info) -> None:
    """Under the sidebar's dataset picker: that a connected dataset runs on Spark, and
    which sample its numbers are (every number of every page is the sample's)."""
    if info is None or not is_connected(info):
        return
    label = sample_label(info)
    if label:
        st.sidebar.warning(f"On Spark · {label}. Change it on the Data page.", icon=":material/filter_alt:")
    else:
        st.sidebar.caption("On Spark: queried in place, all customers.")
