"""The whole database's sync status in the UI, the job that refreshes every status asset, and its automation sensor."""

from dagster import (
    AssetKey,
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    Definitions,
    define_asset_job,
    in_process_executor,
)

from ic3_pipeline.status.assets import STATUS_TAG, build_status_asset

REFRESH_JOB = "refresh_sync_status"
every_status = AssetSelection.tag(*next(iter(STATUS_TAG.items())))

sync_status = build_status_asset(
    AssetKey("sync_status"),
    group="status",
    description=(
        "How in sync the whole database is, every source together: total assets, synced, needing retry (a source's "
        "last attempt failed), not found in a CMMS, never synced, stale, last sync time and the last batches. The "
        "numbers `ic3 status` prints; each source's own are in its `<source>/sync_status`."
    ),
)

status_job = define_asset_job(
    REFRESH_JOB,
    selection=every_status,
    description="Recompute the sync status numbers (the whole database's and each source's).",
    executor_def=in_process_executor,
)

# The sensor that evaluates the status assets' automation conditions. Named and described here so the UI shows what
# it is for; otherwise Dagster adds an anonymous `default_automation_condition_sensor` (stopped, like this one).
sync_status_refresh = AutomationConditionSensorDefinition(
    "sync_status_refresh",
    target=every_status,
    default_status=DefaultSensorStatus.STOPPED,
    description=(
        "Recomputes each source's sync_status after any of its sites' syncs land, so the status numbers follow the "
        "runs. Reads the database only (no API calls). Needs the daemon (`make ui` runs it)."
    ),
)

defs = Definitions(assets=[sync_status], jobs=[status_job], sensors=[sync_status_refresh])
