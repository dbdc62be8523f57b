"""``ic3 kpi [--site S] [--by site|customer|source] [--json | --csv]``: the KPI rollups, computed from the database
on demand by the same function the KPI tables are written with (so both show the same numbers)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ic3_pipeline.kpi.report import KpiReport, kpi_report
from ic3_pipeline.kpi.rollups import Level, Rollup
from ic3_pipeline.kpi.work_orders import WorkOrderKpis, WorkOrderSettings
from ic3_pipeline.warehouse import connected_engine
from ic3_pipeline.warehouse.times import utc_now

COLUMNS = ("assets", "no data", "repairs", "MTTR h", "MTBF h", "avail %")


def print_kpis(level: Level, site: str | None, output: str) -> KpiReport:
    settings = WorkOrderSettings.from_env()
    engine = connected_engine()
    try:
        report = kpi_report(engine, level, site, now=utc_now(), settings=settings)
    finally:
        engine.dispose()
    if output == "json":
        click.echo(json.dumps(report.as_dict(), indent=2))
    elif output == "csv":
        click.echo(report.as_csv(), nl=False)
    else:
        click.echo(format_report(report))
    return report


def format_report(report: KpiReport) -> str:
    rows = [(group.name, *_cells(group)) for group in report.groups]
    rows.append(("fleet", *_cells(report.fleet)))
    headers = (report.level, *COLUMNS)
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: tuple) -> str:  # names left-aligned, numbers right-aligned
        return "  ".join(str(cell).ljust(width) if i == 0 else str(cell).rjust(width)
                         for i, (cell, width) in enumerate(zip(cells, widths)))

    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    out = [line(headers), *(line(row) for row in rows[:-1]), rule, line(rows[-1])]
    out.append("MTTR = Σ repair hours / Σ repairs; MTBF = Σ (operating − repair hours) / Σ repairs; "
               "availability = Σ (operating − repair) / Σ operating; '-' = no repairs or no operating hours.")
    wo = report.work_orders
    if wo.sites:
        out += ["", f"Work orders (cmms_work_order), {wo.period_start:%Y-%m-%d %H:%M} to "
                    f"{wo.period_end:%Y-%m-%d %H:%M} UTC, PM grace {wo.grace_days:g} d:",
                *_work_order_table(wo.sites, wo.fleet)]
    return "\n".join(out)


WO_COLUMNS = ("PM due", "PM on time", "PM %", "backlog", "mean age d", "max age d", "overdue", "overdue PM",
              "corr. done", "corr. MTTR h")


def _work_order_table(sites: list[WorkOrderKpis], fleet: WorkOrderKpis) -> list[str]:
    def cells(g: WorkOrderKpis) -> tuple:
        return (g.name, g.pm_due, g.pm_done_on_time, _number(g.pm_compliance_pct), g.backlog,
                _number(g.backlog_mean_age_days), _number(g.backlog_max_age_days), g.overdue, g.overdue_preventive,
                g.corrective_completed, _number(g.corrective_mttr_hours))

    headers = ("site", *WO_COLUMNS)
    rows = [cells(g) for g in sites] + [cells(fleet)]
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]

    def line(row: tuple) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    return [line(headers), *(line(row) for row in rows[:-1]), "-" * (sum(widths) + 2 * (len(widths) - 1)),
            line(rows[-1])]


def _cells(group: Rollup) -> tuple:
    return (group.assets, group.assets_without_data, group.repair_events, _number(group.mttr_hours),
            _number(group.mtbf_hours), _number(group.availability_pct))


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def write_html_report(out: Path, days: int) -> Path:
    """``ic3 report``: the HTML report of the database as it is now (``kpi.html_report``)."""
    from ic3_pipeline.kpi.html_report import write_report

    settings = WorkOrderSettings.from_env()
    engine = connected_engine()
    try:
        return write_report(out, engine, utc_now(), settings, days)
    finally:
        engine.dispose()
