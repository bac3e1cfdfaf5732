"""The emotion lane: values from -2 to +2, typed in or derived from a score (the rules are in
docs/metrics.md), parsed from and written as text."""
from __future__ import annotations

import math
import re

from cxdata.maps.journey_map import EMOTION_MAX, EMOTION_MIN, clean_text


_NUMBER = re.compile(r"^\s*([+\-\u2212]?\d+(?:[.,]\d+)?)")


def clip_emotion(value: float) -> float:
    """Clip to the emotion scale −2…+2."""
    return max(EMOTION_MIN, min(EMOTION_MAX, value))


def emotion_from_score(metric: str, value: float | None) -> float | None:
    """SPEC §5: emotion (−2…+2) from a stage's score.

    ``csat``: the CSAT *mean* (1–5) − 3; ``nps``: the NPS (−100…100) / 50; ``ces``: (the
    CES mean (1–7) − 4) · ⅔.  Clipped to −2…+2; None when there is no value.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if metric == "csat":
        raw = value - 3.0
    elif metric == "nps":
        raw = value / 50.0
    elif metric == "ces":
        raw = (value - 4.0) * 2.0 / 3.0
    else:
        raise ValueError(f"No emotion rule for {metric!r}; use csat, nps or ces.")
    return clip_emotion(raw)


def parse_emotion(text: str | None) -> float | None:
    """The emotion value at the start of a cell ("+1 relieved", "−1.5", "2"), clipped
    to −2…+2; None when the cell does not start with a number."""
    match = _NUMBER.match(clean_text(text))
    if not match:
        return None
    number = match.group(1).replace("\u2212", "-").replace(",", ".")
    return clip_emotion(float(number))


def emotion_label(text: str | None) -> str:
    """The words after an emotion cell's number ("+1 relieved" -> "relieved")."""
    cleaned = clean_text(text)
    match = _NUMBER.match(cleaned)
    return cleaned[match.end():].strip() if match else cleaned


def format_emotion(value: float) -> str:
    """"+1", "-0.5", "0": signed, at most one decimal, ASCII minus (re-parseable)."""
    value = round(clip_emotion(value), 1)
    if value == 0:
        return "0"
    text = f"{value:+.1f}"
    return text[:-2] if text.endswith(".0") else text
