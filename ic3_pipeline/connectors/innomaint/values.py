"""Reading the API's loosely typed values: numbers sent as strings, durations past 24 hours, empty strings for null.

Each reader returns ``None`` for null, a missing key or an empty string (never 0: an unknown MTTR is not a zero
MTTR), and raises :class:`BadValue` with the offending value for anything it cannot read.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation


class BadValue(ValueError):
    """A value that is not what its field promises; the caller prefixes the field's path."""


_DURATION = re.compile(r"^(\d+):([0-5]?\d):([0-5]?\d(?:\.\d+)?)$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_DAY_FIRST = re.compile(r"^(\d{2})/(\d{2})/(\d{4}) (\d{2}):(\d{2})$")  # DD/MM/YYYY HH:MM


_BLANKS = frozenset(("", "null", "NULL", "None"))


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip() in _BLANKS)


def text(value: object) -> str | None:
    if value.__class__ is str:  # the common case, without the general checks below
        return None if value.strip() in _BLANKS else value
    if _blank(value):
        return None
    if isinstance(value, dict | list):
        raise BadValue(f"expected text, got {type(value).__name__}")
    return str(value) if not isinstance(value, str) else value


def integer(value: object) -> int | None:
    """``5``, ``"5"``, ``"5.0"``, ``True`` → 5; ``"5.5"`` or ``"five"`` → BadValue."""
    if value.__class__ is int:  # the common case first
        return value
    if _blank(value):
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        number = Decimal(value.strip())  # not float: ids past 2**53 must stay exact
        if number == number.to_integral_value():
            return int(number)
    raise BadValue(f"{value!r} is not a whole number")


def number(value: object) -> float | None:
    """``"99.87"``, ``"99.87%"``, ``100`` → float."""
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise BadValue(f"{value!r} is not a number")
    if isinstance(value, int | float) and math.isfinite(value):  # JSON NaN / Infinity are not numbers
        return float(value)
    if isinstance(value, str):
        cleaned = value.strip().rstrip("%").replace(",", "").strip()
        if _NUMBER.match(cleaned):
            return float(cleaned)
    raise BadValue(f"{value!r} is not a number")


def money(value: object) -> Decimal | None:
    if _blank(value):
        return None
    if isinstance(value, bool) or isinstance(value, dict | list):
        raise BadValue(f"{value!r} is not an amount")
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
        if amount.is_finite():
            return amount.quantize(Decimal("0.01"))  # raises InvalidOperation past 28 digits
    except InvalidOperation:
        pass
    raise BadValue(f"{value!r} is not an amount")


def duration_hours(value: object) -> float | None:
    """``"8526:06:43"`` → 8526.112 (hours); a bare number (``"0"``, ``"12.5"``) is already hours."""
    if _blank(value):
        return None
    raw = str(value).strip()
    match = _DURATION.match(raw)
    if match:
        hours, minutes, seconds = int(match[1]), int(match[2]), float(match[3])
        return round(hours + minutes / 60 + seconds / 3600, 6)
    if _NUMBER.match(raw):
        return float(raw)
    raise BadValue(f"{value!r} is not a duration (H:MM:SS)")


def day_first_datetime(value: object) -> datetime | None:
    """``"09/07/2024 16:59"`` → 2024-07-09 16:59 (the API writes DD/MM/YYYY HH:MM)."""
    if _blank(value):
        return None
    raw = str(value).strip()
    exact = _DAY_FIRST.match(raw)
    if exact:  # the API's usual form, read without strptime (a third of the parse time otherwise)
        try:
            return datetime(*(int(exact[group]) for group in (3, 2, 1, 4, 5)))
        except ValueError:
            pass  # e.g. 31/02: the formats below refuse it too, and say so
    for fmt in ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y"):
        try:
            return datetime.strptime(raw, fmt)
        except ValueError:
            continue
    raise BadValue(f"{value!r} is not a DD/MM/YYYY HH:MM date")
