"""Re-parsing: rebuild a source's tables from the answers its connector landed, without calling the API.

After a parser fix, or a migration that adds a typed column, every synced asset's rows can be derived again from the
body the API sent (the connector keeps it: :class:`~ic3_pipeline.sync.connector.LandedResponses`). The engine reads
the landed bodies in pages (memory stays flat), has the connector parse each with today's parser, and writes them as
the sync does — a group of assets per transaction, one statement per table, a savepoint per asset only when the
database refuses one — so a re-parse runs at the write path's speed and each asset is wholly old or wholly new. The
landed body itself is not written again (it has not changed): only its row's version moves, one statement a group.

With ``workers`` > 1 the landed key space is split into that many disjoint ranges, each re-parsed by a process of
its own (:mod:`ic3_pipeline.sync.reparse_workers`): parsing is most of the CPU, so the processes parse side by side
while SQLite serialises their writes (PostgreSQL writes them in parallel).

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
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, Update, and_, bindparam, select, update

from ic3_pipeline.sync.attempts import ASSET_ERRORS, WRITE_LOCK_OPTION, update_master_rows
from ic3_pipeline.sync.batch import MAX_GROUP
from ic3_pipeline.sync.connector import EntityConnector, FetchOutcome, LandedResponses, RecordToWrite, WriteKeys
from ic3_pipeline.warehouse import database_error_line, tables
from ic3_pipeline.warehouse.bulk import driver_statement, pipelined
from ic3_pipeline.warehouse.times import utc_now

asset = tables.asset_master
location = tables.location_master
state = tables.sync_state

# Landed bodies read per query (keyset pages: memory stays flat at any register size).
PAGE = 1_000
# Assets per transaction, the sync's group: a crash or a refused commit leaves at most this many to re-parse again.
GROUP = MAX_GROUP
# Assets a worker process must have to be worth starting (spawning one and importing the project costs ~1 s).
MIN_PER_WORKER = 5_000
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
    workers: int = 1  # processes that re-parsed (each its own range of the landed keys)

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
Bounds = tuple[str | None, str | None]  # a range of landed keys: after the first (None: from the start), up to and
# including the second (None: to the end)
EVERYTHING: Bounds = (None, None)


def reparse_assets(
    engine: Engine,
    connector: EntityConnector,
    source: str,
    scope: Sequence[str] | None,
    *,
    asset_ids: Sequence[str] | None = None,
    progress: Progress | None = None,
    progress_every_s: float = 10.0,
    workers: int = 1,
    worker_setup: Callable[[], None] | None = None,
) -> ReparseReport:
    """Rebuild ``source``'s rows for every asset in ``scope`` (partition keys; ``None``: all) whose landed answer is
    the one its state records.

    ``workers`` > 1: that many processes (fewer when there are fewer than :data:`MIN_PER_WORKER` assets each), each
    on its own range of assets; ``worker_setup`` (picklable) runs first in each — they are spawned, so they start
    from the code as installed, not from what this process changed at run time. One process: this one parses while
    a writer thread writes the previous group."""
    if connector.landed is None:
        raise NotReparsable(f"the {connector.display_name} connector keeps no landed answers: sync again instead")
    if workers > 1:
        keys = landed_keys(engine, connector, source, scope, asset_ids)
        ranges = split_keys(keys, min(workers, len(keys) // MIN_PER_WORKER))
        if len(ranges) > 1:
            from ic3_pipeline.sync.reparse_workers import reparse_in_processes

            return reparse_in_processes(engine, connector, source, scope, asset_ids, ranges, progress=progress,
                                        progress_every_s=progress_every_s, worker_setup=worker_setup)
    return reparse_range(engine, connector, source, scope, asset_ids, EVERYTHING, progress=progress,
                         progress_every_s=progress_every_s)


def reparse_range(
    engine: Engine,
    connector: EntityConnector,
    source: str,
    scope: Sequence[str] | None,
    asset_ids: Sequence[str] | None,
    bounds: Bounds,
    *,
    progress: Progress | None = None,
    progress_every_s: float = 10.0,
    stop: Callable[[], bool] | None = None,
    group_size: int | None = None,
    write_turn: AbstractContextManager | None = None,
) -> ReparseReport:
    """Re-parse the assets whose landed key is within ``bounds``: parse in this thread while a writer thread writes
    the previous group (of ``group_size`` assets, default :data:`GROUP`). ``stop`` (asked between groups) ends it
    early, every committed group kept. ``write_turn`` (a lock shared by worker processes on SQLite) is held around
    each group's transaction: a writer waiting for it wakes the moment it is free, where SQLite's busy handler
    sleeps in steps of up to 100 ms."""
    report = ReparseReport()
    started = last_progress = time.monotonic()
    pending: Future | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ic3-reparse-writer") as pool:
        for group in _groups(_parsed(engine, connector, source, scope, asset_ids, bounds, report),
                             group_size or GROUP):
            if pending is not None:  # at most one group waiting: memory stays flat, and a database fault stops here
                _count(report, *pending.result())
            if stop is not None and stop():
                pending = None
                break
            pending = pool.submit(_store_group, engine, connector, source, group, write_turn or nullcontext())
            if progress and time.monotonic() - last_progress >= progress_every_s:
                report.elapsed_s, last_progress = time.monotonic() - started, time.monotonic()
                progress(report)
        if pending is not None:
            _count(report, *pending.result())
    report.elapsed_s = time.monotonic() - started
    return report


def _landed_query(connector: EntityConnector, source: str, scope: Sequence[str] | None,
                  asset_ids: Sequence[str] | None, *columns):
    """``columns`` of the landed answers of ``source``'s synced assets in scope (the ones their state records)."""
    landed = connector.landed
    query = (
        select(*columns)
        .select_from(landed.table)
        .join(asset, asset.c.cmms_asset_id == landed.key)
        .join(location, location.c.location_id == asset.c.location_id)
        .join(state, and_(state.c.asset_id == asset.c.asset_id, state.c.source == source))
        .where(state.c.sync_version > 0, landed.table.c.sync_version == state.c.sync_version)
        .order_by(landed.key)
    )
    if scope is not None:
        query = query.where(location.c.partition_key.in_(list(scope)))
    if asset_ids is not None:
        query = query.where(landed.key.in_(list(asset_ids)))
    return query


