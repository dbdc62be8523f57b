"""The same import, write path and status query on SQLite and on PostgreSQL, side by side, at 30k assets.

Steps and figures as in ``bench.scale`` (each step in its own process, HTTP excluded). PostgreSQL gets a scratch
database created for the run on the local server and dropped afterwards, so nothing else on the server is touched.
The SQLite side is a file in a temporary folder. Both use the product's engines (``make_engine``: WAL and
``synchronous=NORMAL`` on SQLite; psycopg 3 on PostgreSQL, server defaults, i.e. ``synchronous_commit=on``).

    python -m bench.databases                    # 30k assets
    python -m bench.databases --quick            # 3k assets
    python -m bench.databases --postgres-url postgresql+psycopg://user@host:5432/db
"""

from __future__ import annotations

import argparse
import os
import tempfile

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from bench.harness import Table, heading
from bench.scale import COLUMNS, measure_all, table_row

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class ScratchPostgres:
    """A fresh database on the server of ``server_url``: ``create()`` returns its URL, ``drop()`` removes it.

    ``create()`` raises OperationalError when no server answers. No pooling: each statement gets a fresh connection,
    so a pooled one the server closed meanwhile (another test dropping its own database) cannot fail the drop.
    """

    def __init__(self, server_url: str) -> None:
        from ic3_pipeline.warehouse.engine import normalize_database_url

        self.server_url = normalize_database_url(server_url)
        self.name = f"ic3_bench_{os.getpid()}"
        self._admin = create_engine(self.server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def create(self) -> str:
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        return make_url(self.server_url).set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3k assets instead of 30k")
    parser.add_argument("--postgres-url", default=os.environ.get("IC3_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL,
                        help="a server and database to connect to for creating the scratch database")
    args = parser.parse_args()
    size = 3_000 if args.quick else 30_000
    heading(f"Databases: SQLite vs PostgreSQL, {size:,} assets (HTTP excluded)")
    table = Table(["database", *COLUMNS])
    with tempfile.TemporaryDirectory() as tmp:
        for step, result in measure_all(f"sqlite:///{tmp}/bench.sqlite", size, size):
            table.row("SQLite", *table_row(step, result))
    scratch = ScratchPostgres(args.postgres_url)
    try:
        url = scratch.create()
    except OperationalError as error:
        print(f"\nPostgreSQL skipped: no server answers at {make_url(scratch.server_url).render_as_string()} "
              f"({error.orig or error})")
        return
    try:
        for step, result in measure_all(url, size, size):
            table.row("PostgreSQL", *table_row(step, result))
    finally:
        scratch.drop()


if __name__ == "__main__":
    main()
