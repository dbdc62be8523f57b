"""The sync status of the fleet, computed from the database alone (so it is right whatever ran, or crashed)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine, and_, case, func, select

from ic3_pipeline.innomaint.due import DEFAULT_STALE_AFTER
from ic3_pipeline.warehouse import tables

asset = tables.asset_master
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
    engine: Engine, *, now: datetime | None = None, stale_after: timedelta = DEFAULT_STALE_AFTER, last: int = 5
) -> SyncStatus:
    now = now or datetime.now(timezone.utc)
    status = asset.c.last_sync_status
    counts = select(
        func.count(),
        func.sum(case((status == "success", 1), else_=0)),
        func.sum(case((status == "error", 1), else_=0)),
        func.sum(case((status == "not_found", 1), else_=0)),
        func.sum(case((status.is_(None), 1), else_=0)),
        func.sum(case((and_(status == "success", asset.c.last_synced_at < now - stale_after), 1), else_=0)),
        func.max(asset.c.last_synced_at),
    )
    recent = select(
        batches.c.batch_id, batches.c.partition_key, batches.c.status, batches.c.assets_due, batches.c.assets_synced,
        batches.c.assets_failed, batches.c.assets_not_found, batches.c.requests, batches.c.throttled,
        batches.c.duration_ms, batches.c.started_at, batches.c.finished_at,
    ).order_by(batches.c.started_at.desc(), batches.c.id.desc()).limit(last)
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
        last_sync_at=_aware(last_sync),
        last_batches=[{**b, "started_at": _aware(b["started_at"]), "finished_at": _aware(b["finished_at"])} for b in last_batches],
    )


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything here is written in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value
