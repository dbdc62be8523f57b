"""``ic3 reparse [SOURCE] [--site S]``: rebuild sources' tables from the answers they landed, as Dagster runs, without
calling any API — after a parser fix, or a migration that adds a typed column."""

from __future__ import annotations

import click

from ic3_pipeline.cli.scopes import find_source
from ic3_pipeline.cli.sync import resolve_site
from ic3_pipeline.components.catalog import configured_sources
from ic3_pipeline.components.jobs import reparse_job_name
from ic3_pipeline.components.source import SourceSpec
from ic3_pipeline.runs import get_instance, run_job
from ic3_pipeline.warehouse import connected_engine


def run_reparse(source: str | None, site: str | None, workers: int | None = None) -> int:
    """Re-parse ``source`` (``None``: every configured source that keeps its answers) in ``workers`` processes
    (``None``: the CPU count); return the exit status."""
    sources = configured_sources()
    selected = [find_source(source, sources)] if source else [s for s in sources if s.connector.landed is not None]
    if source and selected[0].connector.landed is None:
        click.echo(f"{source}: its connector keeps no landed answers, so only a sync can rebuild it "
                   f"(ic3 sync {source} --all --force).", err=True)
        return 2
    if not selected:
        click.echo("No source keeps landed answers: nothing to re-parse.", err=True)
        return 2
    engine = connected_engine()
    try:
        sites = [resolve_site(engine, site)] if site else []
    finally:
        engine.dispose()
    instance = get_instance()
    return max(_reparse_source(spec, sites, workers, instance) for spec in selected)


def _reparse_source(spec: SourceSpec, sites: list[str], workers: int | None, instance) -> int:
    scope = spec.partitioning.scope
    if sites and scope is not None and sites[0] not in scope:
        click.echo(f"Source {spec.source!r} does not cover site {sites[0]!r}: its sites are {', '.join(scope)}.",
                   err=True)
        return 2
    click.echo(f"Re-parsing {spec.source} from its landed answers (no API call)…")
    config = {"sites": sites, **({"workers": workers} if workers else {})}
    outcome = run_job(instance, reparse_job_name(spec), tags={"ic3/trigger": "cli", "ic3/source": spec.source},
                      run_config={"ops": {f"reparse_{spec.source}_op": {"config": config}}})
    if outcome.success:
        details = outcome.materializations.get(spec.details_key.to_user_string(), [])
        rebuilt = sum(int(metadata.get("rebuilt", 0)) for metadata in details)
        click.echo(f"Done: {rebuilt:,} assets re-parsed (run {outcome.run_id[:8]}).")
        return 0
    click.echo(f"Stopped (run {outcome.run_id[:8]}): {outcome.failure}", err=True)
    return 1
