"""The per-batch row in ``cmms_sync_log`` (per-asset attempts go to ``ic3_sync_log`` from ``innomaint.store``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from sqlalchemy import Engine

from ic3_pipeline.innomaint.enrich import BatchReport
from ic3_pipeline.innomaint.store import SYNC_TYPE, SyncContext
from ic3_pipeline.warehouse import tables


def describe_partitions(keys: Sequence[str], shown: int = 3) -> str:
    """``'Delhi Khyala'`` or ``'Ahmedabad Maninagar … Pune Kharadi (60 sites)'``."""
    if len(keys) <= shown:
        return ", ".join(keys) or "(no partition)"
    return f"{keys[0]} … {keys[-1]} ({len(keys)} sites)"


def record_batch(
    engine: Engine,
    context: SyncContext,
    partition_keys: Sequence[str],
    report: BatchReport,
    started_at: datetime,
    *,
    status: str | None = None,
) -> None:
    finished_at = datetime.now(timezone.utc)
    if status is None:
        status = "success" if report.failed == 0 else ("partial" if report.synced else "failed")
    stats = report.request_stats
    with engine.begin() as conn:
        conn.execute(tables.cmms_sync_log.insert().values(
            batch_id=context.batch_id,
            sync_type=SYNC_TYPE,
            partition_key=describe_partitions(partition_keys),
            run_id=context.run_id,
            status=status,
            assets_due=report.due,
            assets_synced=report.synced,
            assets_failed=report.failed,
            assets_not_found=report.not_found,
            requests=stats.get("requests", 0),
            throttled=stats.get("throttled", 0),
            retries=stats.get("retries", 0),
            duration_ms=int((finished_at - started_at).total_seconds() * 1000),
            started_at=started_at,
            finished_at=finished_at,
        ))
