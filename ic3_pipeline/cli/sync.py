"""``ic3 sync [SOURCE]``: sync all sites, one site or one asset from one source or every configured one, as Dagster
runs, and say plainly what happened."""

from __future__ import annotations

import os
from dataclasses import dataclass

import click
from dagster import DagsterInstance
from sqlalchemy import Engine, select

from ic3_pipeline.cli.launch import Attempt, BatchFigures, NothingToSync, SyncTotals, launch_ranges
from ic3_pipeline.cli.scopes import find_source
from ic3_pipeline.cli.collections import CollectionSyncRequest, run_collection_sync
from ic3_pipeline.components.catalog import configured
from ic3_pipeline.components.collection_source import CollectionSourceSpec
from ic3_pipeline.components.source import SourceSpec
from ic3_pipeline.register.partitions import register_site_partitions
from ic3_pipeline.runs import RunOutcome, get_instance
from ic3_pipeline.sync.due import partition_keys_of
from ic3_pipeline.sync.partitions import plan_ranges
from ic3_pipeline.warehouse import connected_engine, tables

SNAPSHOT_COLUMNS = (
    (tables.asset_master, ("sync_version", "last_sync_status", "last_sync_error", "criticality", "barcode",
                           "ticketcount", "schedulecount", "building_id", "floor_id", "department_id")),
    (tables.asset_performance, ("mttr", "mtbf", "availability", "total_ticket", "total_actual_hrs")),
)


@dataclass(frozen=True)
class SyncRequest:
    all_sites: bool = False
    site: str | None = None
    asset_id: str | None = None
    force: bool = False
    sites_per_run: int | None = None
    full: bool = False  # collection sources: read everything and mark what vanished as deleted
    stream: str | None = None  # collection sources: one stream (or object structure)

    def check_for_entity_source(self) -> None:
        if sum(bool(x) for x in (self.all_sites, self.site, self.asset_id)) != 1:
            raise click.UsageError("Give exactly one of --all, --site SITE, --asset ID.")
        if self.full or self.stream:
            raise click.UsageError("--full and --object-structure are for collection sources such as maximo; "
                                   "use --force to re-fetch every asset.")

    def check_for_collection_source(self) -> None:
        if self.asset_id or self.force or self.sites_per_run:
            raise click.UsageError("--asset, --force and --sites-per-run are for asset sources such as innomaint; "
                                   "use --full for a full refresh.")
        if self.all_sites and self.site:
            raise click.UsageError("Give --all or --site SITE, not both.")

    @property
    def collection_request(self) -> CollectionSyncRequest:
        return CollectionSyncRequest(site=self.site, stream=self.stream, full=self.full)


def run_sync(source: str | None, request: SyncRequest) -> int:
    """Sync ``source`` (``None``: every configured source whose environment is set); return the exit status."""
    sources, collections = configured()
    if source is not None:
        collection = next((spec for spec in collections if spec.source == source), None)
        if collection is not None:
            request.check_for_collection_source()
            selected: list = [collection]
        else:
            request.check_for_entity_source()
            selected = [find_source(source, [*sources, *collections])]
        missing = _missing_env(selected[0])
        if missing:
            click.echo(f"{_unset(missing)}: {source} needs {_needs(selected[0])} in the environment.", err=True)
            return 2
    else:
        request.check_for_entity_source()
        # --site and --asset name register sites and assets: they reach the asset sources; --all reaches every one.
        selected = []
        for spec in [*sources, *(collections if request.all_sites else [])]:
            missing = _missing_env(spec)
            if missing:
                click.echo(f"Skipping {spec.source}: {_unset(missing)}.")
            else:
                selected.append(spec)
        if not selected:
            click.echo("No source to sync: set the environment of one (see `ic3 status` and the README).", err=True)
            return 2
    engine = connected_engine()
    instance = get_instance()
    try:
        statuses = [
            run_collection_sync(spec, request.collection_request, engine, instance)
            if isinstance(spec, CollectionSourceSpec)
            else _sync_source(spec, request, engine, instance, several=len(selected) > 1)
            for spec in selected
        ]
    finally:
        engine.dispose()
    return max(statuses)


