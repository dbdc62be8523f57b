"""Which assets a sync should fetch: never synced, last attempt failed, or older than the staleness window.

Keeping this decision in the database (not in Dagster partition state) is what makes a re-run cheap and a crashed run
resumable: whatever a previous run finished is no longer due.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine, func, or_, select

from ic3_pipeline.warehouse import tables

asset = tables.asset_master
location = tables.location_master

DEFAULT_STALE_AFTER = timedelta(hours=24)


def due_asset_ids(
    engine: Engine,
    partition_keys: Sequence[str] | None,
    *,
    now: datetime,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    force: bool = False,
    asset_ids: Sequence[str] | None = None,
) -> list[str]:
    """Ids due in the given site partitions (``None``: every site), optionally limited to ``asset_ids``, in id order."""
    query = select(asset.c.cmms_asset_id).order_by(asset.c.cmms_asset_id)
    if partition_keys is not None:
        query = query.join(location, location.c.location_id == asset.c.location_id).where(
            location.c.partition_key.in_(list(partition_keys))
        )
    if asset_ids is not None:
        query = query.where(asset.c.cmms_asset_id.in_(list(asset_ids)))
    if not force:
        query = query.where(
            or_(
                asset.c.last_sync_status.is_(None),
                asset.c.last_sync_status == "error",
                asset.c.last_attempt_at.is_(None),
                asset.c.last_attempt_at < now - stale_after,
            )
        )
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def partition_keys_of(engine: Engine, asset_ids: Sequence[str]) -> dict[str, str]:
    """asset id -> its site's partition key."""
    query = (
        select(asset.c.cmms_asset_id, location.c.partition_key)
        .join(location, location.c.location_id == asset.c.location_id)
        .where(asset.c.cmms_asset_id.in_(list(asset_ids)))
    )
    with engine.connect() as conn:
        return dict(conn.execute(query).all())


@dataclass(frozen=True)
class PartitionFailures:
    """A site holding assets whose last attempt failed (404s excluded: the CMMS has answered for those)."""

    partition_key: str
    failed_assets: int
    max_consecutive_failures: int
    last_attempt_at: datetime


def failed_partitions(engine: Engine) -> list[PartitionFailures]:
    query = (
        select(
            location.c.partition_key,
            func.count(),
            func.max(asset.c.consecutive_failures),
            func.max(asset.c.last_attempt_at),
        )
        .join(location, location.c.location_id == asset.c.location_id)
        .where(asset.c.last_sync_status == "error")
        .group_by(location.c.partition_key)
        .order_by(location.c.partition_key)
    )
    with engine.connect() as conn:
        return [
            PartitionFailures(key, count, consecutive or 1, _utc(last))
            for key, count, consecutive, last in conn.execute(query)
        ]


def never_attempted_partitions(engine: Engine) -> list[str]:
    """Sites with at least one asset that no sync has tried yet (new sites, or assets added to a site)."""
    query = (
        select(location.c.partition_key)
        .join(asset, asset.c.location_id == location.c.location_id)
        .where(asset.c.last_sync_status.is_(None))
        .group_by(location.c.partition_key)
        .order_by(location.c.partition_key)
    )
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value
