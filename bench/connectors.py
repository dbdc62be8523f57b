"""Declarative connectors: records/s per preset against its simulator at a realistic latency, side by side with a
naive sequential client, and the unified mapping's cost per record.

For each preset (``defs/upkeep``, ``defs/fiix``, ``defs/sap_pm``; ``--defs-dir`` to measure other copies of them)
its simulator serves ``--assets-per-site`` assets per site (work orders and schedules in proportion) with
``--latency-ms`` per answer (default 100 ms), on loopback, from a thread of this process. Then, in the same run:

1. **naive**: a plain ``httpx.AsyncClient`` loop, one request after another, following the same paging (it asks
   for each page with the preset's own request and reads it with the preset's own reader, so only the strategy
   differs): the next offset until a short page, the next link, the next cursor. It keeps the records in memory and
   writes nothing - the cheapest a sequential client can be.
2. **ic3**: the engine (``sync_stream``) over every stream and site in load order, a full read into a fresh SQLite
   file with the source's own paging settings and HTTP policy (pages at once where the API gives a total, the page
   writer, the unified rows when the preset maps them); then again with the rate limiter starting at 50 req/s
   instead of the preset's polite ``http.initial_rate_per_s`` (5), to show what the limiter's start costs.
3. **mapping**: ``RecordMapping.map_record`` over every record the naive client received, per stream with a
   ``unified:`` block, on one core without a database. The issue's bar: not the bottleneck below 20k records/s.

Read the ratio ic3 / naive, not the seconds: the machine is shared. No figure is asserted.

    python -m bench.connectors               # 250 assets a site, 100 ms
    python -m bench.connectors --quick       # 40 assets a site
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.harness import Table, heading

REPEATS = 3  # mapping passes per stream; the best is kept (the machine is shared)
UNBOUND_RATE = 50.0  # the limiter's start for the second engine run: above what 100 ms answers allow one by one


@dataclass(frozen=True)
class Preset:
    name: str
    module: str  # in ic3_pipeline.sandbox
    simulator: str
    config: str
    secrets: dict[str, str]  # role -> the simulator's default value for it
    sites: tuple[str | None, ...]  # the partitions a per-site stream is read in


PRESETS = (
    Preset("upkeep", "upkeep_simulator", "UpKeepSimulator", "UpKeepSimConfig",
           {"user": "sim@example.com", "password": "sim-password"}, (None,)),
    Preset("fiix", "fiix_simulator", "FiixSimulator", "FiixSimConfig",
           {"app_key": "sim-app-key", "access_key": "sim-access-key", "secret_key": "sim-secret-key"}, ("1", "2")),
    Preset("sap_pm", "sap_pm_simulator", "SapPmSimulator", "SapPmSimConfig",
           {"user": "SIM_USER", "password": "sim-password"}, ("1010", "1020")),
)


def _simulator(preset: Preset, assets_per_site: int, latency_ms: float):
    module = importlib.import_module(f"ic3_pipeline.sandbox.{preset.module}")
    config = getattr(module, preset.config)(assets_per_site=assets_per_site, latency_ms=latency_ms, seed=7)
    sim = getattr(module, preset.simulator)(config)
    sim.start(log_level="warning")
    return sim


def _client_parts(spec, base_url: str, secrets: dict[str, str]):
    from ic3_pipeline.sync.connector import Credentials

    connector = spec.connector
    credentials = Credentials(secrets, dict(spec.secrets))
    auth = connector.auth(credentials, base_url) if hasattr(connector, "auth") else None
    return connector, connector.headers(credentials), auth


def _partitions(preset: Preset, stream) -> tuple[str | None, ...]:
    return preset.sites if stream.partitioned else (None,)


async def naive(preset: Preset, spec, base_url: str) -> dict[str, Any]:
    """One request at a time with a plain httpx client; the records per stream, requests, seconds."""
    import httpx

    from ic3_pipeline.sync.streams import PageRequest, as_call

    connector, headers, auth = _client_parts(spec, base_url, preset.secrets)
    size = min(spec.paging.page_size, spec.paging.max_page_size)
    records: dict[str, list[dict]] = {}
    requests = 0
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base_url.rstrip("/") + "/", headers=headers, auth=auth,
                                 timeout=30.0) as client:
        for stream in spec.ordered_streams:
            kind = connector.stream_paging(stream)
            found = records.setdefault(stream.name, [])
            for site in _partitions(preset, stream):
                offset, number, cursor = 0, 1, None
                call = as_call(connector.page_request(PageRequest(stream, site, None, size, number, offset, cursor)))
                while True:
                    url = call.url.lstrip("/") if not call.url.startswith("http") else call.url
                    response = await client.request(call.method, url, content=call.content, headers=call.headers or None)
                    requests += 1
                    page = call.parse(response)
                    found += page.records
                    if not page.records:
                        break
                    if kind == "next_link":
                        if not page.next_url:
                            break
                        call = call.follow(page.next_url)
                        continue
                    if kind == "cursor":
                        if not page.cursor:
                            break
                        cursor = page.cursor
                    else:
                        offset += len(page.records)
                        number += 1
                        if len(page.records) < size or (page.total_count is not None and offset >= page.total_count):
                            break
                    call = as_call(connector.page_request(PageRequest(stream, site, None, size, number, offset, cursor)))
    return {"records": records, "requests": requests, "seconds": time.perf_counter() - started}


async def engine(preset: Preset, spec, base_url: str, folder: Path, *, initial_rate: float | None = None,
                 label: str = "") -> dict[str, Any]:
    """The engine's full read of every stream and site into a fresh SQLite file; ``initial_rate``: the limiter's
    start instead of the preset's ``http.initial_rate_per_s``."""
    from ic3_pipeline.components.resource import api_resource
    from ic3_pipeline.http_client import ResilientClient
    from ic3_pipeline.sync.collection_sync import sync_stream
    from ic3_pipeline.warehouse import ensure_schema, make_engine

    database = make_engine(f"sqlite:///{folder / f'{preset.name}{label}.sqlite'}")
    ensure_schema(database)
    connector, headers, auth = _client_parts(spec, base_url, preset.secrets)
    policy = api_resource(spec, secrets_as_env_vars=False).policy()
    if initial_rate is not None:
        policy = replace(policy, initial_rate=initial_rate)
    rows = unified = 0
    started = time.perf_counter()
    async with ResilientClient(base_url, headers=headers, policy=policy, auth=auth) as client:
        for stream in spec.ordered_streams:
            for site in _partitions(preset, stream):
                report = await sync_stream(client, connector, database, source=spec.source, stream=stream,
                                           partition=site, full=True, settings=spec.paging)
                rows += report.rows
                unified += report.unified_rows
        requests = client.stats.as_dict().get("requests", 0)
    elapsed = time.perf_counter() - started
    database.dispose()
    return {"rows": rows, "unified": unified, "requests": requests, "seconds": elapsed}


