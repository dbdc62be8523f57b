"""Closing the loop: the asset raising work orders for critical alerts, its job and its (stopped) sensor."""

from dagster import Definitions

from ic3_pipeline.writeback.assets import build_write_back_asset, write_back_job, write_back_sensor

defs = Definitions(assets=[build_write_back_asset()], jobs=[write_back_job], sensors=[write_back_sensor])
