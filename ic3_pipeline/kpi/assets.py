"""The KPI assets and their alert checks, for the Dagster UI (``defs/kpi`` instantiates them).

Each rollup asset rewrites its table from the database (``kpi.store``), with the figures a person reads at a glance
as metadata: the fleet's KPIs, how many groups and assets had no data, and the worst groups as a table. The checks
(``kpi.alerts``) judge the database as it is after the rollups, each failure naming the assets and sites.
"""

from __future__ import annotations

from collections.abc import Sequence

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetChecksDefinition,
    AssetKey,
    AssetsDefinition,
    AutomationCondition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset_check,
)

from ic3_pipeline.kpi.alerts import BadThreshold, Thresholds, low_availability, mtbf_drops
from ic3_pipeline.kpi.daily import refresh_daily
from ic3_pipeline.kpi.rollups import Level, Rollup, worst
from ic3_pipeline.kpi.store import TABLES, refresh_rollup_table, refresh_work_order_table
from ic3_pipeline.kpi.work_orders import (
    BadSetting,
    WorkOrderKpis,
    WorkOrderReport,
    WorkOrderSettings,
    overdue_pm_sites,
    work_order_kpis,
)
from ic3_pipeline.markdown import markdown_table
from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.resource import WarehouseResource, warehouse_kind
from ic3_pipeline.warehouse.times import utc_now

GROUP = "kpi"
OWNERS = ["team:maintenance-data"]
KPI_TAG = {"ic3/role": "kpi"}  # what the refresh job and the automation sensor select
SHOWN = 50  # assets and sites listed in a failing check's metadata (all are counted)
FIGURE_COLUMNS = ("name", "assets", "assets_without_data", "repair_events", "mttr_hours", "mtbf_hours",
                  "availability_pct")


def kpi_key(name: str) -> AssetKey:
    return AssetKey([GROUP, name])


SITE, CUSTOMER, SOURCE, FLEET, DAILY, WORK_ORDERS = (
    kpi_key(n) for n in ("site", "customer", "source", "fleet", "daily", "work_orders"))
_KEYS: dict[Level | None, AssetKey] = {"site": SITE, "customer": CUSTOMER, "source": SOURCE, None: FLEET}
AVAILABILITY_CHECK = "availability_by_criticality"
MTBF_CHECK = "mtbf_trend"
OVERDUE_PM_CHECK = "overdue_preventive_work_orders"
WORK_ORDER_COLUMNS = ("name", "pm_due", "pm_done_on_time", "pm_compliance_pct", "backlog", "backlog_mean_age_days",
                      "backlog_max_age_days", "overdue", "overdue_preventive", "corrective_completed",
                      "corrective_mttr_hours")


def _rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _row(group: Rollup) -> dict[str, object]:
    figures = group.figures()
    return {"name": group.name, **{k: _rounded(v) if isinstance(v, float) else v for k, v in figures.items()}}


def rollup_metadata(level: Level | None, groups: list[Rollup]) -> dict[str, object]:
    table = TABLES[level][0].name
    metadata: dict[str, object] = {
        "dagster/row_count": len(groups),
        "table": table,
        "assets": sum(group.assets for group in groups),
        "assets without data": sum(group.assets_without_data for group in groups),
    }
    if level is None:
        figures = groups[0].figures() if groups else {}
        for name in ("mttr_hours", "mtbf_hours", "availability_pct", "repair_events"):
            value = figures.get(name)
            metadata[name] = MetadataValue.float(float(value)) if value is not None else "n/a"
    else:
        metadata["groups without repair events"] = sum(1 for group in groups if not group.repair_events)
        metadata[f"worst {level}s (lowest availability)"] = MetadataValue.md(
            markdown_table([_row(group) for group in worst(groups)], FIGURE_COLUMNS))
    return metadata


def _kpi_asset(key: AssetKey, deps: Sequence[AssetKey], description: str):
    """The decorator every KPI table's asset shares: the group, kinds, owners, tag and the automation that recomputes
    it once its sources' data has landed."""
    return asset(
        key=key,
        group_name=GROUP,
        deps=list(deps),
        kinds={warehouse_kind(), "table"},
        owners=OWNERS,
        tags=KPI_TAG,
        automation_condition=AutomationCondition.eager().without(~AutomationCondition.any_deps_missing()),
        description=description,
    )


def _build_rollup(level: Level | None, deps: Sequence[AssetKey]) -> AssetsDefinition:
    table = TABLES[level][0].name
    what = f"per {level}" if level else "for the whole fleet"

    @_kpi_asset(_KEYS[level], deps, (
        f"`{table}`: MTTR, MTBF and inherent availability {what}, from the sums of the assets' repair events, "
        "repair hours and operating hours (never averages of averages); assets lacking one of them counted as "
        "`assets_without_data`. The numbers `ic3 kpi` prints."
    ))
    def rollup(warehouse: WarehouseResource) -> MaterializeResult:
        groups = refresh_rollup_table(warehouse.engine(), level, utc_now())
        return MaterializeResult(metadata=rollup_metadata(level, groups))

    return rollup


