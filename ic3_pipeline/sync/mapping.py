"""Declarative field mappings: how a stream's records become rows of a unified table (``warehouse.unified_tables``).

A stream's ``unified:`` block in its source's YAML names the table and, per unified column, where the value comes
from (a dotted path into the record, a constant, a concatenation, conditions, a lookup into a master) and what
happens to it on the way (``steps``, then a value ``map``, then a ``default``). It is validated twice over: its
shape by the pydantic models of ``sync.mapping_spec``, its meaning (the table and columns exist, a normalised column is only ever
given one of its values, a lookup names a real master column) by :func:`compile_mapping`, which raises
:class:`MappingConfigError` with the key path of the mistake, so the component can name the YAML line.

At run time :meth:`RecordMapping.map_record` turns one record into one row, or into the list of every field it
could not convert (never half a row). Lookups are the one part that needs the database: they are collected per
record and resolved for a whole page at once by the writer (``sync.unified_writer``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError

from ic3_pipeline.sync.transforms import (
    Step,
    TransformError,
    build_step,
    compile_regex,
    map_key,
    map_step,
    shown,
    to_bool,
    to_float,
    to_int,
    to_string,
    parse_iso,
)
from ic3_pipeline.sync.mapping_spec import (
    ConditionSpec,
    ConstPart,
    FieldSpec,
    LookupRule,
    LookupSpec,
    MappingConfigError,
    Scalar,
    UnifiedMappingSpec,
)
from ic3_pipeline.warehouse.unified_tables import UNIFIED_COLUMNS, UnifiedColumn

SOURCE_ID = "source_id"

__all__ = ["MappingConfigError", "RecordMapping", "compile_mapping", "get_path"]


# --- the compiled mapping -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldFailure:
    """One field of one record that could not be converted."""

    field: str
    value: Any
    transform: str
    message: str


class _Failed(Exception):
    def __init__(self, transform: str, value: Any, message: str):
        super().__init__(message)
        self.transform, self.value, self.message = transform, value, message


@dataclass(frozen=True)
class PendingLookup:
    """A lookup of one record: per rule, the value to match (None when the record has none)."""

    values: tuple[str | None, ...]


@dataclass(frozen=True)
class Lookup:
    master: str
    key_column: str
    rules: tuple[tuple[str, Callable[[Mapping[str, Any], dict[str, Any]], Any]], ...]  # (master column, value)
    ignore_case: bool


@dataclass
class MappedRecord:
    """A record's unified row (column -> value), or the fields it failed on; ``lookups``: column -> pending."""

    source_id: str | None
    row: dict[str, Any]
    failures: list[FieldFailure]
    lookups: dict[str, PendingLookup]




def get_path(record: Any, parts: tuple[str, ...]) -> Any:
    """The value at a dotted path (a number indexes a list); None when any part is missing."""
    value = record
    for part in parts:
        if type(value) is dict or isinstance(value, Mapping):  # the exact-type test first: the common, cheap case
            value = value.get(part)
        elif isinstance(value, list) and part.lstrip("-").isdigit():
            index = int(part)
            value = value[index] if -len(value) <= index < len(value) else None
        else:
            return None
        if value is None:
            return None
    return value


Evaluator = Callable[[Mapping[str, Any]], Any]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value == "")


def _compile_condition(spec: ConditionSpec) -> Callable[[Mapping[str, Any]], bool]:
    if spec.all is not None:
        parts = [_compile_condition(part) for part in spec.all]
        return lambda record: all(part(record) for part in parts)
    if spec.any is not None:
        parts = [_compile_condition(part) for part in spec.any]
        return lambda record: any(part(record) for part in parts)
    path = tuple(str(spec.path).split("."))
    fields = spec.model_fields_set
    if "exists" in fields:
        wanted = bool(spec.exists)
        return lambda record: (not _missing(get_path(record, path))) == wanted
    if "equals" in fields:
        target = None if spec.equals is None else map_key(spec.equals)
        return lambda record: (lambda value: (value is None and target is None) or (
            value is not None and map_key(value) == target))(get_path(record, path))
    if "matches" in fields:
        regex = compile_regex(str(spec.matches))
        return lambda record: (lambda value: value is not None and regex.search(str(value)) is not None)(
            get_path(record, path))
    members = {map_key(item) for item in (spec.in_ if "in_" in fields else spec.not_in) or () if item is not None}
    negate = "not_in" in fields

    def test(record: Mapping[str, Any]) -> bool:
        value = get_path(record, path)
        inside = value is not None and map_key(value) in members
        return not inside if negate else inside

    return test


