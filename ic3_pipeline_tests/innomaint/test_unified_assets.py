"""Innomaint's synced assets are rows of the unified ``cmms_asset`` table, written with the asset's other rows, so one
query reports over every source."""

from sqlalchemy import select

from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.unified_tables import cmms_asset
from ic3_pipeline_tests.sources import INNOMAINT


def unified(engine) -> dict[str, dict]:
    with engine.connect() as conn:
        return {row.source_id: row._asdict() for row in conn.execute(select(cmms_asset))}


def test_each_synced_asset_is_a_cmms_asset_row_of_its_source(pipeline):
    assert pipeline.enrich(pipeline.partition_keys[:2]).success
    asset, location, state = tables.asset_master, tables.location_master, tables.sync_state
    with pipeline.engine.connect() as conn:
        synced = {row.cmms_asset_id: row for row in conn.execute(
            select(asset.c.cmms_asset_id, asset.c.asset_id, asset.c.asset_name, asset.c.cmms_location_name,
                   asset.c.status, location.c.partition_key)
            .join(location, location.c.location_id == asset.c.location_id)
            .join(state, state.c.asset_id == asset.c.asset_id)
            .where(state.c.last_sync_status == "success"))}
    rows = unified(pipeline.engine)
    assert synced and set(rows) == set(synced)  # the synced assets, and only they (never-synced ones have no row)
    for cmms_id, master in synced.items():
        row = rows[cmms_id]
        assert row["source"] == INNOMAINT.source and row["ic3_asset_id"] == master.asset_id
        assert (row["name"], row["site"], row["serial_number"]) == (master.asset_name, master.cmms_location_name, cmms_id)
        assert row["status"] == (None if master.status is None else str(master.status))
        assert (row["_stream"], row["_record_key"], row["_partition"]) == ("asset_details", cmms_id, master.partition_key)
        assert row["_deleted_at"] is None and row["_synced_at"] is not None


def test_a_later_sync_updates_the_rows_in_place(pipeline):
    assert pipeline.enrich(pipeline.partition_keys[:1]).success
    first = unified(pipeline.engine)
    assert pipeline.enrich(pipeline.partition_keys[:1], config={"force": True}).success
    second = unified(pipeline.engine)
    assert set(second) == set(first)  # one row per asset, whatever the number of syncs
    assert all(second[a]["_synced_at"] > first[a]["_synced_at"] for a in first)
