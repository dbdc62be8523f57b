"""The steps a field mapping applies to a source value: casts, dates, string operations, value maps and bands.

A step is built once, when the mapping loads (``build_step``), from what the YAML says: a bare name (``trim``) or a
one-key mapping (``{date: "%d/%m/%Y"}``). Building checks everything that can be checked without data — the step's
name, its arguments, a regular expression, a date format, a time zone — so a mistake fails when the definitions load.
Applying a step to a value either returns the converted value or raises :class:`TransformError` saying, in words a
person can act on, why this value could not be converted; the mapper records that and leaves the record out.

``None`` passes through every step unchanged (a missing value stays missing; ``default`` and ``required`` decide).
Dates always come out as timezone-aware UTC datetimes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

TRUE_WORDS = frozenset({"true", "yes", "y", "1", "on", "t"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "off", "f"})
_ODATA_DATE = re.compile(r"^/Date\((-?\d+)(?:([+-])(\d{2}):?(\d{2}))?\)/$")
_FIXED_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
_SHOWN = 80  # characters of a value a message quotes


class TransformError(ValueError):
    """A value one step could not convert: ``transform`` names the step, the message says why."""

    def __init__(self, transform: str, value: Any, message: str):
        super().__init__(message)
        self.transform = transform
        self.value = value


@dataclass(frozen=True)
class Step:
    """One built step: its name (what an error names) and the function applying it."""

    name: str
    apply: Callable[[Any], Any]

    def __call__(self, value: Any) -> Any:
        if value is None:
            return None
        return self.apply(value)


def shown(value: Any) -> str:
    """A value as a message quotes it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


# --- casts --------------------------------------------------------------------------------------------------------------


def to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TransformError("int", value, f"{shown(value)} is a boolean, not a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        if re.fullmatch(r"[+-]?\d+\.0*", text):
            return int(text.split(".")[0])
    raise TransformError("int", value, f"{shown(value)} is not a whole number")


def to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TransformError("float", value, f"{shown(value)} is a boolean, not a number")
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise TransformError("float", value, f"{shown(value)} is not a number")


def to_decimal(places: int | None) -> Callable[[Any], Decimal]:
    quantum = Decimal(1).scaleb(-places) if places is not None else None

    def convert(value: Any) -> Decimal:
        if isinstance(value, bool):
            raise TransformError("decimal", value, f"{shown(value)} is a boolean, not a number")
        try:
            number = Decimal(value.strip()) if isinstance(value, str) else Decimal(str(value)) if isinstance(
                value, (int, float)) else value if isinstance(value, Decimal) else None
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise TransformError("decimal", value, f"{shown(value)} is not a decimal number")
        return number.quantize(quantum) if quantum is not None else number

    return convert


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise TransformError("bool", value, f"{shown(value)} is not a yes/no value (true/false, yes/no, 1/0, on/off)")


def to_string(value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise TransformError("string", value, f"{shown(value)} is a {'list' if isinstance(value, list) else 'record'}, "
                                              "not a single value: give a path to one of its fields")
    if isinstance(value, datetime):
        return value.isoformat()
    return value if isinstance(value, str) else str(value)


# --- dates --------------------------------------------------------------------------------------------------------------


def time_zone(name: str) -> timezone | ZoneInfo:
    """``UTC``, a fixed offset (``+05:30``) or an IANA zone name (``Europe/Berlin``); ValueError otherwise."""
    if name.upper() in ("UTC", "Z"):
        return timezone.utc
    fixed = _FIXED_OFFSET.match(name)
    if fixed:
        sign = -1 if fixed.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(fixed.group(2)), minutes=int(fixed.group(3))))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use UTC, an offset such as +05:30, or a name such as "
                         "Europe/Berlin)") from None


def _utc(parsed: datetime, zone: Any) -> datetime:
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(timezone.utc)


