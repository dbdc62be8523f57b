"""Re-parsing: rebuild a source's tables from the answers its connector landed, without calling the API.

After a parser fix, or a migration that adds a typed column, every synced asset's rows can be derived again from the
body the API sent (the connector keeps it: :class:`~ic3_pipeline.sync.connector.LandedResponses`). The engine reads
the landed bodies in pages (memory stays flat), has the connector parse each with today's parser, and writes them as
the sync does — a group of assets per transaction, one statement per table, a savepoint per asset only when the
database refuses one — so a re-parse runs at the write path's speed and each asset is wholly old or wholly new.

What a re-parse changes of an asset: its rows in the connector's tables (re-derived, stamped with a new version),
the ``ic3_asset_master`` columns the connector owns, and the state's version. What it keeps: the times (the rows
keep the time the body was received; ``last_synced_at`` and ``last_attempt_at`` are unchanged, so nothing becomes
due or fresh), the status, and the sync log (a re-parse is not an attempt). An asset whose body today's parser
refuses, or whose rows the database refuses, is left as it was and reported; one synced again while the re-parse ran
(its landed body is newer than the one read) is skipped, since that sync already used today's parser.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, and_, bindparam, select, update

from ic3_pipeline.sync.attempts import ASSET_ERRORS, WRITE_LOCK_OPTION, update_master_rows
from ic3_pipeline.sync.connector import EntityConnector, FetchOutcome, RecordToWrite, WriteKeys
from ic3_pipeline.warehouse import database_error_line, tables
from ic3_pipeline.warehouse.bulk import driver_statement
from ic3_pipeline.warehouse.times import utc_now

asset = tables.asset_master
location = tables.location_master
state = tables.sync_state

# Landed bodies read per query (keyset pages: memory stays flat at any register size).
PAGE = 1_000
# Assets per transaction: a crash or a refused commit leaves at most this many to re-parse again.
GROUP = 250
# Refusals kept in the report (all are counted).
MAX_LISTED = 50
_STATE_VERSION = update(state).where(state.c.source == bindparam("row_source"),
                                      state.c.asset_id == bindparam("row_asset_id"))


class NotReparsable(ValueError):
    """The connector keeps no landed answers, so its tables cannot be rebuilt without the API."""


@dataclass
class ReparseReport:
    """What a re-parse did: per asset rebuilt, refused (left as it was, with the reason) or skipped (synced anew)."""

    due: int = 0  # landed answers in scope
    rebuilt: int = 0
    refused: int = 0
    skipped: int = 0
    warnings: int = 0  # optional values today's parser stored as NULL
    refusals: list[tuple[str, str]] = field(default_factory=list)  # (asset id, why), the first MAX_LISTED
    rebuilt_by_partition: dict[str | None, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def per_s(self) -> float:
        return self.rebuilt / self.elapsed_s if self.elapsed_s else 0.0

    def refuse(self, asset_id: str, reason: str) -> None:
        self.refused += 1
        if len(self.refusals) < MAX_LISTED:
            self.refusals.append((asset_id, reason))


@dataclass(frozen=True)
class _Landed:
    """One landed answer as read, and who it belongs to."""

    cmms_asset_id: str
    asset_id: int
    partition_key: str | None
    version: int  # the state's version when read: the body is that version's
    fetched_at: datetime
    outcome: FetchOutcome


Progress = Callable[[ReparseReport], None]


def reparse_assets(
    engine: Engine,
    connector: EntityConnector,
    source: str,
    scope: Sequence[str] | None,
    *,
    asset_ids: Sequence[str] | None = None,
    progress: Progress | None = None,
    progress_every_s: float = 10.0,
) -> ReparseReport:
    """Rebuild ``source``'s rows for every asset in ``scope`` (partition keys; ``None``: all) whose landed answer is
    the one its state records; parse in this thread while a writer thread writes the previous group."""
    if connector.landed is None:
        raise NotReparsable(f"the {connector.display_name} connector keeps no landed answers: sync again instead")
    report = ReparseReport()
    started = last_progress = time.monotonic()
    pending: Future | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ic3-reparse-writer") as pool:
        for group in _groups(_parsed(engine, connector, source, scope, asset_ids, report)):
            if pending is not None:  # at most one group waiting: memory stays flat, and a database fault stops here
                _count(report, *pending.result())
            pending = pool.submit(_store_group, engine, connector, source, group)
            if progress and time.monotonic() - last_progress >= progress_every_s:
                report.elapsed_s, last_progress = time.monotonic() - started, time.monotonic()
                progress(report)
        if pending is not None:
            _count(report, *pending.result())
    report.elapsed_s = time.monotonic() - started
    return report


def _landed_pages(engine: Engine, connector: EntityConnector, source: str, scope: Sequence[str] | None,
                  asset_ids: Sequence[str] | None) -> Iterator[list]:
    """The landed answers of ``source``'s synced assets in scope, in id order, a page at a time."""
    landed = connector.landed
    body = landed.table.c[landed.body_column]
    query = (
        select(landed.key, asset.c.asset_id, location.c.partition_key, state.c.sync_version, body,
               landed.table.c[landed.status_column], landed.table.c[landed.fetched_at_column])
        .join(asset, asset.c.cmms_asset_id == landed.key)
        .join(location, location.c.location_id == asset.c.location_id)
        .join(state, and_(state.c.asset_id == asset.c.asset_id, state.c.source == source))
        .where(state.c.sync_version > 0, landed.table.c.sync_version == state.c.sync_version)
        .order_by(landed.key)
        .limit(PAGE)
    )
    if scope is not None:
        query = query.where(location.c.partition_key.in_(list(scope)))
    if asset_ids is not None:
        query = query.where(landed.key.in_(list(asset_ids)))
    last = None
    while True:
        with engine.connect() as conn:
            page = conn.execute(query if last is None else query.where(landed.key > last)).all()
        if not page:
            return
        last = page[-1][0]
        yield page


