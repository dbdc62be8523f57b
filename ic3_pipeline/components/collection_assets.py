"""A collection source's Dagster definitions: an asset per stream (in load order, by ``deps``), its checks, the
sync job, the incremental schedule, the retry sensor and the status asset.

Each stream asset pages its stream for the partitions (sites) of the run, one partition after another, under the
source's pool and one rate limiter; a run may cover a range of sites. A partition that fails is recorded in
``cmms_stream_state`` and the step fails after trying the others (so Dagster shows it and downstream streams wait);
a refused credential stops at once and is not retried.
"""


import asyncio
import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    AutomationCondition,
    Backoff,
    BackfillPolicy,
    Config,
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Failure,
    Jitter,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    RunRequest,
    RunsFilter,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SkipReason,
    asset,
    define_asset_job,
    in_process_executor,
    schedule,
    sensor,
)
from pydantic import Field
from sqlalchemy import Engine, func, select

from ic3_pipeline.components.collection_source import CollectionSourceSpec
from ic3_pipeline.components.resource import CmmsApiResource
from ic3_pipeline.components.unified_checks import mapping_check_result, mapping_check_spec, unified_metadata
from ic3_pipeline.markdown import markdown_table
from ic3_pipeline.register.partitions import register_site_partitions
from ic3_pipeline.status.streams import stream_source_status
from ic3_pipeline.sync.collection_sync import StreamFailed, sync_stream
from ic3_pipeline.sync.partitions import contiguous_ranges, range_tags
from ic3_pipeline.sync.references import dangling_references
from ic3_pipeline.sync.stream_state import failed_stream_partitions
from ic3_pipeline.sync.streams import CollectionApiError, StreamReport, StreamSpec
from ic3_pipeline.warehouse.resource import WarehouseResource, warehouse_kind
from ic3_pipeline.warehouse.stream_tables import TYPE_ERRORS, column_name, existing_table

progress_log = logging.getLogger("ic3_pipeline.progress")
OWNERS = ["team:maintenance-data"]
TRIGGER_TAG = "ic3/trigger"
SHOWN = 50
ACTIVE = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]


class StreamSyncConfig(Config):
    full: bool = Field(default=False, description="Read everything (not only what changed since the high-water mark) "
                       "and mark rows the API no longer returns as deleted (`_deleted_at`).")


def values_fit_check(stream: StreamSpec) -> str:
    return f"{stream.name}_values_fit"


def references_check(stream: StreamSpec) -> str:
    return f"{stream.name}_references_exist"


def build_collection_definitions(spec: CollectionSourceSpec) -> tuple[list, list, list, list]:
    """(assets, jobs, schedules, sensors) of one collection source."""
    stream_assets = [build_stream_asset(spec, stream) for stream in spec.ordered_streams]
    job = define_asset_job(
        spec.sync_job,
        selection=[spec.key(stream.name) for stream in spec.streams],
        description=f"Sync every stream of {spec.source} in load order (a range of sites per run; config `full: true` "
        "on a stream for a full refresh).",
        executor_def=in_process_executor,
    )
    return ([*stream_assets, build_stream_status_asset(spec)], [job], [build_incremental_schedule(spec)],
            [build_stream_retry_sensor(spec)])


