"""What a funnel question is: its steps, window, order mode and filters (the parameters
every funnel query is built from), the result types, and durations as users type them.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields, replace
from typing import Callable, Sequence

import pandas as pd

from cxdata.engines import Engine
from cxdata.sql import EventFilter, quote_ident
from cxdata.sql import epoch_us as _to_us
from cxdata.store.timelines import Timeline


ORDER_MODES = ("ordered", "strict", "unordered")
TREND_GRAINS = ("week", "month")
NO_VALUE = "(none)"
NO_FURTHER_EVENTS = "(no further events)"

_US_PER_SECOND = 1_000_000
#: A condition on one event, given the SQL of its time (epoch µs) and value index.
_Condition = Callable[[str, str], tuple[str, list]]


# ---------------------------------------------------------------------------------------
# Results

@dataclass(frozen=True)
class FunnelStep:
    """One row of a funnel.  Conversions are fractions 0…1 (None when nobody reached the
    step they are a fraction of), times are seconds."""
    step: str
    customers: int
    conversion_from_start: float
    conversion_from_previous: float
    dropped: int
    median_seconds_from_previous: float | None
    p90_seconds_from_previous: float | None
    mean_seconds_from_previous: float | None


@dataclass(frozen=True)
class FunnelResult:
    """A funnel: ``entered`` customers (those counted at step 1) and one row per step."""
    entered: int
    steps: list[FunnelStep]

    def to_frame(self) -> pd.DataFrame:
        """One row per step: ``step_index`` (1-based) then the :class:`FunnelStep` fields."""
        columns = ["step_index"] + [f.name for f in fields(FunnelStep)]
        rows = [{"step_index": i, **asdict(s)} for i, s in enumerate(self.steps, start=1)]
        return pd.DataFrame(rows, columns=columns)

    def to_json_dict(self) -> dict:
        """The SPEC §6 JSON shape (conversions as fractions 0…1, median in seconds)."""
        keep = ("step", "customers", "conversion_from_start", "conversion_from_previous",
                "dropped", "median_seconds_from_previous")
        return {"entered": self.entered,
                "steps": [{key: getattr(s, key) for key in keep} for s in self.steps]}


@dataclass(frozen=True)
class Exclusion:
    """"Did ``value`` (on ``column``) between step ``after_step`` and step ``before_step``"
    (1-based, ``after_step < before_step``) removes the customer from the funnel."""
    value: str
    column: str
    after_step: int
    before_step: int


# ---------------------------------------------------------------------------------------
# Durations

_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhdw]?)\s*$", re.IGNORECASE)


def parse_duration(text) -> float | None:
    """Read a duration such as ``90s``, ``30m``, ``12h``, ``14d``, ``2w`` or a bare number
    of seconds; ``none`` (or an empty value) means no window.  Returns seconds or None.

    Raises ValueError with a plain sentence for anything else (negative numbers too).
    """
    if text is None:
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if not math.isfinite(text) or text < 0:
            raise ValueError(f"The duration {text!r} must be a positive number of seconds.")
        return float(text)
    raw = str(text).strip()
    if raw == "" or raw.lower() == "none":
        return None
    match = _DURATION_RE.match(raw)
    if not match:
        raise ValueError(f"Cannot read the duration '{raw}': write a number of seconds or a "
                         "number followed by s, m, h, d or w (for example 30m or 14d), or none.")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()]


# ---------------------------------------------------------------------------------------
# Parameters

@dataclass(frozen=True)
class _Spec:
    """Validated funnel parameters.  Times in epoch microseconds (UTC)."""
    table: str
    steps: tuple[str, ...]
    by: str
    window_us: int | None
    order: str
    event_filter: EventFilter | None
    start_us: int | None
    end_us: int | None
    exclusions: tuple[Exclusion, ...]
    column_types: dict
    #: earliest event time of the table (epoch µs); ordered/unordered pack times after it
    time_min_us: int = 0
    #: the stored per-customer timeline of the step column, when it can stand in for
    #: the events (ordered / unordered, no filter on columns it has no list of)
    timeline: Timeline | None = None

    @property
    def k(self) -> int:
        return len(self.steps)

    @property
    def values(self) -> tuple[str, ...]:
        """Distinct step values in first-appearance order."""
        return tuple(dict.fromkeys(self.steps))

    @property
    def value_bits(self) -> int:
        """Bits that hold a 1-based value index in the ordered mode's packed keys."""
        return len(self.values).bit_length()

    def value_index(self, step: int) -> int:
        """1-based index into :attr:`values` of step ``step`` (1-based)."""
        return self.values.index(self.steps[step - 1]) + 1

    def text(self, column: str, alias: str = "") -> str:
        """SQL for a column's value as text (no cast when it is text already)."""
        ref = (alias + "." if alias else "") + quote_ident(column)
        kind = str(self.column_types[column]).upper()
        return ref if kind.startswith("VARCHAR") else f"CAST({ref} AS VARCHAR)"

    def labels(self) -> list[str]:
        if self.order == "unordered":
            return [f"completed {j} step" + ("" if j == 1 else "s") for j in range(1, self.k + 1)]
        return list(self.steps)


def _require_column(types: dict, column: str, what: str) -> None:
    if column not in types:
        raise ValueError(f"The {what} column '{column}' is not in the dataset.")


def _spec(engine: Engine, steps, *, by: str = "stage", window_seconds=None,
          order: str = "ordered", event_filter: EventFilter | None = None,
          entry_start=None, entry_end=None, exclusions: Sequence[Exclusion] = ()) -> _Spec:
    steps = tuple("" if s is None else str(s) for s in (steps or ()))
    if not steps:
        raise ValueError("A funnel needs at least one step.")
    if order not in ORDER_MODES:
        raise ValueError(f"The order '{order}' is not one of {', '.join(ORDER_MODES)}.")
    if window_seconds is not None:
        if not math.isfinite(float(window_seconds)) or float(window_seconds) < 0:
            raise ValueError("The conversion window must be zero or a positive number of seconds.")
    types = engine.column_types()
    _require_column(types, by, "step")
    exclusions = tuple(exclusions or ())
    for ex in exclusions:
        _require_column(types, ex.column, "exclusion")
        if not (1 <= ex.after_step < ex.before_step <= len(steps)):
            raise ValueError(f"An exclusion must lie between two steps 1…{len(steps)} in order "
                             f"(got {ex.after_step} and {ex.before_step}).")
    start_us, end_us = _to_us(entry_start), _to_us(entry_end)
    window_us = None if window_seconds is None else int(round(float(window_seconds) * _US_PER_SECOND))
    spec = _Spec(table=engine.table, steps=steps, by=by, window_us=window_us, order=order,
                 event_filter=event_filter, start_us=start_us, end_us=end_us,
                 exclusions=exclusions, column_types=types)
    if order in ("ordered", "unordered"):
        low, high = engine.time_range_us()
        low, high = (low or 0), (high or 0)
        # packed keys (t − t_min) << bits | index must stay below 2**63
        if (high - low) >> (62 - spec.value_bits) > 0:
            raise ValueError("The funnel has too many different steps for the time span of this data.")
        spec = replace(spec, time_min_us=low)
        timeline = engine.timeline(by)
        # a filter on the channel is served by the timeline's channel list
        if timeline is not None and timeline.time_min_us == low and timeline.serves(event_filter):
            spec = replace(spec, timeline=timeline)
    return spec