def _compile_value(spec: FieldSpec | Scalar) -> Evaluator:
    """An evaluator for a field spec (or a bare constant): the value after steps, map and default."""
    if not isinstance(spec, FieldSpec):
        return lambda record: spec
    fields = spec.model_fields_set
    source: Evaluator
    if spec.path is not None:
        parts = tuple(spec.path.split("."))
        if len(parts) == 1:  # a top-level attribute, nearly always: no walk
            only = parts[0]
            source = lambda record: record.get(only)  # noqa: E731
        else:
            source = lambda record: get_path(record, parts)  # noqa: E731
    elif spec.concat is not None:
        pieces = [(None, part.const) if isinstance(part, ConstPart) else (tuple(part.split(".")), None)
                  for part in spec.concat]
        separator = spec.separator

        def source(record: Mapping[str, Any]) -> Any:
            texts = []
            for parts, constant in pieces:
                value = constant if parts is None else get_path(record, parts)
                if _missing(value):
                    return None  # a part missing: the whole is missing
                texts.append(to_string(value))
            return separator.join(texts)
    elif spec.when is not None:
        cases = [(_compile_condition(case.if_), _compile_value(case.then)) for case in spec.when]
        otherwise = _compile_value(spec.else_)

        def source(record: Mapping[str, Any]) -> Any:
            for condition, then in cases:
                if condition(record):
                    return then(record)
            return otherwise(record)
    elif "const" in fields:
        constant = spec.const
        source = lambda record: constant  # noqa: E731
    else:
        source = lambda record: None  # noqa: E731  (`default` alone)
    steps: list[Step] = [build_step(raw) for raw in spec.steps]
    mapper = map_step(spec.map, spec.default) if spec.map is not None and "default" in fields else (
        map_step(spec.map) if spec.map is not None else None)
    default = spec.default
    required = spec.required

    def evaluate(record: Mapping[str, Any]) -> Any:
        value = source(record)
        for step in steps:
            try:
                value = step(value)
            except TransformError as error:
                raise _Failed(error.transform, error.value, str(error)) from None
        if _missing(value):
            value = None
        elif mapper is not None:
            try:
                value = mapper(value)
            except TransformError as error:
                raise _Failed("map", error.value, str(error)) from None
        if value is None:
            value = default
        if value is None and required:
            raise _Failed("required", None, "is required but the record has no value for it")
        return value

    return evaluate


def _coerce(column: UnifiedColumn, table: str) -> Callable[[Any], Any]:
    """The final check: the value as the column stores it, or an error saying what the column holds."""
    transform = f"{table}.{column.name}"
    exact = {"text": str, "int": int, "float": float, "bool": bool, "datetime": datetime}[column.kind]

    def coerce(value: Any) -> Any:
        if value is None:
            return None
        if type(value) is exact and (exact is not datetime or value.tzinfo is timezone.utc) and column.allowed is None:
            return value  # already what the column stores (the common case): no conversion
        try:
            if column.kind == "text":
                stored: Any = to_string(value)
            elif column.kind == "int":
                stored = to_int(value)
            elif column.kind == "float":
                stored = to_float(value)
            elif column.kind == "bool":
                stored = to_bool(value)
            else:
                stored = _as_datetime(value)
        except TransformError as error:
            raise _Failed(transform, value, f"{error} (the column holds {_kind_words(column)})") from None
        if column.allowed is not None and stored not in column.allowed:
            raise _Failed(transform, value, f"{shown(value)} is not one of {', '.join(map(str, column.allowed))}: "
                                            "map it to one of them (a `map` with a `default`)")
        return stored

    return coerce


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    if isinstance(value, str):
        try:
            return parse_iso(value)
        except ValueError:
            pass
    raise TransformError("date", value, f"{shown(value)} is not an ISO 8601 date; add a `date` step with its format")


