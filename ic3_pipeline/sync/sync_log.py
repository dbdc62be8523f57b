"""The per-batch row in ``cmms_sync_log`` (per-asset attempts go to ``ic3_sync_log`` from ``sync.attempts``).

It also remembers the request rate each batch found its API to accept, so the next batch starts just under it rather
than spending its first seconds re-learning the limit (slow start, then a 429 and a pause).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import httpx
from sqlalchemy import Engine, select

from ic3_pipeline.sync.attempts import SyncContext
from ic3_pipeline.sync.batch import BatchReport
from ic3_pipeline.sync.partitions import describe_partitions
from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.times import utc_now

# A limit learned longer ago than this is not trusted: the API's plan (and its limit) may have changed.
LEARNED_LIMIT_MAX_AGE = timedelta(days=7)
LEARNED_LIMIT_MAX_THROTTLED = 0.1  # share of a batch's requests answered 429 beyond which its limit is not learned


def record_batch(
    engine: Engine,
    context: SyncContext,
    partition_keys: Sequence[str] | None,
    report: BatchReport,
    started_at: datetime,
    *,
    api_base_url: str | None = None,
    status: str | None = None,
) -> None:
    finished_at = utc_now()
    if status is None:
        status = "success" if report.failed == 0 else ("partial" if report.synced else "failed")
    stats = report.request_stats
    with engine.begin() as conn:
        conn.execute(tables.cmms_sync_log.insert().values(
            batch_id=context.batch_id,
            sync_type=context.sync_type,
            source=context.source,
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
            api_base_url=_api_key(api_base_url),
            rate_limit_found=report.rate_limit_found,
        ))


def learned_rate_limit(engine: Engine, source: str, api_base_url: str, *, now: datetime | None = None) -> float | None:
    """The request rate (req/s) the latest healthy batch of ``source`` against ``api_base_url`` found the API to accept.

    Healthy: finished within ``LEARNED_LIMIT_MAX_AGE``, not stopped by a systemic fault, and at most
    ``LEARNED_LIMIT_MAX_THROTTLED`` of its requests answered 429 - a 429 storm measures the storm, not the limit,
    and starting every later batch that low would cost more than re-learning the limit does.
    """
    now = now or utc_now()
    log = tables.cmms_sync_log
    with engine.connect() as conn:
        found = conn.execute(
            select(log.c.rate_limit_found)
            .where(log.c.source == source, log.c.api_base_url == _api_key(api_base_url),
                   log.c.rate_limit_found.is_not(None),
                   log.c.finished_at >= now - LEARNED_LIMIT_MAX_AGE, log.c.status != "failed",
                   log.c.throttled <= LEARNED_LIMIT_MAX_THROTTLED * log.c.requests)
            .order_by(log.c.finished_at.desc(), log.c.id.desc())
            .limit(1)
        ).scalar()
    return float(found) if found else None


def _api_key(base_url: str | None) -> str | None:
    """The base URL as stored: no user name or password (never stored), no trailing slash."""
    if not base_url:
        return None
    url = httpx.URL(base_url)
    return str(url.copy_with(username=None, password=None)).rstrip("/")
