"""Connected datasets in the app: queried in place on Spark (SPEC §7).

* One Spark session per app process (:func:`spark_session`), whatever the number of
  visitors and datasets.
* One :class:`~cxdata.engines.spark_engine.SparkEngine` per connection definition
  (:func:`engine_for`): its canonical events are kept in Spark's cache after the first
  query, so later questions start from them.  A few engines are kept; the oldest one's
  cached events are released when another is needed.
* Every query runs in a worker thread while the page shows "Running on Spark…" with the
  seconds counting (:func:`with_progress`).  When it is done, one line under the
  sidebar's dataset picker sums up the page's Spark queries (how many, the time in all,
  the longest), however many the page asked: one element per page, not one toast per
  query.  Its result is cached by ``cxdata.ui.cached`` like any other.
* A query whose page the user leaves (another page, a changed widget: Streamlit stops
  the script run) is cancelled on Spark: its operations carry a tag of their own
  (``SparkSession.addTag``, thread-local) and are interrupted by it (``interruptTag``).
* A narrowed dataset (a customer sample, a day range) is labelled on every chart and in
  every export (:func:`sample_label`, used by ``cxdata.ui.downloads``).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import streamlit as st

from cxdata.engines.spark_engine import Narrowing, SparkEngine, SparkSource, redact, session
from cxdata.errors import CxDataError
from cxdata.store import connections
from cxdata.store.connections import Connection, is_connected

#: Engines kept at once (each may hold its events in Spark's cache).
MAX_ENGINES = 4
#: Seconds between two updates of the elapsed time.
TICK = 1.0
#: Sessions whose page summary is remembered at once (one small entry per browser tab).
MAX_SUMMARIES = 1000
_LOCK = threading.RLock()
_ENGINES: OrderedDict[tuple, SparkEngine] = OrderedDict()
_SUMMARIES: OrderedDict[str, "_PageSummary"] = OrderedDict()


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


@dataclass
class _PageSummary:
    """The Spark queries of one script run, shown in one sidebar element (``slot``)."""
    slot: object
    run: object                 # the run's cursors (a new object every run: see _summary)
    queries: int = 0
    seconds: float = 0.0
    longest: tuple[str, float] = ("", 0.0)

    def add(self, what: str, seconds: float) -> None:
        self.queries += 1
        self.seconds += seconds
        if seconds >= self.longest[1]:
            self.longest = (what, seconds)
        self.slot.caption(summary_text(self.queries, self.seconds, self.longest))


def summary_text(queries: int, seconds: float, longest: tuple[str, float]) -> str:
    """"Spark: the funnel in 2.1 s" for one query; for more, how many, the time in all
    and the longest."""
    if queries == 1:
        return f"Spark: {longest[0]} in {seconds:,.1f} s"
    return (f"Spark: {queries} queries on this page, {seconds:,.1f} s in all "
            f"(longest: {longest[0]}, {longest[1]:,.1f} s)")


def _run_context():
    try:
        from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx
    except ImportError:
        return None
    return get_script_run_ctx(suppress_warning=True)


def start_page_summary() -> None:
    """Make this run's summary element: an empty sidebar slot that the run's Spark queries
    fill (nothing shows when every answer comes from the cache)."""
    ctx = _run_context()
    if ctx is None:
        return
    with _LOCK:
        _SUMMARIES[ctx.session_id] = _PageSummary(st.sidebar.empty(), ctx.cursors)
        _SUMMARIES.move_to_end(ctx.session_id)
        while len(_SUMMARIES) > MAX_SUMMARIES:
            _SUMMARIES.popitem(last=False)


def _summary() -> _PageSummary | None:
    """This run's summary, if the run made one.  Streamlit gives every run a new cursors
    object, and the summary keeps its run's alive, so an older run's slot is never reused."""
    ctx = _run_context()
    if ctx is None:
        return None
    summary = _SUMMARIES.get(ctx.session_id)
    return summary if summary is not None and summary.run is ctx.cursors else None


def with_progress(what: str, work, spark=None):
    """``work()`` in a worker thread while a status says "Running on Spark: what…" with
    the seconds counting; the time taken then goes to the page's summary line.
    Exceptions of ``work`` are raised here.  With ``spark`` (the session ``work`` uses),
    its Spark operations are interrupted when the script run stops first (the user left
    the page or changed a widget)."""
    started_at = dt.datetime.now(dt.timezone.utc).strftime("%H:%M:%S")
    outcome: dict = {}
    tag = f"cxdata-{uuid.uuid4().hex}" if spark is not None else None

    def run() -> None:
        try:
            if tag:
                spark.addTag(tag)       # this thread's operations only
            outcome["value"] = work()
        except BaseException as exc:        # handed to the page's thread
            outcome["error"] = exc

    with _not_replayed():
        box = st.empty()
        status = box.status(f"Running on Spark: {what}… (started {started_at} UTC)", expanded=False)
        start = time.monotonic()
        worker = threading.Thread(target=run, daemon=True, name="cxdata-spark-query")
        worker.start()
        try:
            while worker.is_alive():
                worker.join(TICK)
                if worker.is_alive():
                    # Streamlit stops a left page's run here, in its own call
                    status.update(label=f"Running on Spark: {what}… {time.monotonic() - start:,.0f} s "
                                        f"(started {started_at} UTC)")
        except BaseException:
            if tag:
                cancel(spark, tag)
            raise
        elapsed = time.monotonic() - start
        box.empty()
        if "error" in outcome:
            raise outcome["error"]
        summary = _summary()
        if summary is not None:
            summary.add(what, elapsed)
    return outcome["value"]


def cancel(spark, tag: str) -> None:
    """Interrupt the Spark operations tagged ``tag`` (in the background: the page that
    left must not wait for Spark to answer)."""
    def interrupt() -> None:
        with contextlib.suppress(Exception):    # finished meanwhile, or the session is gone
            spark.interruptTag(tag)
    threading.Thread(target=interrupt, daemon=True, name="cxdata-spark-cancel").start()


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
    return with_progress(what, lambda: target(engine, None, *args, **kwargs), spark=engine.spark)


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
    return with_progress(what, lambda: work(engine), spark=engine.spark)


def sidebar_note(info) -> None:
    """Under the sidebar's dataset picker: that a connected dataset runs on Spark, and
    which sample its numbers are (every number of every page is the sample's); below it,
    the page's Spark queries once they have run (any page may connect a source)."""
    if info is None or not is_connected(info):
        start_page_summary()
        return
    label = sample_label(info)
    if label:
        st.sidebar.warning(f"On Spark · {label}. Change it on the Data page.", icon=":material/filter_alt:")
    else:
        st.sidebar.caption("On Spark: queried in place, all customers.")
    start_page_summary()
