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
from streamlit.errors import StreamlitAPIException

from cxdata.formatting import display_text
from cxdata.io.schema import ROLE_LABELS
from cxdata.sql import EventFilter
from cxdata.ui import cached
from cxdata.store.workspace import DatasetInfo

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

    The mapped roles (stage, touchpoint, event, channel) first, then the attributes,
    except id-like ones (an id or a timestamp: nearly every value distinct, SPEC §2;
    ``cxdata.io.profile.is_id_like``), which would split customers into groups of one.
    """
    columns = {role: ROLE_LABELS[role] for role in GROUPING_ROLES if info.has_role(role)}
    hidden = set(cached.id_like_columns(info)) if info.attributes else set()
    for attribute in info.attributes:
        if attribute not in hidden:
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
    such as ``*Web*`` or ``[x](y)`` shows literally, and bidirectional controls removed
    (:func:`cxdata.formatting.display_text`), so that a value cannot flip the text after it."""
    return _MD_SPECIAL.sub(r"\\\1", display_text(text))


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


#: Session-state key of the filter bar the app drew in this run: (dataset key, EventFilter).
_DRAWN_KEY = "_filter_bar_drawn"


def app_filter_bar(info: DatasetInfo | None) -> None:
    """Draw the sidebar filter bar from ``app.py``, before the page runs (None: no bar).

    Widgets drawn by the app keep their URL parameters across page switches and browser
    Back; the page's own :func:`filter_bar` call then returns this run's filter.
    """
    st.session_state.pop(_DRAWN_KEY, None)
    if info is not None:
        st.session_state[_DRAWN_KEY] = (info.cache_key, _draw_filter_bar(info, st.sidebar))


def filter_bar(info: DatasetInfo, *, container=None) -> EventFilter:
    """The EventFilter of the filter bar (in the sidebar by default), drawing the bar
    unless the app already drew it for this dataset in this run."""
    drawn = st.session_state.get(_DRAWN_KEY)
    if container is None and drawn is not None and drawn[0] == info.cache_key:
        return drawn[1]
    return _draw_filter_bar(info, container or st.sidebar)


def _drop_stale_column_params(chosen: Sequence[str]) -> None:
    """Remove ``f_<column>`` URL parameters of columns not filtered on now (a link made
    on another dataset, or a column this one lacks): they no longer apply."""
    wanted = {column_key(c) for c in chosen}
    for key in [k for k in st.query_params if k.startswith(COLUMN_KEY_PREFIX) and k not in wanted]:
        try:
            del st.query_params[key]
        except StreamlitAPIException:
            pass    # still bound to a widget of the last run: Streamlit removes it itself


#: Session-state key: the dataset span the date filter was last drawn with.
_SPAN_KEY = "_filter_dates_span"


def _follow_dataset_span(span: tuple[dt.date | None, dt.date | None]) -> None:
    """Before drawing the date filter: after a change of dataset, dates that were the old
    dataset's whole span (no filter there) or that fall outside the new span are reset to
    the new span, so that they never cut the new dataset to another one's days."""
    previous = st.session_state.get(_SPAN_KEY)
    st.session_state[_SPAN_KEY] = span
    chosen = st.session_state.get(DATES_KEY)
    if previous is None or previous == span or not chosen or not (span[0] and span[1]):
        return
    chosen = tuple(chosen)
    inside = all(d is None or span[0] <= d <= span[1] for d in chosen)
    if chosen == tuple(previous) or not inside:
        st.session_state[DATES_KEY] = (span[0], span[1])


def drop_stale_choices(key: str, options: Sequence, default=None) -> None:
    """Call before drawing the widget ``key`` (bound to the URL): drop chosen values its
    options no longer have — another dataset's values after a change of dataset — so that
    neither the widget nor the URL keeps them.  A list value (multiselect) keeps its valid
    values; a single value (selectbox) not in ``options`` becomes ``default`` when given.
    Streamlit itself checks URL values only when a page is opened, not on a rerun."""
    chosen = st.session_state.get(key)
    allowed = set(options)
    if isinstance(chosen, (list, tuple)):
        if any(v not in allowed for v in chosen):
            st.session_state[key] = [v for v in chosen if v in allowed]
    elif chosen is not None and chosen not in allowed and default is not None:
        st.session_state[key] = default


def _draw_filter_bar(info: DatasetInfo, box) -> EventFilter:
    span = cached.date_span(info)
    columns = grouping_columns(info)
    box.markdown("**Filters** · apply to every analysis page")
    dates = None
    _follow_dataset_span(span)
    if span[0] and span[1]:
        dates = box.date_input(
            "Interaction dates (UTC)", value=(span[0], span[1]), min_value=span[0],
            max_value=span[1], key=DATES_KEY, bind=URL, format="YYYY-MM-DD",
            help="Only interactions on these days count, on every page. For the funnel's "
                 "own 'entered between' dates see the Funnel page.")
    equals: dict[str, list[str]] = {}
    if "channel" in columns:
        channels = cached.column_values(info, "channel")
        drop_stale_choices(CHANNEL_KEY, channels)
        equals["channel"] = box.multiselect(
            "Channel", channels, key=CHANNEL_KEY, bind=URL,
            placeholder="All channels",
            help="Keeps only the interactions on these channels, on every page.")
    others = [c for c in columns if c != "channel"]
    chosen: list[str] = []
    if others:
        drop_stale_choices(MORE_KEY, others)
        chosen = box.multiselect(
            "Filter on more columns", others, key=MORE_KEY, bind=URL,
            format_func=lambda c: columns.get(c, c), placeholder="e.g. segment, region",
            help="Pick a column, then the values to keep.")
        for column in chosen:
            values = cached.column_values(info, column)
            drop_stale_choices(column_key(column), values)
            equals[column] = box.multiselect(
                plain(columns.get(column, column)), values,
                key=column_key(column), bind=URL, placeholder="All values")
    _drop_stale_column_params(chosen)
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
