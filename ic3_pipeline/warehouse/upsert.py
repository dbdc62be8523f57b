"""Dialect-aware bulk upserts: ``INSERT … ON CONFLICT`` on SQLite and PostgreSQL, sent in batches.

Every write of the pipeline goes through here, so re-running anything (an import, a sync, a crashed run's retry) lands
on the same rows instead of adding duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import Connection, Table

from ic3_pipeline.warehouse.bulk import upsert_statement

DEFAULT_BATCH_SIZE = 1000
T = TypeVar("T")


def upsert_rows(
    conn: Connection,
    table: Table,
    rows: Iterable[Mapping[str, Any]],
    key: Sequence[str],
    *,
    update_columns: Sequence[str] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> int:
    """Insert ``rows`` into ``table``; where ``key`` already exists, update ``update_columns`` instead.

    ``update_columns`` defaults to every column the rows carry except the key; pass ``()`` to leave existing rows alone
    (``ON CONFLICT DO NOTHING``). All rows of one call carry the same columns. Returns the number of rows sent.
    """
    sent = 0
    for batch in chunked((dict(row) for row in rows), batch_size):
        columns = list(batch[0].keys())
        updates = [c for c in columns if c not in key] if update_columns is None else list(update_columns)
        conn.execute(_upsert_statement(conn.dialect.name, table, tuple(key), tuple(updates)), batch)
        sent += len(batch)
    return sent


# One statement per table and column set, built once: building ``ON CONFLICT … SET c = excluded.c`` costs more than
# executing it (``excluded`` derives a column collection each time), and a sync upserts per asset.
_upsert_statement = lru_cache(maxsize=256)(upsert_statement)


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most ``size`` items: bounded statements and memory, whatever the input's length."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
