"""Turning one Excel cell into a typed value, or a message saying why it cannot be.

Registers are typed by hand: numbers arrive as text, dates as text in two or three formats, ids as numbers. Each
converter accepts what a person plausibly meant and refuses the rest with the value quoted.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta

from ic3_pipeline.register.columns import ALLOWED_CRITICALITY, RegisterColumn


class CellError(ValueError):
    """A cell that cannot be read as its column's type; the message is shown to the user."""


DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%d-%b-%Y", "%d %b %Y", "%Y/%m/%d")
EXCEL_EPOCH = date(1899, 12, 30)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CRITICALITY = {value.casefold(): value for value in ALLOWED_CRITICALITY}


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def convert(column: RegisterColumn, value: object) -> object:
    """The typed value for ``column``; ``None`` for a blank cell."""
    if is_blank(value):
        return None
    if column.kind == "int":
        return _bounded(column, _to_int(value))
    if column.kind == "float":
        return _bounded(column, _to_float(value))
    if column.kind == "date":
        return _to_date(value)
    text = _to_text(value)
    if column.max_length and len(text) > column.max_length:
        raise CellError(f"is {len(text)} characters long; at most {column.max_length} fit")
    if column.name == "criticality":
        return _criticality(text)
    return text


def _criticality(text: str) -> str:
    """The allowed value in its stored spelling, whatever the case; anything else refuses the file, like any other
    bad cell: a criticality no report or filter knows is a typo to fix in the register, not a value to keep."""
    try:
        return _CRITICALITY[text.casefold()]
    except KeyError:
        allowed = ", ".join(ALLOWED_CRITICALITY[:-1]) + f" or {ALLOWED_CRITICALITY[-1]}"
        raise CellError(f"{text!r} is not a criticality ({allowed}, any case)") from None


def _to_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # an id typed as 1001 arrives as 1001.0
    if isinstance(value, datetime | date):
        value = value.isoformat()
    return _CONTROL.sub("", str(value)).strip()


def _to_float(value: object) -> float:
    if isinstance(value, bool):
        raise CellError(f"{value!r} is not a number")
    if isinstance(value, int | float):
        number = float(value)
    else:
        try:
            number = float(str(value).strip().replace(",", ""))
        except ValueError:
            raise CellError(f"{str(value)!r} is not a number") from None
    if not math.isfinite(number):
        raise CellError(f"{str(value)!r} is not a finite number")
    return number


def _to_int(value: object) -> int:
    number = _to_float(value)
    if not number.is_integer():
        raise CellError(f"{value!r} is not a whole number")
    return int(number)


def _bounded(column: RegisterColumn, number: float | int) -> float | int:
    if column.bounds and not column.bounds[0] <= number <= column.bounds[1]:
        low, high = column.bounds
        raise CellError(f"{number:g} is out of range ({low:g} to {high:g})")
    return number


def _to_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 1 <= value < 2958466:  # Excel serial day numbers (1900-01-01 .. 9999-12-31)
            return EXCEL_EPOCH + timedelta(days=int(value))
        raise CellError(f"{value!r} is not a date")
    text = str(value).strip()
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        raise CellError(f"{text!r} is not a date (use YYYY-MM-DD or DD/MM/YYYY)") from None
