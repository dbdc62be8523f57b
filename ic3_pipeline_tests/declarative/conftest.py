"""Fixtures for the declarative connector's tests: a source loaded from YAML the way Dagster resolves it, the test API
on loopback, a SQLite database, and a sync of one stream through the engine with the connector's headers and auth."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, Table, select

from ic3_pipeline.components import CmmsCollections
from ic3_pipeline.components.collection_source import CollectionSourceSpec
from ic3_pipeline.http_client import HttpPolicy, ResilientClient
from ic3_pipeline.sync.collection_sync import sync_stream
from ic3_pipeline.sync.connector import Credentials
from ic3_pipeline.sync.streams import StreamReport
from ic3_pipeline.warehouse import ensure_schema, make_engine
from ic3_pipeline_tests.declarative.server import FakeApi, FakeConfig

POLICY = HttpPolicy(backoff_initial_s=0.02, backoff_max_s=0.2, timeout_s=5.0, max_attempts=5, initial_rate=200.0)


def source_spec(attributes_yaml: str) -> CollectionSourceSpec:
    """The source a ``defs.yaml``'s ``attributes:`` declare, resolved and validated as Dagster does."""
    return CmmsCollections.resolve_from_yaml(textwrap.dedent(attributes_yaml)).spec()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'declarative.sqlite'}")
    ensure_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def api() -> Iterator[FakeApi]:
    server = FakeApi(FakeConfig())
    server.start(log_level="warning")
    yield server
    server.stop()


def served(config: FakeConfig) -> FakeApi:
    server = FakeApi(config)
    server.start(log_level="warning")
    return server


@dataclass
class Synced:
    report: StreamReport
    auth: object  # the connector's per-request auth (token fetch counts)


def sync(spec: CollectionSourceSpec, stream: str, base_url: str, engine: Engine, secrets: dict[str, str], *,
         partition: str | None = None, full: bool = False, page_size: int = 5, auth: object = None) -> Synced:
    """Sync one stream with the credentials ``secrets`` (role -> value); ``auth`` reuses a per-request auth (its
    token) from an earlier sync, as one run's client does across partitions."""
    connector = spec.connector
    credentials = Credentials(secrets, dict(spec.secrets))
    headers = connector.headers(credentials)
    auth = auth or connector.auth(credentials, base_url)
    settings = replace(spec.paging, page_size=page_size, min_page_size=1, max_page_size=max(page_size, 100))

    async def run() -> StreamReport:
        async with ResilientClient(base_url, headers=headers, policy=POLICY, auth=auth) as client:
            return await sync_stream(client, connector, engine, source=spec.source, stream=spec.stream(stream),
                                     partition=partition, full=full, settings=settings)

    return Synced(asyncio.run(run()), auth)


def stored_ids(engine: Engine, table: str, *, alive: bool = True) -> list[str]:
    found = Table(table, MetaData(), autoload_with=engine)
    query = select(found.c.id)
    if alive:
        query = query.where(found.c._deleted_at.is_(None))
    with engine.connect() as conn:
        return sorted(row[0] for row in conn.execute(query))
