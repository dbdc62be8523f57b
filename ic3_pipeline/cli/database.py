"""``ic3 db upgrade`` / ``ic3 db current``: the target database's schema revision."""

from __future__ import annotations

import click

from ic3_pipeline.warehouse import make_engine, schema_state, upgrade_schema
from ic3_pipeline.warehouse.engine import DatabaseUnavailable, database_error_line, default_database_url, describe_url
from sqlalchemy.exc import DBAPIError


def upgrade() -> int:
    engine = make_engine()
    try:
        applied = upgrade_schema(engine)
        state = schema_state(engine)
    except DBAPIError as error:
        raise DatabaseUnavailable(f"Cannot upgrade {describe_url(default_database_url())}: {database_error_line(error)}") from None
    finally:
        engine.dispose()
    where = describe_url(default_database_url())
    if applied:
        click.echo(f"Upgraded {where} to {state.head}: applied {', '.join(applied)}")
    else:
        click.echo(f"{where} is up to date ({state.head})")
    return 0


def current() -> int:
    engine = make_engine()
    try:
        state = schema_state(engine)
    except DBAPIError as error:
        raise DatabaseUnavailable(f"Cannot read {describe_url(default_database_url())}: {database_error_line(error)}") from None
    finally:
        engine.dispose()
    where = describe_url(default_database_url())
    if state.up_to_date:
        click.echo(f"{where}: {state.current} (up to date)")
        return 0
    click.echo(f"{where}: {state.current or 'no revision (new, or written before Alembic)'}; "
               f"this release writes {state.head}: run `ic3 db upgrade` (any sync also upgrades it)")
    return 1