def _parsed(engine: Engine, connector: EntityConnector, source: str, scope: Sequence[str] | None,
            asset_ids: Sequence[str] | None, report: ReparseReport) -> Iterator[_Landed]:
    """Each landed answer parsed by today's parser; those it refuses are reported and left as they are."""
    for page in _landed_pages(engine, connector, source, scope, asset_ids):
        for cmms_id, asset_id, partition_key, version, payload, http_status, fetched_at in page:
            report.due += 1
            body = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
            outcome = connector.parse_landed(cmms_id, body, http_status)
            if outcome.status != "success":
                report.refuse(cmms_id, outcome.error or "the parser refused the landed answer")
                continue
            yield _Landed(cmms_id, asset_id, partition_key, version, fetched_at, outcome)


def _groups(items: Iterator[_Landed]) -> Iterator[list[_Landed]]:
    group: list[_Landed] = []
    for item in items:
        group.append(item)
        if len(group) >= GROUP:
            yield group
            group = []
    if group:
        yield group


def _store_group(engine: Engine, connector: EntityConnector, source: str,
                 group: list[_Landed]) -> tuple[list[_Landed], list[tuple[str, str]], int]:
    """Write ``group`` in one transaction: all together under one savepoint, or — when the database refuses one
    asset's rows — asset by asset, each under its own savepoint, the refused ones left as they were.

    Returns what was written, what was refused (and why) and how many were skipped (synced anew meanwhile); the
    caller counts them (only this thread writes, only the caller's thread counts). A fault at the commit raises:
    the whole group stays old."""
    refused: list[tuple[str, str]] = []
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_LOCK_OPTION: True})
        with conn.begin():
            try:
                with conn.begin_nested():
                    written = _write(conn, connector, source, group)
            except ASSET_ERRORS:
                written = []
                for item in group:
                    try:
                        with conn.begin_nested():
                            written += _write(conn, connector, source, [item])
                    except ASSET_ERRORS as error:
                        refused.append((item.cmms_asset_id,
                                        f"the database refused this asset's rows: {database_error_line(error)}"))
    return written, refused, len(group) - len(written) - len(refused)


def _count(report: ReparseReport, written: list[_Landed], refused: list[tuple[str, str]], skipped: int) -> None:
    for asset_id, reason in refused:
        report.refuse(asset_id, reason)
    for item in written:
        report.rebuilt += 1
        report.warnings += len(item.outcome.warnings)
        report.rebuilt_by_partition[item.partition_key] = report.rebuilt_by_partition.get(item.partition_key, 0) + 1
    report.skipped += skipped


def _write(conn: Connection, connector: EntityConnector, source: str, group: Sequence[_Landed]) -> list[_Landed]:
    """The group's rows at each asset's next version; an asset whose version moved since it was read (synced
    anew meanwhile) is left to that sync. Returns the items written."""
    ids = [item.asset_id for item in group]
    locked = select(asset.c.asset_id, asset.c.sync_version).where(asset.c.asset_id.in_(ids))
    if conn.dialect.name == "postgresql":
        locked = locked.with_for_update()
    master_versions = dict(conn.execute(locked).all())
    state_versions = dict(conn.execute(
        select(state.c.asset_id, state.c.sync_version).where(state.c.source == source, state.c.asset_id.in_(ids))
    ).all())
    now = utc_now()
    written, versions, master_rows, items = [], [], [], []
    for item in group:
        if state_versions.get(item.asset_id) != item.version:
            continue
        version = (master_versions[item.asset_id] if connector.mirrors_asset_master else item.version) + 1
        versions.append({"row_source": source, "row_asset_id": item.asset_id, "sync_version": version,
                         "updated_at": now})
        master = dict(connector.asset_master_values(item.outcome.record))
        if connector.mirrors_asset_master:
            master["sync_version"] = version
        if master:
            master_rows.append({"row_asset_id": item.asset_id, **master, "updated_at": now})
        keys = WriteKeys(item.asset_id, item.cmms_asset_id, version, item.fetched_at, source)
        items.append(RecordToWrite(item.outcome.record, item.outcome.body or b"", item.outcome.http_status or 200,
                                   keys))
        written.append(item)
    if not written:
        return []
    driver_statement(_STATE_VERSION, conn.dialect, ("sync_version", "updated_at")).execute(conn, versions)
    update_master_rows(conn, master_rows)
    connector.write(conn, items)
    return written

