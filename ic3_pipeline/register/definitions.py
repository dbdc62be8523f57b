"""Everything the register contributes to the code location."""

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

from ic3_pipeline.register.assets import asset_register
from ic3_pipeline.register.checks import register_checks
from ic3_pipeline.register.sensors import register_drop_folder

import_register_job = define_asset_job(
    "import_register",
    selection=AssetSelection.assets(asset_register),
    description="Import the Excel asset register (file from run config, else the newest .xlsx in IC3_REGISTER_DIR).",
    executor_def=in_process_executor,
)

defs = Definitions(
    assets=[asset_register], asset_checks=register_checks, jobs=[import_register_job], sensors=[register_drop_folder]
)
