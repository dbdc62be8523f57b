"""A sync process killed mid-batch loses nothing and half-writes nothing; the next run resumes where it stopped."""

import os
import signal
import subprocess
import sys
import time

from sqlalchemy import func, select

from ic3_pipeline_tests.run_results import batch_metadata
from ic3_pipeline_tests.sources import inconsistent
from ic3_pipeline.warehouse import tables
from ic3_pipeline_tests.innomaint.conftest import TOKEN

KILL_AFTER_SYNCED = 25


def synced(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).where(tables.asset_master.c.last_sync_status == "success")
        ).scalar_one()


def test_killed_sync_resumes_without_duplicates_or_half_written_assets(pipeline, tmp_path):
    pipeline.simulator.configure(latency_ms=80.0, rate_limit=25.0)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "IC3_DATABASE_URL": pipeline.db_url,
        "INNOMAINT_BASE_URL": pipeline.simulator.base_url,
        "INNOMAINT_API_TOKEN": TOKEN,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "ic3_pipeline.cli", "sync", "--all"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    engine = pipeline.engine
    deadline = time.monotonic() + 120
    while synced(engine) < KILL_AFTER_SYNCED and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    at_kill = synced(engine)
    assert KILL_AFTER_SYNCED <= at_kill < len(pipeline.asset_ids), "the kill must land mid-batch"
    assert inconsistent(engine) == []

    pipeline.simulator.configure(latency_ms=0.0, rate_limit=None)
    pipeline.simulator.reset_stats()
    result = pipeline.enrich()
    assert result.success
    due = batch_metadata(result)["batch assets due"]
    assert due <= len(pipeline.asset_ids) - at_kill  # finished assets were not fetched again
    assert pipeline.simulator.stats()["requests"] >= due
    assert synced(engine) == len(pipeline.asset_ids)
    assert inconsistent(engine) == []
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tables.asset_performance)).scalar_one() == len(pipeline.asset_ids)
        assert conn.execute(select(func.count()).select_from(tables.workorder_summary)).scalar_one() == 2 * len(pipeline.asset_ids)
        assert conn.execute(select(func.max(tables.asset_master.c.sync_version))).scalar_one() == 1
