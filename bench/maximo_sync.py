"""Maximo collection sync against the simulator: paged throughput, incremental cost, memory at 100k assets.

The Maximo simulator runs in a process of its own (``bench.maximo_process``: building a page filters and sorts
every record of the object structure, which must not be charged to the client), each sync in another fresh process
on a fresh SQLite file, with the source exactly as ``defs/maximo/defs.yaml`` declares it (page size 500, 4 pages in
flight, its HTTP settings). Three parts:

1. **Throughput**: a full sync of ``asset`` (with its four child arrays) then ``wodetail`` (with its four) of one
   site, at page latencies of 100 and 500 ms, by two contenders on fresh databases:
   - **sequential (old scripts)**: the same engine and connector, except that the connector says
     ``paging = "next_link"`` and ``page_concurrency`` is 1: the first page, then one request after another
     following the answer's ``nextPage`` href until there is none - what the users' scripts would have done had they
     followed ``nextPage``. Parsing and the write path are the product's, so only the paging strategy differs;
   - **ic3**: the product: the first page gives ``totalPages`` (``collectioncount=1``), pages 2..n are then asked
     for by number, 4 at a time.
   Records/s = parent records in the database / wall seconds of the stream sync; ratio = ic3 / sequential.
2. **Incremental**: on the ic3 database, 1 % of the site's assets and work orders changed through the simulator's
   ``POST /_sim/change``, then an incremental sync (``changedate >=`` the high-water mark less the 300 s overlap),
   then a full sync of the same data (``--full``): requests (the server's count) and seconds, incremental / full.
3. **Memory**: a full sync of ``asset`` for 10k and then 100k assets (5,000 per site: the simulator's dataset
   builder cannot make more than ~6,000 assets per site), every site one partition after another in one process,
   as ``ic3 sync maximo --object-structure asset`` does. Peak RSS is the kernel's high-water mark (``VmHWM``) of the
   syncing process; a psutil thread also samples RSS every 50 ms, read at the end of each partition. The simulator's
   process is not counted.

    python -m bench.maximo_sync            # 3,000 assets (6,000 work orders) per latency; 10k vs 100k assets
    python -m bench.maximo_sync --quick    # 600 assets per latency; 300 vs 3,000 assets (a smoke run, < 2 min)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.harness import Table, heading, in_subprocess, peak_rss_mb
from bench.maximo_process import KEY_ENV, MaximoSimulatorProcess

SITE = "BEDFORD"
THROUGHPUT_STREAMS = ("asset", "wodetail")
CHANGED_SHARE = 0.01
MEMORY_SITE_SIZE = 5_000  # the simulator's builder runs out of distinct location names above ~6,000 assets per site


@dataclass(frozen=True)
class Plan:
    latencies_ms: tuple[float, ...]
    assets: int  # per latency, in one site
    memory_sizes: tuple[tuple[int, int], ...]  # (sites, assets per site) per memory step


FULL = Plan(latencies_ms=(100, 500), assets=3_000, memory_sizes=((2, MEMORY_SITE_SIZE), (20, MEMORY_SITE_SIZE)))
QUICK = Plan(latencies_ms=(100, 500), assets=600, memory_sizes=((1, 300), (1, 3_000)))


# -- in the syncing process --------------------------------------------------------------------------------------


class _NextLinkConnector:
    """The product's Maximo connector, except that it pages by next links: one page after another, as a script
    following ``nextPage`` would (the engine then never asks for pages by number, so never several at once)."""

    paging = "next_link"

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _RssSampler:
    """Samples this process's RSS every ``interval_s`` in a thread; ``now()`` is the latest sample (MB)."""

    def __init__(self, interval_s: float = 0.05) -> None:
        import psutil

        self._process = psutil.Process()
        self._interval_s = interval_s
        self._stop = threading.Event()
        self.peak_mb = self.now()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def now(self) -> float:
        return self._process.memory_info().rss / 2**20

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.peak_mb = max(self.peak_mb, self.now())

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, self.now())


