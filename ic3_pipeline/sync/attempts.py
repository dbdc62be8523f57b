"""Writing assets' sync outcomes for one source: several assets per transaction, each under its own SAVEPOINT.

A success bumps the asset's ``sync_version`` (by the database: ``sync_version + 1 … RETURNING``, so two overlapping
runs cannot lose an update), lets the connector write its rows stamped with that version, and logs the attempt; a
failure records the attempt and leaves the synced data as it was. Each asset's statements run under a savepoint of
its own inside the group's transaction: an asset the database refuses (a value that does not fit) is rolled back
alone and recorded as failed, never undoing a sibling, and a crash leaves every asset wholly at its old version or
wholly at its new one (an unfinished group is simply still due). Connectors that mirror their state to
``ic3_asset_master`` (the users' reports read those columns) get the same values there, in the same savepoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError

from ic3_pipeline.sync.connector import EntityConnector, FetchOutcome, RecordToWrite, WriteKeys
from ic3_pipeline.warehouse import database_error_line, tables
from ic3_pipeline.warehouse.bulk import insert_many, pipelined, update_many
from ic3_pipeline.warehouse.times import utc_now

asset = tables.asset_master
state = tables.sync_state

# Statements built once, values bound at execution: building a statement per asset costs more than running it.
_ASSET_ID = select(asset.c.asset_id).where(asset.c.cmms_asset_id == bindparam("cmms_asset_id"))
_MASTER = update(asset).where(asset.c.asset_id == bindparam("row_asset_id"))
# A mirroring connector's master row carries the version: bumped there, copied to the state, one round trip saved.
_BUMP_MASTER = (
    update(asset)
    .where(asset.c.cmms_asset_id == bindparam("row_cmms_asset_id"))
    .values(sync_version=asset.c.sync_version + 1)
    .returning(asset.c.asset_id, asset.c.sync_version)
)
_LOG_ATTEMPT = tables.sync_log.insert()
_LOG_COLUMNS = ("serialnumber", "sync_type", "source", "status", "error_message", "http_status", "attempts", "run_id",
                "batch_id", "synced_at")
_STATE_COLUMNS = ("last_synced_at", "last_attempt_at", "last_sync_status", "last_sync_error", "updated_at")
# A connection with this execution option takes SQLite's write lock when its transaction begins (warehouse.engine).
WRITE_LOCK_OPTION = "ic3_write_lock"
# What one asset's rows can do wrong on their own; anything else (the connection, the schema) stops the batch.
ASSET_ERRORS = (DataError, IntegrityError)


class UnknownAsset(LookupError):
    """The asset is not in ic3_asset_master (removed while the run was in flight)."""


@dataclass(frozen=True)
class SyncContext:
    """Who is writing: the source, and the Dagster run and batch each attempt is traced to in the sync log."""

    source: str
    sync_type: str  # the connector's name, the users' ``sync_type``
    run_id: str | None = None
    batch_id: str | None = None


def store_group(
    engine: Engine, connector: EntityConnector, outcomes: Sequence[FetchOutcome], context: SyncContext
) -> None:
    """Write ``outcomes`` in one transaction. An asset that left the register, or whose rows the database refuses, is
    recorded as an error instead (its ``status`` and ``error`` are updated).

    First all together, one statement per table for the whole group, under one savepoint; if the database refuses
    one asset's rows, that savepoint is rolled back and the group is written again asset by asset, each under a
    savepoint of its own, so only the refused asset fails. The group's asset rows are locked first (PostgreSQL
    ``FOR UPDATE``, SQLite ``BEGIN IMMEDIATE``), so the versions computed here cannot race another run's."""
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_LOCK_OPTION: True})
        with conn.begin():
            try:
                with conn.begin_nested():
                    _write_group(conn, connector, outcomes, context, utc_now())
                return
            except ASSET_ERRORS:
                pass
            for outcome in outcomes:
                _store_one(conn, connector, outcome, context)


def store_success(engine: Engine, connector: EntityConnector, outcome: FetchOutcome, context: SyncContext) -> int:
    """Write one successful outcome in a transaction of its own; return the asset's new sync_version."""
    with engine.begin() as conn:
        return _write_success(conn, connector, outcome, context, utc_now())


def store_failure(engine: Engine, connector: EntityConnector, outcome: FetchOutcome, context: SyncContext) -> None:
    """Record one failed (``error``) or ``not_found`` attempt in a transaction of its own."""
    with engine.begin() as conn:
        _write_failure(conn, connector, outcome, context, utc_now())


