"""``ic3 sync <source>`` and ``ic3 status <source>`` for a collection source (one whose API answers paged
collections): streams in load order as Dagster runs, and what they did read back from ``cmms_stream_log``."""

from __future__ import annotations

from dataclasses import dataclass

import click
from dagster import AssetKey, DagsterInstance
from sqlalchemy import Engine, func, select

from ic3_pipeline.components.collection_assets import add_site_partitions, site_range
from ic3_pipeline.components.collection_source import CollectionSourceSpec
from ic3_pipeline.runs import RunOutcome, run_job
from ic3_pipeline.sync.partitions import range_tags
from ic3_pipeline.sync.streams import StreamSpec
from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.unified_tables import mapping_error


class CollectionSyncRefused(LookupError):
    """The request cannot start (unknown stream, no sites); the message says what to do."""


@dataclass(frozen=True)
class CollectionSyncRequest:
    site: str | None = None
    stream: str | None = None  # a stream's name or its resource (``asset`` or ``MXAPIASSET``)
    full: bool = False


def op_name(key: AssetKey) -> str:
    """The op Dagster derives from an asset key given without a name (``maximo/asset`` → ``maximo__asset``)."""
    return "__".join(key.path)


def plan_collection_runs(spec: CollectionSourceSpec, request: CollectionSyncRequest, instance: DagsterInstance
                         ) -> list[tuple[list[AssetKey], dict[str, str]]]:
    """(asset selection, tags) per run: the unpartitioned streams ride with the first range of sites."""
    streams = _selected_streams(spec, request.stream)
    per_site = [s for s in streams if s.partitioned]
    whole = [s for s in streams if not s.partitioned]
    sites = [request.site] if request.site else spec.current_sites()
    if per_site and not sites:
        raise CollectionSyncRefused(f"No sites for {spec.source}: set {spec.sites_env} (comma-separated site ids) or "
                                    "give --site.")
    if per_site:
        add_site_partitions(instance, spec, sites)
        ranges = site_range(instance, spec, sites)
    else:
        ranges = []
    runs: list[tuple[list[AssetKey], dict[str, str]]] = []
    for index, (first, last) in enumerate(ranges):
        chosen = (whole if index == 0 else []) + per_site
        runs.append(([spec.key(s.name) for s in chosen], range_tags(first, last)))
    if not ranges and whole:
        runs.append(([spec.key(s.name) for s in whole], {}))
    return runs


def _selected_streams(spec: CollectionSourceSpec, name: str | None) -> list[StreamSpec]:
    if name is None:
        return spec.ordered_streams
    try:
        return [spec.stream(name)]
    except KeyError:
        known = ", ".join(f"{s.name} ({s.resource})" for s in spec.ordered_streams)
        raise CollectionSyncRefused(f"{spec.source} has no stream or object structure {name!r}; it has: {known}") from None


def run_collection_sync(spec: CollectionSourceSpec, request: CollectionSyncRequest, engine: Engine,
                        instance: DagsterInstance) -> int:
    """Sync the selected streams; print a line per stream and site; 1 when any failed, 2 when it cannot start."""
    try:
        runs = plan_collection_runs(spec, request, instance)
    except CollectionSyncRefused as refused:
        click.echo(str(refused), err=True)
        return 2
    mode = "full refresh" if request.full else "incremental where a high-water mark exists"
    click.echo(f"Syncing {spec.source} from {spec.current_base_url()} ({mode}) in {len(runs)} run(s)…")
    failed = False
    for index, (selection, tags) in enumerate(runs, start=1):
        config = {"ops": {op_name(key): {"config": {"full": request.full}} for key in selection}}
        outcome = run_job(instance, spec.sync_job, run_config=config, asset_selection=selection,
                          tags={**tags, "ic3/trigger": "cli", "ic3/source": spec.source})
        failed |= _echo_run(engine, spec, index, len(runs), outcome)
    if failed:
        click.echo(f"Failed streams stay where they were: run `ic3 sync {spec.source}` again (or let the retry sensor).")
    return 1 if failed else 0


def _echo_run(engine: Engine, spec: CollectionSourceSpec, index: int, count: int, outcome: RunOutcome) -> bool:
    log = tables.stream_log
    with engine.connect() as conn:
        rows = conn.execute(select(log).where(log.c.run_id == outcome.run_id).order_by(log.c.id)).all()
    state = "ok" if outcome.success else "FAILED"
    click.echo(f"  run {index}/{count} {outcome.run_id[:8]} {state}")
    for row in rows:
        line = (f"    {row.stream:<10} {row.partition_key or '(all)':<10} {row.mode:<11} {row.status:<7} "
                f"{row.rows_written} rows, {row.child_rows_written} child rows, {row.rows_deleted} deleted, "
                f"{row.pages} pages, {row.requests} requests, {row.throttled} × 429")
        click.echo(line)
        if row.error_message:
            click.echo(f"      {row.error_message}", err=True)
    for stream, table, records in _not_mapped(engine, spec.source, outcome.run_id):
        click.echo(f"    {stream:<10} {records} record(s) not mapped to {table}: they are in the raw table only "
                   "(see cmms_mapping_error)")
    if not outcome.success and not any(row.error_message for row in rows):
        click.echo(f"    {outcome.failure}", err=True)
    return not outcome.success or any(row.status == "failed" for row in rows)


def _not_mapped(engine: Engine, source: str, run_id: str) -> list[tuple[str, str, int]]:
    """(stream, unified table, records) this run could not map into the unified model."""
    errors = mapping_error
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(
            select(errors.c.stream, errors.c.unified_table, func.count(func.distinct(errors.c.record_key)))
            .where(errors.c.source == source, errors.c.run_id == run_id)
            .group_by(errors.c.stream, errors.c.unified_table).order_by(errors.c.stream))]
