"""The sync-status assets: the numbers ``ic3 status`` prints, in the UI — the whole database's, and one per source."""


from collections.abc import Sequence

from dagster import AssetKey, AssetsDefinition, AutomationCondition, MaterializeResult, MetadataValue, asset

from ic3_pipeline.markdown import markdown_table
from ic3_pipeline.status.queries import SyncStatus, sync_status
from ic3_pipeline.warehouse.resource import WarehouseResource, warehouse_kind

BATCH_COLUMNS = ("started_at", "source", "status", "partitions", "assets_due", "assets_synced", "assets_failed",
                 "assets_not_found", "requests", "throttled", "duration_ms")
STATUS_TAG = {"ic3/role": "sync_status"}  # what the refresh job and the automation sensor select


def status_metadata(status: SyncStatus) -> dict[str, object]:
    return {
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


def build_status_asset(
    key: AssetKey,
    *,
    group: str,
    description: str,
    source: str | None = None,
    scope: Sequence[str] | None = None,
    after: AssetKey | None = None,
) -> AssetsDefinition:
    """A status asset for ``source`` (``None``: the whole database), refreshed after ``after`` lands (needs the
    daemon's automation sensor; never-synced partitions do not block it)."""

    @asset(
        key=key,
        group_name=group,
        deps=[after] if after else [],
        kinds={warehouse_kind()},
        owners=["team:maintenance-data"],
        tags=STATUS_TAG,
        automation_condition=(
            AutomationCondition.eager().without(~AutomationCondition.any_deps_missing()) if after else None
        ),
        description=description,
    )
    def status_asset(warehouse: WarehouseResource) -> MaterializeResult:
        return MaterializeResult(metadata=status_metadata(sync_status(warehouse.engine(), source, scope)))

    return status_asset
