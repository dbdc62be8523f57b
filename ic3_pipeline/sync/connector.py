"""What a source provides to the engine: the connector protocol.

The engine (this package) decides what is due, runs a batch concurrently under one rate limiter, keeps each asset's
state per source, writes each asset in its own transaction and checks that nothing is half-written. A connector
supplies only what is its CMMS's own: how to ask for one asset and read the answer (:class:`EntityClient`), which
tables it writes and how (:meth:`EntityConnector.write`). Connectors live in ``ic3_pipeline.connectors``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy import Column, Connection, Table

from ic3_pipeline.http_client import HttpPolicy, ResilientClient

Status = Literal["success", "error", "not_found"]


class AuthenticationFailed(RuntimeError):
    """The API refused the credentials: no asset can be fetched, so the batch stops (and no asset is blamed)."""


@dataclass
class FetchOutcome:
    """One asset's answer, already classified: never an exception per asset."""

    asset_id: str  # the register's id (``ic3_asset_master.cmms_asset_id``)
    status: Status
    attempts: int
    http_status: int | None = None
    record: Any = None  # the connector's parsed record (success only)
    body: bytes | None = None  # the body exactly as received
    error: str | None = None
    transient: bool = False  # the failure was the API's or the network's (counts toward "API down")
    warnings: list[str] = field(default_factory=list)  # optional values stored as NULL, and why


class EntityClient(Protocol):
    """An open client for one batch; ``http`` carries the shared limiter and request counters."""

    http: ResilientClient

    async def fetch(self, asset_id: str) -> FetchOutcome:
        """Fetch and parse one asset. Raises only :class:`AuthenticationFailed`."""
        ...

    async def __aenter__(self) -> EntityClient: ...

    async def __aexit__(self, *exc_info: object) -> None: ...


@dataclass(frozen=True)
class Credentials:
    """A source's secrets for one batch, and the environment variable each came from (for messages, never values)."""

    values: Mapping[str, str]
    env_names: Mapping[str, str]

    def get(self, name: str) -> str:
        return self.values.get(name) or ""

    def where(self, name: str) -> str:
        """The variable behind a secret (e.g. ``ACME_API_TOKEN``): what to tell a person to check."""
        return self.env_names.get(name, name)

    def __repr__(self) -> str:
        return f"Credentials({', '.join(f'{k}=${v}' for k, v in self.env_names.items())})"


@dataclass(frozen=True)
class WriteKeys:
    """Who the rows belong to: the asset's surrogate and register ids, and the version this write stamps them with."""

    asset_id: int
    cmms_asset_id: str
    sync_version: int
    synced_at: datetime
    source: str  # the configured source writing them (its rows in the unified tables are keyed by it)


@dataclass(frozen=True)
class RecordToWrite:
    """One parsed record, its body as received, and who its rows belong to."""

    record: Any
    body: bytes
    http_status: int
    keys: WriteKeys
    # The body is already landed (a re-parse read it from ``landed``): the connector must not write it again — the
    # engine moves that row's ``sync_version`` to ``keys.sync_version`` itself, one statement for the group.
    already_landed: bool = False


@dataclass(frozen=True)
class VersionedTable:
    """A table the connector writes per asset, each row stamped with the asset's ``sync_version``.

    ``rows_per_asset`` rows per synced asset, found by ``asset_column`` (``asset_id`` or ``cmms_asset_id``): the
    integrity check holds every synced asset to exactly that, at exactly its version.
    """

    table: Table
    rows_per_asset: int = 1
    asset_column: str = "asset_id"

    @property
    def key(self) -> Column:
        return self.table.c[self.asset_column]


@dataclass(frozen=True)
class TableAsset:
    """One Dagster asset the connector's step materializes: ``<source>/<name>``, backed by ``table``."""

    name: str
    table: Table
    description: str
    rows_per_asset: int = 1  # rows a synced asset adds to ``table`` (the metadata's "rows written")


@dataclass(frozen=True)
class LandedResponses:
    """Where a connector keeps each asset's last successful answer exactly as received, one row per asset: what a
    re-parse reads to rebuild the connector's tables without calling the API (``ic3 reparse``).

    The table must be one of the connector's ``versioned_tables``. A re-parse leaves its rows' bodies as they are: it
    hands :meth:`EntityConnector.write` records marked ``already_landed`` (the write skips this table for them) and
    moves each row's ``sync_version`` to the asset's new version itself."""

    table: Table
    asset_column: str = "cmms_asset_id"  # the register's id
    body_column: str = "payload"  # the body as text
    status_column: str = "http_status"
    fetched_at_column: str = "fetched_at"  # when the body was received: the re-parsed rows keep that time

    @property
    def key(self) -> Column:
        return self.table.c[self.asset_column]


class EntityConnector(Protocol):
    """A CMMS whose API answers one asset per call (e.g. an asset-detail endpoint)."""

    name: str  # the connector's name; also the ``sync_type`` of the users' log tables
    display_name: str  # how messages name the CMMS, capitalised as its vendor does
    kind: Literal["entity"]  # (a paged API is a ``sync.streams.CollectionConnector``, kind "collection")
    secrets: Mapping[str, str]  # secret name -> what it is, e.g. {"token": "bearer token"}
    tables: Sequence[TableAsset]  # the first is the asset the step's checks attach to
    versioned_tables: Sequence[VersionedTable]
    mirrors_asset_master: bool  # keep the users' sync columns on ic3_asset_master filled for this connector
    landed: LandedResponses | None  # where its answers are kept as received (None: it cannot be re-parsed)

    def open_client(self, base_url: str, credentials: Credentials, policy: HttpPolicy) -> EntityClient:
        """A client for one batch (raise :class:`AuthenticationFailed` when a secret is missing)."""
        ...

    def asset_master_values(self, record: Any) -> Mapping[str, Any]:
        """The ``ic3_asset_master`` columns this connector owns, from one record (may be empty)."""
        ...

    def parse_landed(self, asset_id: str, body: bytes, http_status: int) -> FetchOutcome:
        """A landed body parsed as a fresh answer would be, by today's parser: a ``success`` outcome carrying the
        record (and the body), or an ``error`` outcome naming what the parser refuses in it. Never raises per asset."""
        ...

    def write(self, conn: Connection, items: Sequence[RecordToWrite]) -> None:
        """Write these records' rows (``versioned_tables`` stamped with each one's ``keys.sync_version``) in
        ``conn``'s transaction — several assets at once, so each table takes one statement for all of them."""
        ...


__all__ = [
    "AuthenticationFailed",
    "Credentials",
    "EntityClient",
    "EntityConnector",
    "FetchOutcome",
    "LandedResponses",
    "RecordToWrite",
    "Status",
    "TableAsset",
    "VersionedTable",
    "WriteKeys",
]
