"""A source's jobs: its sync (partitioned), a full refresh, one asset on demand, and a re-parse of what it landed.

All run in-process: the work is API-bound asyncio inside one step, and a step subprocess would add ~2 s per run.
"""


from dagster import (
    AssetMaterialization,
    AssetsDefinition,
    AssetSelection,
    Config,
    Failure,
    JobDefinition,
    OpExecutionContext,
    define_asset_job,
    in_process_executor,
    job,
    op,
)
from pydantic import Field

from ic3_pipeline.components.source import SourceSpec
from ic3_pipeline.components.run_metadata import batch_figures, site_figures
from ic3_pipeline.components.site_progress import SiteProgress
from ic3_pipeline.components.sync_step import EnrichmentConfig, run_batch, unpartitioned_metadata
from ic3_pipeline.sync.standing import site_assets
from ic3_pipeline.sync.due import partition_keys_of
from ic3_pipeline.sync.reparse import ReparseReport, reparse_assets
from ic3_pipeline.sync.reparse_workers import ReparseFailed, default_workers


def build_sync_jobs(spec: SourceSpec, step: AssetsDefinition) -> list:
    display = spec.connector.display_name
    enrich = define_asset_job(
        spec.enrich_job,
        selection=AssetSelection.assets(step),
        description=f"Fetch the due assets of the selected sites from {display} ({spec.source}) and write the "
        "connector's tables. Config `force: true` re-fetches everything; `asset_ids` limits the run to some assets.",
        executor_def=in_process_executor,
    )
    full_refresh = define_asset_job(
        spec.full_refresh_job,
        selection=AssetSelection.assets(step),
        description="Re-fetch every asset of the selected sites, due or not (backfill all partitions for a full refresh).",
        config=spec.enrich_run_config(force=True),
        executor_def=in_process_executor,
    )
    jobs = [enrich, full_refresh, _one_asset_job(spec)]
    if spec.connector.landed is not None:
        jobs.append(_reparse_job(spec))
    return jobs


def reparse_job_name(spec: SourceSpec) -> str:
    return f"reparse_{spec.source}"


class OneAssetConfig(Config):
    asset_id: str = Field(description="The register's asset id, e.g. 'Delhi Cantt Naraina_BP_01'.")


def _one_asset_job(spec: SourceSpec) -> JobDefinition:
    tables = [spec.key(table.name) for table in spec.connector.tables]

    @op(
        name=f"sync_asset_{spec.source}",
        pool=spec.pool_name,
        required_resource_keys={"warehouse", spec.resource_key},
        description=f"Fetch one asset from {spec.connector.display_name} ({spec.source}) now, due or not, and write "
        "its rows.",
    )
    def sync_asset(context: OpExecutionContext, config: OneAssetConfig):
        engine = context.resources.warehouse.engine()
        key = partition_keys_of(engine, [config.asset_id]).get(config.asset_id)
        if key is None:
            raise Failure(f"No asset {config.asset_id!r} in ic3_asset_master: import a register that has it.",
                          allow_retries=False)
        partitioned = spec.partitioning.partitioned
        if partitioned and spec.partitioning.scope is not None and key not in spec.partitioning.scope:
            raise Failure(f"Asset {config.asset_id!r} is at site {key!r}, which source {spec.source!r} does not "
                          "cover (its partitions in defs.yaml).", allow_retries=False)
        sites = SiteProgress([key], site_assets(engine, spec.source, [key])) if partitioned else None
        run = run_batch(context, spec, engine, getattr(context.resources, spec.resource_key),
                        [key] if partitioned else None, EnrichmentConfig(force=True, asset_ids=[config.asset_id]),
                        sites)
        report = run.report
        partition = key if partitioned else None
        metadata = ({**site_figures(sites.outcomes[key], site_assets(engine, spec.source, [key])),
                     **batch_figures(report, key)} if sites is not None else unpartitioned_metadata(run, key))
        context.log_event(AssetMaterialization(asset_key=tables[0], partition=partition, metadata=metadata))
        if report.synced:
            for asset_key in tables[1:]:
                context.log_event(AssetMaterialization(asset_key=asset_key, partition=partition))
        if report.failures:
            outcome = report.failures[0]
            raise Failure(f"{config.asset_id}: {outcome.status}: {outcome.error}",
                          allow_retries=outcome.status == "error")

    @job(name=spec.one_asset_job, executor_def=in_process_executor,
         description=f"Sync one asset from {spec.source} on demand (config: asset_id).")
    def sync_one_asset():
        sync_asset()

    return sync_one_asset


