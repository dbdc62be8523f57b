"""``ic3 report``: the KPIs as one self-contained HTML file — inline CSS and SVG charts drawn in Python
(``kpi.svg``), no script, no font, no image, no link to fetch — so it can be mailed, archived or opened offline.

What it shows, from the database as it is when the report is written:

- per-site inherent availability and MTBF over the last ``days`` days, from ``ic3_kpi_daily`` (written by the
  ``kpi/daily`` asset: an empty table gives "no data yet" and a note to run ``refresh_kpis``);
- the worst assets (lowest inherent availability now) and the sites' KPIs, computed on demand by the same rollups
  as ``ic3 kpi``;
- PM compliance by site and the other work-order KPIs (``kpi.work_orders``), for the same period as ``ic3 kpi``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from html import escape
from pathlib import Path

from sqlalchemy import Connection, Engine, func, select

from ic3_pipeline.kpi.rollups import NO_NAME, Rollup, current_values, fleet, rollups, worst
from ic3_pipeline.kpi.svg import bar_chart, line_chart
from ic3_pipeline.kpi.work_orders import WorkOrderKpis, WorkOrderReport, WorkOrderSettings, work_order_kpis
from ic3_pipeline.warehouse import tables

CHART_SITES = 8  # lines per chart: the sites of lowest availability now (more would be unreadable)
WORST_ASSETS = 10
DEFAULT_DAYS = 90

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;color:#222;max-width:1600px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.muted{color:#666;font-size:13px} .cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:140px}
.card b{display:block;font-size:20px} .card span{font-size:12px;color:#555}
.charts{display:flex;flex-wrap:wrap;gap:16px} .chart{border:1px solid #eee;border-radius:6px;background:#fff}
table{border-collapse:collapse;font-size:13px;margin:8px 0} th,td{border:1px solid #ddd;padding:4px 8px}
th{background:#f5f5f5;text-align:left} td.n{text-align:right;font-variant-numeric:tabular-nums}
"""


@dataclass(frozen=True)
class AssetFigures:
    cmms_asset_id: str
    site: str
    criticality: str | None
    repair_events: int
    repair_hours: float
    operating_hours: float

    @property
    def availability_pct(self) -> float:
        return (self.operating_hours - self.repair_hours) / self.operating_hours * 100

    @property
    def mttr_hours(self) -> float | None:
        return self.repair_hours / self.repair_events if self.repair_events else None

    @property
    def mtbf_hours(self) -> float | None:
        return (self.operating_hours - self.repair_hours) / self.repair_events if self.repair_events else None


def worst_assets(conn: Connection, count: int = WORST_ASSETS) -> list[AssetFigures]:
    """The ``count`` assets of lowest inherent availability now (those with all three quantities and operating
    hours above 0), ties by id."""
    values, asset = current_values(), tables.asset_master
    query = (
        select(asset.c.cmms_asset_id, func.coalesce(asset.c.site_name, NO_NAME), asset.c.criticality,
               values.c.events, values.c.repair, values.c.operating)
        .join(values, values.c.asset_id == asset.c.asset_id)
        .where(values.c.events.isnot(None), values.c.repair.isnot(None), values.c.operating > 0)
    )
    found = [AssetFigures(cmms_id, site, criticality, int(events), float(repair), float(operating))
             for cmms_id, site, criticality, events, repair, operating in conn.execute(query)]
    return sorted(found, key=lambda a: (a.availability_pct, a.cmms_asset_id))[:count]


