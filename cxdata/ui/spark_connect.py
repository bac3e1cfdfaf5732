"""The Data page's Spark part: connect a source queried in place, and look after a
connected dataset (SPEC §7).

Connecting: a Spark URL and a table or ``FORMAT:PATH``; "Test connection" reaches Spark
and reads the source's columns (no rows), the roles are guessed from the names and
editable as for an upload, and "Connect" stores the connection and the role map in the
workspace (:mod:`cxdata.store.connections`).  A URL is only ever shown through
:func:`~cxdata.engines.spark_engine.redact`.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

import streamlit as st

from cxdata.engines.spark_engine import (Narrowing, SparkSource, redact, source_columns,
                                         spark_url)
from cxdata.errors import CxDataError, UnusableInput
from cxdata.io import schema
from cxdata.store import connections
from cxdata.store.connections import Connection
from cxdata.store.workspace import check_name
from cxdata.ui import spark_run, uploads
from cxdata.ui.filters import plain
from cxdata.ui.state import error_text, get_workspace, select_dataset

URL_KEY = "spark_url"
SOURCE_KEY = "spark_source"
#: The last "Test connection": {"url", "source", "columns"} or {"url", "source", "error"}.
TESTED_KEY = "_spark_tested"
#: The outcome of the last "Connect", shown once after the rerun.
CONNECTED_KEY = "_spark_connected"
SCOPES = ["A sample of customers", "All customers"]
DEFAULT_SAMPLE = 10
POLICIES = {"reject the row": "reject", "blank only the score": "blank"}


def connect_section() -> None:
    """The "Connect a Spark source" form."""
    st.subheader("Connect a Spark source")
    st.caption("For logs in a lake or warehouse: nothing is copied, every question runs on Spark "
               "where the data is and only the answers come back. The workspace keeps the "
               "connection and the column roles, never the rows.")
    done = st.session_state.pop(CONNECTED_KEY, None)
    if done:
        st.success(f"Connected **{plain(done)}**. It is now selected in the sidebar; every analysis "
                   "page runs on Spark.", icon=":material/check_circle:")
    with st.expander("Spark URL, source and roles", expanded=bool(st.session_state.get(TESTED_KEY)),
                     icon=":material/cloud:"):
        left, right = st.columns([1, 1])
        left.text_input("Spark URL", key=URL_KEY, value=spark_url(None),
                        help="sc://host:15002 for a Spark Connect server (a token as "
                             "sc://host:15002/;token=…), or local[N] to run Spark on this machine.")
        right.text_input("Table, or format:path", key=SOURCE_KEY,
                         placeholder="main.cx.events  or  parquet:/lake/events/",
                         help="A table of the Spark catalog, or a format (parquet, csv, json, orc, "
                              "delta, avro) and a path, e.g. parquet:s3a://bucket/events/.")
        url, source = _entered()
        if st.button("Test connection", key="spark_test", icon=":material/lan:"):
            if not (url and source):
                st.warning("Give the Spark URL and a table or format:path first.")
                return
            st.session_state[TESTED_KEY] = test_connection(url, source)
        tested = st.session_state.get(TESTED_KEY)
        if not tested or (tested["url"], tested["source"]) != (url, source):
            st.caption("Test the connection to read the source's columns and map them to roles.")
            return
        if "error" in tested:
            st.error(plain(tested["error"]), icon=":material/cloud_off:")
            return
        parsed = SparkSource.parse(source)
        st.success(plain(f"Reached Spark at {redact(url)}: {len(tested['columns'])} columns in "
                         f"{parsed.describe()}."), icon=":material/check_circle:")
        connect_form(url, source, tested["columns"])


def _entered() -> tuple[str, str]:
    url = (st.session_state.get(URL_KEY) or "").strip()
    source = (st.session_state.get(SOURCE_KEY) or "").strip()
    if source.startswith("spark:"):
        source = source[len("spark:"):]
    return url, source


def test_connection(url: str, source: str) -> dict:
    """Reach Spark and read the source's column names: ``{"url", "source", "columns"}``,
    or ``{"url", "source", "error"}`` with the engine's sentence."""
    try:
        parsed = SparkSource.parse(source)
        columns = spark_run.with_progress("reading the columns",
                                          lambda: source_columns(spark_run.spark_session(url), parsed))
    except CxDataError as exc:
        return {"url": url, "source": source, "error": error_text(exc)}
    if not columns:
        return {"url": url, "source": source, "error": f"{parsed.describe()} has no columns."}
    return {"url": url, "source": source, "columns": list(columns)}


