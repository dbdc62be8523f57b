"""What Dagster costs: ``ic3 sync --all`` (real runs on a real instance) versus the bare client loop, same data.

Both sides start from a fresh SQLite database holding the same imported register and sync every asset from a fresh
simulator (R = 20 req/s, L = 50 ms, default burst, no faults). Each is timed from outside its process, start to exit,
as a user waits for it:

- **Dagster**: a temporary ``DAGSTER_HOME`` with the project's ``dagster.yaml``; the register imported with
  ``ic3 import`` (a run, untimed); then ``ic3 sync --all`` (site partitions batched into runs of 100).
  Its enrichment time is the batch's ``duration_ms`` in ``cmms_sync_log``.
- **bare**: ``python -m bench.orchestration_overhead --bare URL``: ``due_asset_ids`` then ``sync_assets`` with the
  resource's defaults, in a fresh interpreter that never imports Dagster — the same work with no orchestration.

The ratio of the two wall times is the figure; "overhead s" is wall minus the enrichment itself.

    python -m bench.orchestration_overhead            # 1,000 assets (~50 s of API time per side)
    python -m bench.orchestration_overhead --quick    # 300 assets
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
from datetime import datetime, timezone
from pathlib import Path

from bench.harness import Table, heading, in_subprocess, register_file
from bench.simulator import SimulatorProcess

RATE = 20.0
LATENCY_MS = 50.0
PROJECT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1.15


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


def measure_dagster(register: Path, tmp: Path) -> dict:
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT / "instance" / "dagster.yaml", home / "dagster.yaml")
    database = f"sqlite:///{tmp}/dagster_side.sqlite"
    token = secrets.token_urlsafe(16)
    env = {**os.environ, "DAGSTER_HOME": str(home), "IC3_DATABASE_URL": database, "IC3_DATA_DIR": str(tmp / "data"),
           "INNOMAINT_API_TOKEN": token}
    _timed(_ic3("import", str(register)), env)
    with SimulatorProcess(register, token=token, rate_limit=RATE, latency_ms=LATENCY_MS) as simulator:
        env["INNOMAINT_BASE_URL"] = simulator.base_url
        wall, stdout = _timed(_ic3("sync", "--all"), env)
        stats = simulator.stats()
    runs = sum(1 for line in stdout.splitlines() if line.strip().startswith("run "))
    return {"wall_s": wall, "runs": runs, "requests": stats["requests"], **batch_figures(database)}


def measure_bare(register: Path, tmp: Path) -> dict:
    database = f"sqlite:///{tmp}/bare_side.sqlite"
    in_subprocess("bench.harness", "import_into", url=database, register=str(register))
    token = secrets.token_urlsafe(16)
    with SimulatorProcess(register, token=token, rate_limit=RATE, latency_ms=LATENCY_MS) as simulator:
        env = {**os.environ, "INNOMAINT_API_TOKEN": token, "INNOMAINT_BASE_URL": simulator.base_url}
        wall, stdout = _timed([sys.executable, "-m", "bench.orchestration_overhead", "--bare", database], env)
        stats = simulator.stats()
    return {"wall_s": wall, "runs": 0, "requests": stats["requests"], **json.loads(stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="300 assets instead of 1,000")
    parser.add_argument("--bare", metavar="DATABASE_URL", help=argparse.SUPPRESS)  # the timed child of the bare side
    args = parser.parse_args()
    if args.bare:
        print(json.dumps(bare_loop(args.bare)))
        return
    assets = 300 if args.quick else 1_000
    register = register_file(assets)
    heading(f"Orchestration overhead: ic3 sync --all vs bare sync_assets ({assets:,} assets, R = {RATE:g} req/s, "
            f"L = {LATENCY_MS:g} ms)")
    with tempfile.TemporaryDirectory() as tmp:
        bare = measure_bare(register, Path(tmp))
        dagster = measure_dagster(register, Path(tmp))
    table = Table(["side", "runs", "synced", "requests", "wall s", "enrichment s", "overhead s", "wall / bare wall"])
    for label, result in (("bare sync_assets", bare), ("ic3 sync --all (Dagster)", dagster)):
        table.row(label, result["runs"], result["synced"], result["requests"], result["wall_s"], result["enrich_s"],
                  result["wall_s"] - result["enrich_s"], f"{result['wall_s'] / bare['wall_s']:.3f}")
    ratio = dagster["wall_s"] / bare["wall_s"]
    print(f"\nratio {ratio:.3f} (target <= {TARGET_RATIO}): {'met' if ratio <= TARGET_RATIO else 'missed'}")


if __name__ == "__main__":
    main()
