"""Writing one Innomaint asset-detail record: the landed response, the building / floor / department masters, the
performance row and both work-order rows, inside the engine's per-asset transaction and stamped with its version."""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection

from ic3_pipeline.connectors.innomaint.records import AssetRecord
from ic3_pipeline.sync.connector import WriteKeys
from ic3_pipeline.warehouse import tables, upsert_rows

_MASTERS = (
    (tables.building, "building", "building_id"),
    (tables.floor_master, "floor", "floor_id"),
    (tables.department_master, "department", "department_id"),
)


def write_record(conn: Connection, record: AssetRecord, body: bytes, *, http_status: int, keys: WriteKeys) -> None:
    now = keys.synced_at
    for table, attribute, key in _MASTERS:
        row = getattr(record, attribute)
        if row is not None:
            upsert_rows(conn, table, [{**row, "updated_at": now}], key=[key])
    upsert_rows(
        conn,
        tables.raw_response,
        [{
            "cmms_asset_id": keys.cmms_asset_id,
            "payload": body.decode("utf-8", errors="replace"),
            "payload_sha256": hashlib.sha256(body).hexdigest(),
            "http_status": http_status,
            "fetched_at": now,
            "sync_version": keys.sync_version,
        }],
        key=["cmms_asset_id"],
    )
    ids = {"asset_id": keys.asset_id, "cmms_asset_id": keys.cmms_asset_id, "sync_version": keys.sync_version}
    upsert_rows(conn, tables.asset_performance, [{**record.performance, **ids, "recorded_at": now}], key=["asset_id"])
    upsert_rows(
        conn,
        tables.workorder_summary,
        [{**row, **ids, "period_type": period, "updated_at": now} for period, row in record.workorders.items()],
        key=["asset_id", "period_type"],
    )
