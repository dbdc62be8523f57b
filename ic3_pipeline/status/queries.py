"""Sync status computed from the database alone (so it is right whatever ran, or crashed): per source, and whole.

For one source the figures read that source's state within its sites. For the whole database each asset counts once:
needing retry if any source's last attempt at it failed, not found if a source answered 404 (and none failed),
synced if every source that tried it succeeded, never synced if no source tried it yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, case, func, select

from ic3_pipeline.sync.due import DEFAULT_STALE_AFTER
from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.times import as_utc, utc_now

asset = tables.asset_master
location = tables.location_master
state = tables.sync_state
batches = tables.cmms_sync_log


@dataclass
class SyncStatus:
    total: int
    synced: int  # last attempt succeeded
    needing_retry: int  # last attempt failed
    not_found: int  # the CMMS answered 404
    never_synced: int
    stale: int  # synced, but longer ago than the staleness window
    last_sync_at: datetime | None
    last_batches: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["last_sync_at"] = self.last_sync_at.isoformat() if self.last_sync_at else None
        for batch in data["last_batches"]:
            for key in ("started_at", "finished_at"):
                if batch.get(key) is not None:
                    batch[key] = batch[key].isoformat()
        return data


def sync_status(
    engine: Engine,
    source: str | None = None,
    scope: Sequence[str] | None = None,
    *,
    now: datetime | None = None,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    last: int = 5,
) -> SyncStatus:
    """``source``'s status within ``scope`` (partition keys; ``None``: every site), or the whole database's."""
    now = now or utc_now()
    per_asset = _per_source(source, scope) if source is not None else _per_asset_rollup()
    s = per_asset.c
    counts = select(
        func.count(),
        func.sum(case((s.status == "success", 1), else_=0)),
        func.sum(case((s.status == "error", 1), else_=0)),
        func.sum(case((s.status == "not_found", 1), else_=0)),
        func.sum(case((s.status.is_(None), 1), else_=0)),
        func.sum(case((and_(s.status == "success", s.synced_at < now - stale_after), 1), else_=0)),
        func.max(s.latest_sync),
    )
    recent = select(
        # cmms_sync_log.partition_key holds the batch's sites as a label ("Ahmedabad … Pune (60 sites)"), not a key
        batches.c.batch_id, batches.c.source, batches.c.partition_key.label("partitions"), batches.c.status,
        batches.c.assets_due,
        batches.c.assets_synced, batches.c.assets_failed, batches.c.assets_not_found, batches.c.requests,
        batches.c.throttled, batches.c.duration_ms, batches.c.started_at, batches.c.finished_at,
    ).order_by(batches.c.started_at.desc(), batches.c.id.desc()).limit(last)
    if source is not None:
        recent = recent.where(batches.c.source == source)
    with engine.connect() as conn:
        total, synced, failed, not_found, never, stale, last_sync = conn.execute(counts).one()
        last_batches = [dict(row._mapping) for row in conn.execute(recent)]
    return SyncStatus(
        total=total,
        synced=synced or 0,
        needing_retry=failed or 0,
        not_found=not_found or 0,
        never_synced=never or 0,
        stale=stale or 0,
        last_sync_at=as_utc(last_sync),
        last_batches=[{**b, "started_at": as_utc(b["started_at"]), "finished_at": as_utc(b["finished_at"])}
                      for b in last_batches],
    )


def _per_source(source: str, scope: Sequence[str] | None):
    """One row per asset in ``scope``: ``source``'s last status, last successful sync."""
    query = (
        select(state.c.last_sync_status.label("status"), state.c.last_synced_at.label("synced_at"),
               state.c.last_synced_at.label("latest_sync"))
        .select_from(asset)
        .outerjoin(state, and_(state.c.asset_id == asset.c.asset_id, state.c.source == source))
    )
    if scope is not None:
        query = query.join(location, location.c.location_id == asset.c.location_id).where(
            location.c.partition_key.in_(list(scope))
        )
    return query.subquery()


def _per_asset_rollup():
    """One row per register asset, its sources' states rolled up (see the module's docstring)."""
    errors = func.sum(case((state.c.last_sync_status == "error", 1), else_=0))
    missing = func.sum(case((state.c.last_sync_status == "not_found", 1), else_=0))
    status = case(
        (func.count(state.c.source) == 0, None),
        (errors > 0, "error"),
        (missing > 0, "not_found"),
        else_="success",
    )
    return (
        select(status.label("status"), func.min(state.c.last_synced_at).label("synced_at"),
               func.max(state.c.last_synced_at).label("latest_sync"))
        .select_from(asset)
        .outerjoin(state, state.c.asset_id == asset.c.asset_id)
        .group_by(asset.c.asset_id)
        .subquery()
    )
