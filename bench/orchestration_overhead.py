"""What Dagster costs: ``ic3 sync --all`` (real runs on a real instance) versus the bare client loop, same data.

Both sides start from a fresh SQLite database holding the same imported register and sync every asset from a fresh
simulator (R = 20 req/s, L = 50 ms, default burst, no faults). Each is timed from outside its process, start to exit,
as a user waits for it:

- **Dagster**: a temporary ``DAGSTER_HOME`` with the project's ``dagster.yaml``; the register imported with
  ``ic3 import`` (a run, untimed); then ``ic3 sync --all`` (site partitions batched into runs of 100).
  Its enrichment time is the batch's ``duration_ms`` in ``cmms_sync_log``.
- **bare**: ``python -m bench.orchestration_overhead --bare URL``: ``due_asset_ids`` then ``sync_assets`` with the
  resource's defaults, in a fresh interpreter that never imports Dagster — the same work with no orchestration.

The ratio of the two wall times is the figure; "overhead s" is wall minus the enrichment itself. Each side also
gets the server's view: requests it accepted per second of the side's wall time over R ("goodput / R": what the
user's whole command made of the API's limit, start-up included) and the share of requests answered 429.

    python -m bench.orchestration_overhead            # 1,000 assets (~50 s of API time per side)
    python -m bench.orchestration_overhead --quick    # 300 assets
    python -m bench.orchestration_overhead --first-sync
        # issue #15's target run: the whole 2,957-asset sample, R = 20 req/s, 150 ms answers, a bucket of R tokens
        # starting full and 429s carrying Retry-After only every other time (--assets/--rate/--latency-ms/--bucket/
        # --retry-after set each of these)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bench.harness import Table, heading, in_subprocess, register_file
from bench.simulator import SimulatorProcess

RATE = 20.0
LATENCY_MS = 50.0
PROJECT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1.15
SAMPLE_ASSETS = 2_957  # the users' register, the issue's first-sync run


@dataclass(frozen=True)
class Api:
    """The simulated API both sides sync from: its limit, answer time, bucket and Retry-After style."""

    rate: float = RATE
    latency_ms: float = LATENCY_MS
    burst: float | None = None  # None: the simulator's default (0.1 x R)
    retry_after: str = "seconds"

    def simulator(self, register: Path, token: str) -> SimulatorProcess:
        return SimulatorProcess(register, token=token, rate_limit=self.rate, latency_ms=self.latency_ms,
                                burst=self.burst, retry_after=self.retry_after)


def bare_loop(database_url: str) -> dict:
    """The enrichment with no orchestration: what is due, fetched and written by ``sync_assets``."""
    from bench.harness import BENCH_SOURCE, bench_context
    from ic3_pipeline.connectors import get_connector
    from ic3_pipeline.http_client import HttpPolicy
    from ic3_pipeline.sync.batch import sync_assets
    from ic3_pipeline.sync.connector import Credentials
    from ic3_pipeline.sync.due import due_asset_ids
    from ic3_pipeline.warehouse import make_engine

    started = time.perf_counter()
    engine = make_engine(database_url)
    ids = due_asset_ids(engine, BENCH_SOURCE, None, now=datetime.now(timezone.utc))
    # HttpPolicy() holds the same defaults as the source's resource, whose module would import Dagster.
    connector = get_connector(BENCH_SOURCE)
    credentials = Credentials({"token": os.environ["INNOMAINT_API_TOKEN"]}, {"token": "INNOMAINT_API_TOKEN"})
    client = connector.open_client(os.environ["INNOMAINT_BASE_URL"], credentials, HttpPolicy())

    async def sync():
        async with client:
            return await sync_assets(client, connector, engine, ids, context=bench_context("bench-bare"))

    report = asyncio.run(sync())
    return {"due": report.due, "synced": report.synced, "enrich_s": time.perf_counter() - started}


def batch_figures(database_url: str) -> dict:
    """What the Dagster runs recorded: assets synced and the enrichment's own time (``cmms_sync_log``)."""
    from sqlalchemy import func, select

    from ic3_pipeline.warehouse import make_engine, tables

    log = tables.cmms_sync_log
    with make_engine(database_url).connect() as conn:
        synced, duration_ms, runs = conn.execute(
            select(func.sum(log.c.assets_synced), func.sum(log.c.duration_ms), func.count())
        ).one()
    return {"synced": synced or 0, "enrich_s": (duration_ms or 0) / 1000, "batches": runs}


def _ic3(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("ic3")
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "ic3_pipeline.cli", *args]


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, text=True, cwd=PROJECT)
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command[-3:])} failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    return wall, completed.stdout


