"""What every benchmark shares: measurements in fresh processes, registers, fresh databases, table printing.

Each measurement runs in a process of its own so that its peak RSS is its own and no warm cache or leftover thread
from an earlier measurement flatters it. A measurement is a plain function of JSON-able keyword arguments returning a
JSON-able dict; :func:`in_subprocess` runs it in a fresh interpreter and hands the dict back.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"
BENCH_SOURCE = "innomaint"  # the project's Innomaint source (defs/innomaint/defs.yaml), whose connector is measured


def bench_context(batch_id: str):
    """Who a benchmark's writes are from: the Innomaint source, traced to the benchmark's own batch id."""
    from ic3_pipeline.sync.attempts import SyncContext

    return SyncContext(source=BENCH_SOURCE, sync_type=BENCH_SOURCE, batch_id=batch_id)

_RUNNER = (
    "import importlib, json, sys\n"
    "module = importlib.import_module(sys.argv[1])\n"
    "result = getattr(module, sys.argv[2])(**json.loads(sys.argv[3]))\n"
    "print('\\n' + json.dumps(result))\n"
)


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB.

    Linux's ``VmHWM`` first: ``ru_maxrss`` survives ``execve``, so a child started from a big parent would report
    the parent's peak as its own.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def in_subprocess(module: str, function: str, env: Mapping[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
    """Run ``module.function(**kwargs)`` in a fresh interpreter and return its dict; its stderr is shown on failure."""
    with tempfile.TemporaryFile(mode="w+") as stderr:
        completed = subprocess.run(
            [sys.executable, "-c", _RUNNER, module, function, json.dumps(kwargs)],
            stdout=subprocess.PIPE, stderr=stderr, text=True, env={**os.environ, **(env or {})},
        )
        if completed.returncode != 0:
            stderr.seek(0)
            raise RuntimeError(f"{module}.{function} failed ({completed.returncode}):\n{stderr.read()[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def register_file(rows: int) -> Path:
    """The sample register with ``rows`` assets, ~50 per site (cached in ``bench/out``: 300k rows take a minute)."""
    from bench.register_import import register_file as cached_register

    OUT.mkdir(exist_ok=True)
    return cached_register(rows)


def imported_database(url: str, register: str | Path):
    """An engine on ``url`` with the schema created and ``register`` imported (the state before any sync)."""
    from ic3_pipeline.register.importer import import_register
    from ic3_pipeline.warehouse import ensure_schema, make_engine

    engine = make_engine(url)
    ensure_schema(engine)
    import_register(engine, register)
    return engine


def import_into(url: str, register: str) -> dict[str, Any]:
    """Measurement-free setup step, run in its own process so the importer's memory is not the next step's."""
    imported_database(url, register).dispose()
    return {}


def asset_ids(engine, limit: int | None = None) -> list[str]:
    """The register's ids in id order (the order a sync fetches them), at most ``limit`` of them."""
    from datetime import datetime, timezone

    from ic3_pipeline.sync.due import due_asset_ids

    ids = due_asset_ids(engine, BENCH_SOURCE, None, now=datetime.now(timezone.utc), force=True)
    return ids if limit is None else ids[:limit]


def synced_in_database(engine, ids: Sequence[str], batch_id: str | None = None) -> int:
    """How many of ``ids`` the database holds as synced (by batch ``batch_id``, if given: its ``ic3_sync_log``
    rows): the count that proves no asset was lost on the way."""
    from sqlalchemy import func, select

    from ic3_pipeline.warehouse import tables

    master, attempts = tables.asset_master, tables.sync_log
    total = 0
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            chunk = list(ids[start:start + 500])
            query = (select(func.count()).select_from(master)
                     .where(master.c.cmms_asset_id.in_(chunk), master.c.last_sync_status == "success"))
            if batch_id is not None:
                query = query.where(master.c.cmms_asset_id.in_(
                    select(attempts.c.serialnumber).where(attempts.c.batch_id == batch_id,
                                                          attempts.c.status == "success")))
            total += conn.execute(query).scalar_one()
    return total


class Table:
    """Prints a Markdown table row by row, so a long benchmark shows each figure as soon as it is measured."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = list(columns)
        print("| " + " | ".join(self.columns) + " |", flush=True)
        print("|" + "|".join("---:" for _ in self.columns) + "|", flush=True)

    def row(self, *cells: object) -> None:
        print("| " + " | ".join(_cell(cell) for cell in cells) + " |", flush=True)


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value >= 1000:
            return f"{value:,.0f}"
        return f"{value:.2f}" if value < 100 else f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def heading(text: str) -> None:
    print(f"\n## {text}  ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores)\n", flush=True)