def landed_keys(engine: Engine, connector: EntityConnector, source: str, scope: Sequence[str] | None,
                asset_ids: Sequence[str] | None) -> list[str]:
    """The keys of every landed answer in scope, in order (one column: ~0.3 s for 300,000 assets)."""
    with engine.connect() as conn:
        return list(conn.execute(_landed_query(connector, source, scope, asset_ids, connector.landed.key)).scalars())


def split_keys(keys: Sequence[str], parts: int) -> list[Bounds]:
    """``parts`` disjoint ranges covering every key (the first and last open-ended: an asset landed since is not
    missed), each holding about as many of ``keys``."""
    parts = max(1, min(parts, len(keys)))
    cuts = [keys[len(keys) * i // parts - 1] for i in range(1, parts)]
    return list(zip([None, *cuts], [*cuts, None], strict=True))


def _landed_pages(engine: Engine, connector: EntityConnector, source: str, scope: Sequence[str] | None,
                  asset_ids: Sequence[str] | None, bounds: Bounds) -> Iterator[list]:
    """The landed answers of ``source``'s synced assets in scope and ``bounds``, in key order, a page at a time."""
    landed = connector.landed
    query = _landed_query(
        connector, source, scope, asset_ids,
        landed.key, asset.c.asset_id, location.c.partition_key, state.c.sync_version,
        landed.table.c[landed.body_column], landed.table.c[landed.status_column],
        landed.table.c[landed.fetched_at_column],
    ).limit(PAGE)
    last, upper = bounds
    if upper is not None:
        query = query.where(landed.key <= upper)
    while True:
        with engine.connect() as conn:
            page = conn.execute(query if last is None else query.where(landed.key > last)).all()
        if not page:
            return
        last = page[-1][0]
        yield page


def _parsed(engine: Engine, connector: EntityConnector, source: str, scope: Sequence[str] | None,
            asset_ids: Sequence[str] | None, bounds: Bounds, report: ReparseReport) -> Iterator[_Landed]:
    """Each landed answer parsed by today's parser; those it refuses are reported and left as they are."""
    for page in _landed_pages(engine, connector, source, scope, asset_ids, bounds):
        for cmms_id, asset_id, partition_key, version, payload, http_status, fetched_at in page:
            report.due += 1
            body = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
            outcome = connector.parse_landed(cmms_id, body, http_status)
            if outcome.status != "success":
                report.refuse(cmms_id, outcome.error or "the parser refused the landed answer")
                continue
            yield _Landed(cmms_id, asset_id, partition_key, version, fetched_at, outcome)


def _groups(items: Iterator[_Landed], size: int) -> Iterator[list[_Landed]]:
    group: list[_Landed] = []
    for item in items:
        group.append(item)
        if len(group) >= size:
            yield group
            group = []
    if group:
        yield group


def _store_group(engine: Engine, connector: EntityConnector, source: str, group: list[_Landed],
                 turn: AbstractContextManager) -> tuple[list[_Landed], list[tuple[str, str]], int]:
    """Write ``group`` in one transaction: all together under one savepoint, or — when the database refuses one
    asset's rows — asset by asset, each under its own savepoint, the refused ones left as they were.

    Returns what was written, what was refused (and why) and how many were skipped (synced anew meanwhile); the
    caller counts them (only this thread writes, only the caller's thread counts). A fault at the commit raises:
    the whole group stays old."""
    refused: list[tuple[str, str]] = []
    with turn, engine.connect() as conn:
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
    written, versions, master_rows, items, landed = [], [], [], [], []
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
                                   keys, already_landed=True))
        landed.append({"row_key": item.cmms_asset_id, "row_version": item.version, "sync_version": version})
        written.append(item)
    if not written:
        return []
    with pipelined(conn):  # as the sync's groups: PostgreSQL runs each statement while the next is sent
        driver_statement(_STATE_VERSION, conn.dialect, ("sync_version", "updated_at")).execute(conn, versions)
        driver_statement(_landed_version(connector.landed), conn.dialect, ("sync_version",)).execute(conn, landed)
        update_master_rows(conn, master_rows)
        connector.write(conn, items)
    return written


_LANDED_VERSION: dict[int, Update] = {}


def _landed_version(landed: LandedResponses) -> Update:
    """Move a landed row to the asset's new version, its body left byte for byte (built once per table, so the
    compiled statement is reused)."""
    statement = _LANDED_VERSION.get(id(landed.table))
    if statement is None:
        statement = _LANDED_VERSION[id(landed.table)] = (
            update(landed.table)
            .where(landed.key == bindparam("row_key"), landed.table.c.sync_version == bindparam("row_version"))
        )
    return statement

