"""The ``sync_status`` asset: the fleet's sync numbers in the UI, the same queries as ``ic3 status``."""

from dagster import AutomationCondition, MaterializeResult, MetadataValue, asset

from ic3_pipeline.markdown import markdown_table
from ic3_pipeline.status.queries import sync_status
from ic3_pipeline.warehouse.resource import WarehouseResource, warehouse_kind

BATCH_COLUMNS = ("started_at", "status", "partition_key", "assets_due", "assets_synced", "assets_failed",
                 "assets_not_found", "requests", "throttled", "duration_ms")


@asset(
    name="sync_status",
    group_name="status",
    deps=["innomaint_asset_details"],
    kinds={warehouse_kind()},
    owners=["team:maintenance-data"],
    # Refreshed after any site's enrichment lands (needs the daemon: `make ui` runs it); never-synced sites do not block it.
    automation_condition=AutomationCondition.eager().without(~AutomationCondition.any_deps_missing()),
    description=(
        "How in sync the fleet is: total assets, synced, needing retry (last attempt failed), not found in the CMMS, "
        "never synced, stale, last sync time and the last batches. The numbers `ic3 status` prints."
    ),
)
def sync_status_asset(warehouse: WarehouseResource) -> MaterializeResult:
    status = sync_status(warehouse.engine())
    return MaterializeResult(
        metadata={
            "total assets": status.total,
            "synced": status.synced,
            "needing retry": status.needing_retry,
            "not found": status.not_found,
            "never synced": status.never_synced,
            "stale": status.stale,
            "synced %": round(100 * status.synced / status.total, 2) if status.total else 0.0,
            "last sync": status.last_sync_at.isoformat() if status.last_sync_at else "never",
            "last batches": MetadataValue.md(markdown_table(status.last_batches, BATCH_COLUMNS)),
        }
    )