class ReparseConfig(Config):
    sites: list[str] = Field(default_factory=list, description="Partition keys of the sites to re-parse (empty: "
                             "every site the source covers).")
    asset_ids: list[str] | None = Field(default=None, description="Only these assets (default: all).")
    workers: int | None = Field(default=None, ge=1, description="Worker processes, each re-parsing its own range of "
                                "assets (default: the CPU count on SQLite, one on PostgreSQL; one when there are few assets).")


def _reparse_job(spec: SourceSpec) -> JobDefinition:
    tables = [spec.key(table.name) for table in spec.connector.tables]
    display = spec.connector.display_name

    @op(
        name=f"reparse_{spec.source}_op",
        required_resource_keys={"warehouse"},
        description=f"Rebuild {spec.source}'s tables from the {display} answers it landed, with today's parser, "
        "without calling the API.",
    )
    def reparse(context: OpExecutionContext, config: ReparseConfig):
        engine = context.resources.warehouse.engine()
        scope = spec.partitioning.scope
        if config.sites:
            outside = [key for key in config.sites if scope is not None and key not in scope]
            if outside:
                raise Failure(f"Source {spec.source!r} does not cover {', '.join(outside)}.", allow_retries=False)
            scope = list(config.sites)
        try:
            report = reparse_assets(
                engine, spec.connector, spec.source, scope, asset_ids=config.asset_ids,
                progress=lambda r: context.log.info(f"re-parsed {r.rebuilt:,} of {r.due:,} so far ({r.per_s:,.0f}/s)"),
                workers=config.workers or default_workers(engine),
            )
        except ReparseFailed as error:  # a worker's database fault or crash: its one line, not a traceback
            raise Failure(str(error), allow_retries=False) from None
        rebuilt_by_partition = (report.rebuilt_by_partition if spec.partitioning.partitioned
                                else {None: report.rebuilt} if report.rebuilt else {})
        for partition, rebuilt in sorted(rebuilt_by_partition.items(), key=lambda item: str(item[0])):
            metadata = {"rebuilt": rebuilt, "reparsed": True}
            context.log_event(AssetMaterialization(asset_key=tables[0], partition=partition, metadata=metadata))
            for asset_key in tables[1:]:
                context.log_event(AssetMaterialization(asset_key=asset_key, partition=partition, metadata=metadata))
        context.log.info(describe_reparse(report))
        if report.refused:
            raise Failure(describe_reparse(report), allow_retries=False,
                          metadata={"refused": report.refused, "rebuilt": report.rebuilt})

    @job(name=reparse_job_name(spec), executor_def=in_process_executor,
         description=f"Re-parse {spec.source}: rebuild its tables from the landed {display} answers, no API call "
         "(after a parser fix, or a migration that adds a typed column). Config: sites, asset_ids.")
    def reparse_job():
        reparse()

    return reparse_job


def describe_reparse(report: ReparseReport) -> str:
    """One line for the whole re-parse, then each refused asset and why (the first ones)."""
    line = (f"Re-parsed {report.rebuilt:,} of {report.due:,} landed answers in {report.elapsed_s:.1f} s "
            f"({report.per_s:,.0f}/s{f', {report.workers} worker processes' if report.workers > 1 else ''}); "
            f"{report.refused} refused, {report.skipped} synced anew meanwhile (skipped)")
    if report.warnings:
        line += f"; {report.warnings} optional values stored as NULL"
    shown = [f"  {asset_id}: {reason}" for asset_id, reason in report.refusals]
    if report.refused > len(shown):
        shown.append(f"  … and {report.refused - len(shown)} more")
    if report.refused:
        shown.append("Refused assets keep their earlier rows; fix the parser (or the column) and re-parse again.")
    return "\n".join([line, *shown])
