"""Engines for the target database, tuned per dialect.

SQLite is the zero-setup default, so it gets the settings that make it behave under a concurrent reader (the UI, `ic3
status`) and a writer (a sync run): WAL, a busy timeout, foreign keys. PostgreSQL URLs are pinned to psycopg 3, because
SQLAlchemy 2.0 and 2.1 disagree on what a bare ``postgresql://`` means.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from ic3_pipeline.warehouse.schema import UnknownRevision, ensure_schema

DATABASE_URL_ENV = "IC3_DATABASE_URL"
DATA_DIR_ENV = "IC3_DATA_DIR"
SQLITE_BUSY_TIMEOUT_ENV = "IC3_SQLITE_BUSY_TIMEOUT_S"


class DatabaseUnavailable(RuntimeError):
    """The target database cannot be reached or used; the message names it (password masked) and the cause."""


PROJECT_ROOT = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    """The project's data folder (``IC3_DATA_DIR``, else ``data/`` beside the package)."""
    return Path(os.environ.get(DATA_DIR_ENV) or PROJECT_ROOT / "data")


def default_database_url() -> str:
    """``IC3_DATABASE_URL`` if set, else a SQLite file in the data folder."""
    return os.environ.get(DATABASE_URL_ENV) or f"sqlite:///{data_dir() / 'ic3.sqlite'}"


def normalize_database_url(url: str) -> str:
    """Pin bare PostgreSQL URLs to psycopg 3, the driver this project installs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str | None = None) -> Engine:
    """Create an engine for ``url`` (default: :func:`default_database_url`), creating a SQLite file's folder if needed."""
    url = normalize_database_url(url or default_database_url())
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        busy_s = float(os.environ.get(SQLITE_BUSY_TIMEOUT_ENV, "60"))
        engine = create_engine(url, connect_args={"timeout": busy_s})
        event.listen(engine, "connect", lambda conn, record: _sqlite_pragmas(conn, busy_s))
        # pysqlite's own transaction handling breaks SAVEPOINT (SQLAlchemy's documented recipe): the driver is put
        # in autocommit and SQLAlchemy emits BEGIN itself, so the per-asset savepoints of a write group work.
        # A connection marked for writing (execution option ic3_write_lock) takes the write lock at once, so what it
        # reads before it writes cannot be changed by another writer in between.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(
            "BEGIN IMMEDIATE" if conn.get_execution_options().get("ic3_write_lock") else "BEGIN"))
        return engine
    return create_engine(url, pool_pre_ping=True)


WAL_CHECKPOINT_PAGES = 10_000


def _sqlite_pragmas(dbapi_connection, busy_s: float) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={int(busy_s * 1000)}")  # first: WAL below needs the lock too
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Checkpoint the WAL every ~40 MB instead of SQLite's 4 MB: a write group of a sync touches ~1,000 pages, so the
    # default checkpointed (and synced to disk) after nearly every group; trimmed back to 40 MB afterwards.
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
    cursor.execute(f"PRAGMA journal_size_limit={WAL_CHECKPOINT_PAGES * 4096}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    dbapi_connection.isolation_level = None  # see make_engine: SQLAlchemy emits BEGIN


def connected_engine(url: str | None = None) -> Engine:
    """An engine whose database answered and whose schema is up to date, or :class:`DatabaseUnavailable`."""
    url = url or default_database_url()
    engine = make_engine(url)
    try:
        ensure_schema(engine)
    except DBAPIError as error:
        engine.dispose()
        raise DatabaseUnavailable(f"Cannot use the target database {describe_url(url)}: {database_error_line(error)}") from None
    except UnknownRevision as error:
        engine.dispose()
        raise DatabaseUnavailable(f"Cannot use the target database {describe_url(url)}: {error}") from None
    return engine


def database_error_line(error: DBAPIError) -> str:
    """The driver's own first line ("database is locked", "terminating connection …"), without SQL or traceback."""
    return str(error.orig or error).strip().splitlines()[0]


def describe_url(url: str) -> str:
    """The URL with its password masked, for logs and metadata."""
    return make_url(normalize_database_url(url)).render_as_string(hide_password=True)
