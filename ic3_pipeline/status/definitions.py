"""The status group's contribution to the code location."""

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

from ic3_pipeline.status.assets import sync_status_asset

status_job = define_asset_job(
    "refresh_sync_status",
    selection=AssetSelection.assets(sync_status_asset),
    description="Recompute the sync status numbers.",
    executor_def=in_process_executor,
)

defs = Definitions(assets=[sync_status_asset], jobs=[status_job])
