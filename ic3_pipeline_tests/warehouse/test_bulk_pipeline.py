"""The write path's driver-level helpers: binding converts each value as its own kind, ``one_of`` matches keys
exactly, and ``pipelined`` statements (PostgreSQL's pipeline mode) keep their order, their reads and their errors."""

from datetime import datetime, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ic3_pipeline.warehouse import tables, upsert_rows
from ic3_pipeline.warehouse.bulk import DriverStatement, bulk_upsert, one_of, pipelined, read_rows

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)
performance = tables.asset_performance


def test_equal_values_of_different_kinds_are_converted_each_as_its_own():
    """1, 1.0 and True are equal dictionary keys; a processor must still see each (and NULL stays NULL)."""
    statement = DriverStatement("?", ("a", "b"), (repr, None), True, ("a", "b"))
    rows = [{"a": 1, "b": 1}, {"a": 1.0, "b": 2}, {"a": True, "b": 3}, {"a": None, "b": 4}, {"a": 1, "b": 5}]
    assert statement.bind(rows) == [("1", 1), ("1.0", 2), ("True", 3), (None, 4), ("1", 5)]
    assert statement.bind_columns(rows) == [["1", "1.0", "True", None, "1"], [1, 2, 3, 4, 5]]
    # One kind: each distinct value converted once, the column mapped.
    assert statement.bind([{"a": 2.5, "b": 0}, {"a": 2.5, "b": 1}, {"b": 2}]) == [("2.5", 0), ("2.5", 1), (None, 2)]


def _assets(conn, *cmms_ids: str) -> list[int]:
    upsert_rows(conn, tables.asset_master, [{"cmms_asset_id": c, "sync_version": 0} for c in cmms_ids],
                key=["cmms_asset_id"])
    found = dict(conn.execute(select(tables.asset_master.c.cmms_asset_id, tables.asset_master.c.asset_id)).all())
    return [found[c] for c in cmms_ids]


def _performance(asset_id: int, cmms_id: str, mttr: float) -> dict:
    return {"asset_id": asset_id, "cmms_asset_id": cmms_id, "sync_version": 1, "mttr_hours": mttr, "recorded_at": NOW}


def test_one_of_matches_whole_keys_only(engine):
    long_key = "K" * 200
    with engine.begin() as conn:
        _assets(conn, long_key, "A")
        asset = tables.asset_master
        found = conn.execute(select(asset.c.cmms_asset_id)
                             .where(one_of(asset.c.cmms_asset_id, [long_key + "X", "A", "B"], conn.dialect))).all()
    assert [row[0] for row in found] == ["A"]  # the longer key is not cut down to the stored one


def test_pipelined_statements_run_in_order_and_a_read_sees_the_writes_before_it(engine):
    with engine.begin() as conn:
        a, b = _assets(conn, "A", "B")
        with pipelined(conn):
            bulk_upsert(conn, performance, [_performance(a, "A", 1.5), _performance(b, "B", 2.5)], key=["asset_id"])
            seen = read_rows(conn, select(performance.c.cmms_asset_id, performance.c.mttr_hours)
                             .where(one_of(performance.c.asset_id, [a, b], conn.dialect))
                             .order_by(performance.c.cmms_asset_id))
            bulk_upsert(conn, performance, [_performance(a, "A", 3.5)], key=["asset_id"])
        stored = conn.execute(select(performance.c.cmms_asset_id, performance.c.mttr_hours)
                              .order_by(performance.c.cmms_asset_id)).all()
    assert [tuple(row) for row in seen] == [("A", 1.5), ("B", 2.5)]
    assert [tuple(row) for row in stored] == [("A", 3.5), ("B", 2.5)]


@pytest.mark.parametrize("then_read", [False, True])
def test_a_refused_statement_in_a_pipeline_raises_sqlalchemys_error_and_rolls_back_alone(engine, then_read):
    """The error arrives at the pipeline's end (or at a later read): still SQLAlchemy's IntegrityError, so the
    writer's per-asset fallback catches it, and the savepoint rolls back only what ran inside it."""
    with engine.begin() as conn:
        (a,) = _assets(conn, "A")
        bulk_upsert(conn, performance, [_performance(a, "A", 1.0)], key=["asset_id"])
        with pytest.raises(IntegrityError):
            with conn.begin_nested(), pipelined(conn):
                bulk_upsert(conn, performance, [_performance(a, "A", 9.0)], key=["asset_id"])
                bulk_upsert(conn, performance, [_performance(a + 1000, "nobody", 2.0)], key=["asset_id"])  # no such asset
                if then_read:
                    read_rows(conn, select(performance.c.asset_id))
        stored = conn.execute(select(performance.c.cmms_asset_id, performance.c.mttr_hours)).all()
    assert [tuple(row) for row in stored] == [("A", 1.0)]
