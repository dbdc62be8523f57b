"""Sites finishing while the batch runs: each partition is materialized as soon as its last due asset is written.

A run over a range of sites used to materialize every site after the whole batch: 59 sites × 3 tables are 177
event-log writes (15–25 ms each on Dagster's SQLite storage), several seconds of a first sync spent after the last
request. Fetching the batch site by site and reporting each site the moment it is done moves those writes into the
time the batch waits on the API, and the UI shows the partitions filling while the run runs.

The batch runs on its own thread; the engine tells :class:`SiteProgress` of every settled asset (written, failed or
404) from its event loop, and the step's thread waits here for finished sites and logs their materializations.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ic3_pipeline.sync.connector import FetchOutcome
from ic3_pipeline.sync.standing import SiteAsset

_CLOSED = object()


@dataclass
class SiteOutcomes:
    """What this run did to one site's due assets."""

    due: int = 0
    synced: int = 0
    requests: int = 0  # every attempt, retries included
    failures: list[FetchOutcome] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)

    @property
    def retries(self) -> int:
        settled = self.synced + len(self.failures)
        return self.requests - settled


class SiteProgress:
    """Counts each site's due assets down as they settle and hands finished sites to the step's thread.

    ``begin`` and ``settled`` run on the batch's threads, ``finished_sites`` on the step's; a site is handed over once,
    when its count reaches zero (at ``begin`` for a site with nothing due)."""

    def __init__(self, keys: Sequence[str], assets: Sequence[SiteAsset]) -> None:
        self.keys = list(keys)
        self._site_of = {a.asset_id: a.partition_key for a in assets}
        self.outcomes: dict[str, SiteOutcomes] = {key: SiteOutcomes() for key in self.keys}
        self._remaining: Counter[str] = Counter()
        self._finished: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()

    def begin(self, due: Sequence[str]) -> list[str]:
        """Count ``due`` per site; return it site by site, so sites finish one after another rather than all at the
        end. Sites with nothing due are finished at once."""
        by_site: dict[str, list[str]] = defaultdict(list)
        for asset_id in due:
            by_site[self._site_of.get(asset_id, "")].append(asset_id)
        with self._lock:
            for key in self.keys:
                self.outcomes[key].due = len(by_site.get(key, ()))
                self._remaining[key] = self.outcomes[key].due
                if not self._remaining[key]:
                    self._finished.put(key)
        return [asset_id for key in [*self.keys, *(k for k in by_site if k not in self.outcomes)]
                for asset_id in by_site.get(key, ())]

    def settled(self, outcome: FetchOutcome) -> None:
        """One due asset was written (or recorded as failed): its site may be finished."""
        key = self._site_of.get(outcome.asset_id)
        if key not in self.outcomes:
            return
        with self._lock:
            site = self.outcomes[key]
            site.requests += outcome.attempts
            if outcome.status == "success":
                site.synced += 1
                site.warnings += [(outcome.asset_id, warning) for warning in outcome.warnings]
            else:
                site.failures.append(outcome)
            self._remaining[key] -= 1
            if self._remaining[key] == 0:
                self._finished.put(key)

    def close(self) -> None:
        """The batch ended (done or stopped): no more sites will finish."""
        self._finished.put(_CLOSED)

    def finished_sites(self) -> Iterator[str]:
        """Each finished site, as it finishes, until :meth:`close`."""
        while (key := self._finished.get()) is not _CLOSED:
            yield key


class BatchCancel:
    """Stops a batch running on another thread: cancels its event loop's main task (the engine then abandons the
    calls in flight, finishes the group being written, and leaves the rest due)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._cancelled = False

    def attach(self) -> None:
        """Called by the batch's coroutine, on its loop, as it starts."""
        with self._lock:
            self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
            if self._cancelled and self._task is not None:
                self._task.cancel()

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            if self._loop is not None and self._task is not None:
                self._loop.call_soon_threadsafe(self._task.cancel)