def measure_sync(base_url: str, database: str, streams: list[str], sites: list[str], full: bool = True,
                 sequential: bool = False, changes: dict[str, int] | None = None) -> dict[str, Any]:
    """Sync ``streams`` for ``sites`` (one partition after another) through the engine into ``database``.

    Returns per stream: records written, child rows, pages, requests, passes, mode and seconds (summed over
    partitions), the server's request count; and this process's RSS before the sync, at the end of each partition,
    its sampled and kernel peaks. With ``changes`` (object structure -> records to change in the first site), that
    many records are then changed through the simulator's ``POST /_sim/change`` and the same streams synced again,
    incrementally (``incremental``) and then fully (``refresh``), in this process: one start-up for three syncs.
    """
    import httpx

    from ic3_pipeline.components.catalog import configured
    from ic3_pipeline.http_client import HttpPolicy, ResilientClient
    from ic3_pipeline.sync.collection_sync import sync_stream
    from ic3_pipeline.sync.connector import Credentials
    from ic3_pipeline.warehouse import ensure_schema, make_engine

    spec = next(s for s in configured()[1] if s.source == "maximo")
    connector = _NextLinkConnector(spec.connector) if sequential else spec.connector
    settings = replace(spec.paging, page_concurrency=1) if sequential else spec.paging
    policy = HttpPolicy(timeout_s=spec.http.timeout_s, max_attempts=spec.http.max_attempts,
                        concurrency=spec.http.concurrency, initial_rate=spec.http.initial_rate_per_s,
                        max_rate=spec.http.max_rate_per_s)
    headers = connector.headers(Credentials({"api_key": os.environ[KEY_ENV]}, {"api_key": KEY_ENV}))
    admin_url = base_url.rsplit("/", 1)[0]
    engine = make_engine(f"sqlite:///{database}")
    ensure_schema(engine)
    rss_after_partition: list[float] = []

    def server_requests() -> int:
        return httpx.get(f"{admin_url}/_sim/stats", timeout=60).json()["requests"]

    async def run(sampler: _RssSampler, full_read: bool) -> dict[str, Any]:
        figures: dict[str, dict[str, Any]] = {}
        before = server_requests()
        async with ResilientClient(base_url, headers=headers, policy=policy) as client:
            for name in streams:
                stream = spec.stream(name)
                totals = figures.setdefault(name, {"records": 0, "child_rows": 0, "pages": 0, "requests": 0,
                                                   "passes": 0, "wall_s": 0.0, "mode": ""})
                for site in (sites if stream.partitioned else [None]):
                    started = time.perf_counter()
                    report = await sync_stream(client, connector, engine, source="maximo", stream=stream,
                                               partition=site, full=full_read, settings=settings)
                    totals["wall_s"] += time.perf_counter() - started
                    totals["records"] += report.rows
                    totals["child_rows"] += report.child_rows
                    totals["pages"] += report.pages
                    totals["requests"] += report.request_stats.get("requests", 0)
                    totals["passes"] += report.passes
                    totals["mode"] = report.mode
                    rss_after_partition.append(sampler.now())
        return {"streams": figures, "server_requests": server_requests() - before}

    rss_before = _RssSampler().now()
    with _RssSampler() as sampler:
        result = asyncio.run(run(sampler, full))
        if changes:
            changed = 0
            for os_name, count in changes.items():
                answer = httpx.post(f"{admin_url}/_sim/change", json={"os": os_name, "count": count,
                                                                       "site": sites[0]}, timeout=60)
                answer.raise_for_status()
                changed += len(answer.json()["changed"])
            result["changed"] = changed
            result["incremental"] = asyncio.run(run(sampler, False))
            result["refresh"] = asyncio.run(run(sampler, True))
    engine.dispose()
    return {**result, "rss_before_mb": rss_before, "rss_after_partition_mb": rss_after_partition,
            "sampled_peak_mb": sampler.peak_mb, "peak_rss_mb": peak_rss_mb()}


# -- in the bench's process ----------------------------------------------------------------------------------------


def _sync(sim: MaximoSimulatorProcess, api_key: str, database: Path, streams: tuple[str, ...], sites: list[str],
          **options: Any) -> dict[str, Any]:
    """One process of syncs (:func:`measure_sync`), on a fresh interpreter."""
    return in_subprocess("bench.maximo_sync", "measure_sync", env={KEY_ENV: api_key}, base_url=sim.base_url,
                         database=str(database), streams=list(streams), sites=sites, **options)


def throughput_and_incremental(plan: Plan, api_key: str, workdir: Path) -> None:
    heading(f"Maximo full sync: ic3 (pages by number, 4 in flight) vs sequential nextPage, {plan.assets:,} assets "
            f"and {2 * plan.assets:,} work orders in one site")
    throughput = Table(["L ms", "server s/page at L=0", "stream", "contender", "pages", "requests", "records", "child rows", "wall s",
                        "records/s", "rows/s incl. children", "ic3 / sequential"])
    incremental_rows = []
    for latency_ms in plan.latencies_ms:
        with MaximoSimulatorProcess([SITE], plan.assets, api_key=api_key, latency_ms=latency_ms) as sim:
            server_s = _server_seconds_per_page(sim, api_key)
            sequential = _sync(sim, api_key, workdir / f"seq_{latency_ms:g}.db", THROUGHPUT_STREAMS, [SITE],
                               sequential=True)
            changes = {"mxapiasset": max(1, round(CHANGED_SHARE * plan.assets)),
                       "mxapiwodetail": max(1, round(CHANGED_SHARE * 2 * plan.assets))}
            product = _sync(sim, api_key, workdir / f"ic3_{latency_ms:g}.db", THROUGHPUT_STREAMS, [SITE],
                            changes=changes)
            for name in (*THROUGHPUT_STREAMS, "both"):
                base, ours = _stream_figures(sequential, name), _stream_figures(product, name)
                for label, figures in (("sequential (old scripts)", base), ("ic3", ours)):
                    ratio = figures["records"] / figures["wall_s"] / (base["records"] / base["wall_s"])
                    throughput.row(f"{latency_ms:g}", f"{server_s:.2f}", name, label, figures["pages"], figures["requests"],
                                   figures["records"], figures["child_rows"], figures["wall_s"],
                                   figures["records"] / figures["wall_s"],
                                   (figures["records"] + figures["child_rows"]) / figures["wall_s"],
                                   "1.00" if label.startswith("sequential") else f"{ratio:.2f}")
            incremental_rows.append((latency_ms, product["changed"], product["incremental"], product["refresh"]))

    heading("Maximo incremental sync after 1 % of assets and work orders changed vs a full sync of the same data")
    table = Table(["L ms", "sync", "changed", "mode", "requests (server)", "records read", "wall s",
                   "requests / full", "seconds / full"])
    for latency_ms, changed, incremental, refresh in incremental_rows:
        full_figures = _stream_figures(refresh, "both")
        for label, result in (("incremental", incremental), ("full (--full)", refresh)):
            figures = _stream_figures(result, "both")
            modes = "/".join(sorted({s["mode"] for s in result["streams"].values()}))
            table.row(f"{latency_ms:g}", label, changed, modes, result["server_requests"], figures["records"],
                      figures["wall_s"], f"{result['server_requests'] / refresh['server_requests']:.3f}",
                      f"{figures['wall_s'] / full_figures['wall_s']:.3f}")


