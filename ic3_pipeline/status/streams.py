"""How in sync a collection source is: rows per table (live and soft-deleted), its rows in the unified model, and per
(stream, partition) the high-water mark and the last sync — what ``ic3 status <source>`` prints and its status asset
shows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, func, select

from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.stream_tables import DELETED_AT, TYPE_ERRORS, existing_table
from ic3_pipeline.warehouse.times import as_utc
from ic3_pipeline.warehouse.unified_tables import UNIFIED_TABLES, mapping_error


@dataclass
class TableCount:
    table: str
    rows: int
    deleted: int | None  # None for a child table (children go with their parent)
    values_kept_as_text: int


@dataclass
class UnifiedCount:
    table: str  # a unified table the source has rows in
    rows: int
    deleted: int


@dataclass
class StreamPartitionState:
    stream: str
    partition: str
    high_water_mark: str | None
    last_sync_at: datetime | None
    last_full_sync_at: datetime | None
    last_status: str | None
    last_error: str | None


@dataclass
class StreamSourceStatus:
    source: str
    tables: list[TableCount] = field(default_factory=list)
    partitions: list[StreamPartitionState] = field(default_factory=list)
    schema_changes: int = 0
    unified: list[UnifiedCount] = field(default_factory=list)
    not_mapped: int = 0  # records its mappings could not convert (cmms_mapping_error)

    @property
    def failed(self) -> list[StreamPartitionState]:
        return [state for state in self.partitions if state.last_status == "failed"]

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "tables": [vars(count) for count in self.tables],
            "streams": [
                {**vars(state), "last_sync_at": _iso(state.last_sync_at),
                 "last_full_sync_at": _iso(state.last_full_sync_at)}
                for state in self.partitions
            ],
            "schema_changes": self.schema_changes,
            "unified": [vars(count) for count in self.unified],
            "records_not_mapped": self.not_mapped,
            "failed": len(self.failed),
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def stream_source_status(engine: Engine, source: str, table_names: Sequence[tuple[str, bool]]) -> StreamSourceStatus:
    """``table_names``: (table, is_child) of every table the source's streams write, in load order."""
    status = StreamSourceStatus(source)
    state = tables.stream_state
    with engine.connect() as conn:
        for name, is_child in table_names:
            table = existing_table(conn, name)
            if table is None:
                status.tables.append(TableCount(name, 0, None if is_child else 0, 0))
                continue
            kept = conn.execute(select(func.count()).select_from(table).where(table.c[TYPE_ERRORS].is_not(None))).scalar_one()
            if is_child:
                rows = conn.execute(select(func.count()).select_from(table)).scalar_one()
                status.tables.append(TableCount(name, rows, None, kept))
                continue
            live, deleted = conn.execute(select(
                func.count().filter(table.c[DELETED_AT].is_(None)), func.count().filter(table.c[DELETED_AT].is_not(None))
            ).select_from(table)).one()
            status.tables.append(TableCount(name, live, deleted, kept))
        for row in conn.execute(select(state).where(state.c.source == source)
                                .order_by(state.c.stream, state.c.partition_key)):
            status.partitions.append(StreamPartitionState(
                row.stream, row.partition_key, row.high_water_mark, as_utc(row.last_sync_at),
                as_utc(row.last_full_sync_at), row.last_status, row.last_error))
        status.schema_changes = conn.execute(
            select(func.count()).select_from(tables.schema_change).where(tables.schema_change.c.source == source)
        ).scalar_one()
        for name, table in UNIFIED_TABLES.items():
            live, deleted = conn.execute(select(
                func.count().filter(table.c._deleted_at.is_(None)), func.count().filter(table.c._deleted_at.is_not(None))
            ).where(table.c.source == source)).one()
            if live or deleted:
                status.unified.append(UnifiedCount(name, live, deleted))
        status.not_mapped = conn.execute(
            select(func.count(func.distinct(mapping_error.c.stream + "/" + mapping_error.c.record_key)))
            .where(mapping_error.c.source == source)).scalar_one()
    return status


def format_stream_status(status: StreamSourceStatus, where: str) -> str:
    """The plain-text report (``ic3 status <source>``)."""
    lines = [f"Sync status of {where}", "", f"  {'table':<40} {'rows':>9} {'deleted':>8} {'kept as text':>13}"]
    for count in status.tables:
        deleted = "-" if count.deleted is None else str(count.deleted)
        lines.append(f"  {count.table:<40} {count.rows:>9} {deleted:>8} {count.values_kept_as_text:>13}")
    lines += ["", f"  {'stream':<14} {'partition':<12} {'status':<8} {'last sync (UTC)':<20} {'high-water mark'}"]
    if not status.partitions:
        lines.append("  (never synced)")
    for state in status.partitions:
        when = state.last_sync_at.strftime("%Y-%m-%d %H:%M:%S") if state.last_sync_at else "never"
        lines.append(f"  {state.stream:<14} {state.partition or '-':<12} {state.last_status or '-':<8} {when:<20} "
                     f"{state.high_water_mark or '-'}")
        if state.last_status == "failed" and state.last_error:
            lines.append(f"      failed: {state.last_error.splitlines()[0][:200]}")
    if status.unified or status.not_mapped:
        lines += ["", f"  {'unified model':<40} {'rows':>9} {'deleted':>8}"]
        lines += [f"  {count.table:<40} {count.rows:>9} {count.deleted:>8}" for count in status.unified]
        lines.append(f"  records not mapped: {status.not_mapped} (cmms_mapping_error)")
    lines += ["", f"  columns added by schema drift: {status.schema_changes} (cmms_schema_change)"]
    return "\n".join(lines)
