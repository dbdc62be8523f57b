"""``kpi/alert_work_orders``: after the KPI site rollup (where the availability check runs), raise the work orders
the critical alert calls for (``writeback.engine``), dry-run unless ``IC3_WRITE_BACK=live``. Its own job and a
stopped-by-default automation sensor: closing the loop is something a team turns on deliberately."""

from __future__ import annotations

from dagster import (
    AssetKey,
    AssetSelection,
    AssetsDefinition,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    define_asset_job,
    in_process_executor,
)

from ic3_pipeline.kpi.alerts import BadThreshold, Thresholds
from ic3_pipeline.markdown import markdown_table
from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.resource import WarehouseResource, warehouse_kind
from ic3_pipeline.warehouse.times import utc_now
from ic3_pipeline.writeback.alerted import ALERT, critical_low_availability
from ic3_pipeline.writeback.engine import WriteBackReport, write_back
from ic3_pipeline.writeback.settings import MODE_ENV, BadWriteBackMode, live_from_env

KEY = AssetKey(["kpi", "alert_work_orders"])
SITE = AssetKey(["kpi", "site"])
JOB = "raise_alert_work_orders"
SHOWN = 50
COLUMNS = ("asset", "site", "status", "source", "cmms asset", "work order", "message")


def _sources() -> dict:
    """The configured collection sources by name, read at run time (loading the component tree at import time
    would load this module again)."""
    from ic3_pipeline.components.catalog import configured

    return {spec.source: spec for spec in configured()[1]}


def report_metadata(report: WriteBackReport) -> dict[str, object]:
    statuses = ("created", "would_create", "already_created", "failed", "skipped", "sending")
    metadata: dict[str, object] = {"mode": "live" if report.live else f"dry run (set {MODE_ENV}=live to send)",
                                   "alerted assets": len(report.outcomes), "table": tables.alert_work_order.name}
    metadata.update({status.replace("_", " "): report.count(status) for status in statuses})
    metadata["episodes ended (passing again)"] = len(report.recovered)
    metadata["work orders"] = MetadataValue.md(markdown_table(
        [outcome.row() for outcome in report.outcomes[:SHOWN]], COLUMNS))
    return metadata


def build_write_back_asset() -> AssetsDefinition:
    @asset(
        key=KEY,
        group_name="kpi",
        deps=[SITE],
        kinds={warehouse_kind(), "table"},
        owners=["team:maintenance-data"],
        automation_condition=AutomationCondition.eager(),
        description=(
            "`ic3_alert_work_order`: for each Critical asset the availability_by_criticality alert names, one work "
            "order per alert episode in the asset's source CMMS (Maximo mxapiwodetail, UpKeep /work-orders); "
            f"dry run unless {MODE_ENV}=live. Innomaint-only assets are skipped with the reason."
        ),
    )
    def alert_work_orders(context, warehouse: WarehouseResource) -> MaterializeResult:
        try:
            live = live_from_env()
            thresholds = Thresholds.from_env()
        except (BadWriteBackMode, BadThreshold) as error:
            raise Failure(description=f"Alert work orders: {error}", allow_retries=False) from None
        engine = warehouse.engine()
        with engine.connect() as conn:
            alerted = critical_low_availability(conn, thresholds)
        report = write_back(engine, ALERT, alerted, utc_now(), live=live, sources=_sources() if live else None,
                            log=context.log)
        return MaterializeResult(metadata=report_metadata(report))

    return alert_work_orders


write_back_job = define_asset_job(
    JOB, selection=AssetSelection.assets(KEY), executor_def=in_process_executor,
    description="Raise (or, in dry run, list) the work orders the critical availability alert calls for.",
)

write_back_sensor = AutomationConditionSensorDefinition(
    "alert_work_orders",
    target=AssetSelection.assets(KEY),
    default_status=DefaultSensorStatus.STOPPED,
    description=(f"Runs kpi/alert_work_orders after kpi/site is refreshed. Stopped by default; sends work orders "
                 f"only with {MODE_ENV}=live. Needs the daemon (`make ui` runs it)."),
)
