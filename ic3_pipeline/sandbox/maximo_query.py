"""The query language of Maximo's OSLC collections, as the simulator understands it.

From ``shared/reference/maximo-api.md`` alone (the product's client must not be imported here):

- ``oslc.select``: ``*`` (every attribute, no children), ``a,b``, nested children ``child{*}`` / ``child{a,b}``.
  Names the object structure lacks are ignored, as Maximo does.
- ``oslc.where``: terms joined by ``and``: ``attr="text"``, ``attr>="2024-03-05T09:50:00-05:00"``, numbers bare,
  operators ``= != > >= < <=``, ``attr in ["A","B"]``; ``%`` inside a quoted value makes ``=``/``!=`` a
  case-insensitive LIKE; ``"*"`` matches any non-null value. Dates compare as instants (offsets parsed).
  A comparison with a null attribute is false, as in SQL.
- ``oslc.orderBy``: ``+a,-b``; every attribute needs its sign (an unencoded ``+`` arrives as a space and is refused).
  Ascending puts nulls last, descending first (Oracle's order); ties keep insertion order.

Mistakes raise ``QueryError`` with the message the server returns in its 400 ``Error`` envelope.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ic3_pipeline.sandbox.maximo_data import SITE_ZONE


class QueryError(ValueError):
    """A query Maximo would refuse with 400; ``reason_code`` is its BMXAA code."""

    def __init__(self, reason_code: str, message: str) -> None:
        super().__init__(message)
        self.reason_code = reason_code


@dataclass
class Selection:
    """What ``oslc.select`` asked for: ``attrs`` None means all attributes; children by name."""

    attrs: frozenset[str] | None = None
    children: dict[str, Selection] = field(default_factory=dict)


def parse_select(text: str | None, attributes: Collection[str], children: Collection[str]) -> Selection | None:
    """The selection, or None when the request had no ``oslc.select`` (members then carry their href only)."""
    if text is None:
        return None
    attrs: set[str] = set()
    every = False
    chosen: dict[str, Selection] = {}
    for item in _split_top(text.strip(), ","):
        item = item.strip()
        if not item:
            continue
        name, _, inner = item.partition("{")
        name = name.strip().lower()
        if inner:
            if not inner.endswith("}"):
                raise QueryError("BMXAA8739E", f"BMXAA8739E - The oslc.select clause {text!r} is not valid.")
            if name in children:
                chosen[name] = _child_selection(inner[:-1])
        elif name == "*":
            every = True
        elif name in attributes:
            attrs.add(name)
    return Selection(None if every else frozenset(attrs), chosen)


def _child_selection(text: str) -> Selection:
    names = [n.strip().lower() for n in _split_top(text, ",") if n.strip()]
    if "*" in names:
        return Selection(None)
    return Selection(frozenset(n.partition("{")[0] for n in names))


def _split_top(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside braces, brackets and double quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "{[":
            depth += 1
        elif not quoted and char in "}]":
            depth -= 1
        elif not quoted and depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            start = i + len(separator)
    parts.append(text[start:])
    return parts


Predicate = Callable[[dict[str, Any]], bool]

_TERM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|!=|=|>|<|\s+in\s+)\s*(.*?)\s*$", re.IGNORECASE | re.DOTALL)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}


def parse_where(text: str | None, attributes: Collection[str]) -> list[Predicate]:
    """One predicate per ``and``-joined term; a record matches when all hold."""
    if not text or not text.strip():
        return []
    return [_term(term, attributes, text) for term in _split_and(text)]


def _split_and(text: str) -> list[str]:
    """Split on `` and `` outside quotes and brackets."""
    terms, start, depth, quoted = [], 0, 0, False
    i = 0
    while i < len(text):
        char = text[i]
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "[":
            depth += 1
        elif not quoted and char == "]":
            depth -= 1
        elif not quoted and depth == 0 and (match := _AND.match(text, i)):
            terms.append(text[start:i])
            start = i = match.end()
            continue
        i += 1
    terms.append(text[start:])
    return terms


def _term(term: str, attributes: Collection[str], whole: str) -> Predicate:
    match = _TERM.match(term)
    if not match:
        raise QueryError("BMXAA8736E", f"BMXAA8736E - The oslc.where clause {whole!r} is not valid near {term!r}.")
    attr, op, raw = match.group(1).lower(), match.group(2).strip().lower(), match.group(3)
    if attr not in attributes:
        raise _unknown_attribute(attr)
    if op == "in":
        if not (raw.startswith("[") and raw.endswith("]")):
            raise QueryError("BMXAA8736E", f"BMXAA8736E - The in list {raw!r} must be enclosed in [ ].")
        options = [_literal(part.strip(), whole) for part in _split_top(raw[1:-1], ",") if part.strip()]
        return lambda values: any(_matches(values.get(attr), "=", option) for option in options)
    literal = _literal(raw, whole)
    return lambda values: _matches(values.get(attr), op, literal)


@dataclass(frozen=True)
class _Literal:
    text: str
    quoted: bool


def _literal(raw: str, whole: str) -> _Literal:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"' and '"' not in raw[1:-1]:
        return _Literal(raw[1:-1], True)
    if _NUMBER.match(raw) or raw.lower() in ("true", "false"):
        return _Literal(raw, False)
    raise QueryError("BMXAA8736E", f"BMXAA8736E - The oslc.where clause {whole!r} has an invalid value {raw!r}; "
                                   "strings and dates must be in double quotes.")


def _matches(value: Any, op: str, literal: _Literal) -> bool:
    """SQL-like: null never matches; ``%`` is LIKE; dates as instants; numbers as numbers; else text."""
    if value is None:
        return False
    if literal.quoted and literal.text == "*" and op in ("=", "!="):
        return op == "="
    if literal.quoted and "%" in literal.text and op in ("=", "!="):
        pattern = "^" + ".*".join(re.escape(p) for p in literal.text.split("%")) + "$"
        found = re.match(pattern, str(value), re.IGNORECASE | re.DOTALL) is not None
        return found if op == "=" else not found
    target = _coerce(value, literal)
    return _COMPARE[op](comparable(value), target)


def _coerce(value: Any, literal: _Literal) -> Any:
    try:
        if isinstance(value, (datetime, date)):
            return parse_instant(literal.text)
        if isinstance(value, bool):
            return literal.text.lower() in ("1", "true", "y")
        if isinstance(value, (int, float)):
            return float(literal.text)
    except ValueError as exc:
        raise QueryError("BMXAA8736E", f"BMXAA8736E - {literal.text!r} is not a valid value here: {exc}.") from None
    return literal.text


def comparable(value: Any) -> Any:
    """A value in the form comparisons and sorting use: dates as aware datetimes (instants)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=SITE_ZONE)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=SITE_ZONE)
    return value