def build_stream_asset(spec: CollectionSourceSpec, stream: StreamSpec) -> AssetsDefinition:
    key = spec.key(stream.name)
    table = stream.table_name(spec.source)
    check_specs = [AssetCheckSpec(values_fit_check(stream), asset=key, description=(
        f"Every value the API sent for {stream.resource} fits its column; one that does not is kept as sent in "
        "`_type_errors` (and its column left NULL) — this check names those rows."))]
    if stream.references:
        targets = ", ".join(sorted({spec.stream(r.to_stream).table_name(spec.source) for r in stream.references}))
        check_specs.append(AssetCheckSpec(references_check(stream), asset=key, description=(
            f"Every reference of `{table}` to {targets} names a row that exists (never filled with placeholder rows)."
        )))
    if stream.mapping is not None:
        check_specs.append(mapping_check_spec(stream, key, table))
    partitioned = stream.partitioned
    children = ", ".join(f"`{child.table_name(table)}`" for child in stream.children)

    @asset(
        key=key,
        deps=[spec.key(name) for name in stream.depends_on],
        group_name=spec.group,
        kinds={"api", warehouse_kind()},
        owners=OWNERS,
        tags={"ic3/source": spec.source, "ic3/connector": spec.connector_name},
        metadata={"dagster/table_name": table},
        partitions_def=spec.partitions_def if partitioned else None,
        backfill_policy=BackfillPolicy.single_run() if partitioned else None,
        pool=spec.pool_name,
        retry_policy=RetryPolicy(max_retries=spec.step_retry.max_retries, delay=spec.step_retry.delay_s,
                                 backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS),
        check_specs=check_specs,
        required_resource_keys={"warehouse", spec.resource_key},
        description=(stream.description or f"`{stream.resource}`") + f" → `{table}`" + (
            f" and its children {children}" if children else "") + (
            f", per {stream.partition_field}" if partitioned else "") + (
            f"; incremental on `{stream.change_field}`" if stream.change_field else "; read whole each time") + ".",
    )
    def stream_asset(context: AssetExecutionContext, config: StreamSyncConfig) -> Iterator:
        engine = context.resources.warehouse.engine()
        api: CmmsApiResource = getattr(context.resources, spec.resource_key)
        partitions = list(context.partition_keys) if partitioned else [None]
        reports, failures, auth_failed = asyncio.run(
            _sync_partitions(context, spec, stream, engine, api, partitions, full=config.full))
        if failures:
            lines = [f"{partition or 'all'}: {failure}" for partition, failure in failures]
            raise Failure(
                description=f"{stream.name}: {len(failures)} of {len(partitions)} partition(s) failed — "
                + "; ".join(lines[:5]),
                metadata={**_run_metadata(reports, [failure.report for _, failure in failures]),
                          **unified_metadata(stream, [*reports, *(failure.report for _, failure in failures)])},
                allow_retries=not auth_failed,
            )
        yield MaterializeResult(asset_key=key, metadata={**_run_metadata(reports, []), **unified_metadata(stream, reports),
                                                         **_table_metadata(engine, table)})
        yield _values_fit_result(engine, spec, stream)
        if stream.mapping is not None:
            yield mapping_check_result(engine, spec.source, stream, key)
        if stream.references:
            yield _references_result(engine, spec, stream)

    return stream_asset


async def _sync_partitions(context: AssetExecutionContext, spec: CollectionSourceSpec, stream: StreamSpec,
                           engine: Engine, api: CmmsApiResource, partitions: Sequence[str | None], *, full: bool):
    connector = spec.connector
    reports: list[StreamReport] = []
    failures: list[tuple[str | None, StreamFailed]] = []
    credentials = api.credentials()
    try:
        headers = connector.headers(credentials)
    except CollectionApiError as refused:
        raise Failure(description=str(refused), allow_retries=False) from None
    base_url = api.resolved_base_url()
    # Credentials that change per request (a signed URL, a session token), for a connector that has them.
    auth = connector.auth(credentials, base_url) if hasattr(connector, "auth") else None
    context.log.info(f"{stream.name}: {len(partitions)} partition(s) from {connector.display_name} at {base_url}"
                     f"{' (full refresh)' if full else ''}")

    def progress(report: StreamReport) -> None:
        line = f"{stream.name} {report.partition or ''}: {report.pages} pages, {report.rows} rows so far"
        context.log.info(line)
        progress_log.info("    " + line)

    async with api.resilient_client(headers, auth=auth) as client:
        for partition in partitions:
            try:
                report = await sync_stream(client, connector, engine, source=spec.source, stream=stream,
                                           partition=partition, full=full, settings=spec.paging,
                                           run_id=context.run.run_id, progress=progress)
            except StreamFailed as failure:
                context.log.error(f"{stream.name} {partition or ''}: {failure}")
                failures.append((partition, failure))
                if failure.auth:
                    return reports, failures, True
                continue
            reports.append(report)
            context.log.info(_report_line(report))  # `ic3 sync` prints its own line per stream and site
            for rejected in report.rejected[:SHOWN]:
                context.log.warning(f"{stream.name} {report.partition}: {rejected}")
            if report.mapping_failed:
                context.log.warning(f"{stream.name} {report.partition}: {report.mapping_failed} record(s) could not be "
                                    "mapped to the unified model; they are in the raw table only (see cmms_mapping_error)")
    return reports, failures, False


def _report_line(report: StreamReport) -> str:
    stats = report.request_stats
    return (f"{report.stream} {report.partition or '(all)'} [{report.mode}]: {report.rows} rows, "
            f"{report.child_rows} child rows, {report.deleted} marked deleted, {report.pages} pages in "
            f"{report.elapsed_s:.1f} s; {stats.get('requests', 0)} requests, {stats.get('throttled', 0)} answered 429, "
            f"{stats.get('retries', 0)} retries")


REPORT_COLUMNS = ("partition", "mode", "rows", "child rows", "deleted", "pages", "requests", "429s",
                  "high-water mark", "seconds")


