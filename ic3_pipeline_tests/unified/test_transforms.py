"""Every transform a field mapping can apply: what it makes of good values, and the message a bad one gets (the
message that lands in cmms_mapping_error); and every mistake in a step caught when the mapping is built."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from ic3_pipeline.sync.transforms import TRANSFORMS, TransformError, build_step

UTC = timezone.utc


def apply(step, value):
    return build_step(step)(value)


def failure(step, value) -> TransformError:
    with pytest.raises(TransformError) as raised:
        apply(step, value)
    return raised.value


GOOD = [
    ("int", "42", 42), ("int", " -7 ", -7), ("int", 3.0, 3), ("int", "12.00", 12), ("int", 5, 5),
    ("float", "2.5", 2.5), ("float", 3, 3.0), ("float", Decimal("1.25"), 1.25),
    ("decimal", "10.125", Decimal("10.125")), ({"decimal": 2}, "10.125", Decimal("10.12")), ({"decimal": 0}, 7, Decimal("7")),
    ("bool", "Yes", True), ("bool", "off", False), ("bool", 1, True), ("bool", "F", False), ("bool", True, True),
    ("string", 12, "12"), ("string", 1.5, "1.5"),
    ("trim", "  pump  ", "pump"), ("lower", "INPRG", "inprg"), ("upper", "inprg", "INPRG"),
    ({"replace": {"old": "-", "new": ""}}, "AB-12-3", "AB123"), ({"replace": {"old": " "}}, "a b", "ab"),
    ({"extract": r"(\d+)"}, "WO-00042 pump", "00042"), ({"extract": r"[A-Z]+"}, "x ABC y", "ABC"),
    ({"split": {"separator": ","}}, "a,b,c", "a"), ({"split": {"separator": ",", "index": -1}}, "a,b,c", "c"),
    ({"map": {"WAPPR": "open", 1: "one"}}, "WAPPR", "open"), ({"map": {1: "one"}}, "1", "one"),
    ({"map": {"1": "one"}}, 1, "one"), ({"map": {"A": "a"}, "default": "other"}, "Z", "other"),
    ({"bands": {800: 1, 600: 2, 0: 5}}, 650, 2), ({"bands": {800: 1, 600: 2, 0: 5}}, "999", 1),
    ({"bands": {800: 1, 600: 2, 0: 5}}, 0, 5), ({"multiply": 24}, "1.5", 36.0),
]


@pytest.mark.parametrize(("step", "value", "expected"), GOOD, ids=[f"{i}-{g[0]}" for i, g in enumerate(GOOD)])
def test_a_transform_converts_good_values(step, value, expected):
    result = apply(step, value)
    assert result == expected and type(result) is type(expected)


def test_none_passes_every_step_unchanged():
    for name in ("int", "float", "decimal", "bool", "string", "trim", "lower", "upper", "date"):
        assert apply(name, None) is None


DATES = [
    ("date", "2024-03-05T09:50:00-05:00", datetime(2024, 3, 5, 14, 50, tzinfo=UTC)),
    ("date", "2024-03-05T09:50:00Z", datetime(2024, 3, 5, 9, 50, tzinfo=UTC)),
    ("date", "2024-03-05T09:50:00+0530", datetime(2024, 3, 5, 4, 20, tzinfo=UTC)),
    ("date", "2024-03-05 09:50:00", datetime(2024, 3, 5, 9, 50, tzinfo=UTC)),  # no offset: UTC
    ("date", "2024-03-05", datetime(2024, 3, 5, tzinfo=UTC)),
    ("date", "/Date(1700000000000)/", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
    # OData V2 with an offset: the milliseconds are the instant, the offset only the sender's local zone
    ("date", "/Date(1700000000000+0100)/", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
    ("date", "/Date(1700000000000+0000)/", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
    ("date", "/Date(-86400000)/", datetime(1969, 12, 31, tzinfo=UTC)),
    ({"date": "odata"}, "/Date(1700000000000-0500)/", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
    ({"date": "epoch_s"}, 1700000000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
    ({"date": "epoch_s"}, "1700000000.5", datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)),
    ({"date": "epoch_ms"}, 1700000000123, datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)),
    ({"date": "%d/%m/%Y %H:%M"}, "05/03/2024 09:50", datetime(2024, 3, 5, 9, 50, tzinfo=UTC)),
    ({"date": {"format": "%d/%m/%Y %H:%M", "tz": "+05:30"}}, "05/03/2024 09:50", datetime(2024, 3, 5, 4, 20, tzinfo=UTC)),
    ({"date": {"format": "%d/%m/%Y %H:%M", "tz": "Europe/Berlin"}}, "05/07/2024 09:50",
     datetime(2024, 7, 5, 7, 50, tzinfo=UTC)),  # summer time: +02:00
    ({"date": {"format": "iso", "tz": "America/New_York"}}, "2024-01-05T09:50:00", datetime(2024, 1, 5, 14, 50, tzinfo=UTC)),
    ({"date": {"tz": "+01:00"}}, "2024-01-05T09:50:00-05:00", datetime(2024, 1, 5, 14, 50, tzinfo=UTC)),  # own offset wins
    ({"date": "%Y%m%d%z"}, "20240305+0100", datetime(2024, 3, 4, 23, 0, tzinfo=UTC)),
]


@pytest.mark.parametrize(("step", "value", "expected"), DATES, ids=[str(d[1]) for d in DATES])
def test_dates_come_out_as_utc(step, value, expected):
    result = apply(step, value)
    assert result == expected and result.tzinfo == UTC


BAD = [  # (step, value, the transform the error names, the message)
    ("int", "12a", "int", "'12a' is not a whole number"),
    ("int", 2.5, "int", "2.5 is not a whole number"),
    ("int", True, "int", "True is a boolean, not a whole number"),
    ("float", "n/a", "float", "'n/a' is not a number"),
    ("decimal", "1,5", "decimal", "'1,5' is not a decimal number"),
    ("decimal", "NaN", "decimal", "'NaN' is not a decimal number"),
    ("bool", "maybe", "bool", "'maybe' is not a yes/no value (true/false, yes/no, 1/0, on/off)"),
    ("bool", 2, "bool", "2 is not a yes/no value"),
    ("string", {"a": 1}, "string", "{'a': 1} is a record, not a single value: give a path to one of its fields"),
    ("string", [1], "string", "[1] is a list, not a single value"),
    ("trim", {"a": 1}, "trim", "{'a': 1} is not text"),
    ("lower", [1], "lower", "[1] is not text"),
    ("upper", True, "upper", "True is not text"),
    ("date", "05/03/2024", "date", "'05/03/2024' is not a date in ISO 8601 or OData /Date(ms)/ form"),
    ("date", "/Date(abc)/", "date", "'/Date(abc)/' is not a date in ISO 8601 or OData /Date(ms)/ form"),
    ("date", 1700000000, "date", "1700000000 is not a date written as text (ISO 8601 or OData /Date(ms)/ form)"),
    ({"date": "odata"}, "2024-03-05", "date", "'2024-03-05' is not a date in OData /Date(ms)/ form"),
    ({"date": "%d/%m/%Y"}, "2024-03-05", "date", "'2024-03-05' is not a date in the format %d/%m/%Y"),
    ({"date": "epoch_ms"}, "yesterday", "date", "'yesterday' is not a number of milliseconds since 1970"),
    ({"date": "epoch_s"}, 1e20, "date", "1e+20 seconds since 1970 is out of range"),
    ({"replace": {"old": "-", "new": ""}}, [1], "replace", "[1] is not text"),
    ({"extract": r"WO-(\d+)"}, "PM-12", "extract", "'PM-12' does not match 'WO-(\\\\d+)'"),
    ({"split": {"separator": ",", "index": 3}}, "a,b", "split", "'a,b' has 2 part(s) separated by ',', no part 3"),
    ({"map": {"WAPPR": "open"}}, "WX", "map", "'WX' is not in the map (WAPPR) and the map has no default"),
    ({"bands": {800: 1, 200: 4}}, 100, "bands", "100 is below the lowest band (200)"),
    ({"bands": {800: 1, 0: 5}}, "high", "float", "'high' is not a number"),
    ({"multiply": 2}, "x", "multiply", "'x' is not a number"),
]


@pytest.mark.parametrize(("step", "value", "transform", "message"), BAD, ids=[f"{i}-{b[2]}" for i, b in enumerate(BAD)])
def test_a_value_a_transform_cannot_convert_is_an_error_saying_why(step, value, transform, message):
    error = failure(step, value)
    assert error.transform == transform
    assert message in str(error), str(error)
    assert error.value == value


MISTAKES = [  # a step written wrongly: refused when the mapping is built, whatever the data
    ("trimm", "unknown transform 'trimm'; the transforms are: bands, bool, date"),
    ({"regex": "(x)"}, "unknown transform 'regex'"),
    ("extract", "transform 'extract' needs an argument, e.g. {extract: '(\\d+)'}"),
    ({"extract": "(unclosed"}, "bad regular expression '(unclosed': missing ), unterminated subpattern"),
    ({"date": "dd/mm/yyyy"}, "date format 'dd/mm/yyyy' is neither one of auto, iso, odata, epoch_s, epoch_ms"),
    ({"date": "%Q"}, "date format '%Q' is not a valid strptime format"),
    ({"date": {"format": "iso", "tz": "Mars/Olympus"}}, "unknown time zone 'Mars/Olympus'"),
    ({"date": {"fmt": "iso"}}, "date: unknown key 'fmt' (it takes format, tz)"),
    ({"decimal": "two"}, "decimal: the argument is the number of decimal places (0-18)"),
    ({"replace": {"new": "x"}}, "replace: `old` is required"),
    ({"split": {"separator": ""}}, "split: the separator must not be empty"),
    ({"split": {"separator": ",", "index": "last"}}, "split: `index` must be a whole number"),
    ({"map": ["A"]}, "map step: `map` must be a mapping of source value -> value"),
    ({"map": {"A": "a"}, "else": "b"}, "map step: unknown key 'else' (it takes map and default)"),
    ({"bands": {"high": 1}}, "bands: every key must be a number (the band's lower bound)"),
    ({"bands": {}}, "bands: give at least one lower bound"),
    ({"multiply": "2"}, "multiply: the argument is a number"),
    ({"int": True}, "transform 'int' takes no argument; write it as a bare name"),
    ({"trim": None, "lower": None}, "a step has one key (the transform's name), not trim, lower"),
    (["trim"], "a step is a name"),
]


@pytest.mark.parametrize(("step", "message"), MISTAKES, ids=[str(m[0])[:30] for m in MISTAKES])
def test_a_step_written_wrongly_is_refused_when_built(step, message):
    with pytest.raises(ValueError) as raised:
        build_step(step)
    assert message in str(raised.value), str(raised.value)


def test_every_transform_is_tested_here():
    used = {step if isinstance(step, str) else next(iter(step)) for step, *_ in GOOD + DATES}
    failed = {step if isinstance(step, str) else next(iter(step)) for step, *_ in BAD}
    assert used == failed == set(TRANSFORMS)
