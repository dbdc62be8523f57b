"""Run-time changes a re-parse's worker processes apply first (``reparse_assets(worker_setup=…)``).

The workers are spawned: they import the code as installed, so a test's ``monkeypatch`` in its own process does not
reach them. Each function here makes its change for good — in a worker process, which ends with the re-parse.
"""

from __future__ import annotations

from ic3_pipeline.connectors import get_connector
from ic3_pipeline.connectors.innomaint import records, values


def in_minutes(value: object) -> float | None:
    hours = values.duration_hours(value)
    return None if hours is None else round(hours * 60, 6)


def minutes_parser() -> None:
    """The parser change of ``test_reparse``: MTTR stored in minutes, criticality upper-cased."""
    records.PERFORMANCE_FIELDS["mttr"] = ("mttr", "mttr_hours", in_minutes)
    records.MASTER_FIELDS["criticality"] = ("criticality", lambda value: (values.text(value) or "").upper() or None)


def strict_total_parser() -> None:
    """Today's parser refuses every body's ``total_ticket``."""

    def strict_total(value):
        raise values.BadValue(f"{value!r} is not accepted any more")

    records.PERFORMANCE_FIELDS["total_ticket"] = ("total_ticket", None, strict_total)


def rows_refused_for(victim: str) -> None:
    """``victim``'s re-parsed rows break a NOT NULL constraint: the database refuses that asset alone."""
    parse = records.parse_response

    def refused_for_victim(body, requested_id):
        record = parse(body, requested_id)
        if requested_id == victim:
            record.master["cmms_asset_id"] = None
        return record

    records.parse_response = refused_for_victim


def database_fault_at(victim: str) -> None:
    """The database fails the transaction that writes ``victim`` — not an asset's fault (a function it lacks, as a
    lost connection or a full disk would fail it), so the whole re-parse stops."""
    connector = get_connector("innomaint")
    write = connector.write

    def failing_write(conn, items):
        write(conn, items)
        if any(item.keys.cmms_asset_id == victim for item in items):
            conn.exec_driver_sql("SELECT ic3_no_such_function()")

    connector.write = failing_write


def process_dies_at(victim: str) -> None:
    """The worker process writing ``victim`` dies mid-transaction (killed, out of memory): no exception, no commit."""
    import os

    connector = get_connector("innomaint")
    write = connector.write

    def dying_write(conn, items):
        write(conn, items)
        if any(item.keys.cmms_asset_id == victim for item in items):
            os._exit(137)

    connector.write = dying_write
