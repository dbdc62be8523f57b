"""One statement for many rows at the driver's pace: compiled once, rows bound as the driver wants them.

``Connection.execute(statement, rows)`` builds a parameter dictionary per row and runs each value through its type's
bind processor inside SQLAlchemy's generic machinery; for the write path's narrow, hot statements (a group of 100
assets is ~600 rows over 7 statements) that bookkeeping cost twice what SQLite itself spent executing them (profile
in bench/README.md, "Write path"). Here a statement is compiled once per dialect and column set to the driver's SQL
text, the few columns whose type needs a bind processor (dates on SQLite, for instance) are converted once, and the
rows go to the driver's ``executemany`` as plain tuples (or dictionaries, for named paramstyles) — the same SQL and
the same values SQLAlchemy itself would send, only without the per-row overhead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Float, Numeric, String, Table, Text, any_, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement, ColumnElement
from sqlalchemy.types import TypeEngine


@dataclass(frozen=True)
class DriverStatement:
    """A statement compiled for one dialect and one column set: its SQL and how to bind a row."""

    sql: str
    names: tuple[str, ...]  # the row keys, in bind order
    processors: tuple[Callable[[Any], Any] | None, ...]  # one per name: the type's bind processor, if any
    positional: bool  # qmark/format paramstyles take tuples; named/pyformat take dictionaries
    bind_names: tuple[str, ...]  # the names the compiled SQL uses (named paramstyles)

    def bind(self, rows: Iterable[Mapping[str, Any]]) -> list:
        """``rows`` as the driver's parameters: tuples in bind order (dictionaries for named paramstyles)."""
        if not self.positional:
            return [dict(zip(self.bind_names, values)) for values in self._bound_rows(rows)]
        return self._bound_rows(rows)

    def bind_columns(self, rows: Iterable[Mapping[str, Any]]) -> list[list]:
        """``rows`` bound column by column, one list per bind name (an ``unnest`` statement's arrays)."""
        picked = self._picked(rows)
        if not picked:
            return [[] for _ in self.names]
        columns = [list(column) for column in zip(*picked)]
        for index, processor in self._converting():
            columns[index] = _converted(columns[index], processor)
        return columns

    def _bound_rows(self, rows: Iterable[Mapping[str, Any]]) -> list[tuple]:
        # Rows are picked whole by one C-level itemgetter; only the few columns with a bind processor are then
        # converted, column by column (transposing with zip costs far less than converting value by value per row).
        picked = self._picked(rows)
        converting = self._converting()
        if not converting or not picked:
            return picked
        columns = list(zip(*picked))
        for index, processor in converting:
            columns[index] = _converted(columns[index], processor)
        return list(zip(*columns))

    def _picked(self, rows: Iterable[Mapping[str, Any]]) -> list[tuple]:
        names = self.names
        rows = rows if isinstance(rows, list) else list(rows)
        if len(names) == 1:
            (name,) = names
            return [(row.get(name),) for row in rows]
        pick = itemgetter(*names)
        try:
            return list(map(pick, rows))
        except KeyError:  # a column a row lacks is bound as NULL
            return [tuple(row.get(name) for name in names) for row in rows]

    def _converting(self) -> list[tuple[int, Callable[[Any], Any]]]:
        return [(index, processor) for index, processor in enumerate(self.processors) if processor is not None]

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per row, as one ``executemany`` of the driver."""
        if rows:
            conn.exec_driver_sql(self.sql, self.bind(rows))


def _converted(column: Sequence[Any], processor: Callable[[Any], Any]) -> list:
    """``column``'s values through ``processor``, NULL kept. A group's rows share their timestamps: each distinct
    value is converted once, the column mapped through a dictionary (C-level ``set``, ``map``: no Python per value)."""
    try:
        distinct = set(column)
    except TypeError:  # a value that is not hashable: convert each
        return [None if value is None else processor(value) for value in column]
    distinct.discard(None)
    kinds = set(map(type, column))  # of every value: a set of values keeps one of 1, 1.0 and True
    kinds.discard(type(None))
    if len(kinds) > 1:  # 1, 1.0 and True are equal keys, yet not the same value
        return _converted_by_kind(column, processor)
    # One kind of value: equal values are one key, converted once (the first seen: a set keeps the first of equals).
    converted = {value: processor(value) for value in distinct}
    converted[None] = None
    return list(map(converted.__getitem__, column))


def _converted_by_kind(column: Sequence[Any], processor: Callable[[Any], Any]) -> list:
    done: dict[tuple[type, Any], Any] = {}
    out = []
    for value in column:
        if value is None:
            out.append(None)
            continue
        memo = (value.__class__, value)
        if memo not in done:
            done[memo] = processor(value)
        out.append(done[memo])
    return out


_COMPILED: dict[tuple[int, str, tuple[str, ...]], tuple[ClauseElement, Any]] = {}


def driver_statement(statement: ClauseElement, dialect: Dialect, columns: Sequence[str]) -> DriverStatement:
    """``statement`` (built once by the caller and kept) compiled for ``dialect`` with the values of ``columns``.

    Rows bound to it carry ``columns`` as keys (and any ``bindparam`` of the statement by its name)."""
    key = (id(statement), dialect.name if dialect.paramstyle != "format" else f"{dialect.name}:format", tuple(columns))
    cached = _COMPILED.get(key)
    if cached is not None and cached[0] is statement:
        return cached[1]
    compiled = statement.compile(dialect=dialect, column_keys=list(columns))
    defaults = [column.key for column in (*compiled.insert_prefetch, *compiled.update_prefetch)]
    if defaults:  # values SQLAlchemy computes per row in Python: give them in the rows instead
        raise ValueError(f"rows for {statement} must carry {', '.join(defaults)} (Python-side defaults)")
    bind_names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(compiled.binds)
    names = tuple(compiled.binds[name].key for name in bind_names)  # a column's key, or a bindparam's own name
    processors = tuple(compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in bind_names)
    result = DriverStatement(compiled.string, names, processors, bool(compiled.positional), bind_names)
    _COMPILED[key] = (statement, result)
    return result


def upsert_statement(dialect: str, table: Table, key: Sequence[str], updates: Sequence[str]):
    """``INSERT … ON CONFLICT (key) DO UPDATE SET c = excluded.c`` for ``updates`` (``DO NOTHING`` when empty)."""
    if dialect == "postgresql":
        stmt = postgresql.insert(table)
    elif dialect == "sqlite":
        stmt = sqlite.insert(table)
    else:
        raise ValueError(f"upserts support SQLite and PostgreSQL, not {dialect!r}")
    if not updates:
        return stmt.on_conflict_do_nothing(index_elements=list(key))
    return stmt.on_conflict_do_update(index_elements=list(key), set_={name: stmt.excluded[name] for name in updates})


@dataclass(frozen=True)
class UnnestInsert:
    """An INSERT sent to PostgreSQL as ``INSERT … SELECT * FROM unnest(%s::type[], …)``: one statement for a whole
    group, one array parameter per column.

    An ``executemany`` still costs the server one statement per row (psycopg pipelines them, but each is bound,
    executed and answered); a multi-row ``VALUES`` is one statement, but its text grows with the rows, so psycopg
    parses it anew every time (it caches only short queries) and the server plans it anew. The unnest form's text is
    fixed: psycopg converts it once and the server runs it as a prepared statement."""

    sql: str
    row: DriverStatement

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        conn.exec_driver_sql(self.sql, tuple(self.row.bind_columns(rows)))


def array_element_type(sql_type: TypeEngine, dialect: Dialect) -> str:
    """The type an ``unnest`` array parameter is cast to: the column's type without its length or precision.

    An explicit cast to ``VARCHAR(64)`` truncates a longer value without a word (PostgreSQL's rule for casts), and
    one to ``NUMERIC(12, 2)`` rounds it; cast to the unbounded type, the value reaches the column as it is and the
    column refuses it (``value too long``), as a row-by-row INSERT would."""
    if isinstance(sql_type, String):
        return "TEXT"
    if isinstance(sql_type, Numeric) and not isinstance(sql_type, Float):
        return "NUMERIC"
    return sql_type.compile(dialect=dialect)


def unnest_insert(statement: ClauseElement, dialect: Dialect, columns: Sequence[str]) -> UnnestInsert:
    """``statement`` (a single-row INSERT, possibly with ON CONFLICT) as :class:`UnnestInsert` for PostgreSQL."""
    key = (id(statement), f"{dialect.name}:unnest", tuple(columns))
    cached = _COMPILED.get(key)
    if cached is not None and cached[0] is statement:
        return cached[1]
    positional = type(dialect)(paramstyle="format")
    compiled = statement.compile(dialect=positional, column_keys=list(columns))
    row = driver_statement(statement, positional, columns)
    head, marker, rest = row.sql.partition(" VALUES (")
    if not marker:
        raise ValueError(f"not a single-row INSERT … VALUES: {row.sql[:80]}")
    depth, end = 1, 0
    for end, char in enumerate(rest):  # the VALUES tuple's closing parenthesis (types such as NUMERIC(12, 2) nest)
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            break
    arrays = ", ".join(f"%b::{array_element_type(compiled.binds[name].type, positional)}[]" for name in row.bind_names)
    result = UnnestInsert(f"{head} SELECT * FROM unnest({arrays}){rest[end + 1:]}", row)
    _COMPILED[key] = (statement, result)
    return result


def unnest_update(statement: ClauseElement, table: Table, key: str, dialect: Dialect,
                  columns: Sequence[str]) -> UnnestInsert:
    """``statement`` (``UPDATE table … WHERE table.c.<key> = :<bindparam>``) as one PostgreSQL statement for a
    whole group: ``UPDATE … SET c = v.c … FROM unnest(…) AS v(…) WHERE table.<key> = v.<bindparam>``.

    An executemany of the UPDATE costs the server a statement per row, as for inserts (see :class:`UnnestInsert`).
    Rows must not repeat a key (PostgreSQL would apply only one of them): :func:`update_many` checks."""
    cache_key = (id(statement), f"{dialect.name}:unnest-update", tuple(columns))
    cached = _COMPILED.get(cache_key)
    if cached is not None and cached[0] is statement:
        return cached[1]
    positional = type(dialect)(paramstyle="format")
    row = driver_statement(statement, positional, columns)
    quote = positional.identifier_preparer.quote
    by_name = {name: table.c[name] for name in row.names if name in table.c}
    (key_param,) = [name for name in row.names if name not in by_name]  # the WHERE clause's bindparam
    types = [array_element_type((table.c[key] if name == key_param else by_name[name]).type, positional)
             for name in row.names]
    target = quote(table.name)
    sql = (f"UPDATE {target} SET {', '.join(f'{quote(name)} = v.{quote(name)}' for name in row.names if name != key_param)}"
           f" FROM unnest({', '.join(f'%b::{kind}[]' for kind in types)}) AS v({', '.join(quote(n) for n in row.names)})"
           f" WHERE {target}.{quote(key)} = v.{quote(key_param)}")
    result = UnnestInsert(sql, row)
    _COMPILED[cache_key] = (statement, result)
    return result


def update_many(conn: Connection, statement: ClauseElement, table: Table, key: str, key_param: str,
                rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """Run the UPDATE ``statement`` (``WHERE table.<key> = :<key_param>``) for ``rows``: on PostgreSQL as one
    ``unnest`` statement when no two rows share a key, elsewhere as the driver's executemany."""
    if not rows:
        return
    if conn.dialect.name == "postgresql" and len({row[key_param] for row in rows}) == len(rows):
        unnest_update(statement, table, key, conn.dialect, columns).execute(conn, rows)
    else:
        driver_statement(statement, conn.dialect, columns).execute(conn, rows)


_UPSERTS: dict[tuple[str, Table, tuple[str, ...], tuple[str, ...]], ClauseElement] = {}


def bulk_upsert(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], key: Sequence[str]) -> None:
    """Upsert ``rows`` (all with the columns of the first) into ``table`` on ``key``, updating every other column,
    in one ``executemany``."""
    if not rows:
        return
    columns = tuple(rows[0])
    updates = tuple(c for c in columns if c not in key)
    cache_key = (conn.dialect.name, table, tuple(key), updates)
    statement = _UPSERTS.get(cache_key)
    if statement is None:
        statement = _UPSERTS[cache_key] = upsert_statement(conn.dialect.name, table, key, updates)
    insert_many(conn, statement, rows, columns, key=key)


