"""Planning and launching enrichment runs from the command line.

A Dagster run costs about 2 s here before any asset code runs, so partitions are batched: each run covers a range of
consecutive site partitions (Dagster's partition-range tags), and one run per ~100 sites keeps orchestration a small
share of a sync. Runs go one after another; the API pool would serialise them anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dagster import DagsterInstance
from sqlalchemy import Engine, select

from ic3_pipeline.innomaint.assets import DETAILS, MAX_PARTITIONS_PER_RUN
from ic3_pipeline.innomaint.jobs import ENRICH_JOB
from ic3_pipeline.register.partitions import SITES_PARTITIONS_NAME, register_site_partitions
from ic3_pipeline.runs import RunOutcome, run_job
from ic3_pipeline.warehouse import tables

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


class NothingToSync(LookupError):
    """The selection matched no partition; the message says what to do instead."""


@dataclass
class SyncTotals:
    runs: int = 0
    failed_runs: list[tuple[str, str]] = field(default_factory=list)  # (run id, failure message)
    due: int = 0
    synced: int = 0
    failed: int = 0
    not_found: int = 0
    requests: int = 0
    throttled: int = 0

    def add(self, metadata: dict) -> None:
        self.due += metadata.get("assets due", 0)
        self.synced += metadata.get("synced", 0)
        self.failed += metadata.get("failed", 0)
        self.not_found += metadata.get("not found", 0)
        self.requests += metadata.get("requests", 0)
        self.throttled += metadata.get("429 answers", 0)


def site_partition_keys(instance: DagsterInstance, engine: Engine) -> list[str]:
    """Every site partition, in the instance's order, after registering any site the database knows and Dagster not."""
    with engine.connect() as conn:
        known = list(conn.execute(select(tables.location_master.c.partition_key)).scalars())
    register_site_partitions(instance, known)
    return list(instance.get_dynamic_partitions(SITES_PARTITIONS_NAME))


def resolve_site(engine: Engine, site: str) -> str:
    """A site name or partition key → its partition key."""
    location = tables.location_master
    query = select(location.c.partition_key).where((location.c.location_name == site) | (location.c.partition_key == site))
    with engine.connect() as conn:
        key = conn.execute(query).scalar()
    if key is None:
        raise NothingToSync(f"No site named {site!r} in the database; import a register that has it (ic3 import).")
    return key


def plan_ranges(keys: Sequence[str], per_run: int = MAX_PARTITIONS_PER_RUN) -> list[tuple[str, str]]:
    """Consecutive (first, last) partition ranges of at most ``per_run`` keys each."""
    return [(keys[i], keys[min(i + per_run, len(keys)) - 1]) for i in range(0, len(keys), per_run)]


def contiguous_ranges(
    ordered_keys: Sequence[str], wanted: Sequence[str], per_run: int = MAX_PARTITIONS_PER_RUN
) -> list[tuple[str, str]]:
    """Ranges covering exactly ``wanted``, as few as the partitions' order allows (each at most ``per_run`` keys)."""
    wanted_set = set(wanted)
    ranges: list[tuple[str, str]] = []
    run: list[str] = []
    for key in ordered_keys:
        if key in wanted_set and len(run) < per_run:
            run.append(key)
            continue
        if run:
            ranges.append((run[0], run[-1]))
        run = [key] if key in wanted_set else []
    if run:
        ranges.append((run[0], run[-1]))
    return ranges


def range_tags(first: str, last: str) -> dict[str, str]:
    """Tags that make a run cover the partitions from ``first`` to ``last`` (one partition when they are equal)."""
    return {RANGE_START_TAG: first, RANGE_END_TAG: last} if first != last else {"dagster/partition": first}


def launch_enrichment(
    instance: DagsterInstance,
    ranges: Sequence[tuple[str, str]],
    *,
    run_config: dict | None = None,
    tags: dict[str, str] | None = None,
    on_run_done: Callable[[int, RunOutcome], None] | None = None,
) -> SyncTotals:
    """Run the enrichment job once per range; return what the runs reported."""
    totals = SyncTotals()
    for index, (first, last) in enumerate(ranges, start=1):
        outcome = run_job(instance, ENRICH_JOB, run_config=run_config, tags={**(tags or {}), **range_tags(first, last)})
        totals.runs += 1
        details = outcome.materializations.get(DETAILS.to_user_string(), [])
        if details:
            totals.add(details[0])  # a range run repeats its batch's figures on every partition
        if not outcome.success:
            totals.failed_runs.append((outcome.run_id, outcome.failure or "run failed"))
        if on_run_done:
            on_run_done(index, outcome)
    return totals
