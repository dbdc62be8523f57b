"""A source's sync step: one partitioned multi-asset that writes all of the connector's tables.

One step writes every table because one API call feeds them all and each asset's rows must be written in the same
transaction (``sync.attempts``). Partitions are sites; a run may cover a range of them (backfills batch them), and
fetches only the assets that are due, so re-running anything is cheap and safe.
"""


import asyncio
import logging
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetObservation,
    AssetsDefinition,
    AssetSpec,
    Backoff,
    BackfillPolicy,
    Config,
    Failure,
    Jitter,
    MaterializeResult,
    OpExecutionContext,
    RetryPolicy,
    multi_asset,
)
from pydantic import Field
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from ic3_pipeline.components.checks import (
    known_assets_result,
    rows_consistent_result,
    rows_consistent_spec,
    sync_errors_result,
)
from ic3_pipeline.components.resource import CmmsApiResource
from ic3_pipeline.components.run_metadata import BatchRun, batch_figures, own_figures, site_materializations
from ic3_pipeline.components.site_progress import BatchCancel, SiteProgress
from ic3_pipeline.components.source import SourceSpec
from ic3_pipeline.http_client import AdaptiveRateLimiter
from ic3_pipeline.sync.attempts import SyncContext
from ic3_pipeline.sync.batch import BatchReport, SystemicFailure, sync_assets
from ic3_pipeline.sync.due import due_asset_ids
from ic3_pipeline.sync.partitions import describe_partitions
from ic3_pipeline.sync.standing import batch_outcomes, site_assets
from ic3_pipeline.sync.sync_log import learned_rate_limit, record_batch
from ic3_pipeline.warehouse import database_error_line
from ic3_pipeline.warehouse.dagster_metadata import definition_metadata, row_count, row_count_metadata
from ic3_pipeline.warehouse.resource import WarehouseResource, warehouse_kind
from ic3_pipeline.warehouse.times import utc_now

progress_log = logging.getLogger("ic3_pipeline.progress")

OWNERS = ["team:maintenance-data"]
REGISTER_ASSET = "asset_register"


class EnrichmentConfig(Config):
    force: bool = Field(default=False, description="Re-fetch every asset of the partitions, due or not.")
    stale_after_hours: float | None = Field(
        default=None, description="A synced asset is due again after this long (default: the source's setting)."
    )
    asset_ids: list[str] = Field(default_factory=list, description="Only these assets (e.g. a one-asset sync).")


def build_sync_step(spec: SourceSpec) -> AssetsDefinition:
    connector = spec.connector
    details = spec.details_key
    kinds = {"api", warehouse_kind()}
    specs = [
        AssetSpec(
            spec.key(table.name),
            metadata=definition_metadata(table.table),
            deps=[REGISTER_ASSET] if index == 0 else [details],
            group_name=spec.group,
            kinds=kinds,
            owners=OWNERS,
            tags={"ic3/source": spec.source, "ic3/connector": connector.name},
            description=table.description,
            # A partitioned run logs each site's materializations as the site finishes (``_sync_sites``) instead of
            # returning outputs that Dagster would materialize for every site after the whole batch.
            skippable=spec.partitioning.partitioned,
        )
        for index, table in enumerate(connector.tables)
    ]
    partitions_def = spec.partitioning.definition()

    @multi_asset(
        name=spec.step_name,
        specs=specs,
        check_specs=[
            AssetCheckSpec(
                spec.sync_errors_check,
                asset=details,
                description="No asset of the source's sites has a failed last sync (after retries), as the database "
                "records it after each run. Fails naming each id, its site and reason.",
            ),
            AssetCheckSpec(
                spec.known_assets_check,
                asset=details,
                description=f"Every asset of the source's sites exists in {connector.display_name}, as the database "
                "records it after each run (HTTP 404 means the register lists an id the CMMS does not know).",
            ),
            rows_consistent_spec(spec),
        ],
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=spec.sites_per_run) if partitions_def else None,
        pool=spec.pool_name,
        retry_policy=RetryPolicy(
            max_retries=spec.step_retry.max_retries,
            delay=spec.step_retry.delay_s,
            backoff=Backoff.EXPONENTIAL,
            jitter=Jitter.PLUS_MINUS,
        ),
        required_resource_keys={"warehouse", spec.resource_key},
    )
    def sync_step(context: AssetExecutionContext, config: EnrichmentConfig):
        warehouse: WarehouseResource = context.resources.warehouse
        engine = warehouse.engine()
        api = getattr(context.resources, spec.resource_key)
        if partitions_def is None:
            run = run_batch(context, spec, engine, api, None, config)
            yield from _unpartitioned_results(spec, engine, run)
        else:
            yield from _sync_sites(context, spec, engine, api, list(context.partition_keys), config)

    return sync_step