def _kind_words(column: UnifiedColumn) -> str:
    return {"text": "text", "int": "whole numbers", "float": "numbers", "bool": "true/false",
            "datetime": "dates"}[column.kind]


@dataclass
class RecordMapping:
    """A stream's compiled ``unified:`` block: what the engine calls for each record of a page."""

    table: str
    source_id: Evaluator
    fields: tuple[tuple[str, Evaluator, Callable[[Any], Any]], ...]  # (column, value, coerce)
    lookups: dict[str, tuple[Lookup, Callable[[Any], Any]]]  # column -> (lookup, coerce)

    @property
    def columns(self) -> tuple[str, ...]:
        return (*(name for name, _, _ in self.fields), *self.lookups)

    def map_record(self, record: Mapping[str, Any]) -> MappedRecord:
        failures: list[FieldFailure] = []
        source_id: str | None = None
        try:
            value = self.source_id(record)
            source_id = None if _missing(value) else to_string(value)
            if source_id is None:
                failures.append(FieldFailure(SOURCE_ID, None, "required", "the record has no value for source_id"))
        except (_Failed, TransformError) as error:
            failures.append(_failure(SOURCE_ID, error))
        row: dict[str, Any] = {}
        for name, evaluate, coerce in self.fields:
            try:
                row[name] = coerce(evaluate(record))
            except _Failed as error:
                failures.append(_failure(name, error))
        pending: dict[str, PendingLookup] = {}
        for name, (lookup, _) in self.lookups.items():
            values = []
            for _, value_of in lookup.rules:
                try:
                    value = value_of(record, row)
                except _Failed as error:
                    failures.append(_failure(name, error))
                    value = None
                text = None if _missing(value) else str(value).strip()
                values.append(text.lower() if text is not None and lookup.ignore_case else text)
            pending[name] = PendingLookup(tuple(values))
        return MappedRecord(source_id, row, failures, pending)


def _failure(name: str, error: _Failed | TransformError) -> FieldFailure:
    if isinstance(error, TransformError):
        return FieldFailure(name, error.value, error.transform, str(error))
    return FieldFailure(name, error.value, error.transform, error.message)


# --- compiling (and checking the meaning) -------------------------------------------------------------------------------


def compile_mapping(raw: Mapping[str, Any], *, key: Sequence[str] = ()) -> RecordMapping:
    """The runtime mapping of a ``unified:`` block; :class:`MappingConfigError` for any mistake, with its key path.

    ``key``: the stream's key attributes, joined by ``/`` for ``source_id`` when the block does not say."""
    try:
        spec = UnifiedMappingSpec.model_validate(raw)
    except ValidationError as error:
        problem = error.errors()[0]
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = f"unknown key {problem['loc'][-1]!r}"
        elif problem["type"] == "missing":
            message = f"`{problem['loc'][-1]}` is required"
        path = [part for part in problem["loc"] if not _is_union_tag(part)]
        if problem["type"] in ("model_type", "dict_type", "model_attributes_type"):
            is_field = (len(path) == 2 and path[0] == "fields") or (path and path[-1] in ("then", "else", "source_id"))
            message = f"must be a mapping (key: value), not {shown(problem['input'])}" + (
                "; a field is written like {path: description, steps: [trim]}" if is_field else "")
        elif problem["type"] == "list_type":
            message = f"must be a list (`[a, b]`), not {shown(problem['input'])}"
        raise MappingConfigError(path, message) from None
    columns = UNIFIED_COLUMNS.get(spec.table)
    if columns is None:
        raise MappingConfigError(["table"], f"unknown unified table {spec.table!r}; the tables are: "
                                            f"{', '.join(UNIFIED_COLUMNS)}")
    by_name = {column.name: column for column in columns}
    for name, field_spec in spec.fields.items():
        column = by_name.get(name)
        if column is None:
            raise MappingConfigError(["fields", name], f"{spec.table} has no column {name!r}; its columns are: "
                                                       f"{', '.join(by_name)}")
        if column.allowed is not None:
            _check_allowed(field_spec, column, ["fields", name])
    source_id_spec = spec.source_id
    if source_id_spec is None:
        if not key:
            raise MappingConfigError([], "`source_id` is required (where the record's id comes from)")
        source_id_spec = FieldSpec(concat=list(key), separator="/")
    if source_id_spec.lookup is not None:
        raise MappingConfigError(["source_id", "lookup"], "source_id cannot come from a lookup")
    fields, lookups = [], {}
    plain = {name: field_spec for name, field_spec in spec.fields.items() if field_spec.lookup is None}
    for name, field_spec in spec.fields.items():
        coerce = _coerce(by_name[name], spec.table)
        if field_spec.lookup is None:
            fields.append((name, _compile_value(field_spec), coerce))
        else:
            lookups[name] = (_compile_lookup(field_spec.lookup, ["fields", name, "lookup"], plain), coerce)
    return RecordMapping(spec.table, _compile_value(source_id_spec), tuple(fields), lookups)


