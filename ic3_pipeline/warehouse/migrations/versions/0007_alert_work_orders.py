"""Closing the loop: ``ic3_alert_work_order``, one row per asset per alert episode and the work order raised for it
in the asset's source CMMS (see ``kpi.write_back``). A new, empty table: nothing existing changes.

Revision ID: 0007_alert_work_orders
Revises: 0006_work_order_kpis
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_alert_work_orders"
down_revision = "0006_work_order_kpis"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ic3_alert_work_order",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert", sa.String(128), nullable=False),
        sa.Column("asset_id", sa.Integer, sa.ForeignKey("ic3_asset_master.asset_id"), nullable=False),
        sa.Column("cmms_asset_id", sa.String(255), nullable=False),
        sa.Column("episode_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("episode_ended_at", sa.DateTime(timezone=True)),
        sa.Column("source", sa.String(64)),
        sa.Column("source_asset_id", sa.String(255)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("work_order_id", sa.String(255)),
        sa.Column("work_order_url", sa.Text),
        sa.Column("request", sa.Text),
        sa.Column("message", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("alert", "asset_id", "episode_started_at", name="uq_ic3_alert_work_order_episode"),
    )
    # At most one open episode per alert and asset (a partial unique index: both SQLite and PostgreSQL have them).
    op.create_index("uq_ic3_alert_work_order_open", "ic3_alert_work_order", ["alert", "asset_id"], unique=True,
                    sqlite_where=sa.text("episode_ended_at IS NULL"),
                    postgresql_where=sa.text("episode_ended_at IS NULL"))


def downgrade() -> None:
    raise RuntimeError("Downgrades are not supported: restore the backup taken before the upgrade instead.")