def insert_many(conn: Connection, statement: ClauseElement, rows: Sequence[Mapping[str, Any]],
                columns: Sequence[str], *, key: Sequence[str] = ()) -> None:
    """Run the INSERT ``statement`` for ``rows``: on PostgreSQL as one ``unnest`` statement, unless two rows share ``key``
    (one ``ON CONFLICT DO UPDATE`` statement cannot touch a row twice); elsewhere as the driver's executemany."""
    if not rows:
        return
    if conn.dialect.name == "postgresql" and (not key or len({tuple(r[k] for k in key) for r in rows}) == len(rows)):
        unnest_insert(statement, conn.dialect, columns).execute(conn, rows)
    else:
        driver_statement(statement, conn.dialect, columns).execute(conn, rows)


def one_of(column: ColumnElement, values: Sequence[Any], dialect: Dialect) -> ColumnElement[bool]:
    """``column IN values`` for a group's keys; on PostgreSQL ``column = ANY(%s)`` with one array parameter.

    An ``IN`` list of a group's 500 keys is 500 parameters: SQLAlchemy renders the list anew for every group, psycopg
    adapts each value, and the server parses and plans a text that is new each time. The array form's text is fixed,
    so the server runs it as a prepared statement. The array's element type has no length (``TEXT``, not
    ``VARCHAR(64)``): a cast to a bounded type would cut a longer key short and could match another row's."""
    if dialect.name == "postgresql":
        element = array_element_type(column.type, dialect)
        kind = Text() if element == "TEXT" else column.type
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(kind)))
    return column.in_(list(values))


