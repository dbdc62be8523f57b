"""Work-order KPIs: ``ic3_kpi_work_orders`` (PM compliance, backlog, overdue, corrective MTTR per site, source and
fleet, from ``cmms_work_order``). A new table only, rewritten whole by the ``kpi/work_orders`` asset: nothing to
backfill, no existing row touched.

Revision ID: 0006_work_order_kpis
Revises: 0005_kpi
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_work_order_kpis"
down_revision = "0005_kpi"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ic3_kpi_work_orders",
        sa.Column("level", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pm_grace_days", sa.Float, nullable=False),
        sa.Column("pm_due", sa.Integer, nullable=False),
        sa.Column("pm_done_on_time", sa.Integer, nullable=False),
        sa.Column("pm_compliance_pct", sa.Float),
        sa.Column("backlog", sa.Integer, nullable=False),
        sa.Column("backlog_aged", sa.Integer, nullable=False),
        sa.Column("backlog_age_days_sum", sa.Float, nullable=False),
        sa.Column("backlog_mean_age_days", sa.Float),
        sa.Column("backlog_max_age_days", sa.Float),
        sa.Column("overdue", sa.Integer, nullable=False),
        sa.Column("overdue_preventive", sa.Integer, nullable=False),
        sa.Column("corrective_completed", sa.Integer, nullable=False),
        sa.Column("corrective_repair_hours", sa.Float, nullable=False),
        sa.Column("corrective_mttr_hours", sa.Float),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    raise RuntimeError("Downgrades are not supported: restore the backup taken before the upgrade instead.")
