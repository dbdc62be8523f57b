"""The invariant that makes per-asset transactions checkable: every synced asset's rows agree on its sync_version.

An asset a source synced at version N has, in each of the connector's versioned tables, exactly the rows that table
holds per asset, all at version N; an asset no source ever synced has none of them. Anything else is a half-written
asset, which the engine's transactions rule out — this query proves it after crashes, and each source's
``<source>_rows_consistent`` check keeps proving it in production.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, and_, exists, func, or_, select

from ic3_pipeline.sync.connector import VersionedTable
from ic3_pipeline.warehouse import tables

asset = tables.asset_master
state = tables.sync_state


def inconsistent_assets(
    engine: Engine, source: str, versioned: Sequence[VersionedTable], limit: int = 50
) -> list[tuple[str, str]]:
    """(asset id, what is wrong) for assets whose rows disagree with ``source``'s state; empty when consistent."""
    if not versioned:
        return []
    mine = state.alias("mine")
    synced_by_any = exists().where(state.c.asset_id == asset.c.asset_id, state.c.sync_version > 0)
    summaries = [_per_asset(table) for table in versioned]
    version = func.coalesce(mine.c.sync_version, 0)
    query = select(asset.c.cmms_asset_id, version).outerjoin(
        mine, and_(mine.c.asset_id == asset.c.asset_id, mine.c.source == source)
    )
    wrong_when_synced, present_when_never = [], []
    for summary, table in zip(summaries, versioned):
        joined_on = asset.c[table.asset_column] == summary.c.asset_key
        query = query.outerjoin(summary, joined_on).add_columns(summary.c.rows, summary.c.low, summary.c.high)
        wrong_when_synced += [
            summary.c.rows.is_(None), summary.c.rows != table.rows_per_asset,
            summary.c.low != mine.c.sync_version, summary.c.high != mine.c.sync_version,
        ]
        present_when_never.append(summary.c.rows.is_not(None))
    query = query.where(
        or_(
            and_(version > 0, or_(*wrong_when_synced)),
            and_(version == 0, ~synced_by_any, or_(*present_when_never)),
        )
    ).order_by(asset.c.cmms_asset_id).limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [(row[0], _describe(row[1], row[2:], versioned)) for row in rows]


def _per_asset(table: VersionedTable):
    """rows, lowest and highest sync_version of ``table`` per asset."""
    return (
        select(
            table.key.label("asset_key"),
            func.count().label("rows"),
            func.min(table.table.c.sync_version).label("low"),
            func.max(table.table.c.sync_version).label("high"),
        )
        .group_by(table.key)
        .subquery()
    )


def _describe(version: int, figures: Sequence, versioned: Sequence[VersionedTable]) -> str:
    parts = [f"state v{version}"]
    for index, table in enumerate(versioned):
        rows, low, high = figures[3 * index: 3 * index + 3]
        shown = f"v{low}" if low == high else f"v{low}..v{high}"
        parts.append(f"{table.table.name} {rows or 0}/{table.rows_per_asset} rows {shown if rows else ''}".rstrip())
    return ", ".join(parts)
