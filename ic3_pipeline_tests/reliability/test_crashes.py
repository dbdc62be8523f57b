"""Killed processes (SIGKILL) at several points: nothing half-written, the next run resumes and completes."""

import os
import signal
import subprocess
import sys
import time

import pytest
from dagster import DagsterInstance, DagsterRunStatus
from sqlalchemy import create_engine, func, select, text

from ic3_pipeline_tests.sources import INNOMAINT

POOL = INNOMAINT.pool_name
from ic3_pipeline.register.importer import import_register
from ic3_pipeline.runs import reap_dead_runs
from ic3_pipeline.sandbox.register_generator import write_sample_register
from ic3_pipeline.warehouse import ensure_schema, make_engine, tables
from ic3_pipeline_tests.innomaint.conftest import TOKEN
from ic3_pipeline_tests.reliability.conftest import assert_exact

KILL_POINTS = (10, 45, 90)


def synced(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).where(tables.asset_master.c.last_sync_status == "success")).scalar_one()


def sync_process(pipeline, home) -> subprocess.Popen:
    env = {**os.environ, "DAGSTER_HOME": str(home), "IC3_DATABASE_URL": pipeline.db_url,
           "INNOMAINT_BASE_URL": pipeline.simulator.base_url, "INNOMAINT_API_TOKEN": TOKEN}
    return subprocess.Popen([sys.executable, "-m", "ic3_pipeline.cli", "sync", "--all", "--force"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_until(predicate, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def test_killed_at_several_points_then_resumed(pipeline, tmp_path):
    """Each pass is killed later than the last; after every kill the database is consistent, and a final run
    completes the set with every asset written exactly once per successful fetch."""
    pipeline.simulator.configure(latency_ms=60.0, rate_limit=40.0)
    engine = pipeline.engine
    for point in KILL_POINTS:
        process = sync_process(pipeline, tmp_path / "home")
        wait_until(lambda: synced(engine) >= point or process.poll() is not None)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert synced(engine) < len(pipeline.asset_ids), "the kill must land mid-batch"
        assert_exact_or_partial(engine)
    assert_killed_runs_reaped(tmp_path / "home", len(KILL_POINTS))
    pipeline.simulator.configure(latency_ms=0.0, rate_limit=None)
    assert pipeline.enrich().success
    assert_exact(engine, set(pipeline.asset_ids))


def assert_killed_runs_reaped(home, killed: int) -> None:
    """Each killed ``ic3 sync`` run is marked failed (by the next ``ic3`` command, or here), holds no API pool slot,
    and is not tagged for a Dagster re-launch it could not get (no code server): the next ``ic3 sync`` resumes it."""
    with DagsterInstance.from_config(str(home)) as instance:
        reap_dead_runs(instance)
        runs = instance.get_runs()
        assert len(runs) == killed
        assert {run.status for run in runs} == {DagsterRunStatus.FAILURE}
        assert {run.tags.get("dagster/will_retry") for run in runs} == {"false"}
        assert instance.event_log_storage.get_concurrency_info(POOL).active_slot_count == 0


def assert_exact_or_partial(engine) -> None:
    from ic3_pipeline_tests.sources import inconsistent

    assert inconsistent(engine) == []


def test_killed_inside_a_database_transaction(pipeline, tmp_path):
    """PostgreSQL: a lock held by the test makes the writer block inside an asset's transaction (after its master row
    was updated, before its work-order rows); killing it there must roll that asset back completely."""
    if not pipeline.db_url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL's table locks to stop the writer inside its transaction")
    engine = pipeline.engine
    pipeline.simulator.configure(latency_ms=30.0, rate_limit=40.0)
    process = sync_process(pipeline, tmp_path / "home")
    wait_until(lambda: synced(engine) >= 5)  # past start-up: the writer is now writing assets one by one
    blocker = create_engine(pipeline.db_url).connect()
    transaction = blocker.begin()
    blocker.execute(text("LOCK TABLE ic3_workorder_summary IN ACCESS EXCLUSIVE MODE"))
    with engine.connect() as conn:  # wait until the writer waits on our lock, mid-transaction
        wait_until(lambda: conn.execute(text(
            "SELECT count(*) FROM pg_locks WHERE relation = 'ic3_workorder_summary'::regclass AND NOT granted"
        )).scalar_one() > 0)
        blocked = conn.execute(text(
            "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.relation = 'ic3_workorder_summary'::regclass AND NOT l.granted "
            "AND a.query ILIKE '%ic3_workorder_summary%'"
        )).scalars().all()
    assert blocked, "the writer should be waiting inside its transaction"
    synced_before_kill = synced(engine)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    transaction.rollback()
    blocker.close()
    wait_until(lambda: _gone(engine, blocked))  # the server has rolled the killed client's transaction back
    from ic3_pipeline_tests.sources import inconsistent

    assert inconsistent(engine) == []  # the blocked asset's master update rolled back with its transaction
    assert synced(engine) == synced_before_kill
    assert pipeline.enrich().success
    assert_exact(engine, set(pipeline.asset_ids))


def _gone(engine, pids: list[int]) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"), {"pids": list(pids)}).scalar_one() == 0


def test_killed_import_is_all_or_nothing(db_url, tmp_path):
    """An import killed while it writes leaves either the old database or the whole new register, never part."""
    engine = make_engine(db_url)
    ensure_schema(engine)
    register = write_sample_register(tmp_path / "big.xlsx", assets=8_000, sites=80, seed=2)
    env = {**os.environ, "IC3_DATABASE_URL": db_url, "DAGSTER_HOME": str(tmp_path / "home")}
    outcomes = set()
    for delay in (2.5, 3.0, 3.5, 6.0):
        process = subprocess.Popen([sys.executable, "-m", "ic3_pipeline.cli", "import", str(register)], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        with engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(tables.asset_master)).scalar_one()
        assert count in (0, 8_000), f"partial import: {count} rows"
        outcomes.add(count)
        if count:
            break
    summary, _ = import_register(engine, register)  # and the next import completes (or finds nothing to do)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tables.asset_master)).scalar_one() == 8_000
    assert summary.rows_read == 8_000
