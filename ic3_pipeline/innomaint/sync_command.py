"""``ic3 sync``: enrich all sites, one site or one asset, as Dagster runs, and say plainly what happened."""

from __future__ import annotations

import os

import click
from sqlalchemy import Engine, select

from ic3_pipeline.innomaint.client import DEFAULT_BASE_URL
from ic3_pipeline.innomaint.due import partition_keys_of
from ic3_pipeline.innomaint.launch import (
    NothingToSync,
    SyncTotals,
    launch_enrichment,
    plan_ranges,
    resolve_site,
    site_partition_keys,
)
from ic3_pipeline.innomaint.assets import MAX_PARTITIONS_PER_RUN
from ic3_pipeline.innomaint.resource import BASE_URL_ENV, TOKEN_ENV
from ic3_pipeline.runs import RunOutcome, get_instance
from ic3_pipeline.warehouse import connected_engine, tables

SNAPSHOT_COLUMNS = (
    (tables.asset_master, ("sync_version", "last_sync_status", "last_sync_error", "criticality", "barcode",
                           "ticketcount", "schedulecount", "building_id", "floor_id", "department_id")),
    (tables.asset_performance, ("mttr", "mtbf", "availability", "total_ticket", "total_actual_hrs")),
)


def run_sync(*, all_sites: bool, site: str | None, asset_id: str | None, force: bool, sites_per_run: int | None) -> int:
    if not os.environ.get(TOKEN_ENV):
        click.echo(f"{TOKEN_ENV} is not set: put the Innomaint API token in the environment.", err=True)
        return 2
    engine = connected_engine()
    instance = get_instance()
    config: dict = {"force": force}
    before = None
    keys = site_partition_keys(instance, engine)  # also registers sites Dagster does not know yet
    try:
        if asset_id:
            key = partition_keys_of(engine, [asset_id]).get(asset_id)
            if key is None:
                raise NothingToSync(f"No asset {asset_id!r} in ic3_asset_master; import a register that has it.")
            ranges, config = [(key, key)], {"force": True, "asset_ids": [asset_id]}
            before = asset_snapshot(engine, asset_id)
        elif site:
            key = resolve_site(engine, site)
            ranges = [(key, key)]
        else:
            if not keys:
                raise NothingToSync("No sites yet: import a register first (ic3 import PATH).")
            ranges = plan_ranges(keys, sites_per_run or MAX_PARTITIONS_PER_RUN)
    except NothingToSync as error:
        click.echo(str(error), err=True)
        return 2
    base_url = os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    click.echo(f"Syncing from {base_url} in {len(ranges)} run(s)…")
    totals = launch_enrichment(
        instance,
        ranges,
        run_config={"ops": {"innomaint_enrichment": {"config": config}}},
        tags={"ic3/trigger": "cli"},
        on_run_done=lambda index, outcome: _echo_run(index, len(ranges), outcome),
    )
    _echo_totals(totals)
    if before is not None:
        _echo_changes(before, asset_snapshot(engine, asset_id))
    engine.dispose()
    return 1 if totals.failed or totals.failed_runs else 0


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


def _echo_run(index: int, count: int, outcome: RunOutcome) -> None:
    details = outcome.materializations.get("innomaint_asset_details", [{}])[0] if outcome.materializations else {}
    state = "ok" if outcome.success else "FAILED"
    figures = (
        f"synced {details.get('synced', 0)}/{details.get('assets due', 0)}, failed {details.get('failed', 0)}, "
        f"not found {details.get('not found', 0)}, {details.get('requests', 0)} requests "
        f"({details.get('requests per s', 0)}/s), {details.get('429 answers', 0)} × 429"
        if details else ""
    )
    click.echo(f"  run {index}/{count} {outcome.run_id[:8]} {state}  {figures}")
    if not outcome.success:
        click.echo(f"    {outcome.failure}", err=True)


def _echo_totals(totals: SyncTotals) -> None:
    click.echo(
        f"Done: {totals.synced} synced, {totals.failed} failed, {totals.not_found} not found "
        f"of {totals.due} due; {totals.requests} requests, {totals.throttled} answered 429."
    )
    if totals.failed:
        click.echo("Failed assets stay due: run `ic3 sync --all` again (or let the retry sensor) to retry them.")


def _echo_changes(before: dict[str, object], after: dict[str, object]) -> None:
    changed = [(k, before[k], after[k]) for k in after if before.get(k) != after[k]]
    if not changed:
        click.echo("Nothing changed.")
        return
    click.echo("Changed:")
    for key, old, new in changed:
        click.echo(f"  {key}: {old!r} → {new!r}")
