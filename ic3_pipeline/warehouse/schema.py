"""Idempotent schema creation and additive migration.

Running it twice changes nothing; running a newer version against an older database adds the tables and columns that
are missing (never drops or rewrites anything the users' own queries may rely on).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from sqlalchemy import Column, Connection, Engine, Table, inspect, select, text
from sqlalchemy.schema import CreateColumn, CreateIndex

from ic3_pipeline.warehouse.tables import metadata, schema_version

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1


def ensure_schema(engine: Engine) -> list[str]:
    """Create missing tables, columns and indexes; return a list of what was changed (empty when up to date)."""
    changes: list[str] = []
    with engine.begin() as conn:
        inspector = inspect(conn)
        existing_tables = set(inspector.get_table_names())
        for table in metadata.sorted_tables:
            if table.name not in existing_tables:
                table.create(conn)
                changes.append(f"created table {table.name}")
                continue
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present:
                    _add_column(conn, table, column)
                    changes.append(f"added column {table.name}.{column.name}")
            present_indexes = {i["name"] for i in inspector.get_indexes(table.name)}
            for index in table.indexes:
                if index.name not in present_indexes:
                    conn.execute(CreateIndex(index))
                    changes.append(f"created index {index.name}")
        _record_version(conn)
    if changes:
        log.info("schema: %d change(s) applied (%s)", len(changes), "; ".join(changes[:3]) + ("; …" if len(changes) > 3 else ""))
    return changes


def _add_column(conn: Connection, table: Table, column: Column) -> None:
    """ALTER TABLE … ADD COLUMN with the column's own DDL (type, server default), which both dialects accept."""
    ddl = CreateColumn(column).compile(dialect=conn.dialect)
    conn.execute(text(f"ALTER TABLE {conn.dialect.identifier_preparer.format_table(table)} ADD COLUMN {ddl}"))


def _record_version(conn: Connection) -> None:
    current = conn.execute(select(schema_version.c.version).where(schema_version.c.id == 1)).scalar()
    if current == SCHEMA_VERSION:
        return
    now = datetime.now(timezone.utc)
    if current is None:
        conn.execute(schema_version.insert().values(id=1, version=SCHEMA_VERSION, migrated_at=now))
    else:
        conn.execute(
            schema_version.update().where(schema_version.c.id == 1).values(version=SCHEMA_VERSION, migrated_at=now)
        )