def _missing_env(spec: SourceSpec | CollectionSourceSpec) -> list[str]:
    return [name for name in spec.required_env() if not os.environ.get(name)]


def _unset(names: list[str]) -> str:
    return f"{names[0]} is not set" if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]} are not set"


def _needs(spec: SourceSpec | CollectionSourceSpec) -> str:
    if isinstance(spec, CollectionSourceSpec):
        base = [] if spec.base_url else [spec.base_url_env]
        return " and ".join(filter(None, [*base, f"({spec.describe_secrets()})"]))
    return " and ".join(spec.required_env())


def _sync_source(spec: SourceSpec, request: SyncRequest, engine: Engine, instance: DagsterInstance, *,
                 several: bool) -> int:
    try:
        ranges, config, before = _plan(spec, request, engine, instance)
    except NothingToSync as error:
        click.echo(f"{spec.source}: {error}" if several else str(error), err=True)
        return 2
    count = len(ranges) if ranges is not None else 1
    click.echo(f"Syncing {spec.source} from {spec.current_base_url()} in {count} run(s)…")
    totals = launch_ranges(
        instance,
        engine,
        spec.enrich_job,
        ranges,
        run_config=spec.enrich_run_config(**config),
        tags={"ic3/trigger": "cli", "ic3/source": spec.source},
        on_run_done=lambda index, outcome, figures, attempts, reasons: _echo_run(
            index, count, outcome, figures, attempts, reasons),
    )
    _echo_totals(totals, retry_hint=f"ic3 sync {spec.source} --all")
    if before is not None:
        _echo_changes(before, asset_snapshot(engine, request.asset_id))
    return 1 if totals.failed or totals.failed_runs else 0


def _plan(spec: SourceSpec, request: SyncRequest, engine: Engine, instance: DagsterInstance):
    """(partition ranges or None for an unpartitioned source, step config, the asset's snapshot before)."""
    partitioning = spec.partitioning
    config: dict = {"force": request.force}
    keys = _partition_keys(spec, engine, instance)
    if request.asset_id:
        key = partition_keys_of(engine, [request.asset_id]).get(request.asset_id)
        if key is None:
            raise NothingToSync(f"No asset {request.asset_id!r} in ic3_asset_master; import a register that has it.")
        _check_covered(spec, key, f"asset {request.asset_id!r} (site {key!r})")
        config = {"force": True, "asset_ids": [request.asset_id]}
        return ([(key, key)] if partitioning.partitioned else None), config, asset_snapshot(engine, request.asset_id)
    if request.site:
        key = resolve_site(engine, request.site)
        _check_covered(spec, key, f"site {request.site!r}")
        return ([(key, key)] if partitioning.partitioned else None), config, None
    if not partitioning.partitioned:
        return None, config, None
    if not keys:
        raise NothingToSync("No sites yet: import a register first (ic3 import PATH).")
    return plan_ranges(keys, request.sites_per_run or spec.sites_per_run), config, None


def _partition_keys(spec: SourceSpec, engine: Engine, instance: DagsterInstance) -> list[str]:
    """The source's partitions, in order; register sites the database knows and Dagster not are added first."""
    if spec.partitioning.kind == "register_sites":
        with engine.connect() as conn:
            known = list(conn.execute(select(tables.location_master.c.partition_key)).scalars())
        register_site_partitions(instance, known)
    return spec.partitioning.current_keys(instance)


def _check_covered(spec: SourceSpec, key: str, what: str) -> None:
    scope = spec.partitioning.scope
    if scope is not None and key not in scope:
        raise NothingToSync(f"Source {spec.source!r} does not cover {what}: its sites are {', '.join(scope)}.")


