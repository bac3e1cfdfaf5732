"""The shared filter bar (sidebar): interaction dates, channel and any other column.

Every analysis page calls :func:`filter_bar` and passes the returned
``cxdata.sql.EventFilter`` to the analytics, so one set of filters applies everywhere.
The widgets are bound to the URL (``bind="query-params"``: ``?dates=…&channel=…&f_<column>=…``),
so a copied link reproduces the filters and they survive switching pages.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence

import streamlit as st

from cxdata.schema import ROLE_LABELS
from cxdata.sql import EventFilter
from cxdata.ui import cached
from cxdata.workspace import DatasetInfo

DATES_KEY = "dates"
CHANNEL_KEY = "channel"
MORE_KEY = "filter_on"
COLUMN_KEY_PREFIX = "f_"
#: Roles usable as groups and filters, in the order pickers list them.
GROUPING_ROLES = ("stage", "touchpoint", "event", "channel")
URL = "query-params"
#: How the analytics label missing values of a grouping column.
MISSING_LABEL = "(none)"


def grouping_columns(info: DatasetInfo) -> dict[str, str]:
    """Columns of the dataset table that group or filter events: ``{column: label}``.

    The mapped roles (stage, touchpoint, event, channel) first, then the attributes.
    """
    columns = {role: ROLE_LABELS[role] for role in GROUPING_ROLES if info.has_role(role)}
    for attribute in info.attributes:
        columns.setdefault(attribute, attribute)
    return columns


def build_event_filter(dates: Sequence[dt.date] | None, span: tuple[dt.date | None, dt.date | None],
                       equals: Mapping[str, Sequence[str]] | None = None) -> EventFilter:
    """The EventFilter for the chosen days and column values.

    ``dates`` are inclusive days (UTC); ``span`` is the dataset's first and last day.  A
    bound equal to the span is no filter (so the unfiltered view shares its cache entry
    with every other page).  The end day is inclusive for the user, so the filter's
    exclusive ``end`` is the next midnight.  Empty value lists mean "all".
    """
    start = end = None
    first, last = span
    if dates:
        chosen = list(dates)
        low = chosen[0]
        high = chosen[1] if len(chosen) > 1 else None   # one end picked so far
        if low is not None and (first is None or low > first):
            start = dt.datetime.combine(low, dt.time())
        if high is not None and (last is None or high < last):
            end = dt.datetime.combine(high + dt.timedelta(days=1), dt.time())
    return EventFilter.build(start=start, end=end,
                             equals={c: list(v) for c, v in (equals or {}).items() if v})


def describe(event_filter: EventFilter, labels: Mapping[str, str] | None = None) -> str:
    """One line saying what the filter keeps, e.g. "1 Feb 2025 – 28 Feb 2025 · Channel: Web"."""
    labels = labels or {}
    parts = []
    if event_filter.start or event_filter.end:
        start = event_filter.start.strftime("%d %b %Y") if event_filter.start else "first day"
        end = ((event_filter.end - dt.timedelta(days=1)).strftime("%d %b %Y")
               if event_filter.end else "last day")
        parts.append(f"{start} – {end}")
    for column, values in event_filter.equals:
        shown = ", ".join("(missing)" if v is None else str(v) for v in values[:4])
        more = f" +{len(values) - 4} more" if len(values) > 4 else ""
        parts.append(f"{labels.get(column, column)}: {shown}{more}")
    return " · ".join(parts) if parts else "All interactions"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text: object) -> str:
    """User text made safe for ``st.markdown``: markdown characters escaped, so a value
    such as ``*Web*`` or ``[x](y)`` shows literally."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def column_key(column: str) -> str:
    return COLUMN_KEY_PREFIX + column


def _clear(info_columns: Sequence[str], span: tuple[dt.date | None, dt.date | None]) -> None:
    if span[0] and span[1]:
        st.session_state[DATES_KEY] = (span[0], span[1])
    st.session_state[CHANNEL_KEY] = []
    st.session_state[MORE_KEY] = []
    for column in info_columns:
        if column_key(column) in st.session_state:
            st.session_state[column_key(column)] = []


def filter_bar(info: DatasetInfo, *, container=None) -> EventFilter:
    """Draw the filter bar (in the sidebar by default) and return the EventFilter."""
    box = container or st.sidebar
    span = cached.date_span(info)
    columns = grouping_columns(info)
    box.markdown("**Filters** · apply to every analysis page")
    dates = None
    if span[0] and span[1]:
        dates = box.date_input(
            "Interaction dates (UTC)", value=(span[0], span[1]), min_value=span[0],
            max_value=span[1], key=DATES_KEY, bind=URL, format="YYYY-MM-DD",
            help="Only interactions on these days count, on every page. For the funnel's "
                 "own 'entered between' dates see the Funnel page.")
    equals: dict[str, list[str]] = {}
    if "channel" in columns:
        equals["channel"] = box.multiselect(
            "Channel", cached.column_values(info, "channel"), key=CHANNEL_KEY, bind=URL,
            placeholder="All channels",
            help="Keeps only the interactions on these channels, on every page.")
    others = [c for c in columns if c != "channel"]
    if others:
        chosen = box.multiselect(
            "Filter on more columns", others, key=MORE_KEY, bind=URL,
            format_func=lambda c: columns.get(c, c), placeholder="e.g. segment, region",
            help="Pick a column, then the values to keep.")
        for column in chosen:
            equals[column] = box.multiselect(
                columns.get(column, column), cached.column_values(info, column),
                key=column_key(column), bind=URL, placeholder="All values")
    event_filter = build_event_filter(dates, span, equals)
    if event_filter.equals:
        # The filters are on interactions, not on customers: say so, because a journey
        # that crosses channels loses its other steps.
        box.caption("Only the matching interactions count: a customer's interactions on "
                    "other values are left out. To compare customers by where they "
                    "entered, use the Funnel page's Breakdown.")
    if not event_filter.is_empty():
        box.button("Clear filters", key="clear_filters", icon=":material/filter_alt_off:",
                   on_click=_clear, args=(list(columns), span))
    return event_filter


def with_values(event_filter: EventFilter, column: str, values: Sequence[str]) -> EventFilter:
    """``event_filter`` narrowed to rows whose ``column`` is one of ``values``.

    A condition the filter bar already has on that column is intersected, so the result
    never shows rows the bar excludes.  The group label "(none)" stands for missing
    values.  Raises ValueError when nothing is left.
    """
    equals = dict(event_filter.equals)
    wanted = tuple(None if v == MISSING_LABEL else v for v in values)
    if column in equals:
        wanted = tuple(v for v in wanted if v in equals[column])
    if not wanted:
        raise ValueError("The filters above exclude this value.")
    equals[column] = wanted
    return EventFilter(start=event_filter.start, end=event_filter.end,
                       equals=tuple(sorted(equals.items())))
