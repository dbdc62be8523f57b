"""What keeps a source in sync without anyone launching runs: its new-sites sensor, retry sensor and schedule.

Everything automated starts stopped; the README says how to turn it on. Each reads only its own source's state.
"""


from datetime import datetime, timezone

from dagster import (
    DagsterRunStatus,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    schedule,
    sensor,
)

from ic3_pipeline.components.source import SourceSpec
from ic3_pipeline.register.partitions import site_partition_requests
from ic3_pipeline.sync.due import PartitionFailures, failed_partitions, never_attempted_partitions
from ic3_pipeline.sync.partitions import PARTITION_TAG, contiguous_ranges, plan_ranges, range_tags
from ic3_pipeline.sync.retry_plan import plan_retries
from ic3_pipeline.warehouse.resource import WarehouseResource

ACTIVE = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]
TRIGGER_TAG = "ic3/trigger"
WHOLE_SOURCE = "(all sites)"  # how an unpartitioned source's one "partition" is named in retry decisions


def build_new_sites_sensor(spec: SourceSpec) -> SensorDefinition:
    partitioning = spec.partitioning

    @sensor(
        name=spec.new_sites_sensor,
        job_name=spec.enrich_job,
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.STOPPED,
        required_resource_keys={"warehouse"},
        description=(
            f"Requests {spec.source} syncs of the sites holding assets it has not tried yet (adding a partition for "
            "each new register site) — a fresh import is synced without anyone launching runs."
        ),
    )
    def new_sites(context: SensorEvaluationContext):
        warehouse: WarehouseResource = context.resources.warehouse
        wanted = never_attempted_partitions(warehouse.engine(), spec.source, partitioning.scope)
        requested = set(context.cursor.split("\n")) if context.cursor else set()
        new = [key for key in wanted if key not in requested]
        if not new:
            return SkipReason("No site with never-attempted assets that was not requested already.")
        cursor = "\n".join(sorted(requested | set(new)))
        if not partitioning.partitioned:
            return SensorResult(
                run_requests=[RunRequest(run_key=f"new-sites:{len(new)}:{new[0]}", tags={TRIGGER_TAG: "new_sites"})],
                cursor=cursor,
            )
        known = partitioning.current_keys(context.instance)
        missing = [key for key in new if key not in set(known)] if partitioning.kind == "register_sites" else []
        add_requests = site_partition_requests(missing)
        run_requests = [
            RunRequest(run_key=f"new-sites:{first}:{last}", tags={**range_tags(first, last), TRIGGER_TAG: "new_sites"})
            for first, last in contiguous_ranges(known + missing, new, spec.sites_per_run)
        ]
        context.log.info(f"{len(new)} sites to sync ({len(missing)} new partitions) in {len(run_requests)} run(s)")
        return SensorResult(run_requests=run_requests, dynamic_partitions_requests=add_requests, cursor=cursor)

    return new_sites


def build_retry_sensor(spec: SourceSpec) -> SensorDefinition:
    settings = spec.retry

    @sensor(
        name=spec.retry_sensor,
        job_name=spec.enrich_job,
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.STOPPED,
        required_resource_keys={"warehouse"},
        description=(
            f"Re-requests {spec.source} sites whose assets failed, after a cool-down that doubles with each "
            f"consecutive failure ({settings.base_cooldown} to {settings.max_cooldown}), with at most "
            f"{settings.max_in_flight} retry runs in flight. Assets the CMMS answered 404 for are never retried."
        ),
    )
    def retry_failed(context: SensorEvaluationContext):
        warehouse: WarehouseResource = context.resources.warehouse
        failures = failed_partitions(warehouse.engine(), spec.source, spec.partitioning.scope)
        if not spec.partitioning.partitioned and failures:
            failures = [_whole_source(failures)]
        in_flight = [
            run.tags.get(PARTITION_TAG, WHOLE_SOURCE)
            for run in context.instance.get_runs(
                filters=RunsFilter(job_name=spec.enrich_job, statuses=ACTIVE, tags={TRIGGER_TAG: "retry"})
            )
        ]
        decisions, waiting = plan_retries(
            failures, now=datetime.now(timezone.utc), in_flight_partitions=in_flight, settings=settings
        )
        for line in waiting:
            context.log.info(line)
        if not decisions:
            return SkipReason("; ".join(waiting) or "No failed assets.")
        return SensorResult(
            run_requests=[
                RunRequest(
                    run_key=d.run_key,
                    partition_key=d.partition_key if spec.partitioning.partitioned else None,
                    tags={TRIGGER_TAG: "retry", "ic3/reason": d.reason},
                )
                for d in decisions
            ]
        )

    return retry_failed


def _whole_source(failures: list[PartitionFailures]) -> PartitionFailures:
    return PartitionFailures(
        WHOLE_SOURCE,
        failed_assets=sum(f.failed_assets for f in failures),
        max_consecutive_failures=max(f.max_consecutive_failures for f in failures),
        last_attempt_at=max(f.last_attempt_at for f in failures),
    )


def build_resync_schedule(spec: SourceSpec) -> ScheduleDefinition:
    @schedule(
        name=spec.schedule_name,
        job_name=spec.enrich_job,
        cron_schedule=spec.schedule_cron,
        execution_timezone=spec.schedule_timezone,
        default_status=DefaultScheduleStatus.STOPPED,
        description=(
            f"Requests a {spec.source} sync of every site ({spec.sites_per_run} sites a run); runs fetch only stale "
            f"or failed assets. Cron '{spec.schedule_cron}' ({spec.schedule_timezone}), from defs/{spec.source}/defs.yaml."
        ),
    )
    def resync(context: ScheduleEvaluationContext):
        stamp = context.scheduled_execution_time.isoformat()
        if not spec.partitioning.partitioned:
            return [RunRequest(run_key=f"resync:{stamp}", tags={TRIGGER_TAG: "schedule"})]
        keys = spec.partitioning.current_keys(context.instance)
        if not keys:
            return SkipReason("No site partitions yet: import a register first.")
        return [
            RunRequest(run_key=f"resync:{stamp}:{first}", tags={**range_tags(first, last), TRIGGER_TAG: "schedule"})
            for first, last in plan_ranges(keys, spec.sites_per_run)
        ]

    return resync