def resolve_site(engine: Engine, site: str) -> str:
    """A site name or partition key → its partition key."""
    location = tables.location_master
    query = select(location.c.partition_key).where((location.c.location_name == site) | (location.c.partition_key == site))
    with engine.connect() as conn:
        key = conn.execute(query).scalar()
    if key is None:
        raise NothingToSync(f"No site named {site!r} in the database; import a register that has it (ic3 import).")
    return key


def asset_snapshot(engine: Engine, asset_id: str) -> dict[str, object]:
    """The columns a person checks after syncing one asset."""
    snapshot: dict[str, object] = {}
    with engine.connect() as conn:
        for table, columns in SNAPSHOT_COLUMNS:
            row = conn.execute(
                select(*(table.c[c] for c in columns)).where(table.c.cmms_asset_id == asset_id)
            ).one_or_none()
            snapshot.update({f"{table.name}.{c}": (row._mapping[c] if row else None) for c in columns})
    return snapshot


def _echo_run(index: int, count: int, outcome: RunOutcome, figures: BatchFigures, attempts: list[Attempt],
              retried: list[str]) -> None:
    state = "ok" if outcome.success else "FAILED"
    shown = (
        f"synced {figures.synced}/{figures.due}, failed {figures.failed}, not found {figures.not_found}, "
        f"{figures.requests} requests, {figures.throttled} × 429"
        if figures.batches else ""
    )
    click.echo(f"  run {index}/{count} {outcome.run_id[:8]} {state}  {shown}".rstrip())
    if retried:
        for number, attempt in enumerate(attempts, start=1):
            click.echo(f"    attempt {number}: {_attempt_line(attempt)}")
        unrecorded = len(retried) + 1 - len(attempts)
        if unrecorded > 0:
            click.echo(f"    ({unrecorded} attempt(s) stopped before the database could record them; what they "
                       "wrote is counted above)")
    if not outcome.success:
        click.echo(f"    {outcome.failure}", err=True)


def _attempt_line(attempt: Attempt) -> str:
    done = (f"synced {attempt.synced}, failed {attempt.failed}, not found {attempt.not_found} of {attempt.due} due, "
            f"{attempt.requests} requests")
    if attempt.stopped_by:
        return f"{done}; stopped: {attempt.stopped_by.splitlines()[0]}; retried (what it wrote is kept)"
    return f"{done}; {'stopped' if attempt.status == 'failed' else 'finished'}"


def _echo_totals(totals: SyncTotals, *, retry_hint: str) -> None:
    """One line for the whole command, over every attempt of every run; a failed run (a systemic fault) makes it
    "Stopped", naming why; a step retried after a fault is named with its fault."""
    figures = (f"{totals.synced} synced, {totals.failed} failed, {totals.not_found} not found of {totals.due} due; "
               f"{totals.requests} requests, {totals.throttled} answered 429")
    if totals.retried:
        reasons = list(dict.fromkeys(reason.splitlines()[0] for reason in totals.retried))
        many = len(totals.retried) > 1
        figures += (f"; {len(totals.retried)} attempt{'s' if many else ''} stopped by a fault and "
                    f"{'were' if many else 'was'} retried ({'; '.join(reasons)})")
    if totals.failed_runs:
        reasons = list(dict.fromkeys(reason.splitlines()[0] for _, reason in totals.failed_runs))
        runs = f"{len(totals.failed_runs)} run{'s' if len(totals.failed_runs) > 1 else ''} failed"
        click.echo(f"Stopped: {figures}; {runs}: {'; '.join(reasons)}")
    else:
        click.echo(f"Done: {figures}.")
    if totals.failed:
        click.echo(f"Failed assets stay due: run `{retry_hint}` again (or let the retry sensor) to retry them.")


def _echo_changes(before: dict[str, object], after: dict[str, object]) -> None:
    changed = [(k, before[k], after[k]) for k in after if before.get(k) != after[k]]
    if not changed:
        click.echo("Nothing changed.")
        return
    click.echo("Changed:")
    for key, old, new in changed:
        click.echo(f"  {key}: {old!r} → {new!r}")