def _store_one(conn: Connection, connector: EntityConnector, outcome: FetchOutcome, context: SyncContext) -> None:
    now = utc_now()
    if outcome.status == "success":
        try:
            with conn.begin_nested():
                _write_success(conn, connector, outcome, context, now)
            return
        except UnknownAsset:
            outcome.status, outcome.error = "error", "asset no longer in ic3_asset_master"
        except ASSET_ERRORS as error:
            outcome.status, outcome.record = "error", None
            outcome.error = f"the database refused this asset's rows: {database_error_line(error)}"
    with conn.begin_nested():
        _write_failure(conn, connector, outcome, context, now)


def _write_success(
    conn: Connection, connector: EntityConnector, outcome: FetchOutcome, context: SyncContext, now: datetime
) -> int:
    values = {"last_synced_at": now, "last_attempt_at": now, "last_sync_status": "success",
              "last_sync_error": None, "updated_at": now}
    master = dict(connector.asset_master_values(outcome.record))
    if connector.mirrors_asset_master:
        bumped = conn.execute(_BUMP_MASTER, {"row_cmms_asset_id": outcome.asset_id, **master, **values,
                                             "consecutive_failures": 0}).one_or_none()
        if bumped is None:
            raise UnknownAsset(outcome.asset_id)
        asset_id, version = bumped
        _upsert_state(conn, context.source, asset_id, values, sync_version=version)
    else:
        asset_id = _asset_id(conn, outcome.asset_id)
        version = _upsert_state(conn, context.source, asset_id, values)
        if master:
            _update_master(conn, asset_id, master, now)
    keys = WriteKeys(asset_id=asset_id, cmms_asset_id=outcome.asset_id, sync_version=version, synced_at=now,
                     source=context.source)
    connector.write(conn, [_to_write(outcome, keys)])
    _log(conn, [outcome], context, now)
    return version


def _write_group(
    conn: Connection, connector: EntityConnector, outcomes: Sequence[FetchOutcome], context: SyncContext,
    now: datetime,
) -> None:
    """Every outcome of the group with one statement per table (versions computed under the group's row locks)."""
    ids = [outcome.asset_id for outcome in outcomes]
    # Two plain lookups by key. (One outer join of both with ``= ANY(array)`` was tried: PostgreSQL's generic plan
    # for it scanned the tables, 0.3 s a group at 30,000 assets; bench/README.md, issue #15 write path.)
    query = select(asset.c.cmms_asset_id, asset.c.asset_id, asset.c.sync_version).where(asset.c.cmms_asset_id.in_(ids))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    known = {cmms_id: (asset_id, version) for cmms_id, asset_id, version in conn.execute(query)}
    states = {asset_id: (version, failures) for asset_id, version, failures in conn.execute(
        select(state.c.asset_id, state.c.sync_version, state.c.consecutive_failures)
        .where(state.c.source == context.source, state.c.asset_id.in_([a for a, _ in known.values()]))
    )}
    synced_states, failed_states, master_rows, written = [], [], [], []
    for outcome in outcomes:
        if outcome.asset_id not in known:
            if outcome.status == "success":
                outcome.status, outcome.error, outcome.record = "error", "asset no longer in ic3_asset_master", None
            continue
        asset_id, master_version = known[outcome.asset_id]
        state_version, failures = states.get(asset_id, (0, 0))
        if outcome.status == "success":
            version = (master_version if connector.mirrors_asset_master else state_version) + 1
            values = {"last_synced_at": now, "last_attempt_at": now, "last_sync_status": "success",
                      "last_sync_error": None, "consecutive_failures": 0, "updated_at": now}
            synced_states.append({"source": context.source, "asset_id": asset_id, "sync_version": version, **values})
            master = dict(connector.asset_master_values(outcome.record))
            if connector.mirrors_asset_master:
                master.update(values, sync_version=version)
            keys = WriteKeys(asset_id=asset_id, cmms_asset_id=outcome.asset_id, sync_version=version, synced_at=now,
                             source=context.source)
            written.append(_to_write(outcome, keys))
        else:
            failures = failures + 1 if outcome.status == "error" else 0
            values = {"last_attempt_at": now, "last_sync_status": outcome.status,
                      "last_sync_error": outcome.error or "", "consecutive_failures": failures, "updated_at": now}
            failed_states.append({"source": context.source, "asset_id": asset_id, "sync_version": state_version,
                                  "last_synced_at": None, **values})
            master = values if connector.mirrors_asset_master else {}
        if master:
            master_rows.append({"row_asset_id": asset_id, **master, "updated_at": now})
    with pipelined(conn):
        for rows, failed in ((synced_states, False), (failed_states, True)):
            if rows:
                insert_many(conn, _state_set(conn.dialect.name, keep_synced_at=failed), rows, tuple(rows[0]),
                            key=("source", "asset_id"))
        update_master_rows(conn, master_rows)
        if written:
            connector.write(conn, written)
        _log(conn, outcomes, context, now)


