"""The unified model: assets, work orders and maintenance schedules of every source in one set of tables.

Each source lands its records in its own raw tables (``<source>_<stream>``, as the API sends them); a stream that
declares a ``unified:`` mapping also writes one row per record here, in the same transaction as the raw page, so a
report over every CMMS is one query. Rows are keyed by (``source``, ``source_id``); the normalised columns
(``status``, ``priority``, ``work_type``) hold only the values listed below, whatever the source called them.

Bookkeeping: ``_stream`` and ``_record_key`` name the raw row the unified row came from (its stream and its key
joined by ``/``), ``_partition`` the partition it was read in, ``_synced_at`` when it was written, ``_deleted_at``
when a complete full read no longer saw it (as in the raw table; cleared when it comes back).

A record a mapping could not convert is not here at all (never half a row): ``cmms_mapping_error`` says which
record, field, value and transform, and the raw table still holds the record.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Boolean, Column, DateTime, Float, Index, Integer, String, Table, Text

from ic3_pipeline.warehouse.tables import SOURCE, metadata

WORK_ORDER_STATUSES = ("open", "in_progress", "on_hold", "completed", "cancelled")
WORK_TYPES = ("preventive", "corrective", "emergency", "inspection", "other")
PRIORITIES = (1, 2, 3, 4, 5)  # 1 is the highest


@dataclass(frozen=True)
class UnifiedColumn:
    """A column a mapping may fill: its kind (``text``, ``int``, ``float``, ``bool``, ``datetime``) and, for the
    normalised ones, the only values it holds."""

    name: str
    kind: str
    allowed: tuple | None = None
    description: str = ""


def _bookkeeping() -> list[Column]:
    return [
        Column("_stream", String(128), nullable=False),
        Column("_record_key", String(512), nullable=False),
        Column("_partition", String(255), nullable=False),
        Column("_synced_at", DateTime(timezone=True), nullable=False),
        Column("_deleted_at", DateTime(timezone=True)),
    ]


_SQL_TYPES = {"text": Text, "int": Integer, "float": Float, "bool": Boolean, "datetime": lambda: DateTime(timezone=True)}


def _table(name: str, columns: tuple[UnifiedColumn, ...]) -> Table:
    return Table(
        name,
        metadata,
        Column("source", SOURCE, primary_key=True),
        Column("source_id", String(255), primary_key=True),
        *(Column(column.name, _SQL_TYPES[column.kind]()) for column in columns),
        *_bookkeeping(),
        Index(f"ix_{name}_record", "source", "_stream", "_record_key"),
    )


ASSET_COLUMNS = (
    UnifiedColumn("name", "text", description="The asset's name or description."),
    UnifiedColumn("site", "text", description="The site (plant) it belongs to."),
    UnifiedColumn("status", "text", description="The source's own status, as mapped."),
    UnifiedColumn("serial_number", "text"),
    UnifiedColumn("ic3_asset_id", "int", description="ic3_asset_master.asset_id, found by the mapping's lookup rule."),
    UnifiedColumn("source_updated_at", "datetime", description="When the source last changed the record (UTC)."),
)
WORK_ORDER_COLUMNS = (
    UnifiedColumn("title", "text"),
    UnifiedColumn("status", "text", WORK_ORDER_STATUSES),
    UnifiedColumn("priority", "int", PRIORITIES, "1 (highest) to 5."),
    UnifiedColumn("work_type", "text", WORK_TYPES),
    UnifiedColumn("asset_source_id", "text", description="The cmms_asset.source_id of the asset it is for."),
    UnifiedColumn("site", "text"),
    UnifiedColumn("created_at", "datetime"),
    UnifiedColumn("due_at", "datetime"),
    UnifiedColumn("completed_at", "datetime"),
    UnifiedColumn("source_updated_at", "datetime"),
)
SCHEDULE_COLUMNS = (
    UnifiedColumn("title", "text"),
    UnifiedColumn("asset_source_id", "text"),
    UnifiedColumn("interval_days", "float", description="Every so many days (calendar-based schedules)."),
    UnifiedColumn("interval_meter", "float", description="Every so many meter units (usage-based schedules)."),
    UnifiedColumn("next_due_at", "datetime"),
    UnifiedColumn("last_done_at", "datetime"),
    UnifiedColumn("active", "bool"),
)

UNIFIED_COLUMNS: dict[str, tuple[UnifiedColumn, ...]] = {
    "cmms_asset": ASSET_COLUMNS,
    "cmms_work_order": WORK_ORDER_COLUMNS,
    "cmms_maintenance_schedule": SCHEDULE_COLUMNS,
}

cmms_asset = _table("cmms_asset", ASSET_COLUMNS)
cmms_work_order = _table("cmms_work_order", WORK_ORDER_COLUMNS)
cmms_maintenance_schedule = _table("cmms_maintenance_schedule", SCHEDULE_COLUMNS)
UNIFIED_TABLES: dict[str, Table] = {
    "cmms_asset": cmms_asset, "cmms_work_order": cmms_work_order,
    "cmms_maintenance_schedule": cmms_maintenance_schedule,
}

mapping_error = Table(
    "cmms_mapping_error",
    metadata,
    # The records a unified mapping could not convert, one row per field that failed: what the record's latest read
    # could not map (a record read again replaces its rows; one that maps now has none; one a complete full read no
    # longer sees - deleted in the source - has none).
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", SOURCE, nullable=False),
    Column("stream", String(128), nullable=False),
    Column("record_key", String(512), nullable=False),  # the raw row's key, joined by "/"
    Column("partition_key", String(255), nullable=False),  # the partition it was read in ("" for none)
    Column("source_id", String(255)),  # the unified source_id, when it could be worked out
    Column("unified_table", String(64), nullable=False),
    Column("field", String(128), nullable=False),
    Column("value", Text),  # the value the transform could not convert, as text
    Column("transform", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("run_id", String(64)),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Index("ix_cmms_mapping_error_record", "source", "stream", "record_key"),
)
