"""Launching a source's sync runs from the command line, and adding up what they did.

Runs go one after another (the source's API pool would serialise them anyway). What each run did is read back from
the database, not the run's display metadata: the batch each attempt of its step recorded (``cmms_sync_log``) and
each asset's outcome (``ic3_sync_log``), so the totals cover every attempt of a run — a step retried after a fault
included, with the fault Dagster retried it for (its event log).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace

from dagster import DagsterEventType, DagsterInstance
from sqlalchemy import Engine, func, select

from ic3_pipeline.runs import RunOutcome, run_job
from ic3_pipeline.sync.partitions import range_tags
from ic3_pipeline.warehouse import tables


class NothingToSync(LookupError):
    """The selection matched no partition or asset; the message says what to do instead."""


@dataclass
class BatchFigures:
    """What the batches of one or more runs recorded (``cmms_sync_log``)."""

    batches: int = 0
    failed_batches: int = 0
    due: int = 0
    synced: int = 0
    failed: int = 0
    not_found: int = 0
    requests: int = 0
    throttled: int = 0

    def add(self, other: BatchFigures) -> None:
        for figure in fields(BatchFigures):
            setattr(self, figure.name, getattr(self, figure.name) + getattr(other, figure.name))


@dataclass
class SyncTotals(BatchFigures):
    runs: int = 0
    failed_runs: list[tuple[str, str]] = field(default_factory=list)  # (run id, failure message)
    retried: list[str] = field(default_factory=list)  # the fault behind each step attempt Dagster retried

    def add_run(self, figures: BatchFigures) -> None:
        self.runs += 1
        self.add(figures)


@dataclass(frozen=True)
class Attempt:
    """One attempt of a run's step, as the batch it recorded says (``cmms_sync_log``), and why it stopped if it did."""

    status: str
    due: int
    synced: int
    failed: int
    not_found: int
    requests: int
    throttled: int
    stopped_by: str | None = None  # the fault that stopped it, when Dagster retried the step after it


def run_attempts(engine: Engine, run_id: str) -> list[Attempt]:
    """The batches ``run_id`` recorded, in order: one per attempt of its step (a step retried after a fault
    records one batch per attempt)."""
    log = tables.cmms_sync_log
    query = select(log.c.status, log.c.assets_due, log.c.assets_synced, log.c.assets_failed, log.c.assets_not_found,
                   log.c.requests, log.c.throttled).where(log.c.run_id == run_id).order_by(log.c.id)
    with engine.connect() as conn:
        return [Attempt(*row) for row in conn.execute(query)]


def batch_figures(engine: Engine, run_id: str, attempts: Sequence[Attempt] | None = None) -> BatchFigures:
    """What ``run_id`` did over every attempt of its step. Requests add up over the attempts; each asset counts once,
    at its last outcome in the run (``ic3_sync_log``): an asset a first attempt failed and the retry synced is
    synced, and an asset the first attempt synced is counted though the retry no longer found it due."""
    attempts = run_attempts(engine, run_id) if attempts is None else attempts
    log = tables.sync_log
    last = select(func.max(log.c.id)).where(log.c.run_id == run_id).group_by(log.c.serialnumber)
    with engine.connect() as conn:
        outcomes = dict(conn.execute(
            select(log.c.status, func.count()).where(log.c.id.in_(last)).group_by(log.c.status)
        ).all())
    synced, failed, missing = outcomes.get("success", 0), outcomes.get("error", 0), outcomes.get("not_found", 0)
    return BatchFigures(
        batches=len(attempts),
        failed_batches=sum(1 for a in attempts if a.status == "failed"),
        due=max([synced + failed + missing, *(a.due for a in attempts)]),
        synced=synced,
        failed=failed,
        not_found=missing,
        requests=sum(a.requests for a in attempts),
        throttled=sum(a.throttled for a in attempts),
    )


def retried_faults(instance: DagsterInstance, run_id: str) -> list[str]:
    """Why each retried attempt of the run's step stopped (Dagster's ``STEP_UP_FOR_RETRY`` events), in order: the
    step's own ``Failure`` message, found under Dagster's retry wrapper."""
    reasons = []
    for record in instance.all_logs(run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY):
        data = record.dagster_event.event_specific_data if record.dagster_event else None
        reasons.append(_fault(getattr(data, "error", None)))
    return reasons


def _fault(error) -> str:
    """The innermost message of an error chain (``SerializableErrorInfo``), without the exception's class name."""
    message = "the step failed"
    while error is not None:
        if error.message and "RetryRequested" not in error.message.split(":", 1)[0]:
            message = error.message.strip()
        error = error.cause or error.context
    head, _, rest = message.partition(": ")
    return rest if rest and "." in head and " " not in head else message


def with_reasons(attempts: Sequence[Attempt], reasons: Sequence[str]) -> list[Attempt]:
    """Each stopped attempt given the fault Dagster retried it for (the retries follow the attempts in order)."""
    stopped = iter(reasons)
    return [replace(a, stopped_by=next(stopped, None)) if a.status == "failed" else a for a in attempts]


def launch_ranges(
    instance: DagsterInstance,
    engine: Engine,
    job_name: str,
    ranges: Sequence[tuple[str, str]] | None,
    *,
    run_config: dict | None = None,
    tags: dict[str, str] | None = None,
    on_run_done: Callable[[int, RunOutcome, BatchFigures, list[Attempt], list[str]], None] | None = None,
) -> SyncTotals:
    """Run ``job_name`` once per partition range (``None``: once, unpartitioned); return what the runs did."""
    totals = SyncTotals()
    plan: Sequence[dict[str, str]] = [range_tags(first, last) for first, last in ranges] if ranges is not None else [{}]
    for index, partition_tags in enumerate(plan, start=1):
        outcome = run_job(instance, job_name, run_config=run_config, tags={**(tags or {}), **partition_tags})
        reasons = retried_faults(instance, outcome.run_id)
        attempts = with_reasons(run_attempts(engine, outcome.run_id), reasons)
        figures = batch_figures(engine, outcome.run_id, attempts)
        totals.add_run(figures)
        totals.retried += reasons
        if not outcome.success:
            totals.failed_runs.append((outcome.run_id, outcome.failure or "run failed"))
        if on_run_done:
            on_run_done(index, outcome, figures, attempts, reasons)
    return totals
