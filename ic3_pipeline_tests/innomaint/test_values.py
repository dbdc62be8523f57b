"""The readers for the API's loosely typed values (ic3_pipeline.connectors.innomaint.values).

Every reader maps null, a missing key, "" (or blanks) and the string "null" to None — never to 0 — and raises
BadValue quoting the offending value for anything it cannot read.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import pytest

from ic3_pipeline.connectors.innomaint.values import (
    BadValue,
    day_first_datetime,
    duration_hours,
    integer,
    money,
    number,
    text,
)

READERS = [text, integer, number, money, duration_hours, day_first_datetime]
BLANKS = [None, "", "   ", "\t\n", "null", "NULL", "None"]


@pytest.mark.parametrize("blank", BLANKS, ids=repr)
@pytest.mark.parametrize("reader", READERS, ids=lambda reader: reader.__name__)
def test_blank_values_read_as_none_never_zero(reader, blank):
    assert reader(blank) is None


def cases(*rows):
    """pytest params whose test id is the input's repr (so a failing case names its value)."""
    return [pytest.param(*row, id=repr(row[0])) for row in rows]


# --- text ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "expected"),
    cases(
        ("JWIL", "JWIL"),
        (" padded ", " padded "),  # kept verbatim
        ("00:08:30", "00:08:30"),
        ("0", "0"),  # a zero is a value, not a blank
        (0, "0"),
        (5, "5"),
        (1.5, "1.5"),
        ("L&T O&M", "L&T O&M"),
    ),
)
def test_text(raw, expected):
    assert text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    cases(
        ({"name": "x"}, "expected text, got dict"),
        (["x"], "expected text, got list"),
    ),
)
def test_text_refuses_structures(raw, message):
    with pytest.raises(BadValue) as caught:
        text(raw)
    assert str(caught.value) == message


# --- integer ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "expected"),
    cases(
        (5, 5),
        (0, 0),
        ("5", 5),
        ("0", 0),
        ("5.0", 5),
        ("5.", 5),
        (" 7 ", 7),
        ("+12", 12),
        ("-3", -3),
        (5.0, 5),
        (True, 1),
        (False, 0),
        (577833, 577833),
        # Ids sent as strings must survive exactly, also beyond a float's 53-bit mantissa.
        ("9007199254740993", 9007199254740993),
        ("12345678901234567890", 12345678901234567890),
    ),
)
def test_integer(raw, expected):
    value = integer(raw)
    assert value == expected
    assert type(value) is int


@pytest.mark.parametrize(
    ("raw", "message"),
    cases(
        ("5.5", "'5.5' is not a whole number"),
        (5.5, "5.5 is not a whole number"),
        ("five", "'five' is not a whole number"),
        ("abc", "'abc' is not a whole number"),
        ("1,520", "'1,520' is not a whole number"),
        ("1e3", "'1e3' is not a whole number"),
        ("99%", "'99%' is not a whole number"),
        ("12 34", "'12 34' is not a whole number"),
        ({"id": 1}, "{'id': 1} is not a whole number"),
        ([1], "[1] is not a whole number"),
        (float("nan"), "nan is not a whole number"),
        (float("inf"), "inf is not a whole number"),
    ),
)
def test_integer_refuses(raw, message):
    with pytest.raises(BadValue) as caught:
        integer(raw)
    assert str(caught.value) == message


# --- number -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "expected"),
    cases(
        ("100", 100.0),
        (100, 100.0),
        ("0", 0.0),
        (0, 0.0),
        ("99.87", 99.87),
        ("99.87%", 99.87),
        (" 99.87 % ", 99.87),
        (99.87, 99.87),
        ("1,520.50", 1520.5),
        (".5", 0.5),
        ("-2.5", -2.5),
        ("5.0", 5.0),
    ),
)
def test_number(raw, expected):
    value = number(raw)
    assert value == pytest.approx(expected)
    assert type(value) is float


@pytest.mark.parametrize(
    ("raw", "message"),
    cases(
        (True, "True is not a number"),
        (False, "False is not a number"),
        ("abc", "'abc' is not a number"),
        ("n/a", "'n/a' is not a number"),
        ("%", "'%' is not a number"),
        ("1.2.3", "'1.2.3' is not a number"),
        ("NaN", "'NaN' is not a number"),
        ({"pct": 1}, "{'pct': 1} is not a number"),
        # JSON literals Python's json module accepts: a typed column must never hold NaN or infinity.
        (json.loads("NaN"), "nan is not a number"),
        (json.loads("Infinity"), "inf is not a number"),
        (json.loads("-Infinity"), "-inf is not a number"),
    ),
)
def test_number_refuses(raw, message):
    with pytest.raises(BadValue) as caught:
        number(raw)
    assert str(caught.value) == message


# --- money --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "expected"),
    cases(
        ("0.00", "0.00"),
        ("0", "0.00"),
        (0, "0.00"),
        ("1,520.50", "1520.50"),
        ("1234.5", "1234.50"),
        (" 42.10 ", "42.10"),
        (12, "12.00"),
        (0.1, "0.10"),
        ("18519.44", "18519.44"),
    ),
)
def test_money(raw, expected):
    value = money(raw)
    assert isinstance(value, Decimal)
    assert str(value) == expected  # exact, two places, no float rounding


