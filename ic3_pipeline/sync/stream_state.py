"""Where each (source, stream, partition) stands: its high-water mark and last sync (``cmms_stream_state``), and one
``cmms_stream_log`` row per stream sync.

The high-water mark only moves inside the transaction that commits the rows carrying it, so a sync killed at any
point resumes from a mark that is never ahead of what the database holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, select

from ic3_pipeline.sync.streams import StreamReport
from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.times import as_utc, utc_now
from ic3_pipeline.warehouse.upsert import upsert_rows

NO_PARTITION = ""  # the partition key of an unpartitioned stream
_KEY = ("source", "stream", "partition_key")


@dataclass(frozen=True)
class StreamPosition:
    high_water_mark: datetime | None
    last_full_sync_at: datetime | None


def read_position(engine: Engine, source: str, stream: str, partition: str) -> StreamPosition:
    state = tables.stream_state
    with engine.connect() as conn:
        row = conn.execute(
            select(state.c.high_water_mark, state.c.last_full_sync_at)
            .where(state.c.source == source, state.c.stream == stream, state.c.partition_key == partition)
        ).one_or_none()
    if row is None:
        return StreamPosition(None, None)
    mark = datetime.fromisoformat(row.high_water_mark) if row.high_water_mark else None
    return StreamPosition(as_utc(mark), as_utc(row.last_full_sync_at))


def _save(conn: Connection, source: str, stream: str, partition: str, **values: object) -> None:
    upsert_rows(conn, tables.stream_state,
                [{"source": source, "stream": stream, "partition_key": partition, **values, "updated_at": utc_now()}],
                _KEY)


def advance_mark(conn: Connection, source: str, stream: str, partition: str, mark: datetime) -> None:
    """Move the high-water mark to ``mark`` in ``conn``'s transaction (the one committing the rows behind it)."""
    _save(conn, source, stream, partition, high_water_mark=mark.isoformat())


def mark_started(engine: Engine, source: str, stream: str, partition: str) -> None:
    with engine.begin() as conn:
        _save(conn, source, stream, partition, last_status="running", last_error=None)


def mark_finished(engine: Engine, source: str, stream: str, partition: str, *, full: bool, error: str | None,
                  run_id: str | None, report: StreamReport, started_at: datetime) -> None:
    """The stream sync's end: its state and its log row, in one transaction."""
    now = utc_now()
    values: dict[str, object] = {"last_status": "failed" if error else "success", "last_error": error}
    if not error:
        values["last_sync_at"] = now
        if full:
            values["last_full_sync_at"] = now
    stats = report.request_stats
    with engine.begin() as conn:
        _save(conn, source, stream, partition, **values)
        conn.execute(tables.stream_log.insert().values(
            source=source, stream=stream, partition_key=partition, run_id=run_id, mode=report.mode,
            status="failed" if error else "success", error_message=error, pages=report.pages,
            rows_written=report.rows, child_rows_written=report.child_rows, rows_deleted=report.deleted,
            values_kept_as_text=report.kept_as_text, new_columns=len(report.new_columns),
            requests=stats.get("requests", 0), throttled=stats.get("throttled", 0), retries=stats.get("retries", 0),
            high_water_mark_before=report.high_water_mark_before, high_water_mark_after=report.high_water_mark_after,
            started_at=started_at, finished_at=now,
        ))


def failed_stream_partitions(engine: Engine, source: str) -> list[tuple[str, str, int, datetime]]:
    """(stream, partition, consecutive failures, last failure time) of each (stream, partition) whose last sync failed."""
    state, log = tables.stream_state, tables.stream_log
    with engine.connect() as conn:
        failed = conn.execute(select(state.c.stream, state.c.partition_key, state.c.updated_at)
                              .where(state.c.source == source, state.c.last_status == "failed")).all()
        result = []
        for stream_name, partition, updated_at in failed:
            statuses = conn.execute(
                select(log.c.status).where(log.c.source == source, log.c.stream == stream_name,
                                           log.c.partition_key == partition)
                .order_by(log.c.finished_at.desc(), log.c.id.desc()).limit(20)).scalars().all()
            streak = next((i for i, status in enumerate(statuses) if status != "failed"), len(statuses))
            result.append((stream_name, partition, max(1, streak),
                           as_utc(updated_at)))
    return result
