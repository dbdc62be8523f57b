"""Reliability cases reuse the enrichment fixtures (imported register, instance, simulator, job runner)."""

from sqlalchemy import func, select

from ic3_pipeline_tests.sources import inconsistent
from ic3_pipeline.warehouse import tables
from ic3_pipeline_tests.innomaint.conftest import pipeline  # noqa: F401  (fixture)


def assert_exact(engine, expected_synced: set[str], expected_not_found: set[str] = frozenset()) -> None:
    """The database holds exactly what it should: every asset accounted for, no duplicates, nothing half-written."""
    asset = tables.asset_master
    with engine.connect() as conn:
        statuses = dict(conn.execute(select(asset.c.cmms_asset_id, asset.c.last_sync_status)).all())
        performance = conn.execute(select(func.count()).select_from(tables.asset_performance)).scalar_one()
        workorders = conn.execute(select(func.count()).select_from(tables.workorder_summary)).scalar_one()
        distinct_perf = conn.execute(select(func.count(func.distinct(tables.asset_performance.c.asset_id)))).scalar_one()
        state = dict(conn.execute(
            select(asset.c.cmms_asset_id, tables.sync_state.c.last_sync_status)
            .join(tables.sync_state, tables.sync_state.c.asset_id == asset.c.asset_id)
            .where(tables.sync_state.c.source == "innomaint")
        ).all())
    assert {i for i, s in statuses.items() if s == "success"} == expected_synced
    assert state == {i: s for i, s in statuses.items() if s is not None}  # the source's state, mirrored for the users
    assert {i for i, s in statuses.items() if s == "not_found"} == set(expected_not_found)
    assert performance == distinct_perf == len(expected_synced)
    assert workorders == 2 * len(expected_synced)
    assert inconsistent(engine) == []
