"""The episode bookkeeping of ``ic3_alert_work_order``, as plain SQL on one connection.

An episode of an alert for an asset starts at the evaluation that first finds the asset failing and ends at the one
that finds it passing again. One row per episode: while it is open (``episode_ended_at`` NULL) the row is the
episode's memory - a work order created (its id stored) is never raised again; a failed attempt is retried; a row
left ``sending`` (the process stopped between the POST and recording its answer) is never re-sent, because the CMMS
may hold the work order already: it is reported for a person to check, never guessed.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, select, update

from ic3_pipeline.warehouse.tables import alert_work_order as awo

WOULD_CREATE, SENDING, CREATED, FAILED, SKIPPED = "would_create", "sending", "created", "failed", "skipped"


def open_episodes(conn: Connection, alert: str) -> dict[int, dict[str, Any]]:
    """The alert's open episodes by asset_id."""
    rows = conn.execute(select(awo).where(awo.c.alert == alert, awo.c.episode_ended_at.is_(None))).mappings()
    return {row["asset_id"]: dict(row) for row in rows}


def close_recovered(conn: Connection, alert: str, failing: Collection[int], now: datetime) -> list[dict[str, Any]]:
    """End the open episodes of assets no longer failing; return those rows (as they were)."""
    recovered = [row for asset_id, row in open_episodes(conn, alert).items() if asset_id not in failing]
    if recovered:
        conn.execute(update(awo).where(awo.c.id.in_([row["id"] for row in recovered])).values(
            episode_ended_at=now, updated_at=now))
    return recovered


def start_episode(conn: Connection, alert: str, asset_id: int, cmms_asset_id: str, now: datetime,
                  dry_run: bool) -> dict[str, Any]:
    row = {"alert": alert, "asset_id": asset_id, "cmms_asset_id": cmms_asset_id, "episode_started_at": now,
           "status": WOULD_CREATE, "dry_run": dry_run, "attempts": 0, "updated_at": now}
    row["id"] = conn.execute(awo.insert().values(**row)).inserted_primary_key[0]
    return row


def record(conn: Connection, row_id: int, now: datetime, **values: Any) -> None:
    conn.execute(update(awo).where(awo.c.id == row_id).values(updated_at=now, **values))


def claim_for_sending(conn: Connection, row_id: int, status: str, now: datetime) -> bool:
    """Mark the row ``sending`` if it still has ``status`` (another run did not take it meanwhile)."""
    result = conn.execute(update(awo).where(and_(awo.c.id == row_id, awo.c.status == status)).values(
        status=SENDING, dry_run=False, attempts=awo.c.attempts + 1, updated_at=now))
    return result.rowcount == 1
