"""The KPI figures as ``ic3 kpi`` prints them (JSON, CSV) — computed on demand by the same rollups the tables hold,
with the work-order KPIs (``kpi.work_orders``) of the same sites, sources and fleet."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from ic3_pipeline.kpi.rollups import Level, Rollup, fleet, rollups
from ic3_pipeline.kpi.work_orders import WorkOrderReport, WorkOrderSettings, work_order_kpis
from ic3_pipeline.warehouse import tables

PLURAL = {"site": "sites", "customer": "customers", "source": "sources"}
FIGURES = ("assets", "mttr_hours", "mtbf_hours", "availability_pct", "assets_without_data", "assets_with_data",
           "repair_events", "repair_hours", "operating_hours")


class UnknownSite(LookupError):
    """``--site`` names no site of the register."""


@dataclass(frozen=True)
class KpiReport:
    level: Level
    fleet: Rollup
    groups: list[Rollup]
    work_orders: WorkOrderReport

    def group_work_orders(self, name: str) -> dict[str, object] | None:
        """A site's or source's work-order figures (zeros and NULLs when it has none); None per customer (a work
        order names no customer)."""
        if self.level == "site":
            return self.work_orders.site(name).figures()
        if self.level == "source":
            return self.work_orders.source(name).figures()
        return None

    def as_dict(self) -> dict[str, object]:
        wo = self.work_orders
        groups = []
        for group in self.groups:
            row: dict[str, object] = {self.level: group.name, **group.figures()}
            if (figures := self.group_work_orders(group.name)) is not None:
                row["work_orders"] = figures
            groups.append(row)
        return {
            "fleet": {**self.fleet.figures(), "work_orders": wo.fleet.figures()},
            PLURAL[self.level]: groups,
            # Every site and source of cmms_work_order, including those the register does not name (a CMMS may
            # spell its sites otherwise), and the period the figures cover.
            "work_orders": {
                "period_start": wo.period_start.isoformat(), "period_end": wo.period_end.isoformat(),
                "pm_grace_days": wo.grace_days,
                "sites": [{"site": g.name, **g.figures()} for g in wo.sites],
                "sources": [{"source": g.name, **g.figures()} for g in wo.sources],
            },
        }

    def as_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["level", "name", *FIGURES])
        for level, group in (("fleet", self.fleet), *((self.level, group) for group in self.groups)):
            figures = group.figures()
            writer.writerow([level, group.name, *("" if figures[f] is None else figures[f] for f in FIGURES)])
        return out.getvalue()


def kpi_report(engine: Engine, level: Level = "site", site: str | None = None, *, now: datetime,
               settings: WorkOrderSettings) -> KpiReport:
    """The fleet (always every register asset) and the groups of ``level`` (``site``: that site's assets only), with
    the work-order KPIs of the period ending at ``now``."""
    with engine.connect() as conn:
        if site is not None and conn.execute(
            select(tables.asset_master.c.asset_id).where(tables.asset_master.c.site_name == site).limit(1)
        ).first() is None:
            raise UnknownSite(f"no asset of the register is at site {site!r}")
        return KpiReport(level, fleet(conn), rollups(conn, level, site=site), work_order_kpis(conn, now, settings))