def daily_site_series(conn: Connection, since: date, sites: Iterable[str],
                      figure: str) -> dict[str, list[tuple[date, float | None]]]:
    """``figure`` (a column of ``ic3_kpi_daily``) per day since ``since`` for each of ``sites`` and the fleet."""
    daily = tables.kpi_daily
    wanted = list(sites)
    query = (select(daily.c.level, daily.c.name, daily.c.day, daily.c[figure])
             .where(daily.c.day >= since, daily.c.level.in_(("site", "fleet"))).order_by(daily.c.day))
    series: dict[str, list[tuple[date, float | None]]] = {name: [] for name in [*wanted, "fleet"]}
    for level, name, day, value in conn.execute(query):
        key = "fleet" if level == "fleet" else name
        if key in series:
            series[key].append((_as_date(day), value))
    return {name: values for name, values in series.items() if values}


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def render_report(engine: Engine, now: datetime, settings: WorkOrderSettings, days: int = DEFAULT_DAYS) -> str:
    """The whole HTML document."""
    since = now.astimezone(timezone.utc).date() - timedelta(days=days)
    with engine.connect() as conn:
        sites = rollups(conn, "site")
        the_fleet = fleet(conn)
        drawn = [group.name for group in worst(sites, CHART_SITES)]
        availability = daily_site_series(conn, since, drawn, "availability_pct")
        mtbf = daily_site_series(conn, since, drawn, "mtbf_hours")
        assets = worst_assets(conn)
        work_orders = work_order_kpis(conn, now, settings)
    left_out = len(sites) - len(drawn)
    note = f" The {len(drawn)} sites of lowest availability now are drawn ({left_out} more in the table)." \
        if left_out > 0 else ""
    history_note = "" if availability else (
        " <b>No daily history yet</b>: run the <code>refresh_kpis</code> job (or materialize <code>kpi/daily</code>)"
        " to fill <code>ic3_kpi_daily</code>.")
    pm_bars = [(group.name, group.pm_compliance_pct) for group in sorted(
        work_orders.sites, key=lambda g: (g.pm_compliance_pct is None, g.pm_compliance_pct or 0.0, g.name))]
    body = [
        f"<h1>Maintenance KPIs</h1><p class=\"muted\">Written {escape(now.strftime('%Y-%m-%d %H:%M'))} UTC by "
        f"<code>ic3 report</code> from the database. Sums of base quantities, never averages of averages.</p>",
        _cards(the_fleet, work_orders),
        f"<h2>Sites over the last {days} days</h2><p class=\"muted\">From <code>ic3_kpi_daily</code> (the figures "
        f"as the performance history stood at the end of each UTC day).{note}{history_note}</p>",
        '<div class="charts">',
        line_chart("Inherent availability by site (%)", availability, unit="%"),
        line_chart("MTBF by site (hours)", mtbf, unit="hours"),
        "</div>",
        f"<h2>Worst assets</h2><p class=\"muted\">Lowest inherent availability now ((operating − repair) / "
        f"operating × 100), of the assets with operating hours.</p>",
        bar_chart("Worst assets: inherent availability (%)", [(a.cmms_asset_id, a.availability_pct) for a in assets],
                  unit=" %", maximum=100.0),
        _table(("asset", "site", "criticality", "repairs", "repair h", "operating h", "MTTR h", "MTBF h", "avail %"),
               [(a.cmms_asset_id, a.site, a.criticality or "", a.repair_events, a.repair_hours, a.operating_hours,
                 a.mttr_hours, a.mtbf_hours, a.availability_pct) for a in assets]),
        "<h2>Sites now</h2>",
        _table(("site", "assets", "no data", "repairs", "MTTR h", "MTBF h", "avail %"),
               [_site_row(group) for group in [*sites, the_fleet]]),
        f"<h2>Work orders</h2><p class=\"muted\">From <code>cmms_work_order</code> (every source, deleted rows left "
        f"out), {escape(work_orders.period_start.strftime('%Y-%m-%d'))} to "
        f"{escape(work_orders.period_end.strftime('%Y-%m-%d'))}; a preventive work order is on time when completed by "
        f"its due date + {work_orders.grace_days:g} day(s). n/a: no preventive work order due.</p>",
        bar_chart("PM compliance by site (%)", pm_bars, unit=" %", maximum=100.0),
        _table(("site", "PM due", "PM on time", "PM %", "backlog", "mean age d", "max age d", "overdue",
                "overdue PM", "corrective done", "corrective MTTR h"),
               [_wo_row(group) for group in [*work_orders.sites, work_orders.fleet]]),
    ]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Maintenance KPIs</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>\n")


def write_report(path: Path, engine: Engine, now: datetime, settings: WorkOrderSettings,
                 days: int = DEFAULT_DAYS) -> Path:
    path.write_text(render_report(engine, now, settings, days), encoding="utf-8")
    return path


def _cards(group: Rollup, work_orders: WorkOrderReport) -> str:
    cards = [("assets", group.assets, ""), ("availability", group.availability_pct, " %"),
             ("MTBF", group.mtbf_hours, " h"), ("MTTR", group.mttr_hours, " h"),
             ("PM compliance", work_orders.fleet.pm_compliance_pct, " %"), ("backlog", work_orders.fleet.backlog, ""),
             ("overdue", work_orders.fleet.overdue, "")]
    inner = "".join(f'<div class="card"><span>fleet {escape(name)}</span>'
                    f'<b>{escape(_cell(value))}{escape(unit) if value is not None else ""}</b></div>'
                    for name, value, unit in cards)
    return f'<div class="cards">{inner}</div>'


def _site_row(group: Rollup) -> tuple:
    return (group.name, group.assets, group.assets_without_data, group.repair_events, group.mttr_hours,
            group.mtbf_hours, group.availability_pct)


def _wo_row(group: WorkOrderKpis) -> tuple:
    return (group.name, group.pm_due, group.pm_done_on_time, group.pm_compliance_pct, group.backlog,
            group.backlog_mean_age_days, group.backlog_max_age_days, group.overdue, group.overdue_preventive,
            group.corrective_completed, group.corrective_mttr_hours)


def _cell(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


def _table(headers: Sequence[str], rows: Sequence[tuple]) -> str:
    if not rows:
        return '<p class="muted">none</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    lines = "".join(
        "<tr>" + "".join(f'<td class="n">{escape(_cell(v))}</td>' if isinstance(v, (int, float)) or v is None
                         else f"<td>{escape(str(v))}</td>" for v in row) + "</tr>"
        for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{lines}</tbody></table>"
