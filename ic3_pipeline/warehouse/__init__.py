"""The target database: table definitions, dialect-aware upserts, Alembic migrations.

Plain SQLAlchemy Core; nothing here knows about Dagster or any CMMS, so every source can share it.
"""

from ic3_pipeline.warehouse.engine import (
    DatabaseUnavailable,
    connected_engine,
    database_error_line,
    default_database_url,
    make_engine,
    normalize_database_url,
)
from ic3_pipeline.warehouse.schema import ensure_schema, schema_state, upgrade_schema
from ic3_pipeline.warehouse.tables import metadata
from ic3_pipeline.warehouse import unified_tables  # noqa: F401,E402 - puts the unified model's tables on metadata
from ic3_pipeline.warehouse.upsert import chunked, upsert_rows

__all__ = [
    "DatabaseUnavailable",
    "chunked",
    "connected_engine",
    "database_error_line",
    "default_database_url",
    "ensure_schema",
    "make_engine",
    "metadata",
    "normalize_database_url",
    "schema_state",
    "upgrade_schema",
    "upsert_rows",
]
