"""The Innomaint enrichment assets, produced together by one partitioned step per run.

One step writes three tables because one API call feeds all three and each asset's rows must be written in the same
transaction (``innomaint.store``). Partitions are register sites; a run may cover a range of sites (backfills batch
them), and fetches only the assets that are due, so re-running anything is cheap and safe.
"""

import asyncio
import logging
import os
import uuid
from datetime import datetime, timedelta, timezone

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
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
from sqlalchemy.exc import DBAPIError

from ic3_pipeline.http_client import AdaptiveRateLimiter
from ic3_pipeline.innomaint.due import due_asset_ids
from ic3_pipeline.innomaint.enrich import BatchReport, SystemicFailure, enrich_assets
from ic3_pipeline.innomaint.resource import InnomaintResource
from ic3_pipeline.innomaint.store import SyncContext
from ic3_pipeline.innomaint.sync_log import describe_partitions, learned_rate_limit, record_batch
from ic3_pipeline.markdown import markdown_table
from ic3_pipeline.register.partitions import site_partitions
from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.dagster_metadata import definition_metadata, table_metadata
from ic3_pipeline.warehouse.resource import WarehouseResource, warehouse_kind

progress_log = logging.getLogger("ic3_pipeline.progress")

POOL = "innomaint_api"
# Systemic failures (API down, database gone) are retried by the step twice, after this delay and then double it.
STEP_RETRY_DELAY_ENV = "IC3_STEP_RETRY_DELAY_S"
STEP_RETRY_POLICY = RetryPolicy(
    max_retries=2,
    delay=float(os.environ.get(STEP_RETRY_DELAY_ENV, "30")),
    backoff=Backoff.EXPONENTIAL,
    jitter=Jitter.PLUS_MINUS,
)
MAX_PARTITIONS_PER_RUN = 100
MAX_FAILURES_SHOWN = 50

DETAILS = AssetKey("innomaint_asset_details")
PERFORMANCE = AssetKey("asset_performance")
WORKORDERS = AssetKey("workorder_summary")
OWNERS = ["team:maintenance-data"]
KINDS = {"api", warehouse_kind()}


class EnrichmentConfig(Config):
    force: bool = Field(default=False, description="Re-fetch every asset of the partitions, due or not.")
    stale_after_hours: float = Field(default=24.0, description="A synced asset is due again after this long.")
    asset_ids: list[str] = Field(default_factory=list, description="Only these assets (e.g. a one-asset sync).")


@multi_asset(
    name="innomaint_enrichment",
    specs=[
        AssetSpec(
            DETAILS,
            metadata=definition_metadata(tables.asset_master),
            deps=["asset_register"],
            group_name="innomaint",
            kinds=KINDS,
            owners=OWNERS,
            description=(
                "Each register asset's Innomaint detail: the landed response (`ic3_innomaint_raw_response`), the CMMS "
                "columns of `ic3_asset_master`, and the `ic3_building` / `ic3_floor_master` / `ic3_department_master` "
                "masters. Per-asset failures are recorded (`ic3_sync_log`) and fail the `innomaint_sync_errors` check."
            ),
        ),
        AssetSpec(
            PERFORMANCE,
            metadata=definition_metadata(tables.asset_performance),
            deps=[DETAILS],
            group_name="innomaint",
            kinds=KINDS,
            owners=OWNERS,
            description=(
                "`ic3_asset_performance`: MTTR, MTBF, availability and breakdown hours per asset, as sent (`mttr`) "
                "and typed beside it (`mttr_hours`, `mtbf_hours`, `availability_pct`, …)."
            ),
        ),
        AssetSpec(
            WORKORDERS,
            metadata=definition_metadata(tables.workorder_summary),
            deps=[DETAILS],
            group_name="innomaint",
            kinds=KINDS,
            owners=OWNERS,
            description="`ic3_workorder_summary`: work-order counts and costs per asset, `upto` and `last_year`.",
        ),
    ],
    check_specs=[
        AssetCheckSpec(
            "innomaint_sync_errors",
            asset=DETAILS,
            description="No asset of the run failed to sync (after retries). Fails naming each id and its reason.",
        ),
        AssetCheckSpec(
            "assets_known_to_innomaint",
            asset=DETAILS,
            description="Every asset of the run exists in Innomaint (HTTP 404 means the register lists an unknown id).",
        ),
    ],
    partitions_def=site_partitions,
    backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=MAX_PARTITIONS_PER_RUN),
    pool=POOL,
    retry_policy=STEP_RETRY_POLICY,
)
def innomaint_enrichment(
    context: AssetExecutionContext,
    config: EnrichmentConfig,
    warehouse: WarehouseResource,
    innomaint: InnomaintResource,
):
    engine = warehouse.engine()
    partition_keys = list(context.partition_keys)
    report = run_batch(context, engine, innomaint, partition_keys, config)
    yield from _results(engine, report, describe_partitions(partition_keys))


