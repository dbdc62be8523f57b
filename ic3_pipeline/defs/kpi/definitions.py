"""The KPI rollups and their alert checks in the UI (group ``kpi``), the job that refreshes them, the sensor that
refreshes them after each source's performance data lands, and the one that posts failed runs to the webhook."""

from pathlib import Path

import yaml
from dagster import (
    AssetKey,
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    Definitions,
    define_asset_job,
    in_process_executor,
)

from ic3_pipeline.connectors import get_connector
from ic3_pipeline.kpi.assets import KPI_TAG, build_kpi_assets, build_kpi_checks
from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.unified_tables import cmms_work_order

REFRESH_JOB = "refresh_kpis"
every_kpi = AssetSelection.tag(*next(iter(KPI_TAG.items())))


def performance_asset_keys(defs_folder: Path = Path(__file__).parents[1]) -> list[AssetKey]:
    """The asset of each configured connection (``defs/<source>/defs.yaml``) that writes ``ic3_asset_performance``.

    Read from the files themselves: loading the component tree from here would load this module again."""
    keys = []
    for path in sorted(defs_folder.glob("*/defs.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        attributes = document.get("attributes") or {}
        if not str(document.get("type", "")).endswith(".CmmsConnection") or "connector" not in attributes:
            continue
        connector = get_connector(attributes["connector"])
        keys += [AssetKey([attributes["source"], table.name]) for table in connector.tables
                 if table.table is tables.asset_performance]
    return keys


def work_order_asset_keys(defs_folder: Path = Path(__file__).parents[1]) -> list[AssetKey]:
    """The stream asset of each configured collection source whose ``unified:`` block writes ``cmms_work_order``."""
    keys = []
    for path in sorted(defs_folder.glob("*/defs.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        attributes = document.get("attributes") or {}
        for stream in attributes.get("streams") or []:
            if ((stream.get("unified") or {}).get("table") == cmms_work_order.name
                    and attributes.get("source") and stream.get("name")):
                keys.append(AssetKey([attributes["source"], stream["name"]]))
    return keys


kpi_job = define_asset_job(
    REFRESH_JOB,
    selection=every_kpi,
    description=("Recompute the KPI tables (site, customer, source, fleet, daily, work orders) and run their alert "
                 "checks."),
    executor_def=in_process_executor,
)

kpi_refresh = AutomationConditionSensorDefinition(
    "kpi_refresh",
    target=every_kpi,
    default_status=DefaultSensorStatus.STOPPED,
    description=(
        "Recomputes the KPI tables and their alert checks after a source's performance data lands. Reads the "
        "database only (no API calls). Needs the daemon (`make ui` runs it)."
    ),
)

defs = Definitions(assets=build_kpi_assets(performance_asset_keys(), work_order_asset_keys()),
                   asset_checks=[build_kpi_checks()], jobs=[kpi_job],
                   sensors=[kpi_refresh])