def run_batch(
    context: OpExecutionContext,
    spec: SourceSpec,
    engine: Engine,
    api: CmmsApiResource,
    partition_keys: Sequence[str] | None,
    config: EnrichmentConfig,
    sites: SiteProgress | None = None,
    cancel: BatchCancel | None = None,
) -> BatchRun:
    """Fetch and store what is due in ``partition_keys``; a systemic fault becomes a Dagster ``Failure``.
    ``sites`` (a partitioned run) orders the batch site by site and hears of every settled asset; ``cancel`` lets
    another thread stop the batch (the step's, when the run is terminated)."""
    started_at = utc_now()
    connector = spec.connector
    stale_after = spec.stale_after if config.stale_after_hours is None else timedelta(hours=config.stale_after_hours)
    due = due_asset_ids(
        engine,
        spec.source,
        partition_keys if partition_keys is not None else spec.partitioning.scope,
        now=started_at,
        stale_after=stale_after,
        force=config.force,
        asset_ids=config.asset_ids or None,
    )
    if sites is not None:
        due = sites.begin(due)
    where = describe_partitions(partition_keys)
    base_url = api.resolved_base_url() if due else None
    context.log.info(f"{len(due)} assets due in {where} (force={config.force}); {connector.display_name} API {base_url}")
    known_limit = learned_rate_limit(engine, spec.source, base_url) if due else None
    if known_limit:
        context.log.info(f"starting at {AdaptiveRateLimiter.TARGET * known_limit:.1f} req/s: an earlier batch found "
                         f"the API accepts {known_limit:.1f} req/s (cmms_sync_log.rate_limit_found)")
    batch = SyncContext(source=spec.source, sync_type=connector.name, run_id=context.run.run_id,
                        batch_id=f"{spec.source}-{uuid.uuid4().hex[:12]}")
    try:
        report = (asyncio.run(_sync(context, spec, api, engine, due, batch, known_limit, sites, cancel)) if due
                  else BatchReport(due=0))
    except SystemicFailure as failure:
        record_batch(engine, batch, partition_keys, failure.report, started_at, api_base_url=base_url, status="failed")
        raise Failure(
            description=str(failure),
            metadata=batch_figures(failure.report, where),
            allow_retries=failure.retryable,
        ) from None
    except DatabaseStopped as stopped:
        reason = f"Database error, batch stopped: {database_error_line(stopped.error)}"
        partial = _record_stopped_batch(context, engine, batch, partition_keys, due, stopped, started_at, base_url)
        raise Failure(description=reason, metadata=batch_figures(partial, where) if partial else None) from None
    except DBAPIError as error:  # before any asset was written (the batch had not started)
        raise Failure(description=f"Database error, batch stopped: {database_error_line(error)}") from None
    record_batch(engine, batch, partition_keys, report, started_at, api_base_url=base_url)
    context.log.info(_summary_line(report))
    return BatchRun(report, due)


async def _sync(
    context: OpExecutionContext, spec: SourceSpec, api: CmmsApiResource, engine: Engine, due: list[str],
    batch: SyncContext, known_limit: float | None, sites: SiteProgress | None, cancel: BatchCancel | None,
) -> BatchReport:
    if cancel is not None:
        cancel.attach()

    def progress(report: BatchReport) -> None:
        line = f"progress: {report.done}/{report.due} · " + _summary_line(report)
        context.log.info(line)
        progress_log.info("    " + line)  # the terminal of `ic3 sync`; the UI has the event log

    async with api.client(known_limit=known_limit) as client:
        try:
            return await sync_assets(client, spec.connector, engine, due, context=batch, progress=progress,
                                     settled=sites.settled if sites is not None else None)
        except DBAPIError as error:
            raise DatabaseStopped(error, client.http.stats.as_dict()) from error


