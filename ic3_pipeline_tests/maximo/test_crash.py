"""A sync killed mid-page (SIGKILL, no clean-up) and resumed: no duplicates, nothing lost, and the high-water mark
never ahead of the committed rows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime

from sqlalchemy import text

from ic3_pipeline.sync.stream_state import read_position
from ic3_pipeline.warehouse.stream_tables import parse_datetime
from ic3_pipeline_tests.maximo.conftest import API_KEY, mismatches

SYNC_ONE_STREAM = textwrap.dedent("""
    import asyncio, dataclasses, sys
    from ic3_pipeline.http_client import HttpPolicy, ResilientClient
    from ic3_pipeline.sync.collection_sync import sync_stream
    from ic3_pipeline.sync.connector import Credentials
    from ic3_pipeline.warehouse import connected_engine
    from ic3_pipeline_tests.maximo.conftest import maximo_spec

    base_url, db_url, key = sys.argv[1:4]
    spec = maximo_spec()
    settings = dataclasses.replace(spec.paging, page_size=3, min_page_size=1, page_concurrency=2)

    async def main():
        headers = spec.connector.headers(Credentials({"api_key": key}, {}))
        async with ResilientClient(base_url, headers=headers, policy=HttpPolicy(initial_rate=50)) as client:
            await sync_stream(client, spec.connector, connected_engine(db_url), source="maximo",
                              stream=spec.stream("asset"), partition="BEDFORD", settings=settings)

    asyncio.run(main())
""")


def committed(engine) -> int:
    with engine.connect() as conn:
        try:
            return conn.execute(text("SELECT count(*) FROM maximo_asset")).scalar_one()
        except Exception:
            return 0


def test_a_sync_killed_mid_page_resumes_without_duplicates_or_loss(db_url, simulator, maximo_engine, syncer):
    syncer.sync("locations", sites=["BEDFORD"])
    simulator.configure(latency_ms=150)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    process = subprocess.Popen([sys.executable, "-c", SYNC_ONE_STREAM, simulator.base_url, db_url, API_KEY], env=env)
    try:
        deadline = time.monotonic() + 60
        while committed(maximo_engine) < 9 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert process.poll() is None, "the sync finished before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    truth = simulator.truth("mxapiasset", site="BEDFORD")
    rows_after_kill = committed(maximo_engine)
    assert 0 < rows_after_kill < len(truth)

    # The mark is at most the newest committed change, and every record changed before it is committed.
    mark = read_position(maximo_engine, "maximo", "asset", "BEDFORD").high_water_mark
    with maximo_engine.connect() as conn:
        keys = {tuple(r) for r in conn.execute(text("SELECT siteid, assetnum FROM maximo_asset"))}
        newest = max(as_instant(v) for (v,) in conn.execute(text("SELECT changedate FROM maximo_asset")))
    assert mark is not None and mark <= newest
    before_mark = {(r["siteid"], r["assetnum"]) for r in truth if parse_datetime(r["changedate"]) < mark}
    assert before_mark <= keys

    simulator.configure(latency_ms=0)
    [resumed] = syncer.sync("asset", sites=["BEDFORD"])
    assert resumed.mode == "incremental"  # it resumed from the mark, not from scratch
    assert mismatches(maximo_engine, syncer.stream("asset"), truth, partition="BEDFORD") == []
    assert committed(maximo_engine) == len(truth)  # no duplicates


def as_instant(value) -> datetime:
    return parse_datetime(value) if isinstance(value, str) else (
        value if value.tzinfo else value.replace(tzinfo=parse_datetime("2000-01-01T00:00:00Z").tzinfo))
