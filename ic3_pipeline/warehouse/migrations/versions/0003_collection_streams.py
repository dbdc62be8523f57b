"""Collection sources: where each stream's incremental sync resumes, what each stream sync did, and the columns
schema drift added.

Purely additive: the stream tables themselves (``<source>_<stream>``, ``<source>_<stream>__<child>``) are created by
the sync when a stream is first read, and widened as the API sends new attributes (``warehouse.stream_tables``).

Revision ID: 0003_collection_streams
Revises: 0002_sync_state_per_source
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_collection_streams"
down_revision = "0002_sync_state_per_source"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cmms_stream_state",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("stream", sa.String(128), primary_key=True),
        sa.Column("partition_key", sa.String(255), primary_key=True),
        sa.Column("high_water_mark", sa.Text),
        sa.Column("last_sync_at", sa.DateTime(timezone=True)),
        sa.Column("last_full_sync_at", sa.DateTime(timezone=True)),
        sa.Column("last_status", sa.String(16)),
        sa.Column("last_error", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "cmms_stream_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("stream", sa.String(128), nullable=False),
        sa.Column("partition_key", sa.String(255), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_message", sa.Text),
        *(sa.Column(name, sa.Integer, nullable=False, server_default="0") for name in (
            "pages", "rows_written", "child_rows_written", "rows_deleted", "values_kept_as_text", "new_columns",
            "requests", "throttled", "retries")),
        sa.Column("high_water_mark_before", sa.Text),
        sa.Column("high_water_mark_after", sa.Text),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_cmms_stream_log_source_stream", "cmms_stream_log", ["source", "stream", "finished_at"])
    op.create_table(
        "cmms_schema_change",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("table_name", sa.String(128), nullable=False),
        sa.Column("column_name", sa.String(128), nullable=False),
        sa.Column("column_type", sa.String(32), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.UniqueConstraint("table_name", "column_name", name="uq_cmms_schema_change_column"),
    )


def downgrade() -> None:
    raise RuntimeError("Downgrades are not supported: restore the backup taken before the upgrade instead.")
