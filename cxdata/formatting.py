"""Numbers as people read them: one definition of every display format, for the app, the
charts (labels and tooltips), the journey-map canvas and the report.

Display text only.  Downloads (CSV, JSON) keep raw numbers: an ASCII ``-`` that a
spreadsheet reads as a number, full precision, no units.

Conventions:

* a negative number is written with the typographic minus ``−`` (U+2212), never the ASCII
  hyphen-minus, and a value that rounds to zero carries no minus ("0.0%", not "−0.0%");
* missing values (``None``, NaN, NA) are written ``–`` (en dash);
* counts get thousands separators ("1,234"); fractions 0…1 are shown as percents with one
  decimal ("45.6%");
* time periods are named in UTC (DESIGN: time is UTC end to end).
"""
from __future__ import annotations

import math
import re

import pandas as pd

#: The typographic minus sign (U+2212) used in displayed negative numbers.
MINUS = "\u2212"
#: What a missing value is shown as.
MISSING = "–"

#: How each score metric is written: NPS as a signed whole number, CSAT as a whole
#: percentage, CES with two decimals (its 1–7 scale makes tenths matter).
SCORE_FORMATS: dict[str, tuple[str, int]] = {"nps": ("{:+.0f}", 0), "csat": ("{:.0f}%", 0),
                                             "ces": ("{:.2f}", 2)}
#: A difference between two scores (group A − group B): decimals and unit.  NPS and CSAT
#: differ in points (of −100…100, of percent), CES in steps of its 1–7 scale.
DIFFERENCE_FORMATS: dict[str, tuple[int, str]] = {"nps": (1, " points"), "csat": (1, " points"),
                                                  "ces": (2, "")}
#: The figure shown beside a score: CSAT's mean rating (1–5, two decimals), CES's
#: "% easy" (percent 0…100 of ratings 5–7, whole number).
SECONDARY_FORMATS: dict[str, tuple[str, int]] = {"csat": ("{:.2f}", 2), "ces": ("{:.0f}%", 0)}

#: Duration units, from the largest: (name, short name, seconds per unit, the smallest
#: number of seconds shown in that unit).  Below 120 s seconds, below 2 h minutes, below
#: 3 days hours, else days: the number shown stays between about 2 and a few hundred.
DURATION_UNITS: tuple[tuple[str, str, float, float], ...] = (
    ("days", "days", 86400.0, 3 * 86400.0),
    ("hours", "h", 3600.0, 2 * 3600.0),
    ("minutes", "min", 60.0, 120.0),
    ("seconds", "s", 1.0, 0.0),
)

#: Names of the time periods that trends are grouped by (weeks start Monday 00:00 UTC).
PERIOD_GRAINS = ("day", "week", "month")


