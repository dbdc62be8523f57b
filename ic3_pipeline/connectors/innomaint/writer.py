"""Writing Innomaint asset-detail records: the landed responses, the building / floor / department masters, the
performance rows (and a history row where their values changed), both work-order rows of each and its
``cmms_asset`` row, inside the engine's transaction and stamped with each asset's version. One statement per table for all the records given (the
engine hands over a group at a time)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy import Connection

from ic3_pipeline.connectors.innomaint.history import append_changes
from ic3_pipeline.connectors.innomaint.unified import upsert_unified_assets
from ic3_pipeline.sync.connector import RecordToWrite
from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.bulk import bulk_upsert
from ic3_pipeline.warehouse.times import utc_now

_MASTERS = (
    (tables.building, "building", "building_id"),
    (tables.floor_master, "floor", "floor_id"),
    (tables.department_master, "department", "department_id"),
)


def write_records(conn: Connection, items: Sequence[RecordToWrite]) -> None:
    for table, attribute, key in _MASTERS:
        rows = {}  # one row per id: the last record's, as writing them one by one would leave it
        for item in items:
            row = getattr(item.record, attribute)
            if row is not None:
                rows[row[key]] = {**row, "updated_at": item.keys.synced_at}
        if rows:  # in id order: concurrent writers (a re-parse's workers) lock shared rows in one order, no deadlock
            bulk_upsert(conn, table, [rows[row_id] for row_id in sorted(rows, key=str)], key=[key])
    landed = [_landed(item) for item in items if not item.already_landed]  # a re-parse's bodies stay as landed
    if landed:
        bulk_upsert(conn, tables.raw_response, landed, key=["cmms_asset_id"])
    performance = [{**item.record.performance, **_ids(item), "recorded_at": item.keys.synced_at} for item in items]
    append_changes(conn, performance, utc_now())  # before the overwrite: compared with the rows it replaces
    bulk_upsert(conn, tables.asset_performance, performance, key=["asset_id"])
    bulk_upsert(
        conn,
        tables.workorder_summary,
        [{**row, **_ids(item), "period_type": period, "updated_at": item.keys.synced_at}
         for item in items for period, row in item.record.workorders.items()],
        key=["asset_id", "period_type"],
    )
    upsert_unified_assets(conn, items)


def _landed(item: RecordToWrite) -> dict:
    return {
        "cmms_asset_id": item.keys.cmms_asset_id,
        "payload": item.body.decode("utf-8", errors="replace"),
        "payload_sha256": hashlib.sha256(item.body).hexdigest(),
        "http_status": item.http_status,
        "fetched_at": item.keys.synced_at,
        "sync_version": item.keys.sync_version,
    }


def _ids(item: RecordToWrite) -> dict:
    keys = item.keys
    return {"asset_id": keys.asset_id, "cmms_asset_id": keys.cmms_asset_id, "sync_version": keys.sync_version}
