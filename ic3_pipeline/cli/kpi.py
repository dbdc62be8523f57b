"""``ic3 kpi [--site S] [--by site|customer|source] [--json | --csv]``: the KPI rollups, computed from the database
on demand by the same function the KPI tables are written with (so both show the same numbers)."""

from __future__ import annotations

import json

import click

from ic3_pipeline.kpi.report import KpiReport, kpi_report
from ic3_pipeline.kpi.rollups import Level, Rollup
from ic3_pipeline.warehouse import connected_engine

COLUMNS = ("assets", "no data", "repairs", "MTTR h", "MTBF h", "avail %")


def print_kpis(level: Level, site: str | None, output: str) -> KpiReport:
    engine = connected_engine()
    try:
        report = kpi_report(engine, level, site)
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
    return "\n".join(out)


def _cells(group: Rollup) -> tuple:
    return (group.assets, group.assets_without_data, group.repair_events, _number(group.mttr_hours),
            _number(group.mtbf_hours), _number(group.availability_pct))


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"
