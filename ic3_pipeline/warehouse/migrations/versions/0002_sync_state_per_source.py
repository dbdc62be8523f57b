"""Sync state per source: ``cmms_sync_state`` keyed by (source, asset); ``source`` on both sync logs.

Release f7c3f43 kept one set of sync columns on ``ic3_asset_master`` and had one source, Innomaint (``sync_type``
``innomaint``, configured today as the source ``innomaint``). Its state moves, row for row, into ``cmms_sync_state``
under that source; the users' columns on ``ic3_asset_master`` stay as they are (the Innomaint connector keeps filling
them). Each log row's ``source`` is its ``sync_type``, after which ``source`` is required (SQLite: a batch rebuild).
The release's ``ic3_schema_version`` (a number nothing read) gives way to Alembic's own ``alembic_version``.

Revision ID: 0002_sync_state_per_source
Revises: 0001_release_f7c3f43
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_sync_state_per_source"
down_revision = "0001_release_f7c3f43"
branch_labels = None
depends_on = None

RELEASE_SOURCE = "innomaint"  # the only source release f7c3f43 had


def upgrade() -> None:
    op.create_table(
        "cmms_sync_state",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("asset_id", sa.Integer, sa.ForeignKey("ic3_asset_master.asset_id"), primary_key=True),
        sa.Column("sync_version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_synced_at", sa.DateTime(timezone=True)),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("last_sync_status", sa.String(16)),
        sa.Column("last_sync_error", sa.Text),
        sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_cmms_sync_state_source_status", "cmms_sync_state", ["source", "last_sync_status"])
    op.execute(
        sa.text(
            "INSERT INTO cmms_sync_state (source, asset_id, sync_version, last_synced_at, last_attempt_at, "
            "last_sync_status, last_sync_error, consecutive_failures, updated_at) "
            "SELECT :source, asset_id, sync_version, last_synced_at, last_attempt_at, last_sync_status, "
            "last_sync_error, consecutive_failures, COALESCE(updated_at, last_attempt_at, imported_at, CURRENT_TIMESTAMP) "
            "FROM ic3_asset_master WHERE last_sync_status IS NOT NULL OR sync_version > 0"
        ).bindparams(source=RELEASE_SOURCE)
    )
    for table in ("ic3_sync_log", "cmms_sync_log"):
        op.add_column(table, sa.Column("source", sa.String(64), nullable=True))
        op.execute(sa.text(f"UPDATE {table} SET source = sync_type"))
        with op.batch_alter_table(table) as batch:
            batch.alter_column("source", existing_type=sa.String(64), nullable=False)
    op.create_index("ix_ic3_sync_log_source", "ic3_sync_log", ["source", "synced_at"])
    op.drop_table("ic3_schema_version")


def downgrade() -> None:
    raise RuntimeError("Downgrades are not supported: restore the backup taken before the upgrade instead.")