def _build_daily(deps: Sequence[AssetKey]) -> AssetsDefinition:
    @_kpi_asset(DAILY, deps, (
        "`ic3_kpi_daily`: the site, customer and fleet KPIs as `ic3_asset_performance_history` stood at the end "
        "of each UTC day (recomputed from the day the history last changed, up to today)."
    ))
    def kpi_daily(warehouse: WarehouseResource) -> MaterializeResult:
        days = refresh_daily(warehouse.engine(), utc_now())
        return MaterializeResult(metadata={
            "days recomputed": len(days),
            "first day recomputed": days[0].isoformat() if days else "none (no performance history yet)",
            "table": tables.kpi_daily.name,
        })

    return kpi_daily


def _work_order_row(group: WorkOrderKpis) -> dict[str, object]:
    return {"name": group.name, **{k: _rounded(v) if isinstance(v, float) else v for k, v in group.figures().items()}}


def work_order_metadata(report: WorkOrderReport) -> dict[str, object]:
    metadata: dict[str, object] = {
        "dagster/row_count": len(report.groups()),
        "table": tables.kpi_work_orders.name,
        "period": f"{report.period_start.isoformat()} to {report.period_end.isoformat()}",
        "pm grace days": MetadataValue.float(float(report.grace_days)),
    }
    for name, value in report.fleet.figures().items():
        if name in ("pm_compliance_pct", "backlog", "backlog_mean_age_days", "backlog_max_age_days", "overdue",
                    "overdue_preventive", "corrective_mttr_hours", "pm_due"):
            metadata[name] = (MetadataValue.float(float(value)) if isinstance(value, float) else
                              MetadataValue.int(value) if isinstance(value, int) else "n/a")
    metadata["sites (lowest PM compliance first)"] = MetadataValue.md(markdown_table(
        [_work_order_row(g) for g in sorted(report.sites, key=lambda g: (
            g.pm_compliance_pct is None, g.pm_compliance_pct or 0.0, g.name))][:SHOWN], WORK_ORDER_COLUMNS))
    metadata["sources"] = MetadataValue.md(markdown_table([_work_order_row(g) for g in report.sources],
                                                          WORK_ORDER_COLUMNS))
    return metadata


def _build_work_orders(deps: Sequence[AssetKey]) -> AssetsDefinition:
    @_kpi_asset(WORK_ORDERS, deps, (
        "`ic3_kpi_work_orders`: PM compliance, backlog (count and age), overdue work orders and corrective MTTR "
        "per site, per source and for the fleet, from `cmms_work_order` (every source, deleted rows left out), "
        "over the last IC3_KPI_PERIOD_DAYS days (default 30), PM grace IC3_KPI_PM_GRACE_DAYS (default 0)."
    ))
    def kpi_work_orders(warehouse: WarehouseResource) -> MaterializeResult:
        try:
            settings = WorkOrderSettings.from_env()
        except BadSetting as error:
            raise Failure(description=f"Work-order KPI settings: {error}") from None
        report = refresh_work_order_table(warehouse.engine(), utc_now(), settings)
        return MaterializeResult(metadata=work_order_metadata(report))

    return kpi_work_orders


def build_kpi_checks() -> AssetChecksDefinition:
    """The alert checks: availability per criticality (on ``kpi/site``), MTBF trend (on ``kpi/daily``), overdue
    preventive work orders per site (on ``kpi/work_orders``)."""
    @multi_asset_check(
        specs=[
            AssetCheckSpec(AVAILABILITY_CHECK, asset=SITE, description=(
                "Each asset's inherent availability at least its criticality's threshold "
                "(IC3_KPI_MIN_AVAILABILITY_CRITICAL/_HIGH/_MEDIUM/_LOW, default 95/90/85/80 %). Error when a "
                "Critical asset is below, warning otherwise.")),
            AssetCheckSpec(MTBF_CHECK, asset=DAILY, description=(
                "No asset's or site's MTBF more than IC3_KPI_MTBF_DROP_PCT % (default 20) below what it was "
                "IC3_KPI_MTBF_LOOKBACK_DAYS (default 30) days earlier, from the performance history. Warning.")),
            AssetCheckSpec(OVERDUE_PM_CHECK, asset=WORK_ORDERS, description=(
                "No site with more than IC3_KPI_MAX_OVERDUE_PM (default 0) open preventive work orders past their "
                "due date (cmms_work_order, every source). Warning; names the sites and work orders.")),
        ],
        can_subset=True,
    )
    def kpi_alerts(context, warehouse: WarehouseResource):
        try:
            thresholds = Thresholds.from_env()
        except BadThreshold as error:
            raise Failure(description=f"KPI alert thresholds: {error}") from None
        selected = {key.name for key in context.selected_asset_check_keys}
        with warehouse.engine().connect() as conn:
            if AVAILABILITY_CHECK in selected:
                failing, judged = low_availability(conn, thresholds)
                yield _availability_result(failing, judged, thresholds)
            if MTBF_CHECK in selected:
                drops, compared = mtbf_drops(conn, thresholds, utc_now())
                yield _mtbf_result(drops, compared, thresholds)
            if OVERDUE_PM_CHECK in selected:
                try:
                    settings = WorkOrderSettings.from_env()
                except BadSetting as error:
                    raise Failure(description=f"Work-order KPI settings: {error}") from None
                report = work_order_kpis(conn, utc_now(), settings)
                failing = overdue_pm_sites(report, settings)
                yield _overdue_pm_result(failing, report, settings)

    return kpi_alerts