def parse_iso(value: str, zone: Any = timezone.utc) -> datetime:
    """ISO 8601 (``2024-03-05T09:50:00-05:00``, ``…Z``, ``…+0530``, a date alone), as UTC; no offset: ``zone``."""
    try:  # the common forms (offsets, Z) in one call; the others are normalised first
        return _utc(datetime.fromisoformat(value), zone)
    except ValueError:
        pass
    text = value.strip()
    if len(text) > 10 and text[10] == " ":
        text = text[:10] + "T" + text[11:]
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if re.search(r"T.*[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    return _utc(datetime.fromisoformat(text), zone)


def parse_odata(value: str) -> datetime:
    """OData V2 JSON dates: ``/Date(1700000000000)/`` and ``/Date(1700000000000+0100)/``.

    The milliseconds count from 1970-01-01 UTC and already are the instant; the offset only says which local time the
    sender showed (the Microsoft JSON date convention OData V2 follows), so it does not move the instant."""
    match = _ODATA_DATE.match(value.strip())
    if not match:
        raise ValueError("not an OData date")
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=int(match.group(1)))


def _epoch(value: Any, scale: int, name: str) -> datetime:
    if isinstance(value, bool):
        raise TransformError(name, value, f"{shown(value)} is a boolean, not a number of {_UNITS[scale]}")
    number: float | None = None
    if isinstance(value, (int, float, Decimal)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None:
        raise TransformError(name, value, f"{shown(value)} is not a number of {_UNITS[scale]} since 1970")
    try:
        return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=number / scale)
    except OverflowError:
        raise TransformError(name, value, f"{shown(value)} {_UNITS[scale]} since 1970 is out of range") from None


_UNITS = {1: "seconds", 1000: "milliseconds"}
DATE_KEYWORDS = ("auto", "iso", "odata", "epoch_s", "epoch_ms")


