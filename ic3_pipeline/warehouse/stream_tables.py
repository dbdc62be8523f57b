"""Tables that grow with the API: one per collection stream and child array, created and widened by the sync.

A collection API (an object structure, a REST collection) sends whatever attributes its records have today; the
users' old scripts broke on every new one. Here a table starts with its key and bookkeeping columns, and an
attribute it lacks becomes a new nullable column the first time a record carries it (SQLite and PostgreSQL alike),
recorded once in ``cmms_schema_change``. The column's type comes from that first value; a later value that does not
fit it is never a crash: the column holds NULL and the value is kept, as sent, in the row's ``_type_errors`` (JSON),
which a check counts. Nested data no child table claims is kept as JSON.

Bookkeeping columns start with ``_``: ``_partition`` (the partition the row was read in), ``_synced_at``,
``_deleted_at`` (set by a full refresh that no longer saw the key; cleared when it comes back), ``_href`` (the
record's own link) and ``_type_errors``. Child tables carry the parent's key columns and ``_position``.

Everything here runs inside the caller's transaction: a page's rows, its children, new columns and their log entries
commit or roll back together.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    func,
    inspect,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.schema import CreateColumn
from sqlalchemy.sql import quoted_name

from ic3_pipeline.warehouse import tables
from ic3_pipeline.warehouse.times import utc_now
from ic3_pipeline.warehouse.upsert import chunked, upsert_rows

PARTITION, SYNCED_AT, DELETED_AT, HREF, TYPE_ERRORS, POSITION = (
    "_partition", "_synced_at", "_deleted_at", "_href", "_type_errors", "_position")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$")
_NOT_A_NAME = re.compile(r"[^a-z0-9_]+")
MAX_NAME = 63  # PostgreSQL's identifier limit
_CHILD_BATCH = 500


@lru_cache(maxsize=8192)  # the same few hundred attribute names, on every row of every page
def column_name(attribute: str) -> str:
    """An attribute's column: lower case, anything but letters, digits and ``_`` folded to ``_``; ``href`` → ``_href``."""
    name = _NOT_A_NAME.sub("_", attribute.strip().lower()).strip("_") or "_"
    if name == "href":
        return HREF
    if attribute.startswith("_") and not name.startswith("_"):
        name = "_" + name  # Maximo's _rowstamp stays _rowstamp
    return name[:MAX_NAME]


def type_for(value: Any):
    """The column type a first value implies (None: a null says nothing)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return Boolean()
    if isinstance(value, int):
        return BigInteger()
    if isinstance(value, float):
        return Float(53)
    if isinstance(value, (dict, list)):
        return JSON()
    if isinstance(value, str) and _ISO_DATETIME.match(value):
        return DateTime(timezone=True)
    return Text()


def type_label(column_type) -> str:
    """How ``cmms_schema_change`` and the metadata name a type."""
    kind = _kind(column_type)
    return {"bool": "boolean", "int": "bigint", "float": "float", "datetime": "timestamp", "json": "json"}.get(kind, "text")


class ValueDoesNotFit(ValueError):
    pass


def parse_datetime(value: str) -> datetime:
    """An ISO 8601 instant with an offset (or ``Z``), as UTC; a value without an offset is taken as UTC."""
    text = value.strip().replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    parsed = datetime.fromisoformat(text)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def fit(kind: str, value: Any) -> Any:
    """``value`` as a column of ``kind`` stores it, or :class:`ValueDoesNotFit` (numbers sent as strings fit)."""
    if value is None or kind in ("json", "other"):
        return value
    if kind == "text":
        if isinstance(value, (dict, list)):
            return json.dumps(value, sort_keys=True)
        return value if isinstance(value, str) else json.dumps(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
        raise ValueDoesNotFit
    if kind == "int":
        if isinstance(value, bool):
            raise ValueDoesNotFit
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            return int(value)
        raise ValueDoesNotFit
    if kind == "float":
        if isinstance(value, bool):
            raise ValueDoesNotFit
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                raise ValueDoesNotFit from None
        raise ValueDoesNotFit
    if kind == "datetime":
        if isinstance(value, str):
            try:
                return parse_datetime(value)
            except ValueError:
                raise ValueDoesNotFit from None
        raise ValueDoesNotFit
    return value


def _kind(column_type) -> str:
    if isinstance(column_type, Boolean):
        return "bool"
    if isinstance(column_type, (BigInteger, Integer)):
        return "int"
    if isinstance(column_type, Float):
        return "float"
    if isinstance(column_type, DateTime):
        return "datetime"
    if isinstance(column_type, JSON):
        return "json"
    if isinstance(column_type, String):  # TEXT, VARCHAR (Text is a String)
        return "text"
    return "other"  # a type this module never creates (a column added by hand): values pass as they are


@dataclass(frozen=True)
class TableLayout:
    """What a stream table is keyed by. ``parent_key``: the parent's key columns, for a child table (keyed by them
    plus ``_position``)."""

    name: str
    key: tuple[str, ...]
    parent_key: tuple[str, ...] = ()

    @property
    def is_child(self) -> bool:
        return bool(self.parent_key)

    @property
    def unique_columns(self) -> tuple[str, ...]:
        return (*self.parent_key, POSITION) if self.is_child else self.key


@dataclass
class WriteFigures:
    """What writing some rows changed, for the run's metadata and ``cmms_stream_log``."""

    rows: int = 0
    child_rows: int = 0
    kept_as_text: int = 0
    new_columns: list[str] = field(default_factory=list)  # "table.column (type)"

    def add(self, other: WriteFigures) -> None:
        self.rows += other.rows
        self.child_rows += other.child_rows
        self.kept_as_text += other.kept_as_text
        self.new_columns += other.new_columns