#: Unicode bidirectional controls: embeddings and overrides (U+202A–U+202E), isolates
#: (U+2066–U+2069), the marks (U+200E, U+200F, U+061C).  In displayed user text an
#: override such as U+202E reverses the rest of its line or cell.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def display_text(text: object) -> str:
    """User text for display with its bidirectional controls removed, so that a value
    cannot flip the text that follows it; right-to-left letters keep their own
    direction (the browser's bidi algorithm needs no control to show them)."""
    return _BIDI_CONTROLS.sub("", str(text))


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` for a table on screen: every text cell (and column name) through
    :func:`display_text`, so that a value with a right-to-left override cannot flip its
    cell.  Numbers, times and missing values are left as they are; downloads keep the
    original frame."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(lambda v: display_text(v) if isinstance(v, str) else v)
    out.columns = [display_text(c) if isinstance(c, str) else c for c in out.columns]
    return out


def _missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return True


def typographic_minus(text: str) -> str:
    """``text`` with a leading ASCII minus replaced by ``−`` (U+2212): ``"-12"`` ->
    ``"−12"``; other text unchanged."""
    return MINUS + text[1:] if text.startswith("-") else text


def _fixed(value: float, decimals: int) -> float:
    """``value`` rounded to ``decimals``, with a negative zero made positive (round()
    keeps the sign of -0.0; adding 0.0 turns it into 0.0)."""
    return round(float(value), decimals) + 0.0


def format_number(value, decimals: int = 0, *, signed: bool = False) -> str:
    """A plain number with thousands separators and ``decimals`` decimals: ``-1234.5`` ->
    ``"−1,234.5"`` (decimals 1); ``signed`` writes ``+`` before positive numbers and zero;
    missing -> ``"–"``."""
    if _missing(value):
        return MISSING
    number = _fixed(value, decimals)
    return typographic_minus(f"{number:{'+' if signed else ''},.{decimals}f}")


def format_count(value) -> str:
    """A count: ``1234`` -> ``"1,234"``, ``-3`` -> ``"−3"``; missing -> ``"–"``."""
    if _missing(value):
        return MISSING
    return typographic_minus(f"{round(float(value)):,}")


def format_percent(fraction, digits: int = 1) -> str:
    """A fraction 0…1 as a percent: ``0.456`` -> ``"45.6%"``, ``-0.05`` -> ``"−5.0%"``;
    missing -> ``"–"``."""
    if _missing(fraction):
        return MISSING
    return format_number(100.0 * float(fraction), digits) + "%"


def format_score(metric: str, value) -> str:
    """A score in its metric's display format (NPS ``+12`` / ``−12``, CSAT ``84%``, CES
    ``5.20``); missing -> ``"–"``. A value that rounds to zero has no minus sign."""
    if _missing(value):
        return MISSING
    pattern, decimals = SCORE_FORMATS[metric]
    return typographic_minus(pattern.format(_fixed(value, decimals)))


def format_interval(metric: str, low, high) -> str:
    """A score's interval: ``"−25 … +5"`` (NPS), ``"72% … 81%"`` (CSAT); an end that is
    missing is ``"–"``."""
    return f"{format_score(metric, low)} … {format_score(metric, high)}"


def format_secondary(metric: str, value) -> str:
    """The figure beside a score: CSAT mean rating ``"4.12"``, CES % easy ``"55%"``;
    missing (or NPS, which has none) -> ``"–"``."""
    if _missing(value) or metric not in SECONDARY_FORMATS:
        return MISSING
    pattern, decimals = SECONDARY_FORMATS[metric]
    return typographic_minus(pattern.format(_fixed(value, decimals)))


def format_difference(metric: str, value) -> str:
    """A difference of two scores (A − B), signed, with its unit: NPS/CSAT ``"+3.5
    points"`` / ``"−12.0 points"``, CES ``"−0.25"``; missing -> ``"–"``."""
    if _missing(value):
        return MISSING
    decimals, unit = DIFFERENCE_FORMATS[metric]
    return format_number(value, decimals, signed=True) + unit


def format_difference_interval(metric: str, low, high) -> str:
    """The 95% interval of a difference, without the unit: ``"−1.2 … +4.0"``."""
    decimals, _ = DIFFERENCE_FORMATS[metric]
    return (f"{format_number(low, decimals, signed=True)} … "
            f"{format_number(high, decimals, signed=True)}")


def format_p(p, *, alpha: float = 0.05) -> str:
    """A p-value for plain-language text: ``"p < 0.001"`` below 0.001, else ``"p = 0.03"``
    (two decimals; three below 0.01: ``"p = 0.004"``).  More decimals are written when
    rounding would carry the value across ``alpha`` (0.0496 -> ``"p = 0.0496"``, not
    ``"p = 0.05"``), so the text never contradicts "significant at 5%".  Missing ->
    ``"p = –"``."""
    if _missing(p):
        return f"p = {MISSING}"
    p = float(p)
    if p < 0.001:
        return "p < 0.001"
    decimals = 2 if p >= 0.01 else 3
    while decimals < 6 and (round(p, decimals) < alpha) != (p < alpha):
        decimals += 1
    return f"p = {p:.{decimals}f}"


def duration_unit(max_seconds) -> tuple[str, float]:
    """One readable unit for a column of durations up to ``max_seconds`` (seconds):
    ``(name, seconds per unit)``, e.g. ``("hours", 3600.0)``; missing -> seconds."""
    name, _, per, _ = _duration_unit(max_seconds)
    return name, per


def _duration_unit(seconds) -> tuple[str, str, float, float]:
    if _missing(seconds):
        return DURATION_UNITS[-1]
    return next(unit for unit in DURATION_UNITS if abs(float(seconds)) >= unit[3])


def format_duration(seconds) -> str:
    """Seconds as a short human duration in the unit :func:`duration_unit` picks for it:
    ``90`` -> ``"90 s"``, ``5400`` -> ``"90.0 min"``, ``7200`` -> ``"2.0 h"``,
    ``345600`` -> ``"4.0 days"``; missing -> ``"–"``."""
    if _missing(seconds):
        return MISSING
    _, short, per, _ = _duration_unit(seconds)
    decimals = 0 if per == 1.0 else 1
    return f"{format_number(float(seconds) / per, decimals)} {short}"


def _utc(value) -> pd.Timestamp:
    """A timestamp as naive UTC (naive input is UTC already, as stored)."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def format_period(start, grain: str) -> str:
    """The name of the period starting at ``start`` (naive = UTC), in UTC: month
    ``"Mar 2025"``, week (starting Monday) ``"6 Jan 2025"``, day ``"6 Jan 2025"``; missing
    -> ``"–"``.  The same text labels the axis and the tooltip."""
    if grain not in PERIOD_GRAINS:
        raise ValueError(f"The period '{grain}' is not one of {', '.join(PERIOD_GRAINS)}.")
    if start is None or pd.isna(start):
        return MISSING
    ts = _utc(start)
    if grain == "month":
        return ts.strftime("%b %Y")
    return f"{ts.day} {ts.strftime('%b %Y')}"
