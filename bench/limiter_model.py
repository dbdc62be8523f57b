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


class TokenBucket:
    """The simulator's gateway: ``admit()`` returns None (accepted) or the Retry-After it would send."""

    def __init__(self, clock: VirtualTime, rate: float) -> None:
        self.clock, self.rate = clock, rate
        self.capacity = max(1.0, 0.1 * rate)
        self.tokens, self.refilled_at = self.capacity, 0.0
        self.requests = self.throttled = 0

    def admit(self) -> int | None:
        now = self.clock()
        self.requests += 1
        self.tokens = min(self.capacity, self.tokens + (now - self.refilled_at) * self.rate)
        self.refilled_at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        self.throttled += 1
        return max(1, math.ceil((1.0 - self.tokens) / self.rate))


@dataclass
class ModelRun:
    wall_s: float
    synced: int
    requests: int
    throttled: int
    ceiling: float | None  # the limit the limiter ended with: what a later sync starts from


def model_sync(rate: float, latency_ms: float, assets: int, concurrency: int, seed: int,
               known_limit: float | None = None) -> ModelRun:
    """One sync of ``assets`` on virtual time through the product's limiter (resource defaults: starts at 10/s,
    or just under ``known_limit``, the limit an earlier sync learned)."""
    from ic3_pipeline.http_client import AdaptiveRateLimiter, HttpPolicy

    policy = HttpPolicy(concurrency=concurrency, known_limit=known_limit)
    clock = VirtualTime()
    server = TokenBucket(clock, rate)
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
                    limiter.on_success()
                    return True
                limiter.on_throttled(retry_after, sent_at)
            backoff = jitter.uniform(0, min(BACKOFF_MAX_S, BACKOFF_INITIAL_S * 2 ** (attempt - 1)))
            await clock.sleep(max(retry_after, backoff))
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
    return ModelRun(clock.now, synced, server.requests, server.throttled, limiter.ceiling)


def main() -> None:
    from bench.sync_throughput import FULL, REGISTER_ASSETS

    from ic3_pipeline.http_client import HttpPolicy

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="accepted for symmetry: the model takes seconds anyway")
    parser.parse_args()
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