def parse_instant(text: str) -> datetime:
    """An ISO 8601 date or datetime; with its offset when given, else in the server's zone (as Maximo reads it)."""
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=SITE_ZONE)


@dataclass(frozen=True)
class Ordering:
    attribute: str
    descending: bool


def parse_order(text: str | None, attributes: Collection[str]) -> list[Ordering]:
    """``+a,-b`` as orderings; a missing sign (often an unencoded ``+``) or an unknown attribute is refused."""
    if not text:
        return []
    orderings = []
    for part in text.split(","):
        if not part or part[0] not in "+-":
            raise QueryError("BMXAA8737E", f"BMXAA8737E - The oslc.orderBy clause {text!r} is not valid: each "
                                           "attribute needs + or - (URL-encode + as %2B).")
        attr = part[1:].strip().lower()
        if attr not in attributes:
            raise _unknown_attribute(attr)
        orderings.append(Ordering(attr, part[0] == "-"))
    return orderings


def sort_rows(rows: list[Any], orderings: Sequence[Ordering], value_of: Callable[[Any, str], Any]) -> list[Any]:
    """Stable multi-key sort: ascending nulls last, descending nulls first; ties keep the given order."""
    ordered = list(rows)
    for ordering in reversed(orderings):
        def key(row: Any, attr: str = ordering.attribute) -> tuple[int, Any]:
            value = value_of(row, attr)
            return (1, 0) if value is None else (0, comparable(value))
        ordered.sort(key=key, reverse=ordering.descending)
    return ordered


def _unknown_attribute(attr: str) -> QueryError:
    return QueryError("BMXAA3020E", f"BMXAA3020E - The attribute {attr!r} does not exist in the object structure.")