def _to_write(outcome: FetchOutcome, keys: WriteKeys) -> RecordToWrite:
    return RecordToWrite(outcome.record, outcome.body or b"", outcome.http_status or 200, keys)


def update_master_rows(conn: Connection, rows: list[dict]) -> None:
    """Update ``ic3_asset_master`` rows (each ``row_asset_id`` plus the columns to set), one executemany per set of
    columns."""
    for same in _same_columns(rows):
        update_many(conn, _MASTER, asset, "asset_id", "row_asset_id", same,
                    tuple(c for c in same[0] if c != "row_asset_id"))


def _same_columns(rows: list[dict]) -> list[list[dict]]:
    """``rows`` split into runs that carry the same columns (one executemany each)."""
    runs: dict[tuple, list[dict]] = {}
    for row in rows:
        runs.setdefault(tuple(row), []).append(row)
    return list(runs.values())


def _write_failure(
    conn: Connection, connector: EntityConnector, outcome: FetchOutcome, context: SyncContext, now: datetime
) -> None:
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
    _log(conn, [outcome], context, now)


def _asset_id(conn: Connection, cmms_asset_id: str) -> int:
    found = conn.execute(_ASSET_ID, {"cmms_asset_id": cmms_asset_id}).scalar()
    if found is None:
        raise UnknownAsset(cmms_asset_id)
    return found


def _upsert_state(
    conn: Connection, source: str, asset_id: int, values: Mapping[str, Any], *, sync_version: int | None = None
) -> int:
    """Upsert a successful (source, asset) state: at ``sync_version`` when the master row already bumped it, else
    with ``sync_version + 1``; return the version now stored."""
    statement = _success_upsert(conn.dialect.name, given=sync_version is not None)
    row = {"source": source, "asset_id": asset_id, "sync_version": sync_version or 1, "consecutive_failures": 0,
           **{column: values.get(column) for column in _STATE_COLUMNS}}
    if sync_version is not None:
        conn.execute(statement, row)
        return sync_version
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


def _success_upsert(dialect: str, *, given: bool):
    cache_key = (dialect, "success", given)
    if cache_key not in _STATEMENTS:
        stmt = _insert(dialect)
        version = stmt.excluded.sync_version if given else state.c.sync_version + 1
        upsert = stmt.on_conflict_do_update(
            index_elements=["source", "asset_id"],
            set_={"sync_version": version, "consecutive_failures": 0,
                  **{column: stmt.excluded[column] for column in _STATE_COLUMNS}},
        )
        _STATEMENTS[cache_key] = upsert if given else upsert.returning(state.c.sync_version)
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


def _state_set(dialect: str, *, keep_synced_at: bool):
    """Upsert a (source, asset) state to exactly the values given (computed under the group's locks); a failed
    attempt keeps the last successful sync's time and version."""
    cache_key = (dialect, "set", keep_synced_at)
    if cache_key not in _STATEMENTS:
        stmt = _insert(dialect)
        kept = {"last_synced_at", "sync_version"} if keep_synced_at else set()
        columns = [c.name for c in state.columns if c.name not in {"source", "asset_id", *kept}]
        _STATEMENTS[cache_key] = stmt.on_conflict_do_update(
            index_elements=["source", "asset_id"], set_={column: stmt.excluded[column] for column in columns}
        )
    return _STATEMENTS[cache_key]


def _update_master(conn: Connection, asset_id: int, values: Mapping[str, Any], now: datetime) -> None:
    conn.execute(_MASTER, {"row_asset_id": asset_id, **values, "updated_at": now})


def _log(conn: Connection, outcomes: Sequence[FetchOutcome], context: SyncContext, now: datetime) -> None:
    insert_many(conn, _LOG_ATTEMPT, columns=_LOG_COLUMNS, rows=[{
        "serialnumber": outcome.asset_id, "sync_type": context.sync_type, "source": context.source,
        "status": outcome.status, "error_message": outcome.error if outcome.status != "success" else None,
        "http_status": outcome.http_status, "attempts": outcome.attempts, "run_id": context.run_id,
        "batch_id": context.batch_id, "synced_at": now,
    } for outcome in outcomes])
