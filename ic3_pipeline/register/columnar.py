"""Typing a register a column at a time: the common cells in one tight pass, every other cell through ``cells.convert``.

A register is mostly plain values: text without control characters, numbers that are floats, dates that calamine has
already decoded. Those are typed here in list comprehensions over a whole column of a chunk of rows, several times
faster than a function call per cell. Any cell that is not plainly one of those (a number typed as text, a date
written as ``04/03/2021``, an over-long or out-of-range value, a control character) is marked and typed by
:func:`ic3_pipeline.register.cells.convert`, the one place that decides what a cell means and words its errors, so the
values and messages are exactly those of typing each cell on its own.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import date, datetime

from ic3_pipeline.register.cells import _CRITICALITY, CellError, convert
from ic3_pipeline.register.columns import RegisterColumn

# Marks a cell the fast pass did not type; never a cell value (calamine yields str, float, int, bool, dates, times).
_SLOW = object()
_LARGEST = sys.float_info.max
KNOWN_LIMIT = 50_000  # distinct texts remembered per repeated column (a few MB)


def convert_column(
    column: RegisterColumn, values: Sequence[object], known: dict[str, object] | None = None
) -> tuple[list[object], dict[int, str]]:
    """``column``'s typed values for ``values`` (``None`` for blank cells and for cells that cannot be typed), and
    the message for each cell that cannot, by position.

    ``known`` (text columns whose values repeat: sites, customers, models…) maps cell texts already typed by the fast
    pass to their typed value; it is filled as cells are typed and kept by the caller across chunks, so each distinct
    text is typed once, and equal cells share one typed object.
    """
    if known is not None and column.kind == "text":
        typed = _known_text(column, values, known)
    else:
        typed = _FAST[column.kind](column, values)
    errors: dict[int, str] = {}
    if _SLOW in typed:
        for position, value in enumerate(typed):
            if value is _SLOW:
                try:
                    typed[position] = convert(column, values[position])
                except CellError as error:
                    typed[position] = None
                    errors[position] = str(error)
    return typed, errors


def _fast_text(column: RegisterColumn, values: Sequence[object]) -> list[object]:
    # isprintable() is False for every character cells.convert removes (and for tabs and newlines, which it keeps:
    # those cells take the slow path and come out the same).
    limit = column.max_length or sys.maxsize
    typed = [
        (None if not (text := value.strip()) else text if len(text) <= limit else _SLOW)
        if value.__class__ is str and value.isprintable()
        else (None if value is None else _SLOW)
        for value in values
    ]
    if column.name == "criticality":
        # A value that is not a criticality takes the slow path, which refuses it with the register's message.
        typed = [_CRITICALITY.get(value.casefold(), _SLOW) if value.__class__ is str else value for value in typed]
    return typed


def _known_text(column: RegisterColumn, values: Sequence[object], known: dict[str, object]) -> list[object]:
    # Only text cells are looked up: a number, a bool and a date never equal a str, so a cell is never taken for
    # another kind of cell that compares equal to it (1 == 1.0 == True).
    new = [value for value in set(values) if value.__class__ is str and value not in known]
    if len(known) + len(new) > KNOWN_LIMIT:  # a column that does not repeat after all: type its cells as they come
        return _fast_text(column, values)
    for value, typed in zip(new, _fast_text(column, new)):
        if typed is not _SLOW:
            known[value] = typed
    return [
        known.get(value, _SLOW) if value.__class__ is str else (None if value is None else _SLOW) for value in values
    ]


def _fast_float(column: RegisterColumn, values: Sequence[object]) -> list[object]:
    low, high = column.bounds or (-_LARGEST, _LARGEST)  # NaN and infinities fail the comparison: slow path
    return [
        value if value.__class__ is float and low <= value <= high else (None if value == "" or value is None else _SLOW)
        for value in values
    ]


def _fast_int(column: RegisterColumn, values: Sequence[object]) -> list[object]:
    low, high = column.bounds or (-_LARGEST, _LARGEST)
    return [
        int(value)
        if value.__class__ is float and value.is_integer() and low <= value <= high
        else (None if value == "" or value is None else _SLOW)
        for value in values
    ]


def _fast_date(column: RegisterColumn, values: Sequence[object]) -> list[object]:
    return [
        value
        if value.__class__ is date
        else value.date()
        if value.__class__ is datetime
        else (None if value == "" or value is None else _SLOW)
        for value in values
    ]


_FAST = {"text": _fast_text, "float": _fast_float, "int": _fast_int, "date": _fast_date}
