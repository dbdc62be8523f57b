"""Syncing a batch of assets from one source: fetch concurrently under one rate limiter; one writer thread writes
the answers in groups (whatever arrived while the previous group was written), one transaction a group and a
savepoint an asset, so the write path keeps up with any API rate and costs no latency when the API is slow.

Per-asset failures are recorded and the batch goes on; only systemic faults stop it (:class:`SystemicFailure`): a
refused token (no asset is blamed for it), the API failing many times in a row (it is down, not the assets), or the
database failing (the write raises). Whatever finished before a stop stays written; the rest stays due.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import Engine

from ic3_pipeline.sync.attempts import SyncContext, store_group
from ic3_pipeline.sync.connector import AuthenticationFailed, EntityClient, EntityConnector, FetchOutcome

log = logging.getLogger(__name__)

# The API is considered down after this many transient failures in a row (each already retried max_attempts times).
DEFAULT_BREAKER_THRESHOLD = 20
# At most this many assets per transaction: bounds what a crash or a refused commit puts back to "due". Groups
# form only when answers arrive faster than the writer writes; 500 measured 1.5x the store rate of 100 on SQLite
# (fewer commits and checkpoints) and still holds the write lock for about a tenth of a second (bench/README.md).
MAX_GROUP = 500


class SystemicFailure(RuntimeError):
    """The batch cannot go on (bad token, API down); the message says which and what to do.

    Carries the batch's figures up to the stop. ``retryable`` is False for a refused token: retrying the step
    cannot fix it, a person must.
    """

    def __init__(self, message: str, report: "BatchReport", *, retryable: bool):
        super().__init__(message)
        self.report = report
        self.retryable = retryable


@dataclass
class BatchReport:
    due: int
    synced: int = 0
    failed: int = 0
    not_found: int = 0
    skipped: int = 0  # not attempted because the batch stopped
    failures: list[FetchOutcome] = field(default_factory=list)  # error and not_found outcomes
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (asset id, value stored as NULL and why)
    request_stats: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    initial_rate: float = 0.0  # the limiter's rate at the start (just under a learned limit, if one was known)
    final_rate: float = 0.0  # the limiter's rate at the end: what the API allowed
    rate_limit_found: float | None = None  # the sustained rate the limiter proved or the API declared (None: unknown)

    @property
    def done(self) -> int:
        return self.synced + self.failed + self.not_found

    @property
    def requests_per_s(self) -> float:
        return self.request_stats.get("requests", 0) / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def synced_per_s(self) -> float:
        return self.synced / self.elapsed_s if self.elapsed_s else 0.0


Progress = Callable[[BatchReport], None]
Settled = Callable[[FetchOutcome], None]


async def sync_assets(
    client: EntityClient,
    connector: EntityConnector,
    engine: Engine,
    asset_ids: Sequence[str],
    *,
    context: SyncContext,
    progress: Progress | None = None,
    progress_every_s: float = 10.0,
    breaker_threshold: int = DEFAULT_BREAKER_THRESHOLD,
    settled: Settled | None = None,
) -> BatchReport:
    """Fetch and store every id in ``asset_ids`` (in that order); raise :class:`SystemicFailure` when the batch must
    stop. ``settled`` hears of each asset once its outcome is committed (on the event loop: keep it quick)."""
    report = BatchReport(due=len(asset_ids), initial_rate=client.http.limiter.rate)
    started = time.monotonic()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for asset_id in asset_ids:
        queue.put_nowait(asset_id)
    api_name = connector.display_name if context.source == connector.name else f"{connector.display_name} ({context.source})"
    state = _BatchState(breaker_threshold, api_name)
    # One writer thread: writes never block the event loop, and SQLite sees one writer at a time.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ic3-writer") as pool:
        writer = _GroupWriter(pool, engine, connector, context)
        writing = asyncio.create_task(writer.run())
        workers = [
            asyncio.create_task(_worker(client, queue, writer, report, state, settled))
            for _ in range(max(1, min(client.http.policy.concurrency, len(asset_ids))))
        ]
        ticker = asyncio.create_task(_report_progress(report, started, client, progress, progress_every_s))
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        finally:
            ticker.cancel()
            writing.cancel()
            report.elapsed_s = time.monotonic() - started
            report.request_stats = client.http.stats.as_dict()
            report.final_rate = client.http.limiter.rate
            report.rate_limit_found = client.http.limiter.learned_limit
            report.skipped = report.due - report.done
        if state.stop_reason is not None:
            raise SystemicFailure(state.stop_reason, report, retryable=not state.auth_failed)
    if progress:
        progress(report)
    return report


@dataclass
class _BatchState:
    breaker_threshold: int
    api_name: str  # how the "looks down" message names the API
    consecutive_transient: int = 0
    stop_reason: str | None = None
    auth_failed: bool = False
    fetches: set[asyncio.Future[FetchOutcome]] = field(default_factory=set)  # calls in flight or waiting to send

    def stop(self, reason: str, *, auth_failed: bool = False) -> None:
        """Stop the batch: no further asset is started, and calls not answered yet are abandoned (those assets stay
        due) - with 64 in flight, letting them run would send up to 64 more requests a refused token cannot answer."""
        if self.stop_reason is None:
            self.stop_reason, self.auth_failed = reason, auth_failed
        for fetch in self.fetches:
            fetch.cancel()


class _GroupWriter:
    """Hands the answers to the writer thread in groups: each worker awaits its own answer's commit (so counts and
    database faults reach it as before), and whatever arrives while a group is written forms the next group."""

    def __init__(self, pool: ThreadPoolExecutor, engine: Engine, connector: EntityConnector, context: SyncContext):
        self._pool, self._engine, self._connector, self._context = pool, engine, connector, context
        self._pending: list[tuple[FetchOutcome, asyncio.Future[None]]] = []
        self._arrived = asyncio.Event()

    async def write(self, outcome: FetchOutcome) -> None:
        done = asyncio.get_running_loop().create_future()
        self._pending.append((outcome, done))
        self._arrived.set()
        await done

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            while self._pending:
                group, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
                try:
                    await loop.run_in_executor(self._pool, store_group, self._engine, self._connector,
                                               [outcome for outcome, _ in group], self._context)
                except Exception as error:  # the database failed: every asset of the group stays due
                    for _, done in group:
                        if not done.done():
                            done.set_exception(error)
                    continue
                for _, done in group:
                    if not done.done():
                        done.set_result(None)


async def _worker(
    client: EntityClient,
    queue: asyncio.Queue[str],
    writer: _GroupWriter,
    report: BatchReport,
    state: _BatchState,
    settled: Settled | None,
) -> None:
    while state.stop_reason is None:
        try:
            asset_id = queue.get_nowait()
        except asyncio.QueueEmpty:
            return
        fetch = asyncio.ensure_future(client.fetch(asset_id))
        state.fetches.add(fetch)
        try:
            outcome = await fetch
        except AuthenticationFailed as error:
            state.stop(str(error), auth_failed=True)
            return
        except asyncio.CancelledError:
            if state.stop_reason is None:
                raise
            return  # abandoned by the stop: the asset was not stored and stays due
        finally:
            state.fetches.discard(fetch)
        await writer.write(outcome)
        _count(report, state, outcome)
        if settled is not None:
            settled(outcome)


def _count(report: BatchReport, state: _BatchState, outcome: FetchOutcome) -> None:
    if outcome.status == "success":
        report.synced += 1
        report.warnings += [(outcome.asset_id, warning) for warning in outcome.warnings]
    elif outcome.status == "not_found":
        report.not_found += 1
        report.failures.append(outcome)
    else:
        report.failed += 1
        report.failures.append(outcome)
    state.consecutive_transient = state.consecutive_transient + 1 if outcome.transient else 0
    if state.consecutive_transient >= state.breaker_threshold and state.stop_reason is None:
        state.stop(
            f"{state.api_name} looks down: {state.consecutive_transient} assets in a row failed after all retries "
            f"(last: {outcome.error}). Stopped the batch; the remaining assets stay due for the next run."
        )


async def _report_progress(
    report: BatchReport, started: float, client: EntityClient, progress: Progress | None, every_s: float
) -> None:
    if progress is None:
        return
    while True:
        await asyncio.sleep(every_s)
        report.elapsed_s = time.monotonic() - started
        report.request_stats = client.http.stats.as_dict()
        report.final_rate = client.http.limiter.rate
        progress(report)