def date_step(fmt: str = "auto", tz: str = "UTC") -> Callable[[Any], datetime]:
    """A date parser: ``auto`` (ISO 8601 or OData), ``iso``, ``odata``, ``epoch_s``, ``epoch_ms`` or a strptime
    format; ``tz`` is the zone of values that carry no offset. Raises ValueError for a bad format or zone."""
    zone = time_zone(tz)
    if fmt not in DATE_KEYWORDS:
        if "%" not in fmt:
            raise ValueError(f"date format {fmt!r} is neither one of {', '.join(DATE_KEYWORDS)} nor a strptime "
                             "format (such as %d/%m/%Y %H:%M)")
        try:
            sample = datetime(2001, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
            datetime.strptime(sample.strftime(fmt), fmt)
        except ValueError as error:
            raise ValueError(f"date format {fmt!r} is not a valid strptime format: {error}") from None

    def parse(value: Any) -> datetime:
        if isinstance(value, datetime):
            return _utc(value, zone)
        if fmt == "epoch_s":
            return _epoch(value, 1, "date")
        if fmt == "epoch_ms":
            return _epoch(value, 1000, "date")
        if not isinstance(value, str):
            raise TransformError("date", value, f"{shown(value)} is not a date written as text ({_expected(fmt)})")
        try:
            if fmt == "odata" or (fmt == "auto" and value.lstrip().startswith("/Date(")):
                return parse_odata(value)
            if fmt in ("auto", "iso"):
                return parse_iso(value, zone)
            return _utc(datetime.strptime(value.strip(), fmt), zone)
        except (ValueError, OverflowError):
            raise TransformError("date", value, f"{shown(value)} is not a date in {_expected(fmt)}") from None

    return parse


def _expected(fmt: str) -> str:
    return {"auto": "ISO 8601 or OData /Date(ms)/ form", "iso": "ISO 8601 form", "odata": "OData /Date(ms)/ form"}.get(
        fmt, f"the format {fmt}")


# --- strings ------------------------------------------------------------------------------------------------------------


def _text(name: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return str(value)
    raise TransformError(name, value, f"{shown(value)} is not text")


def compile_regex(pattern: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ValueError(f"bad regular expression {pattern!r}: {error}") from None


def extract_step(pattern: str) -> Callable[[Any], str]:
    """The first group of the first match (the whole match when the pattern has no group)."""
    regex = compile_regex(pattern)

    def extract(value: Any) -> str:
        found = regex.search(_text("extract", value))
        if found is None:
            raise TransformError("extract", value, f"{shown(value)} does not match {pattern!r}")
        return found.group(1) if regex.groups else found.group(0)

    return extract


def split_step(separator: str, index: int) -> Callable[[Any], str | None]:
    if not separator:
        raise ValueError("split: the separator must not be empty")

    def split(value: Any) -> str | None:
        parts = _text("split", value).split(separator)
        try:
            return parts[index]
        except IndexError:
            raise TransformError("split", value, f"{shown(value)} has {len(parts)} part(s) separated by "
                                                  f"{separator!r}, no part {index}") from None

    return split


# --- maps and bands -----------------------------------------------------------------------------------------------------

_NO_DEFAULT = object()


def map_key(value: Any) -> str:
    """How a value is looked up in a map: as text, so YAML's ``1:`` matches a 1 or a "1" sent by the API."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def map_step(table: Mapping[Any, Any], default: Any = _NO_DEFAULT) -> Callable[[Any], Any]:
    """Replace a value by its entry; a value without one takes ``default``, or is an error when there is none."""
    entries = {map_key(key): target for key, target in table.items()}

    def lookup(value: Any) -> Any:
        key = map_key(value)
        if key in entries:
            return entries[key]
        if default is not _NO_DEFAULT:
            return default
        known = ", ".join(list(entries)[:12]) + (", …" if len(entries) > 12 else "")
        raise TransformError("map", value, f"{shown(value)} is not in the map ({known}) and the map has no default")

    return lookup


def bands_step(bands: Mapping[Any, Any]) -> Callable[[Any], Any]:
    """A number to the value of the highest lower bound it reaches: ``{800: 1, 600: 2, 0: 5}`` makes 650 a 2."""
    try:
        ordered = sorted(((float(bound), target) for bound, target in bands.items()), key=lambda item: -item[0])
    except (TypeError, ValueError):
        raise ValueError("bands: every key must be a number (the band's lower bound)") from None
    if not ordered:
        raise ValueError("bands: give at least one lower bound")

    def band(value: Any) -> Any:
        number = to_float(value) if not isinstance(value, (int, float)) or isinstance(value, bool) else value
        for bound, target in ordered:
            if number >= bound:
                return target
        raise TransformError("bands", value, f"{shown(value)} is below the lowest band ({ordered[-1][0]:g})")

    return band


def multiply_step(factor: float) -> Callable[[Any], float]:
    def multiply(value: Any) -> float:
        try:
            return to_float(value) * factor
        except TransformError:
            raise TransformError("multiply", value, f"{shown(value)} is not a number") from None

    return multiply


# --- building a step from the YAML --------------------------------------------------------------------------------------

NO_ARGUMENT = {
    "int": to_int, "float": to_float, "bool": to_bool, "string": to_string, "trim": None, "lower": None,
    "upper": None, "decimal": None, "date": None,
}
WITH_ARGUMENT = ("decimal", "date", "replace", "extract", "split", "map", "bands", "multiply")
TRANSFORMS = tuple(sorted({*NO_ARGUMENT, *WITH_ARGUMENT}))


def build_step(raw: Any) -> Step:
    """A step from its YAML form; ValueError naming the problem when it is not one."""
    if isinstance(raw, str):
        return _bare(raw)
    if not isinstance(raw, Mapping) or not raw:
        raise ValueError(f"a step is a name ({', '.join(NO_ARGUMENT)}) or a one-key mapping such as "
                         "{date: '%d/%m/%Y'}, not " + shown(raw))
    names = list(raw)
    name = str(names[0])
    if name == "map":
        extra = [str(key) for key in names if key not in ("map", "default")]
        if extra:
            raise ValueError(f"map step: unknown key {extra[0]!r} (it takes map and default)")
        if not isinstance(raw["map"], Mapping):
            raise ValueError("map step: `map` must be a mapping of source value -> value")
        return Step("map", map_step(raw["map"], raw["default"] if "default" in raw else _NO_DEFAULT))
    if len(names) != 1:
        raise ValueError(f"a step has one key (the transform's name), not {', '.join(map(str, names))}")
    if name not in TRANSFORMS:
        raise ValueError(f"unknown transform {name!r}; the transforms are: {', '.join(TRANSFORMS)}")
    return _with_argument(name, raw[name])


def _bare(name: str) -> Step:
    if name not in NO_ARGUMENT:
        if name in TRANSFORMS:
            raise ValueError(f"transform {name!r} needs an argument, e.g. {_EXAMPLES[name]}")
        raise ValueError(f"unknown transform {name!r}; the transforms are: {', '.join(TRANSFORMS)}")
    if name == "trim":
        return Step(name, lambda value: _text("trim", value).strip())
    if name == "lower":
        return Step(name, lambda value: _text("lower", value).lower())
    if name == "upper":
        return Step(name, lambda value: _text("upper", value).upper())
    if name == "decimal":
        return Step(name, to_decimal(None))
    if name == "date":
        return Step(name, date_step())
    return Step(name, NO_ARGUMENT[name])


_EXAMPLES = {
    "replace": "{replace: {old: '-', new: ''}}", "extract": r"{extract: '(\d+)'}",
    "split": "{split: {separator: ',', index: 0}}", "map": "{map: {A: active}, default: other}",
    "bands": "{bands: {800: 1, 0: 5}}", "multiply": "{multiply: 24}",
}


def _with_argument(name: str, argument: Any) -> Step:
    if name == "decimal":
        if not isinstance(argument, int) or isinstance(argument, bool) or not 0 <= argument <= 18:
            raise ValueError("decimal: the argument is the number of decimal places (0-18)")
        return Step(name, to_decimal(argument))
    if name == "date":
        if isinstance(argument, str):
            return Step(name, date_step(argument))
        options = _options(name, argument, required=(), allowed=("format", "tz"))
        return Step(name, date_step(str(options.get("format", "auto")), str(options.get("tz", "UTC"))))
    if name == "replace":
        options = _options(name, argument, required=("old",), allowed=("old", "new"))
        old, new = str(options["old"]), str(options.get("new") or "")
        if not old:
            raise ValueError("replace: `old` must not be empty")
        return Step(name, lambda value: _text("replace", value).replace(old, new))
    if name == "extract":
        if not isinstance(argument, str):
            raise ValueError("extract: the argument is a regular expression")
        return Step(name, extract_step(argument))
    if name == "split":
        options = _options(name, argument, required=("separator",), allowed=("separator", "index"))
        index = options.get("index", 0)
        if not isinstance(index, int) or isinstance(index, bool):
            raise ValueError("split: `index` must be a whole number (0 is the first part, -1 the last)")
        return Step(name, split_step(str(options["separator"]), index))
    if name == "map":  # reached only through build_step's own branch
        raise AssertionError
    if name == "bands":
        if not isinstance(argument, Mapping):
            raise ValueError(f"bands: the argument is a mapping of lower bound -> value, e.g. {_EXAMPLES['bands']}")
        return Step(name, bands_step(argument))
    if name == "multiply":
        if not isinstance(argument, (int, float)) or isinstance(argument, bool):
            raise ValueError("multiply: the argument is a number")
        return Step(name, multiply_step(float(argument)))
    raise ValueError(f"transform {name!r} takes no argument; write it as a bare name")


def _options(name: str, argument: Any, *, required: tuple[str, ...], allowed: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(argument, Mapping):
        raise ValueError(f"{name}: the argument is a mapping with {', '.join(allowed)}, e.g. {_EXAMPLES.get(name, '')}")
    unknown = [str(key) for key in argument if key not in allowed]
    if unknown:
        raise ValueError(f"{name}: unknown key {unknown[0]!r} (it takes {', '.join(allowed)})")
    missing = [key for key in required if key not in argument]
    if missing:
        raise ValueError(f"{name}: `{missing[0]}` is required")
    return argument
