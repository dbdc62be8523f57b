"""A full logical dump of the target database, to assert that something changed nothing."""

from __future__ import annotations

from sqlalchemy import Engine, select

from ic3_pipeline.warehouse import metadata


def dump(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of every table, sorted: equal dumps mean equal databases (for our tables)."""
    with engine.connect() as conn:
        return {
            table.name: sorted((tuple(row) for row in conn.execute(select(table))), key=repr)
            for table in metadata.sorted_tables
        }
