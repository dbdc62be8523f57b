"""Which assets a source should fetch: never attempted by it, last attempt failed, or older than the staleness window.

Keeping this decision in the database (``cmms_sync_state``, per source — not in Dagster partition state) is what makes
a re-run cheap and a crashed run resumable: whatever a previous run finished is no longer due. Every query here reads
one source's state only, within that source's sites (``scope``: partition keys; ``None``: every register site).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, Select, and_, func, or_, select

from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.times import as_utc

asset = tables.asset_master
location = tables.location_master
state = tables.sync_state

DEFAULT_STALE_AFTER = timedelta(hours=24)


def _with_state(query: Select, source: str) -> Select:
    """Join each asset's state for ``source`` (NULLs where the source never tried it)."""
    return query.outerjoin(state, and_(state.c.asset_id == asset.c.asset_id, state.c.source == source))


def _in_scope(query: Select, scope: Sequence[str] | None) -> Select:
    query = query.join(location, location.c.location_id == asset.c.location_id)
    return query if scope is None else query.where(location.c.partition_key.in_(list(scope)))


def due_asset_ids(
    engine: Engine,
    source: str,
    scope: Sequence[str] | None,
    *,
    now: datetime,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    force: bool = False,
    asset_ids: Sequence[str] | None = None,
) -> list[str]:
    """Ids due for ``source`` in the ``scope`` partitions, optionally limited to ``asset_ids``, in id order."""
    query = _in_scope(_with_state(select(asset.c.cmms_asset_id), source), scope).order_by(asset.c.cmms_asset_id)
    if asset_ids is not None:
        query = query.where(asset.c.cmms_asset_id.in_(list(asset_ids)))
    if not force:
        query = query.where(
            or_(
                state.c.last_sync_status.is_(None),
                state.c.last_sync_status == "error",
                state.c.last_attempt_at.is_(None),
                state.c.last_attempt_at < now - stale_after,
            )
        )
    return _scalars(engine, query)


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
    """A site holding assets whose last attempt by the source failed (404s excluded: the CMMS has answered for those)."""

    partition_key: str
    failed_assets: int
    max_consecutive_failures: int
    last_attempt_at: datetime


def failed_partitions(engine: Engine, source: str, scope: Sequence[str] | None) -> list[PartitionFailures]:
    query = _in_scope(
        select(location.c.partition_key, func.count(), func.max(state.c.consecutive_failures),
               func.max(state.c.last_attempt_at))
        .select_from(asset)
        .join(state, and_(state.c.asset_id == asset.c.asset_id, state.c.source == source)),
        scope,
    ).where(state.c.last_sync_status == "error").group_by(location.c.partition_key).order_by(location.c.partition_key)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [PartitionFailures(key, count, consecutive or 1, as_utc(last)) for key, count, consecutive, last in rows]


def never_attempted_partitions(engine: Engine, source: str, scope: Sequence[str] | None) -> list[str]:
    """Sites with at least one asset the source has not tried yet (new sites, or assets added to a site)."""
    query = (
        _in_scope(_with_state(select(location.c.partition_key).select_from(asset), source), scope)
        .where(state.c.last_sync_status.is_(None))
        .group_by(location.c.partition_key)
        .order_by(location.c.partition_key)
    )
    return _scalars(engine, query)


def _scalars(engine: Engine, query: Select) -> list:
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())
