"""The Excel register's contribution to the code location: the import asset, its checks, job and drop-folder sensor."""

from dagster import Definitions

from ic3_pipeline.register.assets import asset_register
from ic3_pipeline.register.checks import register_checks
from ic3_pipeline.register.jobs import import_register_job
from ic3_pipeline.register.sensors import register_drop_folder

defs = Definitions(
    assets=[asset_register], asset_checks=register_checks, jobs=[import_register_job], sensors=[register_drop_folder]
)