@contextmanager
def pipelined(conn: Connection) -> Iterator[None]:
    """The statements run inside, on PostgreSQL (psycopg), sent in pipeline mode: the client binds and sends the next
    statement while the server still executes the previous one, instead of waiting for each answer (a group's
    statements are independent: only a read waits, for its own rows). Elsewhere, as they are.

    An error the server reports for a statement is raised where psycopg receives it: at a later statement's execute
    (SQLAlchemy's wrapped error, as usual) or when the pipeline's end waits for the last answers — there it is
    wrapped here the same way, so callers see one kind of error (``DataError``, ``IntegrityError``, …) either way."""
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg":
        yield
        return
    driver = conn.connection.driver_connection
    try:
        with driver.pipeline():
            yield
    except conn.dialect.loaded_dbapi.Error as error:
        raise DBAPIError.instance(None, None, error, conn.dialect.loaded_dbapi.Error,
                                  dialect=conn.dialect) from error


def read_rows(conn: Connection, statement: ClauseElement) -> list[tuple]:
    """The rows of the SELECT ``statement``, also inside :func:`pipelined` (SQLAlchemy asks a pipelined cursor for
    its columns before psycopg has its answer, and takes it for a statement without rows): there through psycopg's
    cursor, whose fetch waits for the answer, errors wrapped as SQLAlchemy wraps them."""
    driver = conn.connection.driver_connection if conn.dialect.name == "postgresql" else None
    if driver is None or conn.dialect.driver != "psycopg" or driver.pgconn.pipeline_status == 0:
        return [tuple(row) for row in conn.execute(statement)]
    compiled = statement.compile(dialect=conn.dialect)
    params = compiled.construct_params()
    for name, bind in compiled.binds.items():
        processor = bind.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        if processor is not None and name in params:
            params[name] = processor(params[name])
    try:
        with driver.cursor() as cursor:
            cursor.execute(compiled.string, params)
            return cursor.fetchall()
    except conn.dialect.loaded_dbapi.Error as error:
        raise DBAPIError.instance(compiled.string, params, error, conn.dialect.loaded_dbapi.Error,
                                  dialect=conn.dialect) from error