def connect_form(url: str, source: str, columns: list[str]) -> None:
    key = f"spark_{abs(hash((url, source, tuple(columns)))) % 10**8}"
    roles = uploads.role_pickers(columns, schema.guess_roles(columns), key)
    left, middle, right = st.columns([2, 1, 1])
    name = left.text_input("Dataset name", value=_suggest_name(source), key=f"{key}_name", max_chars=80)
    order_key = middle.selectbox("Order of ties (optional)", [uploads.NONE] + columns, key=f"{key}_order",
                                 help="A column that orders one customer's events at the same instant "
                                      "(Spark has no file order).")
    policy = right.radio("Invalid scores", list(POLICIES), key=f"{key}_policy")
    narrowing = narrowing_picker(key)
    missing = schema.missing_required_roles(roles)
    if missing:
        st.caption("To connect, choose a column for: " + ", ".join(missing) + ".")
    if st.button("Connect", type="primary", key=f"{key}_connect", icon=":material/cloud_done:",
                 disabled=bool(missing)):
        connection = Connection(name=name, url=url, source=f"spark:{source}", roles=roles,
                                order_key=None if order_key == uploads.NONE else order_key,
                                score_policy=POLICIES[policy], sample_percent=narrowing.sample_percent,
                                start_day=narrowing.start, end_day=narrowing.end)
        try:
            stored = connect(connection)
        except CxDataError as exc:
            st.error(plain(error_text(exc)), icon=":material/error:")
            return
        st.session_state.pop(TESTED_KEY, None)
        st.session_state[CONNECTED_KEY] = stored.name
        select_dataset(stored.name)
        st.rerun()


def narrowing_picker(key: str, current: Narrowing | None = None) -> Narrowing:
    """What to ask about: a sample of customers (by hash) or all of them, and optionally
    a day range."""
    current = current or Narrowing(DEFAULT_SAMPLE)
    st.markdown("**Ask about** (narrow a large log first, then run the full thing)")
    left, middle, right = st.columns([2, 1, 2])
    scope = left.radio("Customers", SCOPES, index=0 if current.sample_percent else 1, key=f"{key}_scope",
                       help="A sample keeps every event of the customers whose id hashes into that "
                            "share: the same customers each time. Its numbers are the sample's, and "
                            "every chart and export says so.")
    percent = middle.number_input("Sample (% of customers)", min_value=1, max_value=99, step=1,
                                  value=int(current.sample_percent or DEFAULT_SAMPLE), key=f"{key}_pct",
                                  disabled=scope != SCOPES[0])
    days = right.date_input("Only events on these days (UTC, optional)",
                            value=[d for d in (current.start, current.end) if d], key=f"{key}_days",
                            help="Leave empty for every day.")
    start, end = _day_range(days)
    return Narrowing(int(percent) if scope == SCOPES[0] else None, start, end)


def _day_range(days) -> tuple[dt.date | None, dt.date | None]:
    if isinstance(days, dt.date):
        return days, days
    days = [d for d in (days or ()) if d]
    if not days:
        return None, None
    return days[0], days[-1]


def connect(connection: Connection) -> Connection:
    """Check the connection on Spark (roles, order key), count its rows and find its stage
    order (one pass each over the narrowed source), and store it."""
    ws = get_workspace()
    name = check_name(connection.name)          # before any work on Spark
    if ws.has_dataset(name):
        raise UnusableInput(f"A dataset named {name!r} already exists; choose another name.")
    engine = spark_run.with_progress("checking the roles", lambda: spark_run.engine_for(connection))
    checked = spark_run.with_progress("counting the rows", lambda: engine.validation(problem_limit=0),
                                      spark=engine.spark)
    order = spark_run.with_progress("finding the stage order", engine.stage_order, spark=engine.spark) \
        if "stage" in connection.roles else []
    return connections.save(ws, dataclasses.replace(
        connection, stage_order=tuple(order), attributes=tuple(engine.attributes),
        rows_read=checked["rows_read"], rows_rejected=checked["rows_rejected"]))


