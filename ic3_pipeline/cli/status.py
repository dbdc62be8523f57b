"""``ic3 status [SOURCE] [--json]``: the whole database and each configured source, or one source."""

from __future__ import annotations

import json

import click

from ic3_pipeline.components.catalog import configured_sources, find_source
from ic3_pipeline.status.queries import SyncStatus, sync_status
from ic3_pipeline.status.report import format_status
from ic3_pipeline.warehouse import connected_engine
from ic3_pipeline.warehouse.engine import default_database_url, describe_url


def print_status(source: str | None = None, *, as_json: bool = False) -> SyncStatus:
    """Print the status; return the whole database's (or ``source``'s) figures."""
    sources = configured_sources()
    selected = [find_source(source, sources)] if source else sources
    engine = connected_engine()
    try:
        whole = sync_status(engine) if source is None else None
        per_source = {spec.source: sync_status(engine, spec.source, spec.partitioning.scope, stale_after=spec.stale_after)
                      for spec in selected}
    finally:
        engine.dispose()
    where = describe_url(default_database_url())
    if as_json:
        document = whole.as_dict() if whole else per_source[source].as_dict()
        if whole:
            document["sources"] = {name: status.as_dict() for name, status in per_source.items()}
        click.echo(json.dumps(document, indent=2))
    elif whole:
        click.echo(format_status(whole, where))
        for name, status in per_source.items():
            click.echo("")
            click.echo(format_status(status, f"source {name}", batches=False))
    else:
        click.echo(format_status(per_source[source], f"source {source} in {where}"))
    return whole or per_source[source]
