"""Bulk upserts of many rows given as columns (the register import's 300,000 rows): one compiled statement, the
driver's executemany or PostgreSQL's COPY, no per-row work in SQLAlchemy.

``upsert_rows`` sends dicts through ``Connection.execute``, which builds and type-processes a parameter set per row in
Python: at 300,000 register rows that was more time than the database's own inserts. Here the statement is built with
Core and compiled once (the same ``INSERT … ON CONFLICT`` as ``upsert_rows``), each column's bind processor (dates to
text on SQLite, none on PostgreSQL) is applied to the whole column, and the rows go to the DBAPI cursor's
``executemany`` through ``Connection.exec_driver_sql`` — inside the caller's transaction, like any other statement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Connection, Date, DateTime, MetaData, Table, select
from sqlalchemy.dialects import postgresql

from ic3_pipeline.warehouse.bulk import upsert_statement


def upsert_columns(
    conn: Connection,
    table: Table,
    columns: Mapping[str, Sequence[Any]],
    key: Sequence[str],
    update_columns: Sequence[str],
    *,
    constants: Mapping[str, Any] | None = None,
) -> int:
    """Insert the rows ``columns`` holds (every list the same length); where ``key`` exists, update ``update_columns``.

    ``constants`` are columns with one value for every row (type-processed once). Columns of ``table`` given in
    neither take their Python-side scalar default (``default=0``), as ``Connection.execute`` would give them; a column
    with any other kind of Python-side default must be given. Returns the number of rows sent.
    """
    count = len(next(iter(columns.values()), ()))
    if not count:
        return 0
    constants = dict(constants or {})
    for name in table.c.keys():
        default = table.c[name].default
        if name not in columns and name not in constants and default is not None:
            if not default.is_scalar:
                raise ValueError(f"column {table.name}.{name} has no scalar default; give its values")
            constants[name] = default.arg
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        return _copy_upsert(conn, table, columns, constants, count, tuple(key), tuple(update_columns))
    sql, names = _compiled(conn, table, (*columns, *constants), tuple(key), tuple(update_columns))
    processed = [
        [_bound(conn, table, name, [constants[name]])[0]] * count if name in constants
        else _bound(conn, table, name, columns[name])
        for name in names
    ]
    if conn.dialect.positional:
        parameters: list[Any] = list(zip(*processed))
    else:
        parameters = [dict(zip(names, values)) for values in zip(*processed)]
    conn.exec_driver_sql(sql, parameters)
    return count


def _copy_upsert(
    conn: Connection,
    table: Table,
    columns: Mapping[str, Sequence[Any]],
    constants: Mapping[str, Any],
    count: int,
    key: tuple[str, ...],
    updates: tuple[str, ...],
) -> int:
    """PostgreSQL: ``COPY`` the rows into a temporary table, then one ``INSERT … SELECT … ON CONFLICT`` from it.

    An executemany is one statement execution per row on the server; COPY streams the rows and the upsert runs once
    per batch. The temporary table has the target's columns (``LIKE``) and lives until the transaction ends, so a
    rolled-back import leaves nothing behind either.
    """
    names = [*columns, *constants]
    staging = Table(f"{table.name}_staging", MetaData(), *(Column(n, table.c[n].type) for n in names))
    conn.exec_driver_sql(
        f'CREATE TEMPORARY TABLE IF NOT EXISTS "{staging.name}" '
        f'(LIKE "{table.name}" INCLUDING DEFAULTS) ON COMMIT DROP'
    )
    conn.exec_driver_sql(f'TRUNCATE "{staging.name}"')
    quoted = ", ".join(f'"{name}"' for name in names)
    with conn.connection.driver_connection.cursor() as cursor:
        with cursor.copy(f'COPY "{staging.name}" ({quoted}) FROM STDIN') as copy:
            repeated = tuple(constants.values())
            for values in zip(*columns.values()):
                copy.write_row(values + repeated)
    stmt = postgresql.insert(table).from_select(names, select(*staging.c))
    if updates:
        stmt = stmt.on_conflict_do_update(index_elements=list(key), set_={n: stmt.excluded[n] for n in updates})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
    conn.execute(stmt)
    return count


def _compiled(
    conn: Connection, table: Table, given: tuple[str, ...], key: tuple[str, ...], updates: tuple[str, ...]
) -> tuple[str, list[str]]:
    """The statement's SQL text and its parameter names in the order the driver takes them."""
    stmt = upsert_statement(conn.dialect.name, table, key, updates).inline()  # no RETURNING: nobody reads the keys
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(given))
    names = list(compiled.positiontup) if compiled.positiontup is not None else list(compiled.bind_names.values())
    return compiled.string, names


def _bound(conn: Connection, table: Table, name: str, values: Sequence[Any]) -> list[Any]:
    """``values`` as the driver takes them: the column type's bind processor for this dialect, applied to each.

    Dates and times (formatted as text on SQLite, by a Python function) are processed once per distinct value: a
    register's 300,000 dates hold a few thousand distinct days.
    """
    column_type = table.c[name].type
    process = column_type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    if process is None:
        return list(values)
    if not isinstance(column_type, Date | DateTime):
        return list(map(process, values))
    done: dict[tuple[type, Any], Any] = {}
    return [
        done[key] if (key := (value.__class__, value)) in done else done.setdefault(key, process(value))
        for value in values
    ]
