"""Bulk upserts land on the same rows however often they run, on both dialects."""

from datetime import datetime, timezone

from sqlalchemy import func, select

from ic3_pipeline.warehouse import tables, upsert_rows

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _floors(n: int, name: str = "Floor") -> list[dict]:
    return [{"floor_id": i, "floor_name": f"{name} {i}", "location_id": 7, "asset_floor_id": i * 10,
             "updated_at": NOW} for i in range(n)]


def _count(conn, table) -> int:
    return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_insert_then_update_in_batches(engine):
    with engine.begin() as conn:
        assert upsert_rows(conn, tables.floor_master, _floors(2500), key=["floor_id"], batch_size=1000) == 2500
    with engine.begin() as conn:
        upsert_rows(conn, tables.floor_master, _floors(2500, name="Level"), key=["floor_id"], batch_size=1000)
    with engine.connect() as conn:
        assert _count(conn, tables.floor_master) == 2500
        names = set(conn.execute(select(tables.floor_master.c.floor_name)).scalars())
    assert names == {f"Level {i}" for i in range(2500)}


def test_update_only_named_columns(engine):
    with engine.begin() as conn:
        upsert_rows(conn, tables.floor_master, _floors(3), key=["floor_id"])
        changed = [{**row, "floor_name": "changed", "asset_floor_id": -1} for row in _floors(3)]
        upsert_rows(conn, tables.floor_master, changed, key=["floor_id"], update_columns=["floor_name"])
        rows = conn.execute(select(tables.floor_master.c.floor_name, tables.floor_master.c.asset_floor_id)).all()
    assert sorted(rows) == [("changed", 0), ("changed", 10), ("changed", 20)]


def test_do_nothing_keeps_existing_rows(engine):
    with engine.begin() as conn:
        upsert_rows(conn, tables.customer_master, [{"customer_name": "DJB", "created_at": NOW}], key=["customer_name"])
        first_id = conn.execute(select(tables.customer_master.c.customer_id)).scalar_one()
        upsert_rows(conn, tables.customer_master, [{"customer_name": "DJB", "created_at": NOW}, {"customer_name": "X", "created_at": NOW}],
                    key=["customer_name"], update_columns=())
        rows = dict(conn.execute(select(tables.customer_master.c.customer_name, tables.customer_master.c.customer_id)).all())
    assert rows["DJB"] == first_id and len(rows) == 2


def test_composite_keys_and_hostile_values(engine):
    hostile = "x'); DROP TABLE ic3_asset_master; --\n\"quoted\" ü ✓"
    with engine.begin() as conn:
        upsert_rows(conn, tables.asset_master, [{"cmms_asset_id": hostile, "sync_version": 0}], key=["cmms_asset_id"])
        asset_id = conn.execute(select(tables.asset_master.c.asset_id)).scalar_one()
        rows = [{"asset_id": asset_id, "cmms_asset_id": hostile, "period_type": p, "ticket_count": 1,
                 "sync_version": 1, "updated_at": NOW} for p in ("upto", "last_year")]
        upsert_rows(conn, tables.workorder_summary, rows, key=["asset_id", "period_type"])
        upsert_rows(conn, tables.workorder_summary, [{**r, "ticket_count": 2} for r in rows], key=["asset_id", "period_type"])
        counts = conn.execute(select(tables.workorder_summary.c.ticket_count)).scalars().all()
        stored = conn.execute(select(tables.asset_master.c.cmms_asset_id)).scalar_one()
    assert counts == [2, 2]
    assert stored == hostile


def test_nothing_to_write_is_fine(engine):
    with engine.begin() as conn:
        assert upsert_rows(conn, tables.floor_master, [], key=["floor_id"]) == 0
