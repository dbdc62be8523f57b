"""References between streams that point at nothing: reported by a check, never filled with placeholder rows.

A work order naming an asset the asset table lacks, a group membership naming a group that was never read: the row
stays as the API sent it, and the check names it, so a person can see whether the source or the sync is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, and_, select

from ic3_pipeline.sync.streams import Reference, StreamSpec
from ic3_pipeline.warehouse.stream_tables import DELETED_AT, POSITION, column_name, existing_table


@dataclass(frozen=True)
class Dangling:
    table: str
    row: str  # the referring row's key, e.g. "siteid=BEDFORD, wonum=1001"
    reference: str  # what it names, e.g. "assetnum=9999"
    missing_in: str  # the table that lacks it


def dangling_references(engine: Engine, source: str, stream: StreamSpec, target: StreamSpec,
                        reference: Reference, limit: int = 50) -> tuple[int, list[Dangling]]:
    """(how many rows of ``stream`` name a row of ``target`` that does not exist, the first ``limit`` of them).
    A table or column that does not exist yet (never synced, attribute never sent) has no dangling references."""
    parent_name = stream.table_name(source)
    name = f"{parent_name}__{reference.child}" if reference.child else parent_name
    with engine.connect() as conn:
        table, referenced = existing_table(conn, name), existing_table(conn, target.table_name(source))
        if table is None:
            return 0, []
        columns = [column_name(c) for c in reference.columns]
        targets = [column_name(c) for c in reference.to_columns]
        if any(c not in table.c for c in columns):
            return 0, []
        key = [column_name(c) for c in stream.key] + ([POSITION] if reference.child else [])
        conditions = [table.c[c].is_not(None) for c in columns]
        if not reference.child:
            conditions.append(table.c[DELETED_AT].is_(None))
        if referenced is None or any(c not in referenced.c for c in targets):
            join = None
        else:
            join = and_(*(referenced.c[t] == table.c[c] for c, t in zip(columns, targets)),
                        referenced.c[DELETED_AT].is_(None))
        query = select(*(table.c[c] for c in key), *(table.c[c] for c in columns)).where(*conditions)
        if join is not None:
            query = query.select_from(table.outerjoin(referenced, join)).where(referenced.c[targets[0]].is_(None))
        rows = conn.execute(query.order_by(*(table.c[c] for c in key))).all()
    found = [
        Dangling(
            table=name,
            row=", ".join(f"{k}={v}" for k, v in zip(key, row[: len(key)])),
            reference=", ".join(f"{c}={v}" for c, v in zip(columns, row[len(key):])),
            missing_in=target.table_name(source),
        )
        for row in rows[:limit]
    ]
    return len(rows), found
