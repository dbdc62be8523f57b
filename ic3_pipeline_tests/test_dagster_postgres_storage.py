"""Dagster's own storage on PostgreSQL (dagster-postgres), with the project's dagster.postgres.yaml."""

import shutil
import uuid

import pytest
from click.testing import CliRunner
from dagster import DagsterInstance, DagsterRunStatus
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ic3_pipeline.cli import main
from ic3_pipeline.warehouse.engine import PROJECT_ROOT
from ic3_pipeline_tests.conftest import postgres_base_url, postgres_unavailable_reason


@pytest.fixture
def dagster_database():
    """A throwaway database on the test server for Dagster's run, event and schedule storage."""
    reason = postgres_unavailable_reason()
    if reason:
        pytest.skip(reason)
    name = f"ic3_dagster_{uuid.uuid4().hex[:10]}"
    admin = create_engine(make_url(postgres_base_url()).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_base_url()).set(database=name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_import_run_recorded_in_postgres_storage(tmp_path, monkeypatch, dagster_database, sample_register, postgres_url):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.postgres.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for part, value in {
        "HOST": dagster_database.host or "127.0.0.1",
        "PORT": str(dagster_database.port or 5432),
        "USER": dagster_database.username or "postgres",
        "PASSWORD": dagster_database.password or "",
        "DB": dagster_database.database,
    }.items():
        monkeypatch.setenv(f"IC3_DAGSTER_PG_{part}", value)
    monkeypatch.setenv("IC3_DATABASE_URL", postgres_url)  # target database on PostgreSQL too
    result = CliRunner().invoke(main, ["import", str(sample_register)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        (run,) = instance.get_runs()
        assert run.status == DagsterRunStatus.SUCCESS
    storage = create_engine(dagster_database)
    with storage.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM runs")).scalar_one() == 1
    storage.dispose()
