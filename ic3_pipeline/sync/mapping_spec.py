"""The shape of a stream's ``unified:`` block, as pydantic models: what keys it has and what each may hold.

Only the shape, and what can be checked of one key on its own (a step's name and arguments, a path, a regular
expression). What the block means as a whole (the table and its columns, the values a normalised column accepts, a
lookup's master) is checked where it is compiled, in :mod:`ic3_pipeline.sync.mapping`. Plain pydantic (no Dagster):
the component hands the block over as it was written, and a mistake comes back as a :class:`MappingConfigError`
with the key path the component turns into the YAML's line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from ic3_pipeline.sync.transforms import build_step, compile_regex

_PATH = re.compile(r"^[^.\s]+(\.[^.\s]+)*$")
_YAML_KEY = re.compile(r"^[a-z_][a-z0-9_]*$|^\d+$")
Scalar = str | int | float | bool | None


class MappingConfigError(ValueError):
    """A mistake in a ``unified:`` block: ``path`` is the key path inside the block (``fields.status.map``)."""

    def __init__(self, path: Sequence[str | int], message: str):
        super().__init__(message)
        kept: list[str] = []
        for part in path:  # the part of the path a YAML key path can name (map keys such as WAPPR end it)
            if not _YAML_KEY.match(str(part)):
                break
            kept.append(str(part))
        self.path = tuple(kept)
        self.message = message

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


# --- the YAML's shape ---------------------------------------------------------------------------------------------------


def _check_step(raw: Any) -> Any:
    build_step(raw)  # ValueError for an unknown transform, a bad argument, a bad regex or date format
    return raw


def _check_path(path: str) -> str:
    if not _PATH.match(path):
        raise ValueError(f"path {path!r} must be attribute names joined by dots (a number indexes a list), "
                         "such as `status` or `assetmeter.0.lastreading`")
    return path


def _check_regex(pattern: str) -> str:
    compile_regex(pattern)
    return pattern


StepSpec = Annotated[Any, AfterValidator(_check_step)]
PathSpec = Annotated[str, AfterValidator(_check_path)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ConstPart(_Strict):
    const: Scalar


class ConditionSpec(_Strict):
    """``{path: status, in: [COMP, CLOSE]}``: one test on one value (or ``all`` / ``any`` of several conditions)."""

    path: PathSpec | None = None
    equals: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    not_in: list[Scalar] | None = None
    exists: bool | None = None
    matches: Annotated[str, AfterValidator(_check_regex)] | None = None
    all: list[ConditionSpec] | None = None
    any: list[ConditionSpec] | None = None

    @model_validator(mode="after")
    def _one_test(self) -> ConditionSpec:
        tests = [name for name in ("equals", "in_", "not_in", "exists", "matches") if name in self.model_fields_set]
        groups = [name for name in ("all", "any") if name in self.model_fields_set]
        if groups:
            if tests or self.path is not None or len(groups) > 1:
                raise ValueError("a condition is either `all`/`any` of conditions or one test on a `path`")
            return self
        if self.path is None:
            raise ValueError("a condition needs a `path` (the value it tests)")
        if len(tests) != 1:
            raise ValueError("a condition has exactly one test: equals, in, not_in, exists or matches")
        return self


class CaseSpec(_Strict):
    if_: ConditionSpec = Field(alias="if")
    then: FieldSpec | Scalar


class LookupRule(_Strict):
    """Match a value (from a ``path`` or a unified ``field`` of the same row) against a column of the master."""

    path: PathSpec | None = None
    field: str | None = None
    steps: list[StepSpec] = Field(default_factory=list)
    column: str

    @model_validator(mode="after")
    def _one_value(self) -> LookupRule:
        if (self.path is None) == (self.field is None):
            raise ValueError("a match rule takes its value from either `path` or `field`")
        return self


class LookupSpec(_Strict):
    master: str = "ic3_asset_master"
    match: list[LookupRule] = Field(min_length=1)
    ignore_case: bool = False


class FieldSpec(_Strict):
    """Where a unified column's value comes from and what happens to it on the way."""

    path: PathSpec | None = None
    const: Scalar = None
    concat: list[PathSpec | ConstPart] | None = None
    separator: str = ""
    when: list[CaseSpec] | None = None
    else_: FieldSpec | Scalar = Field(default=None, alias="else")
    lookup: LookupSpec | None = None
    steps: list[StepSpec] = Field(default_factory=list)
    map: dict[Scalar, Scalar] | None = None
    default: Scalar = None
    required: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        given = [name for name in ("path", "const", "concat", "when", "lookup") if name in self.model_fields_set]
        if len(given) != 1:
            if not given and "default" in self.model_fields_set:
                return self  # `{default: x}` alone: a constant
            raise ValueError("a field takes its value from exactly one of path, const, concat, when or lookup"
                             + (f" (not {' and '.join(given)})" if given else ""))
        if "else_" in self.model_fields_set and self.when is None:
            raise ValueError("`else` belongs with `when`")
        if "separator" in self.model_fields_set and self.concat is None:
            raise ValueError("`separator` belongs with `concat`")
        if self.lookup is not None and (self.steps or self.map is not None):
            raise ValueError("a lookup gives the master's id as it is: no `steps` or `map` after it")
        return self


class UnifiedMappingSpec(_Strict):
    """A stream's ``unified:`` block."""

    table: str
    source_id: FieldSpec | None = None
    fields: dict[str, FieldSpec] = Field(default_factory=dict)


FieldSpec.model_rebuild()
CaseSpec.model_rebuild()
ConditionSpec.model_rebuild()