class StreamTable:
    """One stream (or child) table as this process knows it; widened on demand inside the caller's transaction.

    The known columns are a cache of the database's: after a rolled-back transaction (which takes its new columns
    with it) call :meth:`forget` so the next write looks again.
    """

    def __init__(self, layout: TableLayout, *, source: str, run_id: str | None = None):
        self.layout = layout
        self.source = source
        self.run_id = run_id
        self._table: Table | None = None

    @property
    def name(self) -> str:
        return self.layout.name

    def forget(self) -> None:
        self._table = None

    def table(self, conn: Connection) -> Table:
        """The table, created on first use (key and bookkeeping columns only)."""
        if self._table is None:
            if not inspect(conn).has_table(self.name):
                self._create(conn)
            self._table = Table(self.name, MetaData(), autoload_with=conn)
            for column in self._table.columns:
                if isinstance(column.type, JSON):
                    column.type.none_as_null = True  # None is SQL NULL (a row without type errors), not JSON 'null'
        return self._table

    def _create(self, conn: Connection) -> None:
        layout = self.layout
        columns: list[Column] = [Column(name, Text, nullable=False) for name in (*layout.parent_key, *(
            () if layout.is_child else layout.key))]
        if layout.is_child:
            columns.append(Column(POSITION, Integer, nullable=False))
        else:
            columns += [Column(PARTITION, String(255)), Column(HREF, Text), Column(DELETED_AT, DateTime(timezone=True))]
        columns += [Column(SYNCED_AT, DateTime(timezone=True), nullable=False), Column(TYPE_ERRORS, JSON)]
        table = Table(self.name, MetaData(), *columns,
                      UniqueConstraint(*layout.unique_columns, name=f"uq_{self.name}"[:MAX_NAME]))
        table.create(conn, checkfirst=True)

    def prepare(self, conn: Connection, records: Sequence[Mapping[str, Any]]) -> tuple[list[dict], WriteFigures]:
        """Rows for ``records`` (column name → value) with every attribute the table lacks added as a column, and
        values that do not fit their column moved to ``_type_errors``."""
        figures = WriteFigures()
        table = self.table(conn)
        renamed = [{column_name(k): v for k, v in record.items()} for record in records]
        self._widen(conn, table, renamed, figures)
        table = self.table(conn)
        kinds = {column.name: _kind(column.type) for column in table.columns}
        rows = []
        for record in renamed:
            row: dict[str, Any] = {}
            errors: dict[str, Any] = {}
            for name, value in record.items():
                if name in (SYNCED_AT, DELETED_AT, PARTITION, TYPE_ERRORS, POSITION):
                    row[name] = value
                    continue
                try:
                    row[name] = fit(kinds.get(name, "text"), value)
                except ValueDoesNotFit:
                    if kinds.get(name) == "int" and isinstance(value, float):
                        self._widen_to_float(conn, name, figures)  # 12 then 12.5: a number column, not an error
                        kinds[name] = "float"
                        row[name] = value
                        continue
                    row[name] = None
                    errors[name] = value
            row[TYPE_ERRORS] = errors or None
            figures.kept_as_text += len(errors)
            rows.append(row)
        return rows, figures

    def _widen(self, conn: Connection, table: Table, records: list[dict], figures: WriteFigures) -> None:
        """Add a nullable column for each attribute the table lacks, typed by its first non-null value."""
        missing: dict[str, Any] = {}
        for record in records:
            for name, value in record.items():
                if name not in table.c and (name not in missing or missing[name] is None):
                    missing[name] = value
        if not missing:
            return
        for name, value in missing.items():
            column_type = type_for(value) or Text()
            column = Column(quoted_name(name, quote=None), column_type, nullable=True)
            ddl = CreateColumn(column).compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE {conn.dialect.identifier_preparer.quote(self.name)} ADD COLUMN {ddl}")
            label = type_label(column_type)
            conn.execute(insert(tables.schema_change).values(
                source=self.source, table_name=self.name, column_name=name, column_type=label,
                detected_at=utc_now(), run_id=self.run_id))
            figures.new_columns.append(f"{self.name}.{name} ({label})")
        self._table = None  # reflect again, with the new columns

    def _widen_to_float(self, conn: Connection, name: str, figures: WriteFigures) -> None:
        """An integer column that meets a fraction becomes double precision (SQLite's columns already hold both)."""
        if conn.dialect.name == "postgresql":
            quote = conn.dialect.identifier_preparer.quote
            conn.exec_driver_sql(f"ALTER TABLE {quote(self.name)} ALTER COLUMN {quote(name)} TYPE DOUBLE PRECISION")
            self._table = None
        log = tables.schema_change
        logged = conn.execute(select(log.c.column_type).where(log.c.table_name == self.name,
                                                             log.c.column_name == name)).scalar()
        if logged == "float":
            return
        upsert_rows(conn, log, [{"source": self.source, "table_name": self.name, "column_name": name,
                                 "column_type": "float", "detected_at": utc_now(), "run_id": self.run_id}],
                    ("table_name", "column_name"), update_columns=("column_type", "detected_at", "run_id"))
        figures.new_columns.append(f"{self.name}.{name} (bigint -> float)")

    def upsert(self, conn: Connection, rows: list[dict]) -> int:
        """Insert or update ``rows`` by the table's key; every row carries every column (absent = NULL)."""
        if not rows:
            return 0
        table = self.table(conn)
        names = sorted({name for row in rows for name in row})
        full = [{name: row.get(name) for name in names} for row in rows]
        return upsert_rows(conn, table, full, self.layout.unique_columns)

    def replace_children(self, conn: Connection, parent_keys: Sequence[tuple], rows: list[dict]) -> int:
        """Delete the children of ``parent_keys`` and insert ``rows``: a child array is replaced with its parent."""
        table = self.table(conn)
        key_columns = [table.c[name] for name in self.layout.parent_key]
        for batch in chunked(list(dict.fromkeys(parent_keys)), _CHILD_BATCH):
            conn.execute(table.delete().where(tuple_(*key_columns).in_(batch)))
        if not rows:
            return 0
        names = sorted({name for row in rows for name in row})
        for batch in chunked(rows, _CHILD_BATCH):
            conn.execute(insert(table), [{name: row.get(name) for name in names} for row in batch])
        return len(rows)


def mark_deleted(conn: Connection, table: Table, partition: str, seen_since: datetime, now: datetime) -> int:
    """Soft-delete the partition's rows a complete full read did not see (``_synced_at`` before it started)."""
    result = conn.execute(
        update(table)
        .where(and_(table.c[PARTITION] == partition, table.c[SYNCED_AT] < seen_since, table.c[DELETED_AT].is_(None)))
        .values({DELETED_AT: now})
    )
    return result.rowcount or 0


def rows_seen_since(conn: Connection, table: Table, partition: str, since: datetime) -> int:
    """How many distinct keys of the partition were written since ``since`` (the keys one pass received)."""
    return conn.execute(
        select(func.count()).select_from(table).where(table.c[PARTITION] == partition, table.c[SYNCED_AT] >= since)
    ).scalar_one()


def existing_table(conn: Connection, name: str) -> Table | None:
    """The table as the database has it now (None when no sync has created it yet)."""
    if not inspect(conn).has_table(name):
        return None
    return Table(name, MetaData(), autoload_with=conn)