def _server_seconds_per_page(sim: MaximoSimulatorProcess, api_key: str, tries: int = 3) -> float:
    """The median time the simulator takes to build and send a 500-asset page when it adds no latency: the part of
    every page's answer time that is its CPU, which several requests in flight cannot overlap (one event loop)."""
    import httpx

    from ic3_pipeline.connectors.maximo.connector import connector
    from ic3_pipeline.sync.streams import PageRequest, StreamSpec

    stream = StreamSpec(name="asset", resource="MXAPIASSET", key=("siteid", "assetnum"), change_field="changedate",
                        partition_field="siteid")
    url = f"{sim.base_url}/{connector.page_request(PageRequest(stream, SITE, None, 500, 1))}"
    latency_ms = sim.stats_config()["latency_ms"]
    sim.configure(latency_ms=0)
    try:
        times = []
        for _ in range(tries):
            started = time.perf_counter()
            httpx.get(url, headers={"apikey": api_key}, timeout=60).raise_for_status()
            times.append(time.perf_counter() - started)
    finally:
        sim.configure(latency_ms=latency_ms)
    return sorted(times)[len(times) // 2]


def _stream_figures(result: dict[str, Any], name: str) -> dict[str, Any]:
    """One stream's figures, or the sum over the streams ("both")."""
    streams = result["streams"]
    if name != "both":
        return streams[name]
    summed: dict[str, Any] = {}
    for figures in streams.values():
        for field, value in figures.items():
            if isinstance(value, (int, float)):
                summed[field] = summed.get(field, 0) + value
    return summed


def memory(plan: Plan, api_key: str, workdir: Path) -> None:
    heading("Maximo full sync of asset: RSS of the syncing process by assets synced (simulator not counted)")
    table = Table(["assets", "sites", "records", "child rows", "pages", "wall s", "records/s", "RSS before sync MB",
                   "RSS after 1st site MB", "RSS after last site MB", "sampled peak MB", "peak RSS (VmHWM) MB",
                   "peak above start MB"])
    series = []
    for sites_count, per_site in plan.memory_sizes:
        sites = [f"SITE{index:02d}" for index in range(1, sites_count + 1)]
        with MaximoSimulatorProcess(sites, per_site, api_key=api_key, latency_ms=0) as sim:
            result = _sync(sim, api_key, workdir / f"memory_{sites_count * per_site}.db", ("asset",), sites)
        figures = result["streams"]["asset"]
        after = result["rss_after_partition_mb"]
        table.row(sites_count * per_site, sites_count, figures["records"], figures["child_rows"], figures["pages"],
                  figures["wall_s"], figures["records"] / figures["wall_s"], result["rss_before_mb"], after[0],
                  after[-1], result["sampled_peak_mb"], result["peak_rss_mb"],
                  result["peak_rss_mb"] - result["rss_before_mb"])
        series.append((sites_count * per_site, after))
    for assets, after in series:  # the whole series: whether RSS keeps rising from site to site
        print(f"\nRSS after each site, {assets:,} assets (MB): " + ", ".join(f"{mb:.1f}" for mb in after), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run, under 2 minutes)")
    parser.add_argument("--part", choices=("throughput", "memory"), action="append",
                        help="only this part (repeatable; default: both; throughput includes the incremental)")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    parts = args.part or ["throughput", "memory"]
    api_key = secrets.token_urlsafe(24)  # a fresh stand-in per run: the simulator's, never a real key
    with tempfile.TemporaryDirectory(prefix="ic3-bench-maximo-") as workdir:
        if "throughput" in parts:
            throughput_and_incremental(plan, api_key, Path(workdir))
        if "memory" in parts:
            memory(plan, api_key, Path(workdir))


if __name__ == "__main__":
    main()
