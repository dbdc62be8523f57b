"""The two notification sensors: failed runs and failed asset checks, each told once to every configured channel.

Both read the instance's event records after their cursor (``delivery.py``), so they cover every run and every check
of the instance, whichever job or sensor launched it. The channels are read from the environment at each tick;
with none configured a tick does nothing and says so.
"""

from __future__ import annotations

from collections.abc import Callable

from dagster import (
    AssetCheckKey,
    AssetCheckSeverity,
    DagsterEventType,
    DefaultSensorStatus,
    RunStatusChangeRecordsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from ic3_pipeline.notifications.channels import configured_channels
from ic3_pipeline.notifications.delivery import Candidate, Position, deliver, read_cursor
from ic3_pipeline.notifications.message import check_failure_notice, run_failure_notice
from ic3_pipeline.notifications.settings import (
    SLACK_TOKEN,
    SMTP_HOST,
    WEBHOOK_URL,
    NotifySettings,
    NotifySettingsError,
    notify_settings,
)

RUNS_SENSOR = "notify_failed_runs"
CHECKS_SENSOR = "notify_failed_checks"
BATCH = 100
INTERVAL_S = 30
NOT_CONFIGURED = (f"No notification channel configured: set {WEBHOOK_URL}, {SLACK_TOKEN} (with IC3_NOTIFY_SLACK_CHANNEL) "
                  f"or {SMTP_HOST} (with IC3_NOTIFY_SMTP_FROM/_TO) in the environment of the daemon.")

Lister = Callable[[SensorEvaluationContext, int, NotifySettings], list[Candidate]]


def default_status() -> DefaultSensorStatus:
    """Running when the environment configures a channel (that is how notifications are turned on), else stopped,
    like the project's other automation."""
    try:
        return DefaultSensorStatus.RUNNING if notify_settings().configured else DefaultSensorStatus.STOPPED
    except NotifySettingsError:
        return DefaultSensorStatus.RUNNING  # half-configured: run, so each tick says what is missing


def notify_tick(context: SensorEvaluationContext, candidates: Lister, latest_id: Callable[[SensorEvaluationContext], int]):
    try:
        settings = notify_settings()
    except NotifySettingsError as error:
        context.log.error(f"Notifications are not sent: {error}")
        return SkipReason(f"Notification settings incomplete: {error}")
    channels = configured_channels(settings)
    if not channels:
        return SkipReason(NOT_CONFIGURED)
    known = read_cursor(context.cursor)
    started = [c.name for c in channels if c.name not in known]
    if started:  # a channel starts from now: turning notifications on does not replay old failures
        start = latest_id(context)
        known.update({name: Position(start) for name in started})
    positions = {c.name: known[c.name] for c in channels}
    found = candidates(context, min(p.after for p in positions.values()), settings)
    outcome = deliver(channels, positions, found, context.log)
    note = f"Started {', '.join(started)}: failures from now on are sent. " if started else ""
    return SensorResult(cursor=outcome.cursor(), skip_reason=note + outcome.summary())


def _failed_runs(context: SensorEvaluationContext, after: int, settings: NotifySettings) -> list[Candidate]:
    records = context.instance.fetch_run_status_changes(
        RunStatusChangeRecordsFilter(DagsterEventType.RUN_FAILURE, after_storage_id=after), limit=BATCH, ascending=True
    ).records
    return [
        Candidate(r.storage_id, lambda r=r: run_failure_notice(context.instance, r.event_log_entry, r.storage_id, settings.ui_url))
        for r in records
    ]


def _latest_run_failure(context: SensorEvaluationContext) -> int:
    records = context.instance.fetch_run_status_changes(DagsterEventType.RUN_FAILURE, limit=1).records
    return records[0].storage_id if records else 0


def _check_keys(context: SensorEvaluationContext) -> list[AssetCheckKey]:
    return sorted(context.repository_def.asset_graph.asset_check_keys, key=lambda k: (k.asset_key.to_string(), k.name))


def _check_history(context: SensorEvaluationContext, key: AssetCheckKey, after: int):
    """The check's executions numbered above ``after``, paging back through its history (newest first)."""
    storage = context.instance.event_log_storage
    page_cursor = None
    while True:
        page = storage.get_asset_check_execution_history(key, limit=BATCH, cursor=page_cursor)
        yield from (r for r in page if r.id > after)
        if len(page) < BATCH or page[-1].id <= after:
            return
        page_cursor = page[-1].id


def _failed_checks(context: SensorEvaluationContext, after: int, settings: NotifySettings) -> list[Candidate]:
    finished: dict[str, bool] = {}

    def run_finished(run_id: str) -> bool:
        if run_id not in finished:
            run = context.instance.get_run_by_id(run_id)
            finished[run_id] = run is None or run.is_finished
        return finished[run_id]

    candidates = []
    for key in _check_keys(context):
        for record in _check_history(context, key, after):
            if record.status == AssetCheckExecutionRecordStatus.PLANNED or record.event is None:
                # Still running: wait for it. A run that ended without evaluating it is the run sensor's to tell.
                candidates.append(Candidate(record.id, None, settled=run_finished(record.run_id)))
                continue
            evaluation = record.event.dagster_event.asset_check_evaluation_data
            wanted = (record.status == AssetCheckExecutionRecordStatus.FAILED
                      and not (settings.min_severity == "ERROR" and evaluation.severity == AssetCheckSeverity.WARN))
            notice = (lambda r=record: check_failure_notice(r.event, r.id, settings.ui_url)) if wanted else None
            candidates.append(Candidate(record.id, notice))
    return candidates


def _latest_check_execution(context: SensorEvaluationContext) -> int:
    storage = context.instance.event_log_storage
    latest = [storage.get_asset_check_execution_history(key, limit=1) for key in _check_keys(context)]
    return max((page[0].id for page in latest if page), default=0)


def build_notification_sensors() -> list[SensorDefinition]:
    status = default_status()

    @sensor(
        name=RUNS_SENSOR,
        minimum_interval_seconds=INTERVAL_S,
        default_status=status,
        description=(
            "Tells the configured channels (webhook, Slack, email; README, Notifications) about each failed run: job, "
            "run id, partition, the failed steps' errors. Each failure once per channel; a channel that is down gets "
            "it on a later tick. Off unless IC3_NOTIFY_* variables configure a channel."
        ),
    )
    def notify_failed_runs(context: SensorEvaluationContext):
        return notify_tick(context, _failed_runs, _latest_run_failure)

    @sensor(
        name=CHECKS_SENSOR,
        minimum_interval_seconds=INTERVAL_S,
        default_status=status,
        description=(
            "Tells the configured channels about each failed asset check: check, asset, severity, and its metadata "
            "(the failing asset ids and sites). Each failed evaluation once per channel; IC3_NOTIFY_MIN_SEVERITY=ERROR "
            "leaves out warnings. Off unless IC3_NOTIFY_* variables configure a channel."
        ),
    )
    def notify_failed_checks(context: SensorEvaluationContext):
        return notify_tick(context, _failed_checks, _latest_check_execution)

    return [notify_failed_runs, notify_failed_checks]
