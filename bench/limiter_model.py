"""The product's rate limiter alone, on virtual time, against a model of the simulator's token bucket.

``sync_throughput`` measures the whole client on a shared 2-core machine, where CPU contention moves goodput by
several per cent from run to run. This isolates the algorithm (``AdaptiveRateLimiter`` with the resource's defaults,
the same grid and asset counts, a first sync and a later one starting from the limit the first learned) from the machine: no HTTP, no CPU, a clock that jumps from event to event, so a
50-second sync runs in milliseconds and every run gives the same figure. What it cannot reach here, it cannot reach
on any machine; what it reaches here, the real client reaches minus its CPU limits.

The model: a token bucket of R req/s and burst max(1, 0.1 x R) answering 429 at once with ``Retry-After`` =
max(1, ceil(wait)) seconds (as the simulator does), else answering after L ms; N workers sharing one limiter and a
concurrency semaphore (held only while a request is in flight); a throttled call retried after
max(Retry-After, full-jitter backoff 0.5 s x 2^n) as ``http_client.retry`` does, up to 6 attempts.

    python -m bench.limiter_model            # the sync_throughput grid, 3 seeds per cell
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import itertools
import math
import random
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from bench.harness import Table, heading

MAX_ATTEMPTS = 6
BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 30.0


class VirtualTime:
    """A clock that jumps to the next wake-up once every task is waiting on it (a discrete-event scheduler)."""

    def __init__(self) -> None:
        self.now = 0.0
        self._wakeups: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wakeup: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._wakeups, (self.now + max(seconds, 0.0), next(self._order), wakeup))
        await wakeup

    async def run(self, main: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(main)
        loop = asyncio.get_running_loop()
        while not task.done():
            for _ in range(10_000):  # let every runnable task reach its next virtual sleep
                await asyncio.sleep(0)
                if not getattr(loop, "_ready", True):
                    break
            if task.done() or not self._wakeups:
                break
            when, _, wakeup = heapq.heappop(self._wakeups)
            self.now = max(self.now, when)
            wakeup.set_result(None)
        await task


REFUSED = -1.0  # what ``TokenBucket.admit`` returns for a 429 without Retry-After


class TokenBucket:
    """The simulator's gateway: ``admit()`` returns None (accepted), the Retry-After it would send, or REFUSED
    (a 429 without one).

    ``burst`` is the bucket's capacity (None: the simulator's default max(1, 0.1 x R)); it starts full.
    ``retry_after``: "seconds" (max(1, ceil(wait))), "http-date" (a whole second of the wall clock at least 1 s
    away, so 1-2 s), "none", or "mixed" (every other 429 without one, the others in seconds).
    """

    def __init__(self, clock: VirtualTime, rate: float, burst: float | None = None,
                 retry_after: str = "seconds") -> None:
        self.clock, self.rate = clock, rate
        self.capacity = burst if burst is not None else max(1.0, 0.1 * rate)
        self.retry_after = retry_after
        self.tokens, self.refilled_at = self.capacity, 0.0
        self.requests = self.throttled = 0

    def admit(self) -> float | None:
        now = self.clock()
        self.requests += 1
        self.tokens = min(self.capacity, self.tokens + (now - self.refilled_at) * self.rate)
        self.refilled_at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        self.throttled += 1
        wait = (1.0 - self.tokens) / self.rate
        if self.retry_after == "none" or (self.retry_after == "mixed" and self.throttled % 2):
            return REFUSED
        if self.retry_after == "http-date":
            wall = 1_000_000.3 + now  # a wall clock that is not on a whole second
            return math.ceil(wall + max(wait, 1.0)) - wall
        return max(1, math.ceil(wait))


@dataclass
class ModelRun:
    wall_s: float
    synced: int
    requests: int
    throttled: int
    ceiling: float | None  # the limit the limiter ended with: what a later sync starts from


def model_sync(rate: float, latency_ms: float, assets: int, concurrency: int, seed: int,
               known_limit: float | None = None, burst: float | None = None,
               retry_after: str = "seconds") -> ModelRun:
    """One sync of ``assets`` on virtual time through the product's limiter (resource defaults: starts at 10/s,
    or just under ``known_limit``, the limit an earlier sync learned)."""
    from ic3_pipeline.http_client import AdaptiveRateLimiter, HttpPolicy

    policy = HttpPolicy(concurrency=concurrency, known_limit=known_limit)
    clock = VirtualTime()
    server = TokenBucket(clock, rate, burst, retry_after)
    limiter = AdaptiveRateLimiter(policy.initial_rate, min_rate=policy.min_rate, max_rate=policy.max_rate,
                                  known_limit=policy.known_limit, clock=clock, sleep=clock.sleep)
    in_flight = asyncio.Semaphore(concurrency)
    jitter = random.Random(seed)
    synced = 0

    async def fetch() -> bool:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            async with in_flight:
                sent_at = await limiter.acquire()
                retry_after = server.admit()
                if retry_after is None:
                    await clock.sleep(latency_ms / 1000)
                    limiter.on_success(sent_at)
                    return True
                told = None if retry_after == REFUSED else retry_after
                limiter.on_throttled(told, sent_at)
            backoff = jitter.uniform(0, min(BACKOFF_MAX_S, BACKOFF_INITIAL_S * 2 ** (attempt - 1)))
            await clock.sleep(max(told or 0.0, backoff))
        return False

    async def worker(queue: list[int]) -> None:
        nonlocal synced
        while queue:
            queue.pop()
            if await fetch():
                synced += 1

    async def main() -> None:
        queue = list(range(assets))
        await asyncio.gather(*(worker(queue) for _ in range(min(concurrency, assets))))

    asyncio.run(clock.run(main()))
    return ModelRun(clock.now, synced, server.requests, server.throttled, limiter.learned_limit)


BURSTS = ("1", "R", "5R")  # bucket sizes of the burst grid, in terms of R
RETRY_AFTER_STYLES = ("seconds", "http-date", "none", "mixed")


def burst_grid(rate: float = 20.0, latency_ms: float = 150.0, assets: int = 2_957,
               seeds: tuple[int, ...] = (1, 2, 3)) -> None:
    """The first sync and the next one at one R across bucket sizes and Retry-After styles, against a limiter
    told the true limit (``known_limit`` = R) in the same run: what the first sync stores must be the sustained rate,
    not the rate plus the burst."""
    from ic3_pipeline.http_client import HttpPolicy

    concurrency = HttpPolicy().concurrency
    heading(f"Burst grid on virtual time: R = {rate:g} req/s, L = {latency_ms:g} ms, {assets:,} assets, "
            f"mean of {len(seeds)} seeds")
    table = Table(["bucket", "Retry-After", "sync", "429 %", "goodput / R", "vs told R", "stored / R"])
    for burst_label in BURSTS:
        burst = {"1": 1.0, "R": rate, "5R": 5 * rate}[burst_label]
        for style in RETRY_AFTER_STYLES:
            told = [model_sync(rate, latency_ms, assets, concurrency, seed, known_limit=rate, burst=burst,
                               retry_after=style) for seed in seeds]
            first = [model_sync(rate, latency_ms, assets, concurrency, seed, burst=burst, retry_after=style)
                     for seed in seeds]
            later = [model_sync(rate, latency_ms, assets, concurrency, seed, known_limit=run.ceiling, burst=burst,
                                retry_after=style) for seed, run in zip(seeds, first)]
            told_goodput = _mean([run.synced / run.wall_s for run in told])
            for label, runs in (("first", first), ("later", later), ("told R", told)):
                goodput = _mean([run.synced / run.wall_s for run in runs])
                stored = [run.ceiling for run in runs if run.ceiling]
                table.row(burst_label, style, label, f"{100 * _mean([r.throttled / r.requests for r in runs]):.2f}",
                          f"{goodput / rate:.3f}", f"{goodput / told_goodput:.3f}",
                          f"{_mean(stored) / rate:.3f}" if label == "first" and stored else "-")


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def main() -> None:
    from bench.sync_throughput import FULL, REGISTER_ASSETS

    from ic3_pipeline.http_client import HttpPolicy

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="accepted for symmetry: the model takes seconds anyway")
    parser.add_argument("--bursts-only", action="store_true", help="only the burst x Retry-After grid")
    args = parser.parse_args()
    burst_grid()
    if args.bursts_only:
        return
    concurrency = HttpPolicy().concurrency
    heading("Rate limiter alone on virtual time (token bucket, burst max(1, 0.1 x R), mean of 3 seeds)")
    table = Table(["R req/s", "L ms", "sync", "in flight", "assets", "wall s", "429 %", "goodput / R"])
    for rate, latency_ms in FULL.cells:
        assets = min(REGISTER_ASSETS, round(rate * FULL.product_seconds))
        first = [model_sync(rate, latency_ms, assets, concurrency, seed) for seed in (1, 2, 3)]
        later = [model_sync(rate, latency_ms, assets, concurrency, seed, known_limit=run.ceiling)
                 for seed, run in zip((1, 2, 3), first)]
        for label, runs in (("first", first), ("later", later)):
            wall = sum(run.wall_s for run in runs) / len(runs)
            throttled = sum(run.throttled / run.requests for run in runs) / len(runs)
            goodput = sum(run.synced / run.wall_s for run in runs) / len(runs)
            table.row(f"{rate:g}", f"{latency_ms:g}", label, concurrency, assets, wall, f"{100 * throttled:.1f}",
                      f"{goodput / rate:.3f}")


if __name__ == "__main__":
    main()
