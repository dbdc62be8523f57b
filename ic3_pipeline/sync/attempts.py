"""Writing one asset's sync outcome for one source, each in its own transaction.

A success bumps the asset's ``sync_version`` in ``cmms_sync_state`` (by the database: ``sync_version + 1 …
RETURNING``, so two overlapping runs cannot lose an update), lets the connector write its rows stamped with that
version, and logs the attempt — all in one transaction: a crash leaves an asset wholly at its old version or wholly
at its new one, and a sibling's failure never undoes it. A failure records the attempt and leaves the synced data as
it was. Connectors that mirror their state to ``ic3_asset_master`` (the users' reports read those columns) get the
same values there, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ic3_pipeline.sync.connector import EntityConnector, FetchOutcome, WriteKeys
from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.times import utc_now

asset = tables.asset_master
state = tables.sync_state

# Statements built once, values bound at execution: building a statement per asset costs more than running it.
_ASSET_ID = select(asset.c.asset_id).where(asset.c.cmms_asset_id == bindparam("cmms_asset_id"))
_MASTER = update(asset).where(asset.c.asset_id == bindparam("row_asset_id"))
_LOG_ATTEMPT = tables.sync_log.insert()
_STATE_COLUMNS = ("last_synced_at", "last_attempt_at", "last_sync_status", "last_sync_error", "updated_at")


class UnknownAsset(LookupError):
    """The asset is not in ic3_asset_master (removed while the run was in flight)."""


@dataclass(frozen=True)
class SyncContext:
    """Who is writing: the source, and the Dagster run and batch each attempt is traced to in the sync log."""

    source: str
    sync_type: str  # the connector's name, the users' ``sync_type``
    run_id: str | None = None
    batch_id: str | None = None


def store_outcome(engine: Engine, connector: EntityConnector, outcome: FetchOutcome, context: SyncContext) -> None:
    """Write ``outcome``; a success for an asset that left the register in the meantime is recorded as an error."""
    if outcome.status == "success":
        try:
            store_success(engine, connector, outcome, context)
            return
        except UnknownAsset:
            outcome.status, outcome.error = "error", "asset no longer in ic3_asset_master"
    store_failure(engine, connector, outcome, context)


def store_success(engine: Engine, connector: EntityConnector, outcome: FetchOutcome, context: SyncContext) -> int:
    """Write everything ``outcome.record`` says about its asset in one transaction; return the new sync_version."""
    now = utc_now()
    with engine.begin() as conn:
        asset_id = _asset_id(conn, outcome.asset_id)
        values = {"last_synced_at": now, "last_attempt_at": now, "last_sync_status": "success",
                  "last_sync_error": None, "updated_at": now}
        version = _bump_version(conn, context.source, asset_id, values)
        master = dict(connector.asset_master_values(outcome.record))
        if connector.mirrors_asset_master:
            master.update(values, sync_version=version, consecutive_failures=0)
        _update_master(conn, asset_id, master, now)
        keys = WriteKeys(asset_id=asset_id, cmms_asset_id=outcome.asset_id, sync_version=version, synced_at=now)
        connector.write(conn, outcome.record, outcome.body or b"", http_status=outcome.http_status or 200, keys=keys)
        _log(conn, outcome, context, now)
    return version


def store_failure(engine: Engine, connector: EntityConnector, outcome: FetchOutcome, context: SyncContext) -> None:
    """Record a failed (``error``) or ``not_found`` attempt; the asset's synced data, if any, is left as it was."""
    now = utc_now()
    with engine.begin() as conn:
        try:
            asset_id = _asset_id(conn, outcome.asset_id)
        except UnknownAsset:
            asset_id = None  # nothing to keep state for; the attempt is still logged
        if asset_id is not None:
            values = {"last_attempt_at": now, "last_sync_status": outcome.status,
                      "last_sync_error": outcome.error or "", "updated_at": now}
            failures = _bump_failures(conn, context.source, asset_id, values, counts=outcome.status == "error")
            if connector.mirrors_asset_master:
                _update_master(conn, asset_id, {**values, "consecutive_failures": failures}, now)
        _log(conn, outcome, context, now)


def _asset_id(conn: Connection, cmms_asset_id: str) -> int:
    found = conn.execute(_ASSET_ID, {"cmms_asset_id": cmms_asset_id}).scalar()
    if found is None:
        raise UnknownAsset(cmms_asset_id)
    return found


def _bump_version(conn: Connection, source: str, asset_id: int, values: Mapping[str, Any]) -> int:
    """Upsert a successful (source, asset) state with ``sync_version + 1``; return the version now stored."""
    statement = _success_upsert(conn.dialect.name)
    row = {"source": source, "asset_id": asset_id, "sync_version": 1, "consecutive_failures": 0,
           **{column: values.get(column) for column in _STATE_COLUMNS}}
    return conn.execute(statement, row).scalar_one()


def _bump_failures(conn: Connection, source: str, asset_id: int, values: Mapping[str, Any], *, counts: bool) -> int:
    """Upsert a failed attempt (``consecutive_failures + 1`` for an error, 0 for not found); return the count."""
    statement = _failure_upsert(conn.dialect.name, counts=counts)
    row = {"source": source, "asset_id": asset_id, "sync_version": 0, "consecutive_failures": 1 if counts else 0,
           "last_synced_at": None, **{column: values[column] for column in _STATE_COLUMNS if column in values}}
    return conn.execute(statement, row).scalar_one()


def _insert(dialect: str):
    if dialect == "postgresql":
        return postgresql.insert(state)
    if dialect == "sqlite":
        return sqlite.insert(state)
    raise ValueError(f"sync state supports SQLite and PostgreSQL, not {dialect!r}")


_STATEMENTS: dict[tuple[str, str, bool], Any] = {}


def _success_upsert(dialect: str):
    cache_key = (dialect, "success", True)
    if cache_key not in _STATEMENTS:
        stmt = _insert(dialect)
        _STATEMENTS[cache_key] = stmt.on_conflict_do_update(
            index_elements=["source", "asset_id"],
            set_={"sync_version": state.c.sync_version + 1, "consecutive_failures": 0,
                  **{column: stmt.excluded[column] for column in _STATE_COLUMNS}},
        ).returning(state.c.sync_version)
    return _STATEMENTS[cache_key]


def _failure_upsert(dialect: str, *, counts: bool):
    cache_key = (dialect, "failure", counts)
    if cache_key not in _STATEMENTS:
        stmt = _insert(dialect)
        failures = state.c.consecutive_failures + 1 if counts else 0
        _STATEMENTS[cache_key] = stmt.on_conflict_do_update(
            index_elements=["source", "asset_id"],
            set_={"consecutive_failures": failures,
                  **{column: stmt.excluded[column] for column in _STATE_COLUMNS if column != "last_synced_at"}},
        ).returning(state.c.consecutive_failures)
    return _STATEMENTS[cache_key]


def _update_master(conn: Connection, asset_id: int, values: Mapping[str, Any], now: datetime) -> None:
    conn.execute(_MASTER, {"row_asset_id": asset_id, **values, "updated_at": now})


def _log(conn: Connection, outcome: FetchOutcome, context: SyncContext, now: datetime) -> None:
    conn.execute(_LOG_ATTEMPT, {
        "serialnumber": outcome.asset_id, "sync_type": context.sync_type, "source": context.source,
        "status": outcome.status, "error_message": outcome.error if outcome.status != "success" else None,
        "http_status": outcome.http_status, "attempts": outcome.attempts, "run_id": context.run_id,
        "batch_id": context.batch_id, "synced_at": now,
    })
