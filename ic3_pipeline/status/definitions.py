"""The status group's contribution to the code location."""

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    Definitions,
    define_asset_job,
    in_process_executor,
)

from ic3_pipeline.status.assets import sync_status_asset

status_job = define_asset_job(
    "refresh_sync_status",
    selection=AssetSelection.assets(sync_status_asset),
    description="Recompute the sync status numbers.",
    executor_def=in_process_executor,
)

# The sensor that evaluates sync_status's automation condition. Named and described here so the UI shows what it is
# for; otherwise Dagster adds an anonymous `default_automation_condition_sensor` (stopped, like this one).
sync_status_refresh = AutomationConditionSensorDefinition(
    "sync_status_refresh",
    target=AssetSelection.assets(sync_status_asset),
    default_status=DefaultSensorStatus.STOPPED,
    description=(
        "Recomputes sync_status after any site's enrichment lands, so the status numbers follow the runs. "
        "Reads the database only (no API calls). Needs the daemon (`make ui` runs it)."
    ),
)

defs = Definitions(assets=[sync_status_asset], jobs=[status_job], sensors=[sync_status_refresh])