def _overdue_pm_result(failing: list[WorkOrderKpis], report: WorkOrderReport,
                       settings: WorkOrderSettings) -> AssetCheckResult:
    total = sum(group.overdue_preventive for group in failing)
    return AssetCheckResult(
        check_name=OVERDUE_PM_CHECK,
        asset_key=WORK_ORDERS,
        passed=not failing,
        severity=AssetCheckSeverity.WARN,
        description=(f"{len(failing)} site(s) with more than {settings.max_overdue_pm} overdue preventive work "
                     f"order(s): {', '.join(g.name for g in failing[:SHOWN])} ({total} in all)" if failing else
                     f"no site has more than {settings.max_overdue_pm} overdue preventive work order(s) "
                     f"({len(report.sites)} sites judged)"),
        metadata={
            "sites judged": len(report.sites),
            "sites over the limit": len(failing),
            "overdue preventive work orders at those sites": total,
            "max overdue per site": settings.max_overdue_pm,
            "sites": MetadataValue.md(", ".join(g.name for g in failing) or "_none_"),
            "work orders": MetadataValue.md(markdown_table(
                [{"site": g.name, "overdue": g.overdue_preventive,
                  "work orders": ", ".join(g.overdue_preventive_ids[:SHOWN])}
                 for g in failing[:SHOWN]], ("site", "overdue", "work orders"))),
        },
    )


def _availability_result(failing, judged: int, thresholds: Thresholds) -> AssetCheckResult:
    critical = [row for row in failing if row.criticality.strip().lower() == "critical"]
    sites = sorted({row.site for row in failing})
    return AssetCheckResult(
        check_name=AVAILABILITY_CHECK,
        asset_key=SITE,
        passed=not failing,
        severity=AssetCheckSeverity.ERROR if critical else AssetCheckSeverity.WARN,
        description=(f"{len(failing)} asset(s) at {len(sites)} site(s) below their criticality's availability "
                     f"threshold ({len(critical)} Critical)" if failing else
                     f"all {judged} assets judged meet their criticality's availability threshold"),
        metadata={
            "assets judged": judged,
            "assets below threshold": len(failing),
            "critical assets below threshold": len(critical),
            "sites": MetadataValue.md(", ".join(sites) or "_none_"),
            "thresholds %": MetadataValue.json(dict(thresholds.min_availability)),
            "assets": MetadataValue.md(markdown_table(
                [{"asset": r.cmms_asset_id, "site": r.site, "criticality": r.criticality,
                  "availability %": round(r.availability_pct, 2), "threshold %": r.threshold_pct}
                 for r in failing[:SHOWN]], ("asset", "site", "criticality", "availability %", "threshold %"))),
        },
    )


def _mtbf_result(drops, compared: int, thresholds: Thresholds) -> AssetCheckResult:
    assets = [drop for drop in drops if drop.kind == "asset"]
    sites = sorted({drop.site for drop in drops})
    return AssetCheckResult(
        check_name=MTBF_CHECK,
        asset_key=DAILY,
        passed=not drops,
        severity=AssetCheckSeverity.WARN,
        description=(f"MTBF fell more than {thresholds.mtbf_drop_pct:g} % in {thresholds.lookback_days} days for "
                     f"{len(assets)} asset(s) and {len(drops) - len(assets)} site(s)" if drops else
                     f"no MTBF fell more than {thresholds.mtbf_drop_pct:g} % in {thresholds.lookback_days} days "
                     f"({compared} assets and sites compared)"),
        metadata={
            "compared": compared,
            "assets with a drop": len(assets),
            "sites with a drop": len(drops) - len(assets),
            "sites": MetadataValue.md(", ".join(sites) or "_none_"),
            "drops": MetadataValue.md(markdown_table(
                [{"kind": d.kind, "name": d.name, "site": d.site, "mtbf before h": round(d.mtbf_before, 2),
                  "mtbf now h": round(d.mtbf_now, 2), "drop %": round(d.drop_pct, 1)} for d in drops[:SHOWN]],
                ("kind", "name", "site", "mtbf before h", "mtbf now h", "drop %"))),
        },
    )


def build_kpi_assets(performance_keys: Sequence[AssetKey],
                     work_order_keys: Sequence[AssetKey] = ()) -> list[AssetsDefinition]:
    """The rollup assets and the daily history, each after every source's performance asset; the work-order KPIs
    after every stream that writes ``cmms_work_order``."""
    return [*(_build_rollup(level, performance_keys) for level in _KEYS), _build_daily(performance_keys),
            _build_work_orders(work_order_keys)]
