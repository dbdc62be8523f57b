"""Innomaint's assets in the unified model: one ``cmms_asset`` row per synced asset, so a report over every CMMS is
one query (``SELECT source, count(*) FROM cmms_asset GROUP BY source``).

Innomaint is read asset by asset for the register's ids, so its assets are the register's: the row is built from the
``ic3_asset_master`` row the same transaction has just updated (the register's name and site, Innomaint's location and
status), in one ``INSERT … SELECT`` for the whole group. Innomaint sends no change time for an asset, so
``source_updated_at`` stays NULL; ``status`` is its ``data.status`` as sent (a number, kept as text).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, String, cast, func, literal, null, select

from ic3_pipeline.sync.connector import RecordToWrite
from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.bulk import one_of, upsert_statement
from ic3_pipeline.warehouse.unified_tables import cmms_asset

STREAM = "asset_details"
_COLUMNS = ("source", "source_id", "name", "site", "status", "serial_number", "ic3_asset_id", "source_updated_at",
            "_stream", "_record_key", "_partition", "_synced_at", "_deleted_at")


def upsert_unified_assets(conn: Connection, items: Sequence[RecordToWrite]) -> None:
    """The group's assets as ``cmms_asset`` rows of their source (all items of a group share it and its time)."""
    if not items:
        return
    asset, location = tables.asset_master, tables.location_master
    keys = items[0].keys
    rows = (
        select(
            literal(keys.source, String), asset.c.cmms_asset_id, asset.c.asset_name,
            func.coalesce(asset.c.cmms_location_name, asset.c.site_name), cast(asset.c.status, String),
            asset.c.cmms_asset_id, asset.c.asset_id, null().cast(cmms_asset.c.source_updated_at.type),
            literal(STREAM, String), asset.c.cmms_asset_id,
            func.coalesce(location.c.partition_key, ""), literal(keys.synced_at, cmms_asset.c._synced_at.type),
            null().cast(cmms_asset.c._deleted_at.type),
        )
        .select_from(asset.outerjoin(location, location.c.location_id == asset.c.location_id))
        .where(one_of(asset.c.asset_id, [item.keys.asset_id for item in items], conn.dialect))
    )
    statement = upsert_statement(conn.dialect.name, cmms_asset, ("source", "source_id"), _COLUMNS[2:])
    conn.execute(statement.from_select(list(_COLUMNS), rows))
