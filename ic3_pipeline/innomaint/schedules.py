"""The re-sync schedule: every site, on a cron; each run fetches only what is due, so a fresh fleet costs ~nothing."""

import os

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, SkipReason, schedule

from ic3_pipeline.innomaint.jobs import ENRICH_JOB
from ic3_pipeline.innomaint.launch import plan_ranges, range_tags
from ic3_pipeline.register.partitions import SITES_PARTITIONS_NAME

RESYNC_CRON_ENV = "IC3_RESYNC_CRON"
DEFAULT_RESYNC_CRON = "0 2 * * *"  # daily at 02:00, when the CMMS is quiet


@schedule(
    name="innomaint_resync",
    job_name=ENRICH_JOB,
    cron_schedule=os.environ.get(RESYNC_CRON_ENV, DEFAULT_RESYNC_CRON),
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.STOPPED,
    description=(
        f"Requests enrichment of every site (100 sites a run); runs fetch only stale or failed assets. "
        f"Cron from {RESYNC_CRON_ENV} (default '{DEFAULT_RESYNC_CRON}', UTC)."
    ),
)
def innomaint_resync(context: ScheduleEvaluationContext):
    keys = list(context.instance.get_dynamic_partitions(SITES_PARTITIONS_NAME))
    if not keys:
        return SkipReason("No site partitions yet: import a register first.")
    stamp = context.scheduled_execution_time.isoformat()
    return [
        RunRequest(run_key=f"resync:{stamp}:{first}", tags={**range_tags(first, last), "ic3/trigger": "schedule"})
        for first, last in plan_ranges(keys)
    ]
