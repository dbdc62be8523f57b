"""The driver-level bulk writes store exactly what SQLAlchemy's own executemany stores, on both dialects."""

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import select

from ic3_pipeline.warehouse import tables, upsert_rows
from ic3_pipeline.warehouse.bulk import bulk_upsert

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)


def _asset(conn, cmms_id: str) -> int:
    upsert_rows(conn, tables.asset_master, [{"cmms_asset_id": cmms_id, "sync_version": 0}], key=["cmms_asset_id"])
    return conn.execute(select(tables.asset_master.c.asset_id)
                        .where(tables.asset_master.c.cmms_asset_id == cmms_id)).scalar_one()


def _rows(asset_id: int, cmms_id: str, cost: str) -> list[dict]:
    return [{"asset_id": asset_id, "cmms_asset_id": cmms_id, "period_type": period, "ticket_count": None if i else 3,
             "ticket_cost": Decimal(cost), "sync_version": 1, "updated_at": NOW} for i, period in enumerate(("upto", "last_year"))]


def _stored(conn) -> list[tuple]:
    w = tables.workorder_summary
    return conn.execute(select(w.c.cmms_asset_id, w.c.period_type, w.c.ticket_count, w.c.ticket_cost, w.c.updated_at)
                        .order_by(w.c.cmms_asset_id, w.c.period_type)).all()


def test_bulk_upsert_stores_what_sqlalchemy_stores(engine):
    hostile = "x'); DROP TABLE ic3_asset_master; --\n\"quoted\" ü ✓ 100%"
    with engine.begin() as conn:
        a, b = _asset(conn, "A"), _asset(conn, hostile)
        upsert_rows(conn, tables.workorder_summary, _rows(a, "A", "12.50"), key=["asset_id", "period_type"])
        expected = _stored(conn)
        conn.execute(tables.workorder_summary.delete())
        bulk_upsert(conn, tables.workorder_summary, _rows(a, "A", "12.50"), key=["asset_id", "period_type"])
        assert _stored(conn) == expected
        # Again with changed values and a new asset: updated in place, inserted beside.
        bulk_upsert(conn, tables.workorder_summary, [*_rows(a, "A", "7.25"), *_rows(b, hostile, "1.00")],
                    key=["asset_id", "period_type"])
        stored = _stored(conn)
    assert len(stored) == 4
    assert {(r.cmms_asset_id, r.ticket_cost) for r in stored} == {("A", Decimal("7.25")), (hostile, Decimal("1.00"))}
    assert {r.ticket_count for r in stored} == {3, None}


def test_a_key_twice_in_one_call_keeps_the_last_row(engine):
    """One ON CONFLICT statement cannot touch a row twice (PostgreSQL): such a call goes row by row instead."""
    with engine.begin() as conn:
        a = _asset(conn, "A")
        bulk_upsert(conn, tables.workorder_summary, [*_rows(a, "A", "1.00"), *_rows(a, "A", "2.00")],
                    key=["asset_id", "period_type"])
        stored = _stored(conn)
    assert [r.ticket_cost for r in stored] == [Decimal("2.00"), Decimal("2.00")]
