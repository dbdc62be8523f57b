"""Launching a source's sync runs from the command line, and adding up what they did.

Runs go one after another (the source's API pool would serialise them anyway). What each run did is read back from
the batches it recorded in ``cmms_sync_log`` — the database, not the run's display metadata — so the totals cover
every attempt of a run, a step retried after a fault included.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields

from dagster import DagsterInstance
from sqlalchemy import Engine, case, func, select

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

    def add_run(self, figures: BatchFigures) -> None:
        self.runs += 1
        self.add(figures)


def batch_figures(engine: Engine, run_id: str) -> BatchFigures:
    """The sum of every batch ``run_id`` recorded (a step retried after a fault records one batch per attempt)."""
    log = tables.cmms_sync_log
    query = select(
        func.count(), func.sum(case((log.c.status == "failed", 1), else_=0)),
        func.sum(log.c.assets_due), func.sum(log.c.assets_synced), func.sum(log.c.assets_failed),
        func.sum(log.c.assets_not_found), func.sum(log.c.requests), func.sum(log.c.throttled),
    ).where(log.c.run_id == run_id)
    with engine.connect() as conn:
        row = conn.execute(query).one()
    return BatchFigures(*(value or 0 for value in row))


def launch_ranges(
    instance: DagsterInstance,
    engine: Engine,
    job_name: str,
    ranges: Sequence[tuple[str, str]] | None,
    *,
    run_config: dict | None = None,
    tags: dict[str, str] | None = None,
    on_run_done: Callable[[int, RunOutcome, BatchFigures], None] | None = None,
) -> SyncTotals:
    """Run ``job_name`` once per partition range (``None``: once, unpartitioned); return what the runs did."""
    totals = SyncTotals()
    plan: Sequence[dict[str, str]] = [range_tags(first, last) for first, last in ranges] if ranges is not None else [{}]
    for index, partition_tags in enumerate(plan, start=1):
        outcome = run_job(instance, job_name, run_config=run_config, tags={**(tags or {}), **partition_tags})
        figures = batch_figures(engine, outcome.run_id)
        totals.add_run(figures)
        if not outcome.success:
            totals.failed_runs.append((outcome.run_id, outcome.failure or "run failed"))
        if on_run_done:
            on_run_done(index, outcome, figures)
    return totals