class DatabaseStopped(Exception):
    """The database failed mid-batch; what the batch had sent so far, for the record of the stopped batch."""

    def __init__(self, error: DBAPIError, request_stats: dict[str, int]) -> None:
        super().__init__(str(error))
        self.error, self.request_stats = error, request_stats


def _record_stopped_batch(
    context: OpExecutionContext, engine: Engine, batch: SyncContext, partition_keys: Sequence[str] | None,
    due: list[str], stopped: DatabaseStopped, started_at: datetime, base_url: str | None,
) -> BatchReport | None:
    """Record a batch the database stopped, with what it wrote before (``ic3_sync_log``, committed per asset), so
    ``ic3 sync`` and ``ic3 status`` can tell the attempt and its work from the retry's. The database may still be
    down: then the batch goes unrecorded, and the run's log says so."""
    try:
        outcomes = batch_outcomes(engine, batch.batch_id)
        report = BatchReport(due=len(due), synced=outcomes["success"], failed=outcomes["error"],
                             not_found=outcomes["not_found"], request_stats=stopped.request_stats)
        report.skipped = report.due - report.done
        record_batch(engine, batch, partition_keys, report, started_at, api_base_url=base_url, status="failed")
    except DBAPIError as error:
        context.log.warning(f"Could not record the stopped batch in cmms_sync_log: {database_error_line(error)}")
        return None
    return report


def _summary_line(report: BatchReport) -> str:
    stats = report.request_stats
    return (
        f"synced {report.synced}, failed {report.failed}, not found {report.not_found} "
        f"in {report.elapsed_s:.1f} s; {stats.get('requests', 0)} requests ({report.requests_per_s:.1f}/s), "
        f"{stats.get('throttled', 0)} answered 429, {stats.get('retries', 0)} retries"
    )


def unpartitioned_metadata(run: BatchRun, where: str) -> dict[str, object]:
    """The materialization of a run that covers no partitions (an unpartitioned source): its own figures are the
    batch's."""
    return {**own_figures(len(run.due), run.report.failures, run.report.warnings), **batch_figures(run.report, where)}


def _unpartitioned_results(spec: SourceSpec, engine: Engine, run: BatchRun) -> Iterator:
    """One materialization per table, with the batch's figures; then the checks."""
    with engine.connect() as conn:
        for index, table in enumerate(spec.connector.tables):
            metadata = (unpartitioned_metadata(run, describe_partitions(None)) if index == 0
                        else {"rows written": table.rows_per_asset * run.report.synced})
            yield MaterializeResult(asset_key=spec.key(table.name),
                                    metadata={**metadata, **row_count_metadata(conn, table.table)})
    yield sync_errors_result(spec, engine, None)
    yield known_assets_result(spec, engine, None)
    yield rows_consistent_result(spec, engine)


def _sync_sites(context: AssetExecutionContext, spec: SourceSpec, engine: Engine, api: CmmsApiResource,
                keys: Sequence[str], config: EnrichmentConfig) -> Iterator:
    """Run the batch on a thread of its own and materialize each site the moment its last due asset is written
    (``components.site_progress``): the event-log writes overlap the API's pace instead of following the batch.
    Then the batch's own figures, once (an observation of the source's first table), and the checks."""
    sites = SiteProgress(keys, site_assets(engine, spec.source, keys))
    cancel = BatchCancel()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ic3-batch") as pool:
        batch = pool.submit(run_batch, context, spec, engine, api, keys, config, sites, cancel)
        batch.add_done_callback(lambda _: sites.close())
        try:
            for key in sites.finished_sites():
                yield from site_materializations(spec, engine, key, sites.outcomes[key])
        except BaseException:  # the run was terminated (or the step's thread failed): stop the batch, then go
            cancel.cancel()
            raise
        run = batch.result()
    with engine.connect() as conn:
        yield AssetObservation(
            asset_key=spec.details_key,
            metadata={**batch_figures(run.report, describe_partitions(keys)),
                      **{f"rows in {table.table.name}": row_count(conn, table.table)
                         for table in spec.connector.tables}},
        )
    yield sync_errors_result(spec, engine, keys)
    yield known_assets_result(spec, engine, keys)
    yield rows_consistent_result(spec, engine)
