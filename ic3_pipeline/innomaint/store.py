"""Writing one asset's sync outcome, each in its own transaction.

A success writes the landed response, the asset master's CMMS columns, the building/floor/department masters, the
performance row and both work-order rows together, all stamped with the same new ``sync_version``: a crash leaves an
asset either wholly at its old version or wholly at its new one, and a sibling's failure never undoes it. The version
is bumped by the database (``sync_version + 1 … RETURNING``), so two overlapping runs cannot lose an update.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Engine, bindparam, update

from ic3_pipeline.innomaint.records import AssetRecord
from ic3_pipeline.warehouse import tables, upsert_rows

SYNC_TYPE = "innomaint"
asset = tables.asset_master

# Statements built once, values bound at execution: building a statement per asset (``.values(**row)``) costs more
# than running it. An UPDATE's execution parameters that name columns become its SET clause.
_SYNCED = (
    update(asset)
    .where(asset.c.cmms_asset_id == bindparam("asset_key"))
    .values(sync_version=asset.c.sync_version + 1)
    .returning(asset.c.asset_id, asset.c.sync_version)
)
_ATTEMPT_FAILED = update(asset).where(asset.c.cmms_asset_id == bindparam("asset_key"))
_LOG_ATTEMPT = tables.sync_log.insert()


class UnknownAsset(LookupError):
    """The asset is not in ic3_asset_master (removed while the run was in flight)."""


@dataclass(frozen=True)
class SyncContext:
    """Who is writing: shown in the sync log so each attempt can be traced to its Dagster run."""

    run_id: str | None = None
    batch_id: str | None = None


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def store_success(
    engine: Engine, record: AssetRecord, body: bytes, *, http_status: int, attempts: int, context: SyncContext
) -> int:
    """Write everything ``record`` says about its asset in one transaction; return the asset's new sync_version."""
    now = now_utc()
    with engine.begin() as conn:
        bumped = conn.execute(_SYNCED, {
            "asset_key": record.serialnumber,
            **record.master,
            "last_synced_at": now,
            "last_attempt_at": now,
            "last_sync_status": "success",
            "last_sync_error": None,
            "consecutive_failures": 0,
            "updated_at": now,
        }).one_or_none()
        if bumped is None:
            raise UnknownAsset(record.serialnumber)
        asset_id, version = bumped
        for table, row, key in (
            (tables.building, record.building, "building_id"),
            (tables.floor_master, record.floor, "floor_id"),
            (tables.department_master, record.department, "department_id"),
        ):
            if row is not None:
                upsert_rows(conn, table, [{**row, "updated_at": now}], key=[key])
        upsert_rows(
            conn,
            tables.raw_response,
            [{
                "cmms_asset_id": record.serialnumber,
                "payload": body.decode("utf-8", errors="replace"),
                "payload_sha256": hashlib.sha256(body).hexdigest(),
                "http_status": http_status,
                "fetched_at": now,
                "sync_version": version,
            }],
            key=["cmms_asset_id"],
        )
        keys = {"asset_id": asset_id, "cmms_asset_id": record.serialnumber, "sync_version": version}
        upsert_rows(conn, tables.asset_performance, [{**record.performance, **keys, "recorded_at": now}], key=["asset_id"])
        upsert_rows(
            conn,
            tables.workorder_summary,
            [{**row, **keys, "period_type": period, "updated_at": now} for period, row in record.workorders.items()],
            key=["asset_id", "period_type"],
        )
        conn.execute(_LOG_ATTEMPT, {
            "serialnumber": record.serialnumber, "sync_type": SYNC_TYPE, "status": "success", "error_message": None,
            "http_status": http_status, "attempts": attempts, "run_id": context.run_id, "batch_id": context.batch_id,
            "synced_at": now,
        })
    return version


def store_failure(
    engine: Engine,
    asset_id: str,
    *,
    status: str,
    error: str,
    http_status: int | None,
    attempts: int,
    context: SyncContext,
) -> None:
    """Record a failed (``error``) or ``not_found`` attempt; the asset's synced data, if any, is left as it was."""
    now = now_utc()
    failures = asset.c.consecutive_failures + 1 if status == "error" else 0
    with engine.begin() as conn:
        conn.execute(
            _ATTEMPT_FAILED.values(consecutive_failures=failures),
            {"asset_key": asset_id, "last_attempt_at": now, "last_sync_status": status, "last_sync_error": error,
             "updated_at": now},
        )
        conn.execute(_LOG_ATTEMPT, {
            "serialnumber": asset_id, "sync_type": SYNC_TYPE, "status": status, "error_message": error,
            "http_status": http_status, "attempts": attempts, "run_id": context.run_id, "batch_id": context.batch_id,
            "synced_at": now,
        })
