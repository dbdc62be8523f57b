"""Alembic's environment for the target database, run programmatically by ``warehouse.schema`` (no alembic.ini).

The caller hands over an open connection (``config.attributes["connection"]``), so migrations run inside the
caller's transaction and lock. SQLite gets batch mode: it cannot ALTER a column or add a constraint in place, so
Alembic rebuilds the table (copy, drop, rename) inside that transaction.
"""

from alembic import context

from ic3_pipeline.warehouse.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