def _suggest_name(source: str) -> str:
    tail = source.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].rsplit(".", 1)
    stem = tail[0] if len(tail) == 1 or tail[1].lower() in ("parquet", "csv", "json", "orc", "avro") \
        else ".".join(tail)
    return uploads.suggest_name(stem or "Spark log")


# ---------------------------------------------------------------------------------------
# A connected dataset in "Datasets in the workspace"

def connection_panel(info) -> None:
    """Where a connected dataset's rows are, its roles, and what it asks about (editable)."""
    ws = get_workspace()
    connection = connections.get(ws, info.name)
    st.markdown(f"**Connected**: {plain(connection.source)} on Spark at "
                f"{plain(spark_run.shown_url(connection))} — queried in place; the workspace keeps "
                "this connection and the roles, never the rows.")
    if ";" in connection.url:
        st.caption("The full URL, token included, is stored in the workspace file: anyone who can "
                   "read that file can read the token.")
    roles = ", ".join(f"{schema.ROLE_LABELS[r]} ← {c}" for r, c in connection.roles.items())
    st.caption(plain(f"Roles: {roles}. Attributes: {', '.join(connection.attributes) or 'none'}. "
                     f"Order of ties: {connection.order_key or 'Spark read order'}."))
    a, b, c = st.columns(3)
    a.metric("Rows read", f"{connection.rows_read:,}", help="When connected or last narrowed.")
    b.metric("Accepted", f"{connection.rows_read - connection.rows_rejected:,}")
    c.metric("Rejected", f"{connection.rows_rejected:,}", help="Rows failing the import rules "
             "(left out of every number); `python -m cxdata validate` lists them.")
    current = spark_run.narrowing_of(connection)
    if current.active:
        st.info(plain(current.label()) + ". Every chart and export of this dataset says so.",
                icon=":material/filter_alt:")
    key = f"conn_{connection.id}"
    narrowing = narrowing_picker(key, current)
    if st.button("Apply", key=f"{key}_apply", icon=":material/check:", disabled=narrowing == current):
        try:
            renarrow(connection, narrowing)
        except CxDataError as exc:
            st.error(plain(error_text(exc)))
            return
        st.toast("Applied: every page now asks about " + (narrowing.label().lower() or "all customers")
                 + ".", icon=":material/check_circle:")
        st.rerun()


def renarrow(connection: Connection, narrowing: Narrowing) -> Connection:
    """Ask about another sample or day range: the rows are counted again, and stages met
    only now are added after the saved order."""
    changed = dataclasses.replace(connection, sample_percent=narrowing.sample_percent,
                                  start_day=narrowing.start, end_day=narrowing.end)
    engine = spark_run.with_progress("connecting", lambda: spark_run.engine_for(changed))
    checked = spark_run.with_progress("counting the rows", lambda: engine.validation(problem_limit=0),
                                      spark=engine.spark)
    order = list(connection.stage_order)
    if "stage" in connection.roles:
        found = spark_run.with_progress("finding the stage order", engine.stage_order, spark=engine.spark)
        order += [s for s in found if s not in order]
    return connections.update(get_workspace(), connection.name, sample_percent=narrowing.sample_percent,
                              start_day=narrowing.start, end_day=narrowing.end, stage_order=tuple(order),
                              rows_read=checked["rows_read"], rows_rejected=checked["rows_rejected"])


def save_stage_order(info, order: list[str]) -> None:
    """The stage order editor's save for a connected dataset (stages of the data missing
    from ``order`` are kept at the end, as for a stored dataset)."""
    clean = [s for s in dict.fromkeys(str(s).strip() for s in order) if s]
    clean += [s for s in info.stage_order if s not in clean]
    connections.update(get_workspace(), info.name, stage_order=tuple(clean))
