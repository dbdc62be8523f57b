"""The unified model: ``cmms_asset``, ``cmms_work_order``, ``cmms_maintenance_schedule`` keyed by (source,
source_id), and ``cmms_mapping_error`` for the records a mapping could not convert.

Purely additive: an existing database keeps every row; the unified tables fill as streams with a ``unified:`` mapping
are synced (a full sync fills them from the start).

Revision ID: 0004_unified_model
Revises: 0003_collection_streams
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_unified_model"
down_revision = "0003_collection_streams"
branch_labels = None
depends_on = None

_TYPES = {"text": sa.Text, "int": sa.Integer, "float": sa.Float, "bool": sa.Boolean,
          "datetime": lambda: sa.DateTime(timezone=True)}
# The columns as this revision created them (not imported from the live module: a revision must not change later).
_UNIFIED = {
    "cmms_asset": (("name", "text"), ("site", "text"), ("status", "text"), ("serial_number", "text"),
                   ("ic3_asset_id", "int"), ("source_updated_at", "datetime")),
    "cmms_work_order": (("title", "text"), ("status", "text"), ("priority", "int"), ("work_type", "text"),
                        ("asset_source_id", "text"), ("site", "text"), ("created_at", "datetime"),
                        ("due_at", "datetime"), ("completed_at", "datetime"), ("source_updated_at", "datetime")),
    "cmms_maintenance_schedule": (("title", "text"), ("asset_source_id", "text"), ("interval_days", "float"),
                                  ("interval_meter", "float"), ("next_due_at", "datetime"),
                                  ("last_done_at", "datetime"), ("active", "bool")),
}


def upgrade() -> None:
    for name, columns in _UNIFIED.items():
        op.create_table(
            name,
            sa.Column("source", sa.String(64), primary_key=True),
            sa.Column("source_id", sa.String(255), primary_key=True),
            *(sa.Column(column, _TYPES[kind]()) for column, kind in columns),
            sa.Column("_stream", sa.String(128), nullable=False),
            sa.Column("_record_key", sa.String(512), nullable=False),
            sa.Column("_partition", sa.String(255), nullable=False),
            sa.Column("_synced_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("_deleted_at", sa.DateTime(timezone=True)),
        )
        op.create_index(f"ix_{name}_record", name, ["source", "_stream", "_record_key"])
    op.create_table(
        "cmms_mapping_error",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(128), nullable=False),
        sa.Column("record_key", sa.String(512), nullable=False),
        sa.Column("partition_key", sa.String(255), nullable=False),
        sa.Column("source_id", sa.String(255)),
        sa.Column("unified_table", sa.String(64), nullable=False),
        sa.Column("field", sa.String(128), nullable=False),
        sa.Column("value", sa.Text),
        sa.Column("transform", sa.String(64), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_cmms_mapping_error_record", "cmms_mapping_error", ["source", "stream", "record_key"])


def downgrade() -> None:
    raise RuntimeError("Downgrades are not supported: restore the backup taken before the upgrade instead.")
