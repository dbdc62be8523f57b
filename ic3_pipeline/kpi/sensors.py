"""The run-failure notification: every failed run of this code location posted to the alert webhook."""

from __future__ import annotations

from dagster import DefaultSensorStatus, RunFailureSensorContext, run_failure_sensor

from ic3_pipeline.kpi.notify import WEBHOOK_ENV, post_alert, webhook_configured


def run_failure_payload(context: RunFailureSensorContext) -> dict[str, object]:
    run = context.dagster_run
    return {
        "kind": "run_failed",
        "severity": "ERROR",
        "run_id": run.run_id,
        "job": run.job_name,
        "partition": run.tags.get("dagster/partition"),
        "partition_range": [run.tags.get("dagster/asset_partition_range_start"),
                            run.tags.get("dagster/asset_partition_range_end")],
        "summary": context.failure_event.message,
    }


@run_failure_sensor(
    name="alert_webhook_on_run_failure",
    default_status=DefaultSensorStatus.STOPPED,
    description=(f"Posts each failed run (job, partition, error) as JSON to ${WEBHOOK_ENV}; does nothing while the "
                 "variable is unset. Needs the daemon."),
)
def alert_webhook_on_run_failure(context: RunFailureSensorContext) -> None:
    if webhook_configured():
        post_alert(run_failure_payload(context))