def run_batch(
    context: OpExecutionContext,
    engine,
    innomaint: InnomaintResource,
    partition_keys: list[str],
    config: EnrichmentConfig,
) -> BatchReport:
    """Fetch and store what is due in ``partition_keys``; a systemic fault becomes a Dagster ``Failure``."""
    started_at = datetime.now(timezone.utc)
    due = due_asset_ids(
        engine,
        partition_keys,
        now=started_at,
        stale_after=timedelta(hours=config.stale_after_hours),
        force=config.force,
        asset_ids=config.asset_ids or None,
    )
    where = describe_partitions(partition_keys)
    api = innomaint.resolved_base_url()
    context.log.info(f"{len(due)} assets due in {where} (force={config.force}); API {api}")
    known_limit = learned_rate_limit(engine, api) if due else None
    if known_limit:
        context.log.info(f"starting at {AdaptiveRateLimiter.TARGET * known_limit:.1f} req/s: an earlier batch found "
                         f"the API accepts {known_limit:.1f} req/s (cmms_sync_log.rate_limit_found)")
    batch = SyncContext(run_id=context.run.run_id, batch_id=f"innomaint-{uuid.uuid4().hex[:12]}")
    try:
        report = (asyncio.run(_enrich(context, innomaint, engine, due, batch, known_limit)) if due
                  else BatchReport(due=0))
    except SystemicFailure as failure:
        record_batch(engine, batch, partition_keys, failure.report, started_at, api_base_url=api, status="failed")
        raise Failure(
            description=str(failure),
            metadata={"partitions": where, **_figures(failure.report)},
            allow_retries=failure.retryable,
        ) from None
    except DBAPIError as error:
        raise Failure(description=f"Database error, batch stopped: {error.orig or error}") from None
    record_batch(engine, batch, partition_keys, report, started_at, api_base_url=api)
    context.log.info(_summary_line(report))
    return report


async def _enrich(
    context: OpExecutionContext, innomaint: InnomaintResource, engine, due, batch, known_limit: float | None
) -> BatchReport:
    def progress(report: BatchReport) -> None:
        line = f"progress: {report.done}/{report.due} · " + _summary_line(report)
        context.log.info(line)
        progress_log.info("    " + line)  # the terminal of `ic3 sync`; the UI has the event log

    async with innomaint.client(known_limit=known_limit) as client:
        return await enrich_assets(client, engine, due, context=batch, progress=progress)


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


FAILURE_COLUMNS = ("asset id", "status", "http", "attempts", "reason")


def _failure_row(outcome) -> dict[str, object]:
    return {"asset id": outcome.asset_id, "status": outcome.status, "http": outcome.http_status,
            "attempts": outcome.attempts, "reason": outcome.error}


def _results(engine, report: BatchReport, where: str):
    failures = [_failure_row(f) for f in report.failures]
    errors = [f for f in failures if f["status"] == "error"]
    missing = [f for f in failures if f["status"] == "not_found"]
    columns = FAILURE_COLUMNS
    with engine.connect() as conn:
        yield MaterializeResult(
            asset_key=DETAILS, metadata={**run_metadata(report, where), **table_metadata(conn, tables.asset_master)}
        )
        yield MaterializeResult(
            asset_key=PERFORMANCE,
            metadata={**table_metadata(conn, tables.asset_performance), "rows written": report.synced},
        )
        yield MaterializeResult(
            asset_key=WORKORDERS,
            metadata={**table_metadata(conn, tables.workorder_summary), "rows written": 2 * report.synced},
        )
    yield AssetCheckResult(
        check_name="innomaint_sync_errors",
        asset_key=DETAILS,
        passed=not errors,
        description=f"{len(errors)} assets failed to sync" if errors else None,
        metadata={"failed": len(errors), "failed ids": MetadataValue.md(markdown_table(errors[:MAX_FAILURES_SHOWN], columns))},
    )
    yield AssetCheckResult(
        check_name="assets_known_to_innomaint",
        asset_key=DETAILS,
        passed=not missing,
        severity=AssetCheckSeverity.WARN,
        metadata={"not found": len(missing), "ids": MetadataValue.md(markdown_table(missing[:MAX_FAILURES_SHOWN], columns[:2]))},
    )
