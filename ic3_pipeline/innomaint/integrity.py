"""The invariant that makes per-asset transactions checkable: every synced asset's rows agree on its sync_version.

An asset at version N has its landed response, its performance row and both work-order rows at version N; an asset
never synced has none of them. Anything else is a half-written asset, which the store's transactions rule out — this
query proves it after crashes, and the ``innomaint_rows_consistent`` check keeps proving it in production.
"""

from __future__ import annotations

from sqlalchemy import Engine, and_, func, or_, select

from ic3_pipeline.warehouse import tables

asset = tables.asset_master
performance = tables.asset_performance
workorders = tables.workorder_summary
raw = tables.raw_response


def inconsistent_assets(engine: Engine, limit: int = 50) -> list[tuple[str, str]]:
    """(asset id, what is wrong) for assets whose rows disagree; empty when the database is consistent."""
    wo = (
        select(
            workorders.c.asset_id,
            func.count().label("periods"),
            func.min(workorders.c.sync_version).label("low"),
            func.max(workorders.c.sync_version).label("high"),
        )
        .group_by(workorders.c.asset_id)
        .subquery()
    )
    query = (
        select(asset.c.cmms_asset_id, asset.c.sync_version, performance.c.sync_version, wo.c.periods, wo.c.low,
               wo.c.high, raw.c.sync_version)
        .outerjoin(performance, performance.c.asset_id == asset.c.asset_id)
        .outerjoin(wo, wo.c.asset_id == asset.c.asset_id)
        .outerjoin(raw, raw.c.cmms_asset_id == asset.c.cmms_asset_id)
        .where(
            or_(
                and_(asset.c.sync_version == 0, or_(performance.c.id.is_not(None), wo.c.periods.is_not(None),
                                                    raw.c.sync_version.is_not(None))),
                and_(
                    asset.c.sync_version > 0,
                    or_(
                        performance.c.sync_version.is_(None),
                        performance.c.sync_version != asset.c.sync_version,
                        wo.c.periods.is_(None),
                        wo.c.periods != 2,
                        wo.c.low != asset.c.sync_version,
                        wo.c.high != asset.c.sync_version,
                        raw.c.sync_version.is_(None),
                        raw.c.sync_version != asset.c.sync_version,
                    ),
                ),
            )
        )
        .order_by(asset.c.cmms_asset_id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [
            (row[0], f"master v{row[1]}, performance v{row[2]}, work orders {row[3] or 0} rows v{row[4]}..v{row[5]}, "
                     f"response v{row[6]}")
            for row in conn.execute(query)
        ]
