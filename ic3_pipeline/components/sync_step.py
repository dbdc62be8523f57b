"""A source's sync step: one partitioned multi-asset that writes all of the connector's tables.

One step writes every table because one API call feeds them all and each asset's rows must be written in the same
transaction (``sync.attempts``). Partitions are sites; a run may cover a range of them (backfills batch them), and
fetches only the assets that are due, so re-running anything is cheap and safe.
"""


import asyncio
import logging
import uuid
from collections.abc import Iterator, Sequence
from datetime import timedelta

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    Backoff,
    BackfillPolicy,
    Config,
    Failure,
    Jitter,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    RetryPolicy,
    multi_asset,
)
from pydantic import Field
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from ic3_pipeline.components.resource import CmmsApiResource
from ic3_pipeline.components.source import SourceSpec
from ic3_pipeline.http_client import AdaptiveRateLimiter
from ic3_pipeline.markdown import markdown_table
from ic3_pipeline.sync.attempts import SyncContext
from ic3_pipeline.sync.batch import BatchReport, SystemicFailure, sync_assets
from ic3_pipeline.sync.due import due_asset_ids
from ic3_pipeline.sync.partitions import describe_partitions
from ic3_pipeline.sync.sync_log import learned_rate_limit, record_batch
from ic3_pipeline.warehouse import database_error_line
from ic3_pipeline.warehouse.dagster_metadata import definition_metadata, table_metadata
from ic3_pipeline.warehouse.resource import WarehouseResource, warehouse_kind
from ic3_pipeline.warehouse.times import utc_now

progress_log = logging.getLogger("ic3_pipeline.progress")

MAX_FAILURES_SHOWN = 50
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
                description="No asset of the run failed to sync (after retries). Fails naming each id and its reason.",
            ),
            AssetCheckSpec(
                spec.known_assets_check,
                asset=details,
                description=f"Every asset of the run exists in {connector.display_name} (HTTP 404 means the register "
                "lists an id the CMMS does not know).",
            ),
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
        keys = list(context.partition_keys) if partitions_def else None
        report = run_batch(context, spec, engine, getattr(context.resources, spec.resource_key), keys, config)
        yield from _results(spec, engine, report, describe_partitions(keys))

    return sync_step


def run_batch(
    context: OpExecutionContext,
    spec: SourceSpec,
    engine: Engine,
    api: CmmsApiResource,
    partition_keys: Sequence[str] | None,
    config: EnrichmentConfig,
) -> BatchReport:
    """Fetch and store what is due in ``partition_keys``; a systemic fault becomes a Dagster ``Failure``."""
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
        report = (asyncio.run(_sync(context, spec, api, engine, due, batch, known_limit)) if due
                  else BatchReport(due=0))
    except SystemicFailure as failure:
        record_batch(engine, batch, partition_keys, failure.report, started_at, api_base_url=base_url, status="failed")
        raise Failure(
            description=str(failure),
            metadata={"partitions": where, **_figures(failure.report)},
            allow_retries=failure.retryable,
        ) from None
    except DBAPIError as error:
        raise Failure(description=f"Database error, batch stopped: {database_error_line(error)}") from None
    record_batch(engine, batch, partition_keys, report, started_at, api_base_url=base_url)
    context.log.info(_summary_line(report))
    return report


async def _sync(
    context: OpExecutionContext, spec: SourceSpec, api: CmmsApiResource, engine: Engine, due: list[str],
    batch: SyncContext, known_limit: float | None,
) -> BatchReport:
    def progress(report: BatchReport) -> None:
        line = f"progress: {report.done}/{report.due} · " + _summary_line(report)
        context.log.info(line)
        progress_log.info("    " + line)  # the terminal of `ic3 sync`; the UI has the event log

    async with api.client(known_limit=known_limit) as client:
        return await sync_assets(client, spec.connector, engine, due, context=batch, progress=progress)


def _summary_line(report: BatchReport) -> str:
    stats = report.request_stats
    return (
        f"synced {report.synced}, failed {report.failed}, not found {report.not_found} "
        f"in {report.elapsed_s:.1f} s; {stats.get('requests', 0)} requests ({report.requests_per_s:.1f}/s), "
        f"{stats.get('throttled', 0)} answered 429, {stats.get('retries', 0)} retries"
    )


def _figures(report: BatchReport) -> dict[str, object]:
    stats = report.request_stats
    return {
        "assets due": report.due,
        "synced": report.synced,
        "failed": report.failed,
        "not found": report.not_found,
        "skipped": report.skipped,
        "requests": stats.get("requests", 0),
        "429 answers": stats.get("throttled", 0),
        "retries": stats.get("retries", 0),
        "elapsed s": round(report.elapsed_s, 2),
        "requests per s": round(report.requests_per_s, 2),
        "synced per s": round(report.synced_per_s, 2),
        "limiter rate at start (req/s)": round(report.initial_rate, 2),
        "limiter rate at end (req/s)": round(report.final_rate, 2),
        "rate limit found (req/s)": round(report.rate_limit_found, 2) if report.rate_limit_found else "none (no 429)",
    }


FAILURE_COLUMNS = ("asset id", "status", "http", "attempts", "reason")


def _failure_row(outcome) -> dict[str, object]:
    return {"asset id": outcome.asset_id, "status": outcome.status, "http": outcome.http_status,
            "attempts": outcome.attempts, "reason": outcome.error}


def run_metadata(report: BatchReport, where: str) -> dict[str, object]:
    """What a person reads at a glance on a materialization: the figures and the failed ids with reasons."""
    failures = [_failure_row(f) for f in report.failures]
    return {
        "partitions": where,
        **_figures(report),
        "failed and not-found ids": MetadataValue.md(markdown_table(failures[:MAX_FAILURES_SHOWN], FAILURE_COLUMNS)),
        "values stored as NULL": len(report.warnings),
        "unreadable optional values": MetadataValue.md(
            markdown_table(
                [{"asset id": a, "value": w} for a, w in report.warnings[:MAX_FAILURES_SHOWN]], ("asset id", "value")
            )
        ),
    }


def _results(spec: SourceSpec, engine: Engine, report: BatchReport, where: str) -> Iterator:
    failures = [_failure_row(f) for f in report.failures]
    errors = [f for f in failures if f["status"] == "error"]
    missing = [f for f in failures if f["status"] == "not_found"]
    details = spec.details_key
    with engine.connect() as conn:
        for index, table in enumerate(spec.connector.tables):
            extra = run_metadata(report, where) if index == 0 else {"rows written": table.rows_per_asset * report.synced}
            yield MaterializeResult(asset_key=spec.key(table.name), metadata={**extra, **table_metadata(conn, table.table)})
    yield AssetCheckResult(
        check_name=spec.sync_errors_check,
        asset_key=details,
        passed=not errors,
        description=f"{len(errors)} assets failed to sync" if errors else None,
        metadata={"failed": len(errors),
                  "failed ids": MetadataValue.md(markdown_table(errors[:MAX_FAILURES_SHOWN], FAILURE_COLUMNS))},
    )
    yield AssetCheckResult(
        check_name=spec.known_assets_check,
        asset_key=details,
        passed=not missing,
        severity=AssetCheckSeverity.WARN,
        metadata={"not found": len(missing),
                  "ids": MetadataValue.md(markdown_table(missing[:MAX_FAILURES_SHOWN], FAILURE_COLUMNS[:2]))},
    )
