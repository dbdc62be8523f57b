"""Sync throughput against a rate-limited, slow API: the product's enrichment path versus the users' old client.

For each request-rate limit R and latency L, the simulator (in its own process, default token bucket
burst = max(1, 0.1 x R), no injected faults) serves the same register to:

- **ic3 first sync**: ``sync_assets`` with the source resource's defaults (64 in flight, the limiter starting at
  10 req/s and finding the limit from the API's 429s) on a fresh database: what the very first sync costs;
- **ic3 later sync**: on the same database and simulator, after the first sync's batch was recorded
  (``sync_log.record_batch``), the same assets re-fetched with the limit ``sync_log.learned_rate_limit`` returns -
  what every later run (schedules, backfills, retries) does, skipping slow start;
- **old client** (``bench.old_client``): sequential, 200 ms between assets, 1/2/4 s backoff, on a fresh database.

Each contender runs in a process of its own. Requests and 429s are the server's counts. Goodput = assets synced (as
found in the database afterwards) per second of wall time; "2nd half" is the same over the run's second half only,
once start-up is over: the pace a longer sync converges to. Asset counts are sized so a cell takes about a minute:
R x 50 s for the product (at most the register's 2,957), 100 for the old client, which needs >= 0.25 s per asset
whatever R is.

    python -m bench.sync_throughput            # R in {5, 20, 100} x L in {50, 300} ms
    python -m bench.sync_throughput --quick    # (R, L) = (20, 50 ms) and (100, 300 ms), ~8 s per contender
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bench.harness import Table, asset_ids, heading, imported_database, in_subprocess, register_file, synced_in_database
from bench.simulator import TOKEN_ENV, SimulatorProcess, server_stats

REGISTER_ASSETS = 2_957
TARGET_SHARE = 0.9
MAX_THROTTLED_SHARE = 0.02


@dataclass(frozen=True)
class Plan:
    cells: tuple[tuple[float, float], ...]  # (R req/s, L ms)
    product_seconds: float  # product assets = R x this (capped at the register)
    old_client_assets: int


FULL = Plan(cells=tuple((rate, latency) for rate in (5, 20, 100) for latency in (50, 300)),
            product_seconds=50, old_client_assets=100)
QUICK = Plan(cells=((20, 50), (100, 300)), product_seconds=8, old_client_assets=15)


def measure_product(register: str, database: str, base_url: str, assets: int, told_limit: float | None = None) -> dict:
    """A first sync through the product's path, then a later one that starts from the limit the first learned;
    with ``told_limit``, a third sync of the same assets from a limiter told the true limit (the baseline)."""
    from bench.harness import BENCH_SOURCE, bench_context
    from ic3_pipeline.components.resource import CmmsApiResource
    from ic3_pipeline.sync.sync_log import learned_rate_limit, record_batch

    engine = imported_database(database, register)
    ids = asset_ids(engine, assets)
    resource = CmmsApiResource(source=BENCH_SOURCE, connector=BENCH_SOURCE, base_url=base_url,
                               token=os.environ[TOKEN_ENV], secret_env={"token": TOKEN_ENV})
    first_context = bench_context("bench-first-sync")
    started_at = datetime.now(timezone.utc)
    first = _one_sync(resource, engine, ids, first_context, known_limit=None)
    record_batch(engine, first_context, [], first.pop("report"), started_at, api_base_url=base_url)
    known_limit = learned_rate_limit(engine, BENCH_SOURCE, base_url)
    later = _one_sync(resource, engine, ids, bench_context("bench-later-sync"), known_limit=known_limit)
    later.pop("report")
    result = {"first": first, "later": {**later, "known_limit": known_limit}}
    if told_limit is not None:
        told = _one_sync(resource, engine, ids, bench_context("bench-told-sync"), known_limit=told_limit)
        told.pop("report")
        result["told"] = told
    return result


def _one_sync(resource, engine, ids: list[str], context, known_limit: float | None) -> dict:
    """One enrichment batch with the resource's defaults; the server's counts are the difference across it."""
    from ic3_pipeline.connectors import get_connector
    from ic3_pipeline.sync.batch import BatchReport, sync_assets

    samples: list[tuple[float, int]] = [(0.0, 0)]  # (seconds since start, assets synced), once a second

    def progress(report: BatchReport) -> None:
        samples.append((time.perf_counter() - started, report.synced))

    async def sync() -> BatchReport:
        async with resource.client(known_limit=known_limit) as client:
            return await sync_assets(client, get_connector(resource.connector), engine, ids, context=context,
                                     progress=progress, progress_every_s=1.0)

    before = server_stats(resource.base_url)
    started = time.perf_counter()
    report = asyncio.run(sync())
    wall = time.perf_counter() - started
    after = server_stats(resource.base_url)
    samples.append((wall, report.synced))
    return {"assets": len(ids), "wall_s": wall, "synced": synced_in_database(engine, ids, context.batch_id),
            "failed": report.failed + report.not_found + report.skipped, "second_half_rate": second_half_rate(samples),
            "requests": after["requests"] - before["requests"], "throttled": after["throttled"] - before["throttled"],
            "rate_limit_found": report.rate_limit_found, "report": report}


def measure_old_client(register: str, database: str, base_url: str, assets: int) -> dict:
    """The same, the old way."""
    from bench.old_client import sync_sequentially

    engine = imported_database(database, register)
    ids = asset_ids(engine, assets)
    before = server_stats(base_url)
    started = time.perf_counter()
    report = sync_sequentially(base_url, os.environ[TOKEN_ENV], engine, ids)
    wall = time.perf_counter() - started
    after = server_stats(base_url)
    samples = [(0.0, 0), *((at - started, count) for count, at in enumerate(report.synced_at, start=1))]
    samples.append((wall, report.synced))
    return {"assets": len(ids), "wall_s": wall, "synced": synced_in_database(engine, ids),
            "failed": report.failed + report.not_found, "second_half_rate": second_half_rate(samples),
            "requests": after["requests"] - before["requests"], "throttled": after["throttled"] - before["throttled"]}


def second_half_rate(samples: list[tuple[float, int]]) -> float:
    """Assets synced per second over the run's second half: the pace once start-up (slow start, the first 429s)
    is over, which a longer sync converges to."""
    end_time, end_count = samples[-1]
    mid_time, mid_count = min(samples, key=lambda sample: abs(sample[0] - end_time / 2))
    return (end_count - mid_count) / (end_time - mid_time) if end_time > mid_time else 0.0


def run_contender(register: Path, rate: float, latency_ms: float, function: str, *, burst: float | None = None,
                  retry_after: str = "seconds", rate_limit_headers: str = "none", **kwargs: object) -> dict:
    """A fresh simulator and database, the measurement in its own process."""
    token = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory() as tmp, SimulatorProcess(
        register, token=token, rate_limit=rate, latency_ms=latency_ms, burst=burst, retry_after=retry_after,
        rate_limit_headers=rate_limit_headers,
    ) as simulator:
        return in_subprocess(
            "bench.sync_throughput", function, env={TOKEN_ENV: token}, register=str(register),
            database=f"sqlite:///{tmp}/bench.sqlite", base_url=simulator.base_url, **kwargs,
        )


def main() -> None:
    from ic3_pipeline.http_client import HttpPolicy

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="two cells, ~8 s per contender (a smoke run)")
    parser.add_argument("--bursts", action="store_true", help="only the bucket-size x Retry-After grid at R = 20")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    register = register_file(REGISTER_ASSETS)
    burst_grid(register, assets=150 if args.quick else BURST_GRID_ASSETS)
    if args.bursts:
        return
    in_flight = HttpPolicy().concurrency
    heading("Sync throughput: product vs old client (simulator burst = max(1, 0.1 x R), no faults)")
    table = Table(["R req/s", "L ms", "client", "in flight", "assets", "wall s", "synced", "failed", "requests",
                   "429s", "429 %", "goodput /s", "goodput / R", "2nd half / R", "limit found", "target met"])
    for rate, latency_ms in plan.cells:
        assets = min(REGISTER_ASSETS, round(rate * plan.product_seconds))
        product = run_contender(register, rate, latency_ms, "measure_product", assets=assets)
        _row(table, rate, latency_ms, "ic3 first sync", in_flight, product["first"])
        _row(table, rate, latency_ms, "ic3 later sync", in_flight, product["later"])
        old = run_contender(register, rate, latency_ms, "measure_old_client", assets=plan.old_client_assets)
        _row(table, rate, latency_ms, "old client", 1, old)


BURST_GRID_RATE, BURST_GRID_LATENCY_MS, BURST_GRID_ASSETS = 20.0, 150.0, 600
BURST_GRID = (  # (bucket in units of R, Retry-After style, rate-limit headers)
    ("1", "seconds", "none"), ("R", "seconds", "none"), ("R", "mixed", "none"), ("R", "none", "none"),
    ("5R", "mixed", "none"), ("R", "mixed", "ietf"),
)


def burst_grid(register: Path, assets: int) -> None:
    """First sync, later sync and a limiter told the true limit, in one process per cell against one simulator,
    across bucket sizes, Retry-After styles and rate-limit headers: the learned limit must be the sustained rate."""
    rate = BURST_GRID_RATE
    heading(f"Learned limit across bucket sizes: R = {rate:g} req/s, L = {BURST_GRID_LATENCY_MS:g} ms, "
            f"{assets} assets per sync, first / later / told R in one run")
    table = Table(["bucket", "Retry-After", "headers", "sync", "wall s", "requests", "429 %", "goodput / R",
                   "vs told R", "stored / R"])
    for bucket, retry_after, headers in BURST_GRID:
        burst = {"1": 1.0, "R": rate, "5R": 5 * rate}[bucket]
        result = run_contender(register, rate, BURST_GRID_LATENCY_MS, "measure_product", assets=assets, burst=burst,
                               retry_after=retry_after, rate_limit_headers=headers, told_limit=rate)
        told_goodput = result["told"]["synced"] / result["told"]["wall_s"]
        for label in ("first", "later", "told"):
            run = result[label]
            goodput = run["synced"] / run["wall_s"]
            share = run["throttled"] / run["requests"] if run["requests"] else 0.0
            stored = run.get("rate_limit_found")
            table.row(bucket, retry_after, headers, {"told": "told R"}.get(label, label), run["wall_s"],
                      run["requests"], f"{100 * share:.2f}", f"{goodput / rate:.3f}", f"{goodput / told_goodput:.3f}",
                      f"{stored / rate:.3f}" if stored and label == "first" else "-")


def _row(table: Table, rate: float, latency_ms: float, label: str, in_flight: int, result: dict) -> None:
    goodput = result["synced"] / result["wall_s"]
    throttled_share = result["throttled"] / result["requests"] if result["requests"] else 0.0
    met = (goodput >= TARGET_SHARE * rate and throttled_share <= MAX_THROTTLED_SHARE
           and result["synced"] == result["assets"])
    table.row(f"{rate:g}", f"{latency_ms:g}", label, in_flight, result["assets"], result["wall_s"], result["synced"],
              result["failed"], result["requests"], result["throttled"], f"{100 * throttled_share:.1f}",
              goodput, f"{goodput / rate:.2f}", f"{result['second_half_rate'] / rate:.2f}",
              f"{result['rate_limit_found']:.1f}" if result.get("rate_limit_found") else "-", "yes" if met else "no")


if __name__ == "__main__":
    main()
