"""The performance history: what ``ic3_asset_performance`` held before each overwrite that changed it.

Written by the writer in the transaction that overwrites the performance rows (a sync's group, or a re-parse's), from
the rows it is about to write compared with the rows they replace, read under the group's row locks: so a history
row exists exactly when a value changed, never for a write that failed, and never twice for one version. An asset's
first performance row is a change (from nothing). The migration that created the table gave every asset already
synced its first row from its landed answer, so the newest history row of an asset always equals its performance row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.bulk import insert_many, one_of, read_rows

# The performance values whose change makes a history row (the typed ones: the text columns are their source).
TRACKED = ("total_ticket", "mttr_hours", "mtbf_hours", "availability_pct", "total_ticket_breakdown_hours",
           "total_schedule_breakdown_hours", "total_actual_hours")
_COLUMNS = ("asset_id", "cmms_asset_id", "sync_version", "synced_at", *TRACKED, "recorded_at")
_INSERT = tables.asset_performance_history.insert()
performance = tables.asset_performance


def append_changes(conn: Connection, rows: Sequence[Mapping[str, Any]], now: datetime) -> int:
    """Append a history row for each of ``rows`` (performance rows about to be written: ``asset_id``,
    ``cmms_asset_id``, ``sync_version``, ``recorded_at`` — the sync time — and the values) whose tracked values
    differ from the row it replaces, or that replaces none. Returns how many were appended."""
    if not rows:
        return 0
    current = {row[0]: tuple(row[1:]) for row in read_rows(conn, 
        select(performance.c.asset_id, *(performance.c[column] for column in TRACKED))
        .where(one_of(performance.c.asset_id, [row["asset_id"] for row in rows], conn.dialect))
    )}
    changed = {}
    for row in rows:  # one row per asset: the last, as the upsert leaves it
        values = tuple(row.get(column) for column in TRACKED)
        if current.get(row["asset_id"]) != values:
            changed[row["asset_id"]] = {
                "asset_id": row["asset_id"], "cmms_asset_id": row["cmms_asset_id"],
                "sync_version": row["sync_version"], "synced_at": row["recorded_at"],
                **dict(zip(TRACKED, values)), "recorded_at": now,
            }
    insert_many(conn, _INSERT, list(changed.values()), _COLUMNS)
    return len(changed)
