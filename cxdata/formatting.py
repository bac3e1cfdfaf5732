"""Numbers as people read them: durations and scores in one style for the app, the
journey-map canvas and the report."""
from __future__ import annotations

import math

#: How each score metric is written: NPS as a signed whole number, CSAT as a whole
#: percentage, CES with two decimals (its 1–7 scale makes tenths matter).
SCORE_FORMATS: dict[str, tuple[str, int]] = {"nps": ("{:+.0f}", 0), "csat": ("{:.0f}%", 0),
                                             "ces": ("{:.2f}", 2)}


def _missing(value) -> bool:
    if value is None:
        return True
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return True


def format_duration(seconds) -> str:
    """Seconds as a short human duration: ``90`` -> ``"90 s"``, ``5400`` -> ``"90.0 min"``,
    ``7200`` -> ``"2.0 h"``; missing -> ``"–"``."""
    if _missing(seconds):
        return "–"
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def format_score(metric: str, value) -> str:
    """A score in its metric's display format (NPS ``+12``, CSAT ``84%``, CES ``5.20``);
    missing -> ``"–"``. A value that rounds to zero is written without a minus sign."""
    if _missing(value):
        return "–"
    pattern, decimals = SCORE_FORMATS[metric]
    # round() keeps the sign of a negative zero; adding 0.0 turns -0.0 into 0.0.
    return pattern.format(round(float(value), decimals) + 0.0)