def _run_metadata(reports: Sequence[StreamReport], failed: Sequence[StreamReport]) -> dict[str, object]:
    everything = [*reports, *failed]

    def total(name: str) -> int:
        return sum(getattr(r, name) for r in everything)

    rows = [{"partition": r.partition or "(all)", "mode": r.mode, "rows": r.rows, "child rows": r.child_rows,
             "deleted": r.deleted, "pages": r.pages, "requests": r.request_stats.get("requests", 0),
             "429s": r.request_stats.get("throttled", 0), "high-water mark": r.high_water_mark_after,
             "seconds": round(r.elapsed_s, 1)} for r in everything]
    new_columns = [column for r in everything for column in r.new_columns]
    return {
        "partitions": len(everything),
        "failed partitions": len(failed),
        "rows written": total("rows"),
        "child rows written": total("child_rows"),
        "rows marked deleted": total("deleted"),
        "values kept as text": total("kept_as_text"),
        "pages": total("pages"),
        "requests": sum(r.request_stats.get("requests", 0) for r in everything),
        "429 answers": sum(r.request_stats.get("throttled", 0) for r in everything),
        "new columns (schema drift)": MetadataValue.md("\n".join(f"- `{c}`" for c in new_columns) or "_none_"),
        "records skipped (no key)": sum(len(r.rejected) for r in everything),
        "per partition": MetadataValue.md(markdown_table(rows[:SHOWN], REPORT_COLUMNS)),
    }


def _table_metadata(engine: Engine, table: str) -> dict[str, object]:
    with engine.connect() as conn:
        found = existing_table(conn, table)
        count = conn.execute(select(func.count()).select_from(found)).scalar_one() if found is not None else 0
    return {"dagster/row_count": count, "dagster/table_name": table}


def _values_fit_result(engine: Engine, spec: CollectionSourceSpec, stream: StreamSpec) -> AssetCheckResult:
    parent = stream.table_name(spec.source)
    key = [column_name(c) for c in stream.key]
    rows: list[dict[str, object]] = []
    count = 0
    with engine.connect() as conn:
        for name in [parent, *(child.table_name(parent) for child in stream.children)]:
            table = existing_table(conn, name)
            if table is None:
                continue
            flagged = table.c[TYPE_ERRORS].is_not(None)
            count += conn.execute(select(func.count()).select_from(table).where(flagged)).scalar_one()
            for row in conn.execute(select(*(table.c[c] for c in key), table.c[TYPE_ERRORS]).where(flagged).limit(SHOWN)):
                rows.append({"table": name, "row": ", ".join(f"{c}={v}" for c, v in zip(key, row)),
                             "kept as sent": row[-1]})
    return AssetCheckResult(
        check_name=values_fit_check(stream), asset_key=spec.key(stream.name), passed=count == 0,
        severity=AssetCheckSeverity.WARN,
        description=f"{count} row(s) hold a value that did not fit its column" if count else None,
        metadata={"rows with values kept as text": count,
                  "rows": MetadataValue.md(markdown_table(rows[:SHOWN], ("table", "row", "kept as sent")))},
    )


def _references_result(engine: Engine, spec: CollectionSourceSpec, stream: StreamSpec) -> AssetCheckResult:
    total, shown = 0, []
    for reference in stream.references:
        count, found = dangling_references(engine, spec.source, stream, spec.stream(reference.to_stream), reference)
        total += count
        shown += [vars(item) for item in found]
    return AssetCheckResult(
        check_name=references_check(stream), asset_key=spec.key(stream.name), passed=total == 0,
        severity=AssetCheckSeverity.WARN,
        description=(f"{total} reference(s) name a row that does not exist: "
                     + "; ".join(f"{d['table']} ({d['row']}) → {d['reference']} not in {d['missing_in']}"
                                 for d in shown[:5])) if total else None,
        metadata={"dangling references": total,
                  "references": MetadataValue.md(markdown_table(shown[:SHOWN], ("table", "row", "reference",
                                                                                "missing_in")))},
    )