@pytest.mark.parametrize(
    ("raw", "message"),
    cases(
        ("abc", "'abc' is not an amount"),
        ("₹100", "'₹100' is not an amount"),
        (True, "True is not an amount"),
        ({"cost": 1}, "{'cost': 1} is not an amount"),
        (["1"], "['1'] is not an amount"),
        ("NaN", "'NaN' is not an amount"),
        ("Infinity", "'Infinity' is not an amount"),
        # Too large to hold to the cent in Decimal's default 28 digits: BadValue, not decimal.InvalidOperation.
        ("1e30", "'1e30' is not an amount"),
    ),
)
def test_money_refuses(raw, message):
    with pytest.raises(BadValue) as caught:
        money(raw)
    assert str(caught.value) == message


# --- duration_hours -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "expected"),
    cases(
        ("0", 0.0),
        (0, 0.0),
        ("00:00:00", 0.0),
        ("00:08:30", 8.5 / 60),
        ("00:17:00", 17 / 60),
        ("8526:06:43", 8526 + 6 / 60 + 43 / 3600),  # hours past 24 never roll over into days
        ("17052:30:27", 17052.5075),
        ("24:00:00", 24.0),
        ("100:00:00", 100.0),
        ("12:5:9", 12 + 5 / 60 + 9 / 3600),  # single-digit minutes and seconds
        ("1:00:00", 1.0),
        (" 01:30:00 ", 1.5),
        ("00:00:30.9", 30.9 / 3600),  # fractional seconds count (PostgreSQL interval text carries them)
        ("12.5", 12.5),  # a bare number is already hours
        (3, 3.0),
    ),
)
def test_duration_hours(raw, expected):
    value = duration_hours(raw)
    assert value == pytest.approx(expected, abs=1e-6)
    assert type(value) is float


@pytest.mark.parametrize(
    ("raw", "message"),
    cases(
        ("abc", "'abc' is not a duration (H:MM:SS)"),
        ("12:60:00", "'12:60:00' is not a duration (H:MM:SS)"),
        ("12:00:60", "'12:00:60' is not a duration (H:MM:SS)"),
        ("12:30", "'12:30' is not a duration (H:MM:SS)"),
        ("1:2:3:4", "'1:2:3:4' is not a duration (H:MM:SS)"),
        ("-1:00:00", "'-1:00:00' is not a duration (H:MM:SS)"),
        ("8526h", "'8526h' is not a duration (H:MM:SS)"),
        ("1 day 02:00:00", "'1 day 02:00:00' is not a duration (H:MM:SS)"),
        (True, "True is not a duration (H:MM:SS)"),
        ({"h": 1}, "{'h': 1} is not a duration (H:MM:SS)"),
        (float("nan"), "nan is not a duration (H:MM:SS)"),
    ),
)
def test_duration_hours_refuses(raw, message):
    with pytest.raises(BadValue) as caught:
        duration_hours(raw)
    assert str(caught.value) == message


# --- day_first_datetime -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "expected"),
    cases(
        ("09/07/2024 16:59", datetime(2024, 7, 9, 16, 59)),  # 9 July, not 7 September
        ("13/01/2024 00:00", datetime(2024, 1, 13, 0, 0)),
        ("31/12/2025 23:59", datetime(2025, 12, 31, 23, 59)),
        ("29/02/2024 08:00", datetime(2024, 2, 29, 8, 0)),
        ("09/07/2024 16:59:30", datetime(2024, 7, 9, 16, 59, 30)),
        ("09/07/2024", datetime(2024, 7, 9)),
        (" 09/07/2024 16:59 ", datetime(2024, 7, 9, 16, 59)),
    ),
)
def test_day_first_datetime(raw, expected):
    assert day_first_datetime(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    cases(
        ("07/13/2024 10:00", "'07/13/2024 10:00' is not a DD/MM/YYYY HH:MM date"),  # month 13: month-first is refused
        ("2024-07-09 16:59", "'2024-07-09 16:59' is not a DD/MM/YYYY HH:MM date"),
        ("31/02/2024 10:00", "'31/02/2024 10:00' is not a DD/MM/YYYY HH:MM date"),
        ("29/02/2023 10:00", "'29/02/2023 10:00' is not a DD/MM/YYYY HH:MM date"),
        ("09/07/2024 25:00", "'09/07/2024 25:00' is not a DD/MM/YYYY HH:MM date"),
        ("00/00/0000 00:00", "'00/00/0000 00:00' is not a DD/MM/YYYY HH:MM date"),
        ("yesterday", "'yesterday' is not a DD/MM/YYYY HH:MM date"),
        (20240709, "20240709 is not a DD/MM/YYYY HH:MM date"),
    ),
)
def test_day_first_datetime_refuses(raw, message):
    with pytest.raises(BadValue) as caught:
        day_first_datetime(raw)
    assert str(caught.value) == message


def test_bad_value_is_a_value_error():
    assert issubclass(BadValue, ValueError)
