"""The OData V2 query options the SAP PM simulator understands: ``$filter``, ``$select``, ``$orderby`` and the
``/Date(…)/`` literals, kept apart from the server so the grammar can be read (and tested) on its own.

Built from ``shared/reference/other-cmms-apis.md`` and the OData V2 conventions SAP Gateway follows; nothing here may
import the product's client code.

``$filter``: conditions joined by ``and`` (no ``or``, no parentheses, no functions), each ``Property op literal`` with
``eq ne gt ge lt le``. A literal must match the property's type as SAP Gateway insists: ``'text'`` (``''`` escapes a
quote) for Edm.String, ``datetimeoffset'2025-03-01T13:00:00Z'`` for Edm.DateTimeOffset, ``datetime'2025-03-01T13:00:00'``
for Edm.DateTime, ``true``/``false`` for Edm.Boolean; a mismatch is an error naming the operator and position.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

EDM_STRING, EDM_DATETIME, EDM_DATETIMEOFFSET, EDM_BOOLEAN = "Edm.String", "Edm.DateTime", "Edm.DateTimeOffset", \
    "Edm.Boolean"
Row = dict[str, Any]  # property -> Python value (datetime, str, bool, None)

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le,
}
_CONDITION = re.compile(
    r"\s*(?P<prop>[A-Za-z_]\w*)\s+(?P<op>eq|ne|gt|ge|lt|le)\s+"
    r"(?P<literal>datetimeoffset'[^']*'|datetime'[^']*'|'(?:[^']|'')*'|true|false|null)\s*",
)


class ODataQueryError(ValueError):
    """A query option SAP Gateway would refuse; the message is the one the error envelope carries."""


def date_literal(ms: int, offset: bool) -> str:
    """``/Date(ms)/`` (Edm.DateTime) or ``/Date(ms+0000)/`` (Edm.DateTimeOffset, always UTC here)."""
    return f"/Date({ms}+0000)/" if offset else f"/Date({ms})/"


def to_json(value: Any, edm: str) -> Any:
    """A Python value as the V2 JSON format writes it (dates as ``/Date(…)/``, the rest unchanged)."""
    if value is None or edm not in (EDM_DATETIME, EDM_DATETIMEOFFSET):
        return value
    return date_literal(int(value.timestamp() * 1000), edm == EDM_DATETIMEOFFSET)


def _parse_literal(text: str, edm: str, op: str, position: int) -> Any:
    def refuse() -> ODataQueryError:
        return ODataQueryError(f"Invalid parametertype used at function '{op}' (Position: {position})")

    if text == "null":
        return None
    if text.startswith("datetimeoffset'"):
        if edm != EDM_DATETIMEOFFSET:
            raise refuse()
        raw = text[len("datetimeoffset'"):-1]
        try:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise ODataQueryError(f"Invalid datetimeoffset literal '{raw}' (Position: {position})") from None
        if value.tzinfo is None:
            raise ODataQueryError(f"Invalid datetimeoffset literal '{raw}': an offset or Z is required "
                                  f"(Position: {position})")
        return value
    if text.startswith("datetime'"):
        if edm != EDM_DATETIME:
            raise refuse()
        raw = text[len("datetime'"):-1]
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise ODataQueryError(f"Invalid datetime literal '{raw}' (Position: {position})") from None
        if value.tzinfo is not None:
            raise ODataQueryError(f"Invalid datetime literal '{raw}': Edm.DateTime takes no offset "
                                  f"(Position: {position})")
        return value.replace(tzinfo=timezone.utc)
    if text in ("true", "false"):
        if edm != EDM_BOOLEAN:
            raise refuse()
        return text == "true"
    if edm != EDM_STRING:
        raise refuse()
    return text[1:-1].replace("''", "'")


def parse_filter(text: str | None, schema: dict[str, str]) -> list[Callable[[Row], bool]]:
    """``$filter`` -> tests on a row's Python values (all must pass)."""
    if text is None or not text.strip():
        return []
    tests: list[Callable[[Row], bool]] = []
    position = 0
    for part in re.split(r"(\s+and\s+)", text):
        if re.fullmatch(r"\s+and\s+", part):
            position += len(part)
            continue
        match = _CONDITION.fullmatch(part)
        if match is None:
            raise ODataQueryError(f"Invalid filter expression: '{part.strip()}' (Position: {position})")
        prop, op, literal = match.group("prop"), match.group("op"), match.group("literal")
        if prop not in schema:
            raise ODataQueryError(f"Property {prop} not found in type (Position: {position})")
        value = _parse_literal(literal, schema[prop], op, position + match.start("op"))
        compare = _OPS[op]
        if op in ("eq", "ne"):
            tests.append(lambda row, p=prop, c=compare, v=value: c(row[p], v))
        else:
            tests.append(lambda row, p=prop, c=compare, v=value: row[p] is not None and v is not None
                         and c(row[p], v))
        position += len(part)
    return tests


def parse_select(text: str | None, schema: dict[str, str]) -> list[str]:
    """``$select`` -> the properties in answer (schema) order; all without it."""
    if text is None or not text.strip() or text.strip() == "*":
        return list(schema)
    wanted = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in schema]
    if unknown:
        raise ODataQueryError(f"Property {unknown[0]} not found in type")
    return [name for name in schema if name in wanted]


def parse_orderby(text: str | None, schema: dict[str, str]) -> list[tuple[str, bool]]:
    """``$orderby`` -> (property, descending) pairs."""
    if text is None or not text.strip():
        return []
    order = []
    for term in text.split(","):
        words = term.split()
        if not 1 <= len(words) <= 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise ODataQueryError(f"Invalid $orderby expression: '{term.strip()}'")
        if words[0] not in schema:
            raise ODataQueryError(f"Property {words[0]} not found in type")
        order.append((words[0], len(words) == 2 and words[1] == "desc"))
    return order
