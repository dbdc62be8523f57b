"""The KPI figures as ``ic3 kpi`` prints them (JSON, CSV) — computed on demand by the same rollups the tables hold."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy import Engine, select

from ic3_pipeline.kpi.rollups import Level, Rollup, fleet, rollups
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

    def as_dict(self) -> dict[str, object]:
        return {
            "fleet": self.fleet.figures(),
            PLURAL[self.level]: [{self.level: group.name, **group.figures()} for group in self.groups],
        }

    def as_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["level", "name", *FIGURES])
        for level, group in (("fleet", self.fleet), *((self.level, group) for group in self.groups)):
            figures = group.figures()
            writer.writerow([level, group.name, *("" if figures[f] is None else figures[f] for f in FIGURES)])
        return out.getvalue()


def kpi_report(engine: Engine, level: Level = "site", site: str | None = None) -> KpiReport:
    """The fleet (always every register asset) and the groups of ``level`` (``site``: that site's assets only)."""
    with engine.connect() as conn:
        if site is not None and conn.execute(
            select(tables.asset_master.c.asset_id).where(tables.asset_master.c.site_name == site).limit(1)
        ).first() is None:
            raise UnknownSite(f"no asset of the register is at site {site!r}")
        return KpiReport(level, fleet(conn), rollups(conn, level, site=site))
