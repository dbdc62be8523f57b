"""Writing the KPI tables: each rewritten whole, in one transaction, from the rollups of the moment.

A rollup table is small (a row per site, customer or source) and every row can change at each sync, so replacing it
is both the simplest and the exact thing: readers see the old figures or the new ones, never a mix.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, Table, delete

from ic3_pipeline.kpi.rollups import Level, Rollup, fleet, rollups
from ic3_pipeline.kpi.work_orders import WorkOrderReport, WorkOrderSettings, work_order_kpis
from ic3_pipeline.warehouse import tables

TABLES: dict[Level | None, tuple[Table, str]] = {
    "site": (tables.kpi_site, "site_name"),
    "customer": (tables.kpi_customer, "customer_name"),
    "source": (tables.kpi_source, "source"),
    None: (tables.kpi_fleet, "fleet"),
}


def refresh_rollup_table(engine: Engine, level: Level | None, now: datetime) -> list[Rollup]:
    """Recompute ``level``'s rollups (``None``: the fleet) and replace its table with them; return them."""
    table, key = TABLES[level]
    with engine.begin() as conn:
        groups = rollups(conn, level) if level is not None else [fleet(conn)]
        conn.execute(delete(table))
        if groups:
            conn.execute(table.insert(), [{key: group.name, **group.figures(), "computed_at": now} for group in groups])
    return groups


def refresh_work_order_table(engine: Engine, now: datetime, settings: WorkOrderSettings) -> WorkOrderReport:
    """Recompute the work-order KPIs for the period ending at ``now`` and replace ``ic3_kpi_work_orders``."""
    table = tables.kpi_work_orders
    with engine.begin() as conn:
        report = work_order_kpis(conn, now, settings)
        conn.execute(delete(table))
        conn.execute(table.insert(), [
            {"level": level, "name": group.name, "period_start": report.period_start, "period_end": report.period_end,
             "pm_grace_days": report.grace_days, **group.figures(), "computed_at": now}
            for level, group in report.groups()
        ])
    return report
