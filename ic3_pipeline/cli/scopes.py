"""Finding configured sources by name, and what ``ic3 status`` needs of each — its name, its sites, its staleness window — read from its
``defs.yaml`` as written, without loading Dagster (a second and a half of start-up). Where a needed value is a
template, or the file does not parse, the full load answers instead (and reports the file's mistakes properly)."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ic3_pipeline.register.sites import site_partition_key

if TYPE_CHECKING:
    from ic3_pipeline.components.source import SourceSpec

DEFS_MODULE = "ic3_pipeline.defs"
COMPONENT_TYPE = "ic3_pipeline.components.CmmsConnection"
COLLECTIONS_TYPE = "ic3_pipeline.components.CmmsCollections"
DEFAULT_STALE_AFTER_HOURS = 24.0


class UnknownSource(LookupError):
    """A source name that no defs/<source>/defs.yaml configures."""


def find_source(name: str, sources: list[SourceSpec]) -> SourceSpec:
    for spec in sources:
        if spec.source == name:
            return spec
    raise UnknownSource(_unknown(name, [spec.source for spec in sources]))


@dataclass(frozen=True)
class SourceScope:
    """What ``ic3 status`` needs of a source: its name, its sites (``None``: every register site), its window."""

    source: str
    scope: list[str] | None
    stale_after: timedelta


def source_scopes() -> list[SourceScope]:
    """Each source's scope, in source-name order."""
    scopes = []
    for path in _defs_files():
        scope = _read_scope(path)
        if scope is None:
            return _fully_loaded()
        if scope is not False:
            scopes.append(scope)
    return sorted(scopes, key=lambda scope: scope.source)


@dataclass(frozen=True)
class CollectionScope:
    """What ``ic3 status`` needs of a collection source: its name and the tables its streams write."""

    source: str
    tables: list[tuple[str, bool]]  # (table, is_child), in the order the YAML lists the streams


def collection_scopes() -> list[CollectionScope]:
    """Each collection source's scope, in source-name order (read from the YAML as written; the full load answers
    where a needed value is a template)."""
    scopes = []
    for path in _defs_files():
        try:
            document = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError):
            return _collections_fully_loaded()
        if not isinstance(document, dict) or document.get("type") != COLLECTIONS_TYPE:
            continue
        attributes = document.get("attributes") or {}
        source, streams = attributes.get("source"), attributes.get("streams")
        if not isinstance(source, str) or not isinstance(streams, list) or _templated([source, streams]):
            return _collections_fully_loaded()
        tables: list[tuple[str, bool]] = []
        for stream in streams:
            if not isinstance(stream, dict) or not isinstance(stream.get("name"), str):
                return _collections_fully_loaded()
            parent = f"{source}_{stream['name']}"
            tables += [(parent, False), *((f"{parent}__{child}", True) for child in stream.get("children") or [])]
        scopes.append(CollectionScope(source, tables))
    return sorted(scopes, key=lambda scope: scope.source)


def _collections_fully_loaded() -> list[CollectionScope]:
    from ic3_pipeline.components.catalog import configured

    return [CollectionScope(spec.source, spec.table_names()) for spec in configured()[1]]


def _defs_files() -> list[Path]:
    return sorted(Path(importlib.import_module(DEFS_MODULE).__file__).parent.glob("*/defs.yaml"))


def find_scope(name: str, scopes: list[SourceScope], other_sources: Sequence[str] = ()) -> SourceScope:
    for scope in scopes:
        if scope.source == name:
            return scope
    raise UnknownSource(_unknown(name, sorted([scope.source for scope in scopes] + list(other_sources))))


def _read_scope(path: Path) -> SourceScope | None | bool:
    """The scope; ``False`` for a file that is not a connection; ``None`` when only the full load can tell."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(document, dict) or document.get("type") != COMPONENT_TYPE:
        return False
    attributes = document.get("attributes") or {}
    partitions = attributes.get("partitions") or {}
    needed = [attributes.get("source"), attributes.get("stale_after_hours"), partitions, partitions.get("kind")]
    if not isinstance(attributes.get("source"), str) or not isinstance(partitions, dict) or _templated(needed):
        return None
    try:
        hours = float(attributes.get("stale_after_hours", DEFAULT_STALE_AFTER_HOURS))
    except (TypeError, ValueError):
        return None
    sites = partitions.get("sites") or []
    scope = [site_partition_key(str(site)) for site in sites] if partitions.get("kind") == "static" else None
    return SourceScope(attributes["source"], scope, timedelta(hours=hours))


def _templated(values: list) -> bool:
    return "{{" in str(values)


def _fully_loaded() -> list[SourceScope]:
    from ic3_pipeline.components.catalog import configured_sources

    return [SourceScope(spec.source, spec.partitioning.scope, spec.stale_after) for spec in configured_sources()]



def _unknown(name: str, names: list[str]) -> str:
    return f"No source named {name!r} in ic3_pipeline/defs/ (configured: {', '.join(names) or 'none'})."
