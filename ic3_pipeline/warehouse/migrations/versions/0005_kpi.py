"""Maintenance KPIs: the append-only performance history, backfilled from the landed answers, and the KPI rollups.

``ic3_asset_performance`` is overwritten at each sync; ``ic3_asset_performance_history`` keeps one row per asset per
sync in which its performance values changed (the sync writes it from now on). The backfill gives every asset whose
performance row came from a landed answer (``ic3_innomaint_raw_response`` at the same ``sync_version``) its first
history row: that answer's version and the time it was received, with the values the parser derived from it (the
performance row at that version). It runs in the upgrade's transaction, before any sync of this release can write,
so no change is missed and none recorded twice. The rollup tables are rewritten whole by the KPI assets.

Revision ID: 0005_kpi
Revises: 0004_unified_model
Create Date: 2026-12-02
"""

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0005_kpi"
down_revision = "0004_unified_model"
branch_labels = None
depends_on = None

VALUES = ("total_ticket", "mttr_hours", "mtbf_hours", "availability_pct", "total_ticket_breakdown_hours",
          "total_schedule_breakdown_hours", "total_actual_hours")


def _kpi_columns() -> list[sa.Column]:
    return [
        sa.Column("assets", sa.Integer, nullable=False),
        sa.Column("assets_with_data", sa.Integer, nullable=False),
        sa.Column("assets_without_data", sa.Integer, nullable=False),
        sa.Column("repair_events", sa.BigInteger, nullable=False),
        sa.Column("repair_hours", sa.Float, nullable=False),
        sa.Column("operating_hours", sa.Float, nullable=False),
        sa.Column("mttr_hours", sa.Float),
        sa.Column("mtbf_hours", sa.Float),
        sa.Column("availability_pct", sa.Float),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "ic3_asset_performance_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("asset_id", sa.Integer, sa.ForeignKey("ic3_asset_master.asset_id"), nullable=False),
        sa.Column("cmms_asset_id", sa.String(255), nullable=False),
        sa.Column("sync_version", sa.Integer, nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("total_ticket", sa.Integer),
        sa.Column("mttr_hours", sa.Float),
        sa.Column("mtbf_hours", sa.Float),
        sa.Column("availability_pct", sa.Float),
        sa.Column("total_ticket_breakdown_hours", sa.Float),
        sa.Column("total_schedule_breakdown_hours", sa.Float),
        sa.Column("total_actual_hours", sa.Float),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("asset_id", "sync_version", name="uq_ic3_asset_performance_history_version"),
    )
    op.create_index("ix_ic3_asset_performance_history_synced_at", "ic3_asset_performance_history", ["synced_at"])
    op.create_index("ix_ic3_asset_performance_history_recorded_at", "ic3_asset_performance_history", ["recorded_at"])
    for table, key in (("ic3_kpi_site", "site_name"), ("ic3_kpi_customer", "customer_name"),
                       ("ic3_kpi_source", "source"), ("ic3_kpi_fleet", "fleet")):
        op.create_table(table, sa.Column(key, sa.String(255), primary_key=True), *_kpi_columns())
    op.create_table(
        "ic3_kpi_daily",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("level", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        *_kpi_columns(),
    )
    values = ", ".join(VALUES)
    picked = ", ".join(f"p.{column}" for column in VALUES)
    op.execute(
        sa.text(
            f"INSERT INTO ic3_asset_performance_history (asset_id, cmms_asset_id, sync_version, synced_at, {values}, "
            f"recorded_at) SELECT p.asset_id, p.cmms_asset_id, p.sync_version, r.fetched_at, {picked}, :now "
            "FROM ic3_asset_performance p JOIN ic3_innomaint_raw_response r "
            "ON r.cmms_asset_id = p.cmms_asset_id AND r.sync_version = p.sync_version"
        ).bindparams(sa.bindparam("now", datetime.now(timezone.utc), type_=sa.DateTime(timezone=True)))
    )


def downgrade() -> None:
    raise RuntimeError("Downgrades are not supported: restore the backup taken before the upgrade instead.")