def mapping_cost(spec, records: dict[str, list[dict]]) -> dict[str, tuple[int, float]]:
    """Per stream with a mapping: (records, seconds of the best of ``REPEATS`` passes mapping them all)."""
    costs = {}
    for stream in spec.ordered_streams:
        found = records.get(stream.name, [])
        if stream.mapping is None or not found:
            continue
        best = float("inf")
        for _ in range(REPEATS):
            started = time.perf_counter()
            for record in found:
                stream.mapping.map_record(record)
            best = min(best, time.perf_counter() - started)
        costs[stream.name] = (len(found), best)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.connectors", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="40 assets a site instead of 250")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--assets-per-site", type=int, default=None)
    parser.add_argument("--defs-dir", type=Path, default=None, help="where <preset>/defs.yaml are (default: the project's)")
    parser.add_argument("presets", nargs="*", default=[p.name for p in PRESETS])
    args = parser.parse_args()
    from ic3_pipeline.components.connector_files import load_connector

    assets_per_site = args.assets_per_site or (40 if args.quick else 250)
    heading(f"Declarative connectors: {assets_per_site} assets a site, {args.latency_ms:.0f} ms an answer")
    table = Table(["preset", "records", "naive requests", "naive s", "naive rec/s", "ic3 requests", "ic3 s",
                   "ic3 rec/s", "ic3 / naive",
                   f"ic3 from {UNBOUND_RATE:.0f}/s rec/s", "its / naive", "unified rows", "mapping µs/rec", "mapping rec/s", "mapping ≥ 20k/s"])
    per_stream: list[tuple[str, str, int, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-connectors-") as tmp:
        for preset in PRESETS:
            if preset.name not in args.presets:
                continue
            spec = load_connector(preset.name, args.defs_dir).spec
            spec = replace(spec, paging=replace(spec.paging, overlap_s=0.0))
            sim = _simulator(preset, assets_per_site, args.latency_ms)
            try:
                slow = asyncio.run(naive(preset, spec, sim.base_url))
                fast = asyncio.run(engine(preset, spec, sim.base_url, Path(tmp)))
                unbound = asyncio.run(engine(preset, spec, sim.base_url, Path(tmp), initial_rate=UNBOUND_RATE,
                                             label="-unbound"))
            finally:
                sim.stop()
            total = sum(len(found) for found in slow["records"].values())
            costs = mapping_cost(spec, slow["records"])
            mapped, seconds = sum(n for n, _ in costs.values()), sum(t for _, t in costs.values())
            per_record = seconds / mapped * 1e6 if mapped else None
            table.row(preset.name, total, slow["requests"], slow["seconds"], total / slow["seconds"], fast["requests"],
                      fast["seconds"], fast["rows"] / fast["seconds"], (fast["rows"] / fast["seconds"]) /
                      (total / slow["seconds"]), unbound["rows"] / unbound["seconds"],
                      (unbound["rows"] / unbound["seconds"]) / (total / slow["seconds"]), fast["unified"],
                      per_record if per_record is not None else "no unified: block",
                      1e6 / per_record if per_record else "-",
                      ("yes" if 1e6 / per_record >= 20_000 else "NO") if per_record else "-")
            per_stream += [(preset.name, name, n, t / n * 1e6) for name, (n, t) in costs.items()]
            if fast["rows"] != total:
                print(f"  note: {preset.name}: the engine stored {fast['rows']} rows, the naive client read {total} "
                      "records", flush=True)
    if per_stream:
        print("\nThe mapping per stream (best of %d passes, one core, no database):\n" % REPEATS, flush=True)
        streams = Table(["preset", "stream", "records", "µs/record", "records/s"])
        for preset_name, name, n, micros in per_stream:
            streams.row(preset_name, name, n, micros, 1e6 / micros)


if __name__ == "__main__":
    main()
