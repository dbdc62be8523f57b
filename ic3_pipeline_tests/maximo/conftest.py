"""Fixtures for the Maximo tests: the simulator, the source as defs/maximo/defs.yaml declares it, a database, and a
way to sync streams through the engine (the Dagster layer has its own tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, Table, inspect, select

from ic3_pipeline.components.catalog import configured
from ic3_pipeline.components.collection_source import CollectionSourceSpec
from ic3_pipeline.http_client import HttpPolicy, ResilientClient
from ic3_pipeline.sandbox.maximo_simulator import MaximoSimConfig, MaximoSimulator
from ic3_pipeline.sync.collection_sync import sync_stream
from ic3_pipeline.sync.connector import Credentials
from ic3_pipeline.sync.streams import CollectionSettings, StreamReport, StreamSpec
from ic3_pipeline.warehouse import ensure_schema, make_engine
from ic3_pipeline.warehouse.stream_tables import (
    DELETED_AT,
    POSITION,
    SYNCED_AT,
    TYPE_ERRORS,
    ValueDoesNotFit,
    _kind,
    column_name,
    fit,
)
from ic3_pipeline.warehouse.times import as_utc

API_KEY = "maximo-test-key-not-a-secret-4e1b"  # distinctive, so tests can search for leaks
SITES = ("BEDFORD", "NASHUA")
BOOKKEEPING = {"_partition", SYNCED_AT, DELETED_AT, TYPE_ERRORS, POSITION}


def maximo_spec() -> CollectionSourceSpec:
    """The source exactly as ``defs/maximo/defs.yaml`` declares it (loaded the way Dagster loads it)."""
    return next(spec for spec in configured()[1] if spec.source == "maximo")


@pytest.fixture(scope="session")
def spec() -> CollectionSourceSpec:
    return maximo_spec()


@pytest.fixture
def simulator() -> Iterator[MaximoSimulator]:
    with MaximoSimulator(MaximoSimConfig(sites=SITES, assets_per_site=30, seed=11, api_key=API_KEY)) as sim:
        yield sim


@pytest.fixture
def maximo_engine(db_url) -> Iterator[Engine]:
    engine = make_engine(db_url)
    ensure_schema(engine)
    yield engine
    engine.dispose()


@dataclass
class Syncer:
    """Syncs streams of the source through the engine, against the simulator, into the database."""

    spec: CollectionSourceSpec
    simulator: MaximoSimulator
    engine: Engine
    settings: CollectionSettings
    policy: HttpPolicy = HttpPolicy(backoff_initial_s=0.05, backoff_max_s=0.5, timeout_s=5.0)
    connector: Any = None

    def stream(self, name: str) -> StreamSpec:
        return self.spec.stream(name)

    async def _run(self, names: Sequence[str], sites: Sequence[str], full: bool) -> list[StreamReport]:
        connector = self.connector or self.spec.connector
        headers = connector.headers(Credentials({"api_key": API_KEY}, {"api_key": "MAXIMO_API_KEY"}))
        reports = []
        async with ResilientClient(self.simulator.base_url, headers=headers, policy=self.policy) as client:
            for name in names:
                stream = self.stream(name)
                for site in (sites if stream.partitioned else [None]):
                    reports.append(await sync_stream(client, connector, self.engine, source="maximo", stream=stream,
                                                     partition=site, full=full, settings=self.settings))
        return reports

    def sync(self, *names: str, sites: Sequence[str] = SITES, full: bool = False) -> list[StreamReport]:
        names = names or tuple(stream.name for stream in self.spec.ordered_streams)
        return asyncio.run(self._run(names, sites, full))


@pytest.fixture
def syncer(spec, simulator, maximo_engine) -> Syncer:
    return Syncer(spec, simulator, maximo_engine, replace(spec.paging, page_size=8, max_page_size=64, min_page_size=2))


def table(engine: Engine, name: str) -> Table | None:
    if not inspect(engine).has_table(name):
        return None
    return Table(name, MetaData(), autoload_with=engine)


def _expected(kind: str, value: Any) -> Any:
    value = fit(kind, value)
    return as_utc(value) if isinstance(value, datetime) else value


def _same(kind: str, sent: Any, stored: Any) -> bool:
    stored = as_utc(stored) if isinstance(stored, datetime) else stored
    try:
        return _expected(kind, sent) == stored
    except ValueDoesNotFit:  # an integer column widened to hold fractions (SQLite keeps its declared type)
        return isinstance(sent, float) and sent == stored


def mismatches(engine: Engine, stream: StreamSpec, truth: list[dict[str, Any]], *, partition: str | None = None,
               source: str = "maximo") -> list[str]:
    """Every difference between the live rows of ``stream`` (and its children) and the simulator's ``truth``:
    empty when the database holds exactly what the API holds, value for value."""
    parent = table(engine, stream.table_name(source))
    assert parent is not None, f"{stream.table_name(source)} was never created"
    kinds = {c.name: _kind(c.type) for c in parent.columns}
    key = [column_name(k) for k in stream.key]
    with engine.connect() as conn:
        query = select(parent).where(parent.c[DELETED_AT].is_(None))
        if partition is not None:
            query = query.where(parent.c["_partition"] == partition)
        rows = {tuple(r._mapping[k] for k in key): dict(r._mapping) for r in conn.execute(query)}
        children = {}
        for child in stream.children:
            child_table = table(engine, child.table_name(stream.table_name(source)))
            if child_table is None:
                children[child.name] = ({}, {})
                continue
            found: dict[tuple, list[dict]] = {}
            for r in conn.execute(select(child_table).order_by(child_table.c[POSITION])):
                found.setdefault(tuple(r._mapping[k] for k in key), []).append(dict(r._mapping))
            children[child.name] = (found, {c.name: _kind(c.type) for c in child_table.columns})
    problems = []
    expected_keys = set()
    for record in truth:
        record_key = tuple(str(record[k]) for k in stream.key)
        expected_keys.add(record_key)
        row = rows.get(record_key)
        if row is None:
            problems.append(f"missing {record_key}")
            continue
        problems += _compare(record_key, record, row, kinds, skip={c.name for c in stream.children})
        for child in stream.children:
            found, child_kinds = children[child.name]
            sent = record.get(child.name) or []
            stored = found.get(record_key, [])
            if len(sent) != len(stored):
                problems.append(f"{record_key} {child.name}: {len(sent)} sent, {len(stored)} stored")
                continue
            for position, (item, stored_row) in enumerate(zip(sent, stored)):
                problems += _compare((*record_key, child.name, position), item, stored_row, child_kinds,
                                     skip=set(key))
    problems += [f"extra live row {k}" for k in rows if k not in expected_keys]
    return problems


def _compare(where: tuple, record: dict, row: dict, kinds: dict, *, skip: set[str]) -> list[str]:
    problems = []
    sent = {column_name(k): v for k, v in record.items() if k not in skip}
    for name, value in sent.items():
        if name not in row:
            problems.append(f"{where}: no column {name}")
        elif not _same(kinds.get(name, "text"), value, row[name]):
            problems.append(f"{where}.{name}: sent {value!r}, stored {row[name]!r}")
    for name, value in row.items():
        if name not in sent and name not in BOOKKEEPING and name not in skip and value is not None:
            problems.append(f"{where}.{name}: not sent (null) but stored {value!r}")
    return problems


def assert_exact(engine: Engine, spec: CollectionSourceSpec, simulator: MaximoSimulator,
                 names: Sequence[str] | None = None) -> None:
    for stream in spec.ordered_streams:
        if names and stream.name not in names:
            continue
        problems = mismatches(engine, stream, simulator.truth(stream.resource))
        assert problems == [], f"{stream.name}: {problems[:10]}"
