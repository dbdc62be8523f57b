"""Syncing one collection stream of one partition: page it, write each page in one transaction, move the
high-water mark with the rows, mark what a full read no longer sees as deleted.

How it stays exact:
- a page is one transaction (its rows, its children replaced, new columns, the high-water mark), so a crash leaves
  whole pages; rows are upserted by the stream's key, so a page read twice (a retry, the overlap, a record that moved
  while paging) never duplicates;
- the high-water mark only advances over a *contiguous* run of committed pages from the first (pages may finish out
  of order when several are in flight), so it is never ahead of what is committed;
- a read is complete when it received as many distinct keys as the API's total says; otherwise records moved while
  paging (a change or a delete shifts later records onto pages already read) and the partition is read again, up to
  ``max_passes`` times; only a complete full read marks vanished keys ``_deleted_at``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from ic3_pipeline.http_client import HttpCallFailed, ResilientClient
from ic3_pipeline.http_client.auth import AuthRefused
from ic3_pipeline.sync.change_values import change_instant
from ic3_pipeline.sync.stream_state import NO_PARTITION, advance_mark, mark_finished, mark_started, read_position
from ic3_pipeline.sync.streams import (
    CollectionApiError,
    CollectionConnector,
    CollectionSettings,
    Page,
    PageCall,
    PageRequest,
    StreamReport,
    StreamSpec,
    as_call,
)
from ic3_pipeline.sync.unified_writer import UnifiedWriter
from ic3_pipeline.warehouse import database_error_line
from ic3_pipeline.warehouse.stream_tables import (
    DELETED_AT,
    HREF,
    PARTITION,
    POSITION,
    SYNCED_AT,
    StreamTable,
    TableLayout,
    WriteFigures,
    column_name,
    mark_deleted,
    rows_seen_since,
)
from ic3_pipeline.warehouse.times import utc_now

log = logging.getLogger(__name__)
MAX_PAGES = 1_000_000  # a runaway next link (an API answering the same link for ever) stops here


class StreamFailed(RuntimeError):
    """The stream sync of a partition stopped (the API's error, the API down, the database); what was committed
    stays, and the next sync resumes from the high-water mark. ``auth``: a refused credential."""

    def __init__(self, message: str, report: StreamReport, *, auth: bool = False):
        super().__init__(message)
        self.report = report
        self.auth = auth


Progress = Callable[[StreamReport], None]


async def sync_stream(
    client: ResilientClient,
    connector: CollectionConnector,
    engine: Engine,
    *,
    source: str,
    stream: StreamSpec,
    partition: str | None,
    full: bool = False,
    settings: CollectionSettings = CollectionSettings(),
    run_id: str | None = None,
    progress: Progress | None = None,
) -> StreamReport:
    """Read ``stream`` in ``partition`` (incrementally when it has a mark, unless ``full``) into its tables."""
    partition_key = partition if partition is not None else NO_PARTITION
    position = read_position(engine, source, stream.name, partition_key)
    incremental = not full and stream.change_field is not None and position.high_water_mark is not None
    since = position.high_water_mark - timedelta(seconds=settings.overlap_s) if incremental else None
    report = StreamReport(stream=stream.name, partition=partition_key, mode="incremental" if incremental else "full",
                          high_water_mark_before=_iso(position.high_water_mark), page_size=settings.page_size)
    started_at, started = utc_now(), time.monotonic()
    stats_before = client.stats.as_dict()  # one client serves every partition of a run: count only this one's
    writer = _PageWriter(engine, source, stream, partition_key, run_id, position.high_water_mark)
    mark_started(engine, source, stream.name, partition_key)
    error: str | None = None
    auth = False
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ic3-page-writer") as pool:
            reader = _Reader(client, connector, stream, partition, since, settings, writer, pool, report, progress)
            complete = False
            while not complete and report.passes < settings.max_passes:
                report.passes += 1
                complete = await reader.read_all(pass_number=report.passes)
            if not complete:
                log.warning("%s %s: records kept moving while paging (%d reads); the next sync reads them again",
                            stream.name, partition_key, report.passes)
            if complete and not incremental:
                report.deleted = await asyncio.get_running_loop().run_in_executor(
                    pool, writer.mark_deleted, reader.pass_started)
    except CollectionApiError as failure:
        error, auth = str(failure), failure.auth
    except AuthRefused as failure:
        error, auth = str(failure), True
    except HttpCallFailed as failure:
        error = f"{connector.display_name} did not answer a page: {failure.reason}"
    except _WriteFailed as failure:
        error = f"Database error, stream stopped: {failure}"
    except BaseException as failure:  # unforeseen, or the run cancelled: recorded as failed, then raised as it is
        error = f"{type(failure).__name__}: {failure}" if isinstance(failure, Exception) else "interrupted"
        raise
    finally:
        report.elapsed_s = time.monotonic() - started
        report.request_stats = {name: value - stats_before.get(name, 0) for name, value in client.stats.as_dict().items()}
        report.high_water_mark_after = _iso(writer.committed_mark)
        for figure in ("rows", "child_rows", "kept_as_text"):
            setattr(report, figure, getattr(writer.figures, figure))
        report.new_columns = list(writer.figures.new_columns)
        if writer.unified is not None:
            report.unified_rows, report.mapping_failed = writer.unified.figures.rows, writer.unified.figures.failed
        mark_finished(engine, source, stream.name, partition_key, full=not incremental, error=error, run_id=run_id,
                      report=report, started_at=started_at)
    if error:
        raise StreamFailed(error, report, auth=auth)
    return report


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class _WriteFailed(RuntimeError):
    """The database refused a page (the message is the driver's first line)."""


@dataclass
class _Committed:
    """Pages committed in this pass, by row offset, and how far the contiguous run from offset 0 reaches."""

    prefix_end: int = 0
    pending: dict[int, tuple[int, datetime | None]] = field(default_factory=dict)  # offset -> (end, max change)

    def extend(self, offset: int, end: int, change: datetime | None) -> tuple[int, datetime | None, dict]:
        """(new prefix end, largest change value the new prefix adds, the pending pages left) - not applied."""
        pending = dict(self.pending)
        pending[offset] = (end, change)
        prefix_end, best = self.prefix_end, None
        while prefix_end in pending:
            end_, change_ = pending.pop(prefix_end)
            if change_ is not None and (best is None or change_ > best):
                best = change_
            prefix_end = end_
        return prefix_end, best, pending


class _PageWriter:
    """Writes pages in the writer thread: one transaction a page, the mark moving with the contiguous prefix."""

    def __init__(self, engine: Engine, source: str, stream: StreamSpec, partition: str, run_id: str | None,
                 mark: datetime | None):
        self.engine, self.source, self.stream, self.partition = engine, source, stream, partition
        table_name = stream.table_name(source)
        key = tuple(column_name(name) for name in stream.key)
        self.table = StreamTable(TableLayout(table_name, key), source=source, run_id=run_id)
        self.children = {child.name: StreamTable(TableLayout(child.table_name(table_name), (), key), source=source,
                                                 run_id=run_id) for child in stream.children}
        self.key = key
        self.unified = UnifiedWriter(stream.mapping, source=source, stream=stream.name, partition=partition,
                                     run_id=run_id) if stream.mapping is not None else None
        self.committed_mark = mark
        self.committed = _Committed()
        self.figures = WriteFigures()

    def start_pass(self) -> None:
        self.committed = _Committed()

    def write(self, offset: int, records: list[dict[str, Any]], rejected: list[str]) -> int:
        """Write one page (records at row ``offset``); returns the rows written."""
        now = utc_now()
        parents, children, parent_keys, change, kept = self._split(records, now, rejected)
        prefix_end, prefix_change, pending = self.committed.extend(offset, offset + max(len(records), 1), change)
        figures = WriteFigures()
        new_mark = self.committed_mark
        if prefix_change is not None and (new_mark is None or prefix_change > new_mark):
            new_mark = prefix_change
        try:
            with self.engine.begin() as conn:
                rows, table_figures = self.table.prepare(conn, parents)
                figures.add(table_figures)
                figures.rows += self.table.upsert(conn, rows)
                for name, child_table in self.children.items():
                    child_rows, child_figures = child_table.prepare(conn, children[name])
                    figures.add(child_figures)
                    figures.child_rows += child_table.replace_children(conn, parent_keys, child_rows)
                unified = self.unified.write(conn, list(zip(parent_keys, kept)), now) if self.unified else None
                if new_mark is not None and new_mark != self.committed_mark:
                    advance_mark(conn, self.source, self.stream.name, self.partition, new_mark)
        except Exception as error:
            self.table.forget()  # a rolled-back page takes its new columns with it
            for child_table in self.children.values():
                child_table.forget()
            if isinstance(error, DBAPIError):
                raise _WriteFailed(database_error_line(error)) from None
            raise
        self.committed.prefix_end, self.committed.pending = prefix_end, pending
        self.committed_mark = new_mark
        self.figures.add(figures)
        if unified is not None:
            self.unified.commit(unified)
        return figures.rows

    def _split(self, records: list[dict[str, Any]], now: datetime, rejected: list[str]):
        """Parent rows, child rows per child, the parents' keys, the page's largest change value, and the records
        kept (those with a key, in the parents' order, as the API sent them: what a unified mapping reads)."""
        children: dict[str, list[dict]] = {name: [] for name in self.children}
        parents, parent_keys, kept = [], [], []
        largest: datetime | None = None
        change_field = self.stream.change_field
        for record in records:
            row = {column_name(k): v for k, v in record.items() if k not in self.children}
            key = tuple(row.get(name) for name in self.key)
            if any(value is None or value == "" for value in key):
                missing = [name for name, value in zip(self.key, key) if value is None or value == ""]
                rejected.append(f"a record without {', '.join(missing)} (href {row.get(HREF)}) was skipped")
                continue
            key = tuple(str(value) for value in key)
            row.update({name: value for name, value in zip(self.key, key)})
            row.update({PARTITION: self.partition, SYNCED_AT: now, DELETED_AT: None})
            parents.append(row)
            parent_keys.append(key)
            kept.append(record)
            for name in self.children:
                for position, child in enumerate(_as_list(record.get(name))):
                    child_row = dict(child) if isinstance(child, dict) else {"value": child}
                    child_row = {column_name(k): v for k, v in child_row.items()}
                    child_row.update({**dict(zip(self.key, key)), POSITION: position, SYNCED_AT: now})
                    children[name].append(child_row)
            if change_field and record.get(change_field):
                try:
                    changed = change_instant(record[change_field])
                except ValueError:
                    continue
                largest = changed if largest is None or changed > largest else largest
        return parents, children, parent_keys, largest, kept

    def mark_deleted(self, seen_since: datetime) -> int:
        now = utc_now()
        with self.engine.begin() as conn:
            deleted = mark_deleted(conn, self.table.table(conn), self.partition, seen_since, now)
            if self.unified is not None:
                self.unified.mark_deleted(conn, seen_since, now)
            return deleted

    def seen_since(self, since: datetime) -> int:
        with self.engine.connect() as conn:
            return rows_seen_since(conn, self.table.table(conn), self.partition, since)


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class _Reader:
    """One read of the partition: the first page, then the rest - several at once when the API pages by number or
    offset and says how many records there are, else one after another (next link, cursor, or the next number
    until a short page)."""

    def __init__(self, client: ResilientClient, connector: CollectionConnector, stream: StreamSpec,
                 partition: str | None, since: datetime | None, settings: CollectionSettings, writer: _PageWriter,
                 pool: ThreadPoolExecutor, report: StreamReport, progress: Progress | None):
        self.client, self.connector, self.stream, self.partition = client, connector, stream, partition
        self.since, self.settings, self.writer, self.pool = since, settings, writer, pool
        self.report, self.progress = report, progress
        # A connector whose streams page differently (a declarative one) says so per stream.
        self.kind = connector.stream_paging(stream) if hasattr(connector, "stream_paging") else connector.paging
        self.page_size = min(settings.page_size, settings.max_page_size)
        self.pass_started = utc_now()
        self.rejected_in_pass = 0
        self._last_progress = time.monotonic()
        self._last_call = PageCall(url="")  # the latest page's call: a next link is followed like it

    async def read_all(self, *, pass_number: int) -> bool:
        """Read every page once; True when the result was complete (as many keys as the API's total)."""
        self.pass_started = utc_now()
        self.rejected_in_pass = 0
        self.writer.start_pass()
        first, size = await self._fetch_at(0)
        await self._write(0, first)
        pages = _page_count(first, size)
        if self.kind in ("page_number", "offset") and pages and pages > 1:
            last = await self._pages_concurrently(size, pages)
            if last is not None and last.next_url:  # records were added while paging: read on
                await self._follow(last, pages * size, size)
        else:
            await self._follow(first, len(first.records), size)
        total = first.total_count
        if total is None:
            return True
        seen = await asyncio.get_running_loop().run_in_executor(self.pool, self.writer.seen_since, self.pass_started)
        if seen + self.rejected_in_pass >= total:
            return True
        log.info("%s %s: read %d of %d records (records moved while paging); reading again (read %d)",
                 self.stream.name, self.partition or "", seen, total, pass_number + 1)
        return False

    def _has_more(self, page: Page, size: int, end: int) -> bool:
        """Whether a page follows ``page``, whose records end at row ``end``."""
        if not page.records:
            return False
        if self.kind == "next_link":
            return bool(page.next_url)
        if self.kind == "cursor":
            return bool(page.cursor)
        if page.next_url:
            return True
        if page.total_count is not None:  # an API that counts says when it is done
            return end < page.total_count
        if page.total_pages is not None:
            return end < page.total_pages * size
        return len(page.records) >= size  # otherwise a short page is the last

    async def _pages_concurrently(self, size: int, total_pages: int) -> Page | None:
        """Pages 2..total at ``size``, up to ``page_concurrency`` in flight; returns the last page."""
        semaphore = asyncio.Semaphore(self.settings.page_concurrency)
        last: dict[str, Page] = {}

        async def one(number: int) -> None:
            offset, end, current = (number - 1) * size, number * size, size
            while offset < end:  # one page, or several smaller ones when it timed out
                async with semaphore:
                    page, used = await self._fetch_at(offset, current)
                current = used
                await self._write(offset, page)
                if len(page.records) < used:
                    break
                offset += used
            if number == total_pages:
                last["page"] = page

        tasks = [asyncio.ensure_future(one(number)) for number in range(2, total_pages + 1)]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return last.get("page")

    async def _follow(self, page: Page, offset: int, size: int) -> None:
        """The pages after ``page`` (whose records end at row ``offset``), one after another."""
        for _ in range(MAX_PAGES):
            if not self._has_more(page, size, offset):
                return
            if self.kind == "next_link":
                page = await self._get(self._last_call.follow(page.next_url), give_up_on_timeout=False)
            else:
                page, size = await self._fetch_at(offset, size, cursor=page.cursor)
            await self._write(offset, page)
            offset += len(page.records)

    async def _fetch_at(self, offset: int, size: int | None = None, *, cursor: str | None = None) -> tuple[Page, int]:
        """The page starting at row ``offset`` (or at ``cursor``); a timeout halves the page size (down to
        ``min_page_size``) and asks for the same rows in smaller pages, and so does an API refusing the size."""
        size = size or self.page_size
        while True:
            request = PageRequest(self.stream, self.partition, self.since, size, offset // size + 1, offset, cursor)
            smaller = size // 2
            aligned = self.kind != "page_number" or (offset % smaller == 0 and size % 2 == 0) if smaller else False
            can_shrink = smaller >= self.settings.min_page_size and aligned
            try:
                call = as_call(self.connector.page_request(request))
                self._last_call = call
                page = await self._get(call, give_up_on_timeout=can_shrink)
            except HttpCallFailed as failure:
                if not (failure.timed_out and can_shrink):
                    raise
                log.info("%s: page at row %d timed out at %d records a page; asking for %d", self.stream.name,
                         offset, size, smaller)
            except CollectionApiError as refused:
                if not (refused.page_too_large and smaller >= 1 and aligned):
                    raise
                log.info("%s: the API refused %d records a page (%s); asking for %d", self.stream.name, size,
                         refused, smaller)
            else:
                if len(page.records) > size:  # an API that ignores the size: trust what it sent
                    size = len(page.records)
                return page, size
            size = smaller
            self.page_size = min(self.page_size, size)
            self.report.page_size = self.page_size

    async def _get(self, call: PageCall, *, give_up_on_timeout: bool) -> Page:
        page, _ = await self.client.send_counted(call.method, call.url, accept=call.parse or self.connector.parse_page,
                                                 give_up_on_timeout=give_up_on_timeout, content=call.content,
                                                 headers=call.headers or None)
        return page

    async def _write(self, offset: int, page: Page) -> None:
        rejected: list[str] = []
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.pool, self.writer.write, offset, page.records, rejected)
        self.report.pages += 1
        self.report.rejected += rejected
        self.rejected_in_pass += len(rejected)
        if self.progress and time.monotonic() - self._last_progress >= 5:
            self._last_progress = time.monotonic()
            self.report.rows = self.writer.figures.rows
            self.progress(self.report)


def _page_count(page: Page, size: int) -> int | None:
    """How many pages the whole result has at ``size`` records a page, when the API says."""
    if page.total_pages is not None:
        return page.total_pages
    if page.total_count is not None:
        return -(-page.total_count // size) if size else None
    return None
