"""Writing a page's unified rows, inside the transaction that writes the page's raw rows.

For each record of the page the stream's :class:`~ic3_pipeline.sync.mapping.RecordMapping` gives one row or the
fields it failed on. The page then *replaces* what the unified table and ``cmms_mapping_error`` held for those
records: a record that maps now has its row and no errors; one that fails has its errors and no row (an earlier,
now outdated row of it is removed: never a stale or half row). Lookups into the masters are resolved for the whole
page with one query per rule. Soft deletes follow the raw table's: the rows of a partition a complete full read did
not see (written before it started) are marked ``_deleted_at`` in the same transaction as the raw rows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select, update

from ic3_pipeline.sync.mapping import SOURCE_ID, FieldFailure, MappedRecord, RecordMapping, master_tables
from ic3_pipeline.warehouse.unified_tables import UNIFIED_TABLES, mapping_error
from ic3_pipeline.warehouse.upsert import chunked, upsert_rows

log = logging.getLogger(__name__)
_BATCH = 500
_VALUE_TEXT = 2000  # characters of a failed value kept in cmms_mapping_error


@dataclass
class UnifiedFigures:
    rows: int = 0  # unified rows written
    failed: int = 0  # records left out (their fields in cmms_mapping_error)


class UnifiedWriter:
    """One stream's unified rows in one partition, written page by page in the caller's transactions."""

    def __init__(self, mapping: RecordMapping, *, source: str, stream: str, partition: str, run_id: str | None):
        self.mapping, self.source, self.stream, self.partition, self.run_id = mapping, source, stream, partition, run_id
        self.table = UNIFIED_TABLES[mapping.table]
        self.figures = UnifiedFigures()

    def write(self, conn: Connection, records: Sequence[tuple[tuple[str, ...], Mapping[str, Any]]],
              now: datetime) -> UnifiedFigures:
        """Map ``records`` ((raw key, record) pairs) and replace their unified rows and mapping errors."""
        figures = UnifiedFigures()
        if not records:
            return figures
        mapped = [("/".join(key), self.mapping.map_record(record)) for key, record in records]
        resolved = self._resolve_lookups(conn, [record for _, record in mapped])
        rows, errors, owners = [], [], {}
        for index, (record_key, record) in enumerate(mapped):
            failures = list(record.failures)
            if not failures and record.source_id in owners and owners[record.source_id] != record_key:
                failures.append(FieldFailure(SOURCE_ID, record.source_id, "unique", (
                    f"source_id {record.source_id!r} is also the record {owners[record.source_id]!r} of this page; "
                    "the first one is kept")))
            if failures:
                errors += [self._error_row(record_key, record.source_id, failure, now) for failure in failures]
                continue
            owners[record.source_id] = record_key
            row = {"source": self.source, "source_id": record.source_id, **record.row}
            for name, (_, coerce) in self.mapping.lookups.items():
                row[name] = coerce(resolved[name][index])
            row.update({"_stream": self.stream, "_record_key": record_key, "_partition": self.partition,
                        "_synced_at": now, "_deleted_at": None})
            rows.append(row)
        keys = list(dict.fromkeys(record_key for record_key, _ in mapped))
        table = self.table
        for batch in chunked(keys, _BATCH):
            conn.execute(delete(table).where(table.c.source == self.source, table.c._stream == self.stream,
                                             table.c._record_key.in_(batch)))
            conn.execute(delete(mapping_error).where(mapping_error.c.source == self.source,
                                                     mapping_error.c.stream == self.stream,
                                                     mapping_error.c.record_key.in_(batch)))
        if rows:
            upsert_rows(conn, table, rows, ("source", "source_id"))
        if errors:
            conn.execute(insert(mapping_error), errors)
        figures.rows, figures.failed = len(rows), len({error["record_key"] for error in errors})
        return figures

    def commit(self, figures: UnifiedFigures) -> None:
        """Count a page's figures once its transaction committed."""
        self.figures.rows += figures.rows
        self.figures.failed += figures.failed

    def mark_deleted(self, conn: Connection, seen_since: datetime, now: datetime) -> int:
        """Mark the partition's rows a complete full read did not see, as the raw table's; and forget the mapping
        errors of the records it did not see (every record it saw rewrote its own, so older ones are of records
        deleted in the source)."""
        table = self.table
        result = conn.execute(
            update(table)
            .where(and_(table.c.source == self.source, table.c._stream == self.stream,
                        table.c._partition == self.partition, table.c._synced_at < seen_since,
                        table.c._deleted_at.is_(None)))
            .values(_deleted_at=now)
        )
        errors = mapping_error.c
        conn.execute(delete(mapping_error).where(errors.source == self.source, errors.stream == self.stream,
                                                 errors.partition_key == self.partition,
                                                 errors.recorded_at < seen_since))
        return result.rowcount or 0

    def _resolve_lookups(self, conn: Connection, records: list[MappedRecord]) -> dict[str, list[Any]]:
        """Per lookup column, the master id of each record (None: no rule found exactly one master row)."""
        resolved: dict[str, list[Any]] = {}
        masters = master_tables() if self.mapping.lookups else {}
        for name, (lookup, _) in self.mapping.lookups.items():
            master = masters[lookup.master]
            key_column = master.c[lookup.key_column]
            found: list[Any] = [None] * len(records)
            for rule_index, (column_name, _) in enumerate(lookup.rules):
                wanted = {record.lookups[name].values[rule_index] for index, record in enumerate(records)
                          if found[index] is None and not record.failures}
                wanted.discard(None)
                if not wanted:
                    continue
                column = master.c[column_name]
                compared = func.lower(func.trim(column)) if lookup.ignore_case else func.trim(column)
                ids: dict[str, set] = {}
                for batch in chunked(sorted(wanted), _BATCH):
                    for value, key in conn.execute(select(compared, key_column).where(compared.in_(batch))):
                        ids.setdefault(value, set()).add(key)
                for index, record in enumerate(records):
                    if found[index] is None and not record.failures:
                        matches = ids.get(record.lookups[name].values[rule_index])
                        if matches and len(matches) == 1:  # several master rows: ambiguous, try the next rule
                            found[index] = next(iter(matches))
            resolved[name] = found
        return resolved

    def _error_row(self, record_key: str, source_id: str | None, failure: FieldFailure, now: datetime) -> dict:
        value = failure.value
        if value is not None and not isinstance(value, str):
            value = json.dumps(value, default=str, ensure_ascii=False)
        return {"source": self.source, "stream": self.stream, "record_key": record_key,
                "partition_key": self.partition, "source_id": source_id,
                "unified_table": self.mapping.table, "field": failure.field,
                "value": value[:_VALUE_TEXT] if value is not None else None, "transform": failure.transform[:64],
                "message": failure.message, "run_id": self.run_id, "recorded_at": now}
