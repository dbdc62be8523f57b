"""The register's import job (run by the CLI, the drop-folder sensor and the UI)."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from ic3_pipeline.register.assets import asset_register

IMPORT_JOB = "import_register"

import_register_job = define_asset_job(
    IMPORT_JOB,
    selection=AssetSelection.assets(asset_register),
    description="Import the Excel asset register (file from run config, else the newest .xlsx in IC3_REGISTER_DIR).",
    executor_def=in_process_executor,
)
