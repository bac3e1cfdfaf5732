"""Tests for cxdata.formatting, the one formatter: every expected text is worked out by hand
from the rule in the function's docstring."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from cxdata.presentation import charts

from cxdata import formatting as fmt

MINUS = "\u2212"


def test_minus_is_typographic_and_zero_has_no_sign():
    assert fmt.MINUS == "−" == MINUS
    assert fmt.typographic_minus("-12") == "−12"
    assert fmt.typographic_minus("+12") == "+12"
    assert fmt.typographic_minus("a-b") == "a-b"        # only a leading minus is a sign
    # -0.04 rounds to 0.0: no minus sign, "0.0", not "−0.0".
    assert fmt.format_number(-0.04, 1) == "0.0"
    assert fmt.format_number(-1234.56, 1) == "−1,234.6"
    assert fmt.format_number(3, 0, signed=True) == "+3"
    assert fmt.format_number(-0.2, 0, signed=True) == "+0"


@pytest.mark.parametrize("value, expected", [
    (1234567, "1,234,567"), (0, "0"), (-3, "−3"), (12.0, "12"),
    (None, "–"), (float("nan"), "–"), (pd.NA, "–"),
])
def test_format_count(value, expected):
    assert fmt.format_count(value) == expected


@pytest.mark.parametrize("fraction, digits, expected", [
    (0.456, 1, "45.6%"),
    (0.15, 1, "15.0%"),
    (1.0, 1, "100.0%"),
    (0.0839, 0, "8%"),
    (-0.05, 1, "−5.0%"),              # a difference of −5 points
    (-0.0001, 1, "0.0%"),             # −0.01% rounds to 0.0: no minus
    (float("nan"), 1, "–"),
    (None, 1, "–"),
])
def test_format_percent(fraction, digits, expected):
    assert fmt.format_percent(fraction, digits) == expected


@pytest.mark.parametrize("metric, value, expected", [
    ("nps", 12.4, "+12"),
    ("nps", -12.4, "−12"),
    ("nps", -3.6, "−4"),
    ("nps", -0.3, "+0"),              # rounds to zero: no minus sign
    ("csat", 84.2, "84%"),
    ("ces", 5.2, "5.20"),
    ("ces", -0.001, "0.00"),
    ("nps", None, "–"),
])
def test_format_score(metric, value, expected):
    assert fmt.format_score(metric, value) == expected


def test_intervals_differences_and_secondary_figures():
    assert fmt.format_interval("nps", -25.0, 5.0) == "−25 … +5"
    assert fmt.format_interval("csat", 72.4, None) == "72% … –"
    # NPS/CSAT differences: one decimal and "points"; CES: two decimals, no unit.
    assert fmt.format_difference("nps", -3.46) == "−3.5 points"
    assert fmt.format_difference("csat", 12.0) == "+12.0 points"
    assert fmt.format_difference("ces", -0.254) == "−0.25"
    assert fmt.format_difference("nps", float("nan")) == "–"
    assert fmt.format_difference_interval("nps", -1.24, 4.0) == "−1.2 … +4.0"
    # CSAT's mean rating with two decimals; CES's % easy as a whole percent.
    assert fmt.format_secondary("csat", 3.914) == "3.91"
    assert fmt.format_secondary("ces", 55.5) == "56%"
    assert fmt.format_secondary("nps", 10.0) == "–"


@pytest.mark.parametrize("p, expected", [
    (1.9e-36, "p < 0.001"),           # not "1.9e-36"
    (0.000999, "p < 0.001"),
    (0.001, "p = 0.001"),             # three decimals below 0.01
    (0.0042, "p = 0.004"),
    (0.03, "p = 0.03"),
    (0.0312, "p = 0.03"),
    (0.5, "p = 0.50"),
    (1.0, "p = 1.00"),
    # 0.0496 rounds to 0.05 at two and three decimals, which would read as "not below
    # 5%"; four decimals keep it below: 0.0496.
    (0.0496, "p = 0.0496"),
    (0.05, "p = 0.05"),
    (0.0504, "p = 0.05"),             # 0.05 is not below 5% either: no contradiction
    (float("nan"), "p = –"),
    (None, "p = –"),
])
def test_format_p(p, expected):
    assert fmt.format_p(p) == expected


@pytest.mark.parametrize("seconds, expected", [
    (None, ("seconds", 1.0)), (90, ("seconds", 1.0)),
    (120, ("minutes", 60.0)),            # 2 minutes is the first "minutes" value
    (7199, ("minutes", 60.0)), (7200, ("hours", 3600.0)),
    (3 * 86400 - 1, ("hours", 3600.0)), (3 * 86400, ("days", 86400.0)),
])
def test_duration_unit_boundaries(seconds, expected):
    assert fmt.duration_unit(seconds) == expected


@pytest.mark.parametrize("seconds, expected", [
    (90, "90 s"),
    (119.4, "119 s"),
    (120, "2.0 min"),                 # 120 s / 60
    (5400, "90.0 min"),               # 5400 s / 60
    (7200, "2.0 h"),                  # 7200 s / 3600
    (4 * 86400, "4.0 days"),          # 345600 s / 86400
    (None, "–"),
])
def test_format_duration_uses_the_unit_of_duration_unit(seconds, expected):
    assert fmt.format_duration(seconds) == expected
    if seconds is not None:
        unit, per = fmt.duration_unit(seconds)
        short = {"seconds": "s", "minutes": "min", "hours": "h", "days": "days"}[unit]
        assert expected.endswith(f" {short}")
        # Whole seconds, else one decimal: off by at most half the last digit.
        half_digit = 0.5 if per == 1.0 else 0.05
        assert math.isclose(float(expected.split()[0]), seconds / per, abs_tol=half_digit)


@pytest.mark.parametrize("start, grain, expected", [
    (pd.Timestamp("2025-03-01"), "month", "Mar 2025"),
    (pd.Timestamp("2025-01-06"), "week", "6 Jan 2025"),
    (pd.Timestamp("2024-12-30"), "week", "30 Dec 2024"),
    (pd.Timestamp("2025-01-06"), "day", "6 Jan 2025"),
    # An aware instant is named in UTC: 1 Mar 00:00 in Kolkata is 28 Feb 18:30 UTC.
    (pd.Timestamp("2025-03-01 00:00", tz="Asia/Kolkata"), "month", "Feb 2025"),
    (pd.Timestamp("2025-03-01 00:00", tz="UTC"), "month", "Mar 2025"),
    (pd.NaT, "month", "–"),
])
def test_format_period_names_periods_in_utc(start, grain, expected):
    assert fmt.format_period(start, grain) == expected


def test_format_period_rejects_an_unknown_grain():
    with pytest.raises(ValueError, match="day, week, month"):
        fmt.format_period(pd.Timestamp("2025-03-01"), "quarter")


def test_charts_use_the_formatting_definitions():
    # One definition: the names charts (and pages through charts) use are the same objects.
    for name in ("format_count", "format_percent", "format_score", "format_duration",
                 "duration_unit", "format_p", "format_interval", "format_difference",
                 "format_difference_interval", "format_period", "format_secondary"):
        assert getattr(charts, name) is getattr(fmt, name), name