def _server_view(stats: dict, wall_s: float, api: Api) -> dict:
    accepted = stats["requests"] - stats["throttled"]
    return {"requests": stats["requests"], "throttled": stats["throttled"],
            "goodput_over_r": accepted / wall_s / api.rate, "throttled_pct": 100 * stats["throttled"] / stats["requests"]}


def measure_dagster(register: Path, tmp: Path, api: Api) -> dict:
    from ic3_pipeline.dagster_home import INSTANCE_TEMPLATE

    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copyfile(INSTANCE_TEMPLATE, home / "dagster.yaml")
    database = f"sqlite:///{tmp}/dagster_side.sqlite"
    token = secrets.token_urlsafe(16)
    env = {**os.environ, "DAGSTER_HOME": str(home), "IC3_DATABASE_URL": database, "IC3_DATA_DIR": str(tmp / "data"),
           "INNOMAINT_API_TOKEN": token}
    _timed(_ic3("import", str(register)), env)
    with api.simulator(register, token) as simulator:
        env["INNOMAINT_BASE_URL"] = simulator.base_url
        wall, stdout = _timed(_ic3("sync", "--all"), env)
        stats = simulator.stats()
    runs = sum(1 for line in stdout.splitlines() if line.strip().startswith("run "))
    return {"wall_s": wall, "runs": runs, **_server_view(stats, wall, api), **batch_figures(database)}


def measure_bare(register: Path, tmp: Path, api: Api) -> dict:
    database = f"sqlite:///{tmp}/bare_side.sqlite"
    in_subprocess("bench.harness", "import_into", url=database, register=str(register))
    token = secrets.token_urlsafe(16)
    with api.simulator(register, token) as simulator:
        env = {**os.environ, "INNOMAINT_API_TOKEN": token, "INNOMAINT_BASE_URL": simulator.base_url}
        wall, stdout = _timed([sys.executable, "-m", "bench.orchestration_overhead", "--bare", database], env)
        stats = simulator.stats()
    return {"wall_s": wall, "runs": 0, **_server_view(stats, wall, api), **json.loads(stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="300 assets instead of 1,000")
    parser.add_argument("--first-sync", action="store_true",
                        help="the issue's run: 2,957 assets, R = 20, 150 ms, bucket R, Retry-After mixed")
    parser.add_argument("--assets", type=int)
    parser.add_argument("--rate", type=float)
    parser.add_argument("--latency-ms", type=float)
    parser.add_argument("--bucket", help="tokens the server's bucket holds: a number, or R / 5R (x the rate)")
    parser.add_argument("--retry-after", choices=["seconds", "http-date", "none", "mixed"])
    parser.add_argument("--bare", metavar="DATABASE_URL", help=argparse.SUPPRESS)  # the timed child of the bare side
    args = parser.parse_args()
    if args.bare:
        print(json.dumps(bare_loop(args.bare)))
        return
    preset = (SAMPLE_ASSETS, 20.0, 150.0, "R", "mixed") if args.first_sync else (
        300 if args.quick else 1_000, RATE, LATENCY_MS, None, "seconds")
    assets = args.assets or preset[0]
    rate = args.rate or preset[1]
    bucket = args.bucket or preset[3]
    api = Api(rate=rate, latency_ms=args.latency_ms or preset[2], burst=_tokens(bucket, rate),
              retry_after=args.retry_after or preset[4])
    register = register_file(assets)
    heading(f"Orchestration overhead: ic3 sync --all vs bare sync_assets ({assets:,} assets, R = {api.rate:g} req/s, "
            f"L = {api.latency_ms:g} ms, bucket {bucket or 'default'}, Retry-After {api.retry_after})")
    with tempfile.TemporaryDirectory() as tmp:
        bare = measure_bare(register, Path(tmp), api)
        dagster = measure_dagster(register, Path(tmp), api)
    table = Table(["side", "runs", "synced", "requests", "429 %", "goodput / R", "wall s", "enrichment s",
                   "overhead s", "wall / bare wall"])
    for label, result in (("bare sync_assets", bare), ("ic3 sync --all (Dagster)", dagster)):
        table.row(label, result["runs"], result["synced"], result["requests"], f"{result['throttled_pct']:.2f}",
                  f"{result['goodput_over_r']:.3f}", result["wall_s"], result["enrich_s"],
                  result["wall_s"] - result["enrich_s"], f"{result['wall_s'] / bare['wall_s']:.3f}")
    ratio = dagster["wall_s"] / bare["wall_s"]
    print(f"\nratio {ratio:.3f} (target <= {TARGET_RATIO}): {'met' if ratio <= TARGET_RATIO else 'missed'}")


def _tokens(bucket: str | None, rate: float) -> float | None:
    if bucket is None:
        return None
    if bucket.upper().endswith("R"):
        return float(bucket[:-1] or 1) * rate
    return float(bucket)


if __name__ == "__main__":
    main()
