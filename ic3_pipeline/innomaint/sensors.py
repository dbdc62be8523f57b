"""Sensors that keep Innomaint enrichment going without anyone launching runs: new sites, and retries of failures."""

from datetime import datetime, timezone

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from ic3_pipeline.innomaint.jobs import ENRICH_JOB
from ic3_pipeline.innomaint.due import failed_partitions, never_attempted_partitions
from ic3_pipeline.innomaint.launch import contiguous_ranges, range_tags
from ic3_pipeline.innomaint.retry_plan import RetryPolicySettings, plan_retries
from ic3_pipeline.register.partitions import SITES_PARTITIONS_NAME, site_partitions
from ic3_pipeline.warehouse.resource import WarehouseResource

ACTIVE = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]
PARTITION_CHUNK = 500


@sensor(
    name="innomaint_new_sites",
    job_name=ENRICH_JOB,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description=(
        "Adds a site partition for each new register site (in chunks) and requests enrichment of the sites holding "
        "assets no sync has tried yet — a fresh import is enriched without anyone launching runs."
    ),
)
def innomaint_new_sites(context: SensorEvaluationContext, warehouse: WarehouseResource):
    engine = warehouse.engine()
    wanted = never_attempted_partitions(engine)
    requested = set(context.cursor.split("\n")) if context.cursor else set()
    new = [key for key in wanted if key not in requested]
    if not new:
        return SkipReason("No site with never-attempted assets that was not requested already.")
    known = list(context.instance.get_dynamic_partitions(SITES_PARTITIONS_NAME))
    missing = [key for key in new if key not in set(known)]
    add_requests = [
        site_partitions.build_add_request(missing[i : i + PARTITION_CHUNK]) for i in range(0, len(missing), PARTITION_CHUNK)
    ]
    ordered = known + missing
    run_requests = [
        RunRequest(run_key=f"new-sites:{first}:{last}", tags={**range_tags(first, last), "ic3/trigger": "new_sites"})
        for first, last in contiguous_ranges(ordered, new)
    ]
    context.log.info(f"{len(new)} sites to enrich ({len(missing)} new partitions) in {len(run_requests)} run(s)")
    return SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=add_requests,
        cursor="\n".join(sorted(requested | set(new))),
    )


@sensor(
    name="innomaint_retry_failed",
    job_name=ENRICH_JOB,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.STOPPED,
    description=(
        "Re-requests sites whose assets failed, after a cool-down that doubles with each consecutive failure (2 min "
        "to 2 h), with at most 2 retry runs in flight. Assets Innomaint answered 404 for are never retried."
    ),
)
def innomaint_retry_failed(context: SensorEvaluationContext, warehouse: WarehouseResource):
    settings = RetryPolicySettings.from_env()
    in_flight = [
        run.tags.get("dagster/partition", "")
        for run in context.instance.get_runs(
            filters=RunsFilter(job_name=ENRICH_JOB, statuses=ACTIVE, tags={"ic3/trigger": "retry"})
        )
    ]
    decisions, waiting = plan_retries(
        failed_partitions(warehouse.engine()),
        now=datetime.now(timezone.utc),
        in_flight_partitions=in_flight,
        settings=settings,
    )
    for line in waiting:
        context.log.info(line)
    if not decisions:
        return SkipReason("; ".join(waiting) or "No failed assets.")
    return SensorResult(
        run_requests=[
            RunRequest(run_key=d.run_key, partition_key=d.partition_key, tags={"ic3/trigger": "retry", "ic3/reason": d.reason})
            for d in decisions
        ]
    )

