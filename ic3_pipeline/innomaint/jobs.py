"""The Innomaint jobs: enrichment (partitioned), full refresh, and one asset on demand.

All run in-process: the work is API-bound asyncio inside one step, and a step subprocess would add ~2 s per run.
"""

from dagster import (
    AssetMaterialization,
    AssetSelection,
    Config,
    Failure,
    OpExecutionContext,
    define_asset_job,
    in_process_executor,
    job,
    op,
)
from pydantic import Field

from ic3_pipeline.innomaint.assets import DETAILS, PERFORMANCE, POOL, WORKORDERS, EnrichmentConfig, innomaint_enrichment, run_batch, run_metadata
from ic3_pipeline.innomaint.due import partition_keys_of
from ic3_pipeline.innomaint.resource import InnomaintResource
from ic3_pipeline.warehouse.resource import WarehouseResource

ENRICH_JOB = "enrich_innomaint"
FULL_REFRESH_JOB = "full_refresh_innomaint"
ONE_ASSET_JOB = "sync_one_asset"

enrich_job = define_asset_job(
    ENRICH_JOB,
    selection=AssetSelection.assets(innomaint_enrichment),
    description="Fetch the due assets of the selected sites from Innomaint and write their detail, performance and "
    "work-order rows. Config `force: true` re-fetches everything; `asset_ids` limits the run to some assets.",
    executor_def=in_process_executor,
)

full_refresh_job = define_asset_job(
    FULL_REFRESH_JOB,
    selection=AssetSelection.assets(innomaint_enrichment),
    description="Re-fetch every asset of the selected sites, due or not (backfill all partitions for a full refresh).",
    config={"ops": {"innomaint_enrichment": {"config": {"force": True}}}},
    executor_def=in_process_executor,
)


class OneAssetConfig(Config):
    asset_id: str = Field(description="The register's asset id, e.g. 'Delhi Cantt Naraina_BP_01'.")


@op(pool=POOL, description="Fetch one asset from Innomaint now (due or not) and write its rows.")
def sync_asset(context: OpExecutionContext, config: OneAssetConfig, warehouse: WarehouseResource, innomaint: InnomaintResource):
    engine = warehouse.engine()
    key = partition_keys_of(engine, [config.asset_id]).get(config.asset_id)
    if key is None:
        raise Failure(f"No asset {config.asset_id!r} in ic3_asset_master: import a register that has it.", allow_retries=False)
    report = run_batch(context, engine, innomaint, [key], EnrichmentConfig(force=True, asset_ids=[config.asset_id]))
    context.log_event(AssetMaterialization(asset_key=DETAILS, partition=key, metadata=run_metadata(report, key)))
    if report.synced:
        for asset_key in (PERFORMANCE, WORKORDERS):
            context.log_event(AssetMaterialization(asset_key=asset_key, partition=key))
    if report.failures:
        outcome = report.failures[0]
        raise Failure(f"{config.asset_id}: {outcome.status}: {outcome.error}", allow_retries=outcome.status == "error")


@job(name=ONE_ASSET_JOB, executor_def=in_process_executor, description="Sync one asset on demand (config: asset_id).")
def sync_one_asset_job():
    sync_asset()
