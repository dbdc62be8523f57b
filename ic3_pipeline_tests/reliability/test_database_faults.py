"""Database faults: unreachable at start, lost mid-run, a locked SQLite file — clear errors, nothing half-written."""

import sqlite3
import threading
import time

import pytest
from click.testing import CliRunner
from dagster import instance_for_test, materialize
from sqlalchemy import create_engine, func, select, text

from ic3_pipeline.cli import main
from ic3_pipeline_tests.sources import inconsistent
from ic3_pipeline.register.assets import asset_register
from ic3_pipeline.warehouse import DatabaseUnavailable, connected_engine, tables
from ic3_pipeline.warehouse.resource import WarehouseResource
from ic3_pipeline_tests.dbstate import dump
from ic3_pipeline_tests.reliability.conftest import assert_exact

UNREACHABLE = "postgresql+psycopg://ic3:secret-password@127.0.0.1:1/ic3"


def test_unreachable_database_is_one_clear_line(monkeypatch, tmp_path, sample_register):
    with pytest.raises(DatabaseUnavailable) as info:
        connected_engine(UNREACHABLE)
    assert str(info.value).startswith("Cannot use the target database postgresql+psycopg://ic3:***@127.0.0.1:1/ic3:")
    assert "secret-password" not in str(info.value)

    monkeypatch.setenv("IC3_DATABASE_URL", UNREACHABLE)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    status = CliRunner().invoke(main, ["status"])
    assert status.exit_code != 0 and isinstance(status.exception, DatabaseUnavailable)

    with instance_for_test() as instance:  # inside a run: a failed step whose message is that line
        result = materialize(
            [asset_register], instance=instance, raise_on_error=False,
            resources={"warehouse": WarehouseResource(database_url=UNREACHABLE)},
            run_config={"ops": {"asset_register": {"config": {"path": str(sample_register)}}}},
        )
    description = result.get_step_failure_events()[-1].step_failure_data.user_failure_data.description
    assert description.startswith("Cannot use the target database") and "secret-password" not in description


def test_connection_killed_mid_run_fails_cleanly_and_next_run_completes(pipeline):
    if not pipeline.db_url.startswith("postgresql"):
        pytest.skip("terminating server connections is a PostgreSQL fault")
    pipeline.simulator.configure(latency_ms=40.0, rate_limit=40.0)
    admin = create_engine(pipeline.db_url)
    done = threading.Event()

    def kill_connections() -> None:
        with admin.connect() as conn:
            while conn.execute(select(func.count()).where(tables.asset_master.c.last_sync_status == "success")).scalar_one() < 30:
                time.sleep(0.02)
            for _ in range(50):  # keep killing for a moment: the writer reconnects, gets killed again
                conn.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE '%ic3_%'"
                ))
                time.sleep(0.01)
        done.set()

    killer = threading.Thread(target=kill_connections, daemon=True)
    killer.start()
    result = pipeline.enrich(concurrency=4)
    killer.join(timeout=60)
    admin.dispose()
    engine = pipeline.engine
    assert inconsistent(engine) == []
    if not result.success:
        messages = [e.step_failure_data.user_failure_data for e in result.get_step_failure_events()]
        assert any(m is not None and m.description.startswith("Database error") for m in messages)
    pipeline.simulator.configure(latency_ms=0.0, rate_limit=None)
    assert pipeline.enrich().success
    assert_exact(engine, set(pipeline.asset_ids))


def test_locked_sqlite_file_waits_then_fails_clearly_and_changes_nothing(tmp_path, monkeypatch, sample_register):
    url = f"sqlite:///{tmp_path / 'ic3.sqlite'}"
    connected_engine(url).dispose()
    monkeypatch.setenv("IC3_SQLITE_BUSY_TIMEOUT_S", "1")
    holder = sqlite3.connect(tmp_path / "ic3.sqlite", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program holds the file
    try:
        with instance_for_test() as instance:
            result = materialize(
                [asset_register], instance=instance, raise_on_error=False,
                resources={"warehouse": WarehouseResource(database_url=url)},
                run_config={"ops": {"asset_register": {"config": {"path": str(sample_register)}}}},
            )
        assert not result.success
        description = result.get_step_failure_events()[-1].step_failure_data.user_failure_data.description
        assert "database is locked" in description
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    engine = connected_engine(url)
    before = dump(engine)
    assert all(rows == [] for name, rows in before.items() if name != "ic3_schema_version")

    # a lock held briefly is waited out
    monkeypatch.setenv("IC3_SQLITE_BUSY_TIMEOUT_S", "10")
    holder = sqlite3.connect(tmp_path / "ic3.sqlite", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    threading.Timer(1.0, lambda: (holder.execute("ROLLBACK"), holder.close())).start()
    with instance_for_test() as instance:
        result = materialize(
            [asset_register], instance=instance,
            resources={"warehouse": WarehouseResource(database_url=url)},
            run_config={"ops": {"asset_register": {"config": {"path": str(sample_register)}}}},
        )
    assert result.success
