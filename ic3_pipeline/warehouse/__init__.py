"""The target database: table definitions, dialect-aware upserts, idempotent schema migration.

Plain SQLAlchemy Core; nothing here knows about Dagster or any CMMS, so every source can share it.
"""

from ic3_pipeline.warehouse.engine import (
    DatabaseUnavailable,
    connected_engine,
    default_database_url,
    make_engine,
    normalize_database_url,
)
from ic3_pipeline.warehouse.schema import SCHEMA_VERSION, ensure_schema
from ic3_pipeline.warehouse.tables import metadata
from ic3_pipeline.warehouse.upsert import upsert_rows

__all__ = [
    "SCHEMA_VERSION",
    "DatabaseUnavailable",
    "connected_engine",
    "default_database_url",
    "ensure_schema",
    "make_engine",
    "metadata",
    "normalize_database_url",
    "upsert_rows",
]