def build_stream_status_asset(spec: CollectionSourceSpec) -> AssetsDefinition:
    @asset(
        key=spec.status_key,
        group_name=spec.group,
        deps=[spec.key(stream.name) for stream in spec.streams],
        kinds={warehouse_kind()},
        owners=OWNERS,
        tags={"ic3/role": "sync_status"},
        automation_condition=AutomationCondition.eager().without(~AutomationCondition.any_deps_missing()),
        description=f"How in sync {spec.source} is: rows per table (live and deleted), and per stream and site the "
        f"high-water mark and the last sync. What `ic3 status {spec.source}` prints.",
    )
    def stream_status(warehouse: WarehouseResource) -> MaterializeResult:
        status = stream_source_status(warehouse.engine(), spec.source, spec.table_names())
        return MaterializeResult(metadata={
            "rows": sum(t.rows for t in status.tables if t.deleted is not None),
            "failed stream partitions": len(status.failed),
            "columns added by schema drift": status.schema_changes,
            "unified model": MetadataValue.md(markdown_table([vars(u) for u in status.unified],
                                                             ("table", "rows", "deleted"))),
            "records not mapped (cmms_mapping_error)": status.not_mapped,
            "tables": MetadataValue.md(markdown_table([vars(t) for t in status.tables],
                                                      ("table", "rows", "deleted", "values_kept_as_text"))),
            "streams": MetadataValue.md(markdown_table(
                [{**vars(s), "last_sync_at": s.last_sync_at.isoformat() if s.last_sync_at else "never"}
                 for s in status.partitions],
                ("stream", "partition", "last_status", "last_sync_at", "high_water_mark", "last_error"))),
        })

    return stream_status


def build_incremental_schedule(spec: CollectionSourceSpec):
    @schedule(
        name=spec.schedule_name,
        job_name=spec.sync_job,
        cron_schedule=spec.schedule_cron,
        execution_timezone=spec.schedule_timezone,
        default_status=DefaultScheduleStatus.STOPPED,
        description=f"Incremental sync of every {spec.source} stream (only what changed since each high-water mark), "
        f"all configured sites in one run. Cron '{spec.schedule_cron}' ({spec.schedule_timezone}).",
    )
    def incremental(context: ScheduleEvaluationContext):
        sites = spec.current_sites()
        if any(stream.partitioned for stream in spec.streams) and not sites:
            return SkipReason(f"No sites: set {spec.sites_env} (comma-separated) for the code location.")
        add_site_partitions(context.instance, spec, sites)
        stamp = context.scheduled_execution_time.isoformat()
        ranges = site_range(context.instance, spec, sites) or [None]
        return [RunRequest(run_key=f"incremental:{stamp}:{span[0] if span else ''}",
                           tags={TRIGGER_TAG: "schedule", **(range_tags(*span) if span else {})}) for span in ranges]

    return incremental


def add_site_partitions(instance, spec: CollectionSourceSpec, sites: Sequence[str]) -> list[str]:
    """Add the sites Dagster does not know yet as the source's partitions; return the ones added."""
    return register_site_partitions(instance, sites, spec.partitions_name)


def site_range(instance, spec: CollectionSourceSpec, sites: Sequence[str]) -> list[tuple[str, str]]:
    """Contiguous partition ranges covering exactly ``sites``."""
    return contiguous_ranges(list(instance.get_dynamic_partitions(spec.partitions_name)), list(sites))


def build_stream_retry_sensor(spec: CollectionSourceSpec):
    settings = spec.retry

    @sensor(
        name=spec.retry_sensor,
        job_name=spec.sync_job,
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.STOPPED,
        required_resource_keys={"warehouse"},
        description=f"Re-requests {spec.source} streams whose last sync of a site failed, after a cool-down that "
        f"doubles with each consecutive failure ({settings.base_cooldown} to {settings.max_cooldown}), at most "
        f"{settings.max_in_flight} retry runs in flight.",
    )
    def retry_failed(context: SensorEvaluationContext):
        engine = context.resources.warehouse.engine()
        failed = failed_stream_partitions(engine, spec.source)
        in_flight = len(context.instance.get_runs(filters=RunsFilter(
            job_name=spec.sync_job, statuses=ACTIVE, tags={TRIGGER_TAG: "retry"})))
        now = datetime.now(timezone.utc)
        requests, waiting = [], []
        for stream_name, partition, failures, last in failed:
            wait = settings.cooldown(failures)
            if now - last < wait:
                waiting.append(f"{stream_name} {partition or '(all)'}: waiting until {(last + wait).isoformat()}")
                continue
            if in_flight + len(requests) >= settings.max_in_flight:
                waiting.append(f"{stream_name} {partition or '(all)'}: {settings.max_in_flight} retry runs in flight")
                continue
            requests.append(RunRequest(
                run_key=f"retry:{stream_name}:{partition}:{last.isoformat()}",
                partition_key=partition or None,
                asset_selection=[spec.key(stream_name)],
                tags={TRIGGER_TAG: "retry"},
            ))
        for line in waiting:
            context.log.info(line)
        return requests or SkipReason("; ".join(waiting) or "No failed stream.")

    return retry_failed
