"""``ic3 status [SOURCE] [--json]``: the whole database and each configured source, or one source."""

from __future__ import annotations

import json

import click

from ic3_pipeline.cli.scopes import find_scope, source_scopes
from ic3_pipeline.status.queries import SyncStatus, sync_status
from ic3_pipeline.status.report import format_status
from ic3_pipeline.warehouse import connected_engine
from ic3_pipeline.warehouse.engine import default_database_url, describe_url


def print_status(source: str | None = None, *, as_json: bool = False) -> SyncStatus:
    """Print the status; return the whole database's (or ``source``'s) figures."""
    scopes = source_scopes()
    selected = [find_scope(source, scopes)] if source else scopes
    engine = connected_engine()
    try:
        whole = sync_status(engine) if source is None else None
        per_source = {scope.source: sync_status(engine, scope.source, scope.scope, stale_after=scope.stale_after)
                      for scope in selected}
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