def _is_union_tag(part: Any) -> bool:
    """pydantic names the union member it tried (``FieldSpec``, ``str``) in an error's location: not a YAML key."""
    return isinstance(part, str) and (part[:1].isupper() or part in ("str", "int", "float", "bool", "none"))


def _check_allowed(spec: FieldSpec | Scalar, column: UnifiedColumn, path: list) -> None:
    """Every value a normalised column can be given by the YAML itself (map targets, constants, defaults) is one
    of its values: a typo such as ``inprogress`` fails at load, not on every record."""
    allowed = column.allowed or ()

    def check(value: Any, where: list) -> None:
        if value is None:
            return
        try:
            stored = to_int(value) if column.kind == "int" else value
        except TransformError:
            stored = value
        if stored not in allowed:
            raise MappingConfigError(where, f"{value!r} is not a value of {column.name}; it takes: "
                                            f"{', '.join(map(str, allowed))}")

    if not isinstance(spec, FieldSpec):
        check(spec, path)
        return
    if spec.map is not None:
        for target in spec.map.values():
            check(target, [*path, "map"])
    check(spec.default, [*path, "default"])
    if "const" in spec.model_fields_set:
        check(spec.const, [*path, "const"])
    for index, case in enumerate(spec.when or ()):
        _check_allowed(case.then, column, [*path, "when", index, "then"])
    if spec.when is not None:
        _check_allowed(spec.else_, column, [*path, "else"])


def master_tables() -> dict[str, Any]:
    """The masters a lookup may read: ``ic3_*_master`` tables with a one-column primary key."""
    from ic3_pipeline.warehouse.tables import metadata

    return {name: table for name, table in metadata.tables.items()
            if name.startswith("ic3_") and name.endswith("_master") and len(table.primary_key.columns) == 1}


def _compile_lookup(spec: LookupSpec, path: list, plain: Mapping[str, FieldSpec]) -> Lookup:
    from sqlalchemy import String

    masters = master_tables()
    table = masters.get(spec.master)
    if table is None:
        raise MappingConfigError([*path, "master"], f"unknown master {spec.master!r}; lookups read: "
                                                    f"{', '.join(sorted(masters))}")
    rules = []
    for index, rule in enumerate(spec.match):
        where = [*path, "match", index]
        column = table.c.get(rule.column)
        if column is None or not isinstance(column.type, String):
            text_columns = [c.name for c in table.columns if isinstance(c.type, String)]
            raise MappingConfigError([*where, "column"], f"{spec.master} has no text column {rule.column!r}; "
                                                         f"match one of: {', '.join(text_columns)}")
        if rule.field is not None and rule.field not in plain:
            raise MappingConfigError([*where, "field"], f"{rule.field!r} is not a mapped field of this table "
                                                        f"(mapped: {', '.join(plain) or 'none'})")
        rules.append((rule.column, _rule_value(rule)))
    key_column = next(iter(table.primary_key.columns)).name
    return Lookup(spec.master, key_column, tuple(rules), spec.ignore_case)


def _rule_value(rule: LookupRule) -> Callable[[Mapping[str, Any], dict[str, Any]], Any]:
    steps = [build_step(raw) for raw in rule.steps]
    parts = tuple(rule.path.split(".")) if rule.path else None
    field = rule.field

    def value_of(record: Mapping[str, Any], row: dict[str, Any]) -> Any:
        value = get_path(record, parts) if parts is not None else row.get(field)
        for step in steps:
            try:
                value = step(value)
            except TransformError as error:
                raise _Failed(error.transform, error.value, str(error)) from None
        return value

    return value_of
