"""``ic3 status [SOURCE] [--json] [--watch]``: the whole database and each configured source, or one source."""

from __future__ import annotations

import json
import time

import click

from ic3_pipeline.cli.scopes import CollectionScope, collection_scopes, find_scope, source_scopes
from ic3_pipeline.status.queries import SyncStatus, sync_status
from ic3_pipeline.status.report import format_status
from ic3_pipeline.status.streams import StreamSourceStatus, format_stream_status, stream_source_status
from ic3_pipeline.warehouse import connected_engine
from ic3_pipeline.warehouse.engine import default_database_url, describe_url


def print_status(source: str | None = None, *, as_json: bool = False) -> SyncStatus | StreamSourceStatus:
    """Print the status; return the whole database's (or ``source``'s) figures."""
    scopes, collections = source_scopes(), collection_scopes()
    collection = next((scope for scope in collections if scope.source == source), None)
    if collection is not None:
        return _print_collection(collection, as_json=as_json)
    selected = [find_scope(source, scopes, [scope.source for scope in collections])] if source else scopes
    engine = connected_engine()
    try:
        whole = sync_status(engine) if source is None else None
        per_source = {scope.source: sync_status(engine, scope.source, scope.scope, stale_after=scope.stale_after)
                      for scope in selected}
        streams = {scope.source: stream_source_status(engine, scope.source, scope.tables)
                   for scope in collections} if source is None else {}
    finally:
        engine.dispose()
    where = describe_url(default_database_url())
    if as_json:
        document = whole.as_dict() if whole else per_source[source].as_dict()
        if whole:
            document["sources"] = {**{name: status.as_dict() for name, status in per_source.items()},
                                   **{name: status.as_dict() for name, status in streams.items()}}
        click.echo(json.dumps(document, indent=2))
    elif whole:
        click.echo(format_status(whole, where))
        for name, status in per_source.items():
            click.echo("")
            click.echo(format_status(status, f"source {name}", batches=False))
        for name, status in streams.items():
            click.echo("")
            click.echo(format_stream_status(status, f"source {name}"))
    else:
        click.echo(format_status(per_source[source], f"source {source} in {where}"))
    return whole or per_source[source]


def _print_collection(scope: CollectionScope, *, as_json: bool) -> StreamSourceStatus:
    engine = connected_engine()
    try:
        status = stream_source_status(engine, scope.source, scope.tables)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(status.as_dict(), indent=2))
    else:
        click.echo(format_stream_status(status, f"source {scope.source} in {describe_url(default_database_url())}"))
    return status


def watch(show, interval_s: float, times: int | None = None) -> None:
    """Call ``show`` every ``interval_s`` seconds, clearing the terminal between, until Ctrl-C (or ``times`` calls)."""
    shown = 0
    try:
        while times is None or shown < times:
            click.clear()
            show()
            click.echo(f"\n(refreshing every {interval_s:g} s; Ctrl-C to stop)")
            shown += 1
            if times is None or shown < times:
                time.sleep(interval_s)
    except KeyboardInterrupt:
        return
