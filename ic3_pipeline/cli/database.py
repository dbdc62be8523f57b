"""``ic3 db upgrade`` / ``ic3 db current``: the target database's schema revision."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from ic3_pipeline.warehouse import make_engine, schema_state, upgrade_schema
from ic3_pipeline.warehouse.engine import DatabaseUnavailable, database_error_line, default_database_url, describe_url
from ic3_pipeline.warehouse.schema import UnknownRevision

T = TypeVar("T")


def upgrade() -> int:
    applied, state = _on_database(lambda engine: (upgrade_schema(engine), schema_state(engine)))
    if applied:
        click.echo(f"Upgraded {_where()} to {state.head}: applied {', '.join(applied)}")
    else:
        click.echo(f"{_where()} is up to date ({state.head})")
    return 0


def current() -> int:
    state = _on_database(schema_state)
    if state.up_to_date:
        click.echo(f"{_where()}: {state.current} (up to date)")
        return 0
    if not state.known:
        click.echo(f"{_where()}: {state.current}, a revision this release does not know (it writes {state.head}): a "
                   "newer release of ic3_pipeline wrote it; upgrade ic3_pipeline")
        return 1
    click.echo(f"{_where()}: {state.current or 'no revision (new, or written before Alembic)'}; "
               f"this release writes {state.head}: run `ic3 db upgrade` (any sync also upgrades it)")
    return 1


def _on_database(action: Callable[[Engine], T]) -> T:
    """``action`` on the configured database; its faults as one clear line (``DatabaseUnavailable``)."""
    engine = make_engine()
    try:
        return action(engine)
    except DBAPIError as error:
        raise DatabaseUnavailable(f"Cannot use the target database {_where()}: {database_error_line(error)}") from None
    except UnknownRevision as error:
        raise DatabaseUnavailable(f"Cannot use the target database {_where()}: {error}") from None
    finally:
        engine.dispose()


def _where() -> str:
    return describe_url(default_database_url())
