"""``defs/upkeep/defs.yaml`` - UpKeep declared in YAML only - against the UpKeep simulator: every record of every
stream exactly, full then incremental then full with a deleted record, on SQLite and PostgreSQL, with faults, a
404 for the empty page and sessions expiring under it; a Dagster run with the secret nowhere in its event log, run
config or metadata; a wrong password stopping the run without retries."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from dagster import AssetKey, Definitions, instance_for_test
from sqlalchemy import Engine, MetaData, Table, select

from ic3_pipeline.components.catalog import configured
from ic3_pipeline.components.collection_source import CollectionSourceSpec
from ic3_pipeline.components.collections import collection_definitions
from ic3_pipeline.components.resource import CmmsApiResource
from ic3_pipeline.sandbox.upkeep_simulator import UpKeepSimConfig, UpKeepSimulator
from ic3_pipeline.warehouse import ensure_schema, make_engine
from ic3_pipeline.warehouse.resource import WarehouseResource
from ic3_pipeline.warehouse.stream_tables import column_name
from ic3_pipeline_tests.declarative.conftest import sync

PASSWORD = "upkeep-pw-5d2e8b-not-a-real-one"  # distinctive, so the tests can search for leaks
EMAIL = "planner@example.com"
COLLECTIONS = {"assets": "assets", "work_orders": "work_orders", "pm_schedules": "schedules"}


def upkeep_spec() -> CollectionSourceSpec:
    """The source exactly as ``defs/upkeep/defs.yaml`` declares it (loaded the way Dagster loads it)."""
    return next(spec for spec in configured()[1] if spec.source == "upkeep")


@pytest.fixture
def simulator() -> Iterator[UpKeepSimulator]:
    sim = UpKeepSimulator(UpKeepSimConfig(email=EMAIL, password=PASSWORD, assets_per_site=30, seed=5,
                                          empty_page_404=True))
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def upkeep_engine(db_url) -> Iterator[Engine]:
    engine = make_engine(db_url)
    ensure_schema(engine)
    yield engine
    engine.dispose()


def stored(engine: Engine, stream: str) -> dict[str, dict]:
    table = Table(f"upkeep_{stream}", MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        return {row["id"]: dict(row) for row in conn.execute(select(table)).mappings()}


def assert_exact(engine: Engine, simulator: UpKeepSimulator, stream: str) -> None:
    """Every record the API has is stored, alive, with its fields as sent; every stored record it no longer has is
    marked deleted."""
    truth = {record["id"]: record for record in simulator.truth(COLLECTIONS[stream])}
    rows = stored(engine, stream)
    alive = {key for key, row in rows.items() if row["_deleted_at"] is None}
    assert alive == set(truth), stream
    for key, record in truth.items():
        for name in ("name", "title", "status", "asset", "serialNumber", "repeatEvery"):
            if name in record:
                assert rows[key][column_name(name)] == record[name], (stream, name)


def test_full_incremental_and_full_with_a_delete_are_exact(upkeep_engine, simulator):
    spec = upkeep_spec()
    secrets = {"user": EMAIL, "password": PASSWORD}
    simulator.configure(fault_rate=0.15, fault_kinds=("503", "500", "truncated"))
    streams = [stream.name for stream in spec.ordered_streams]
    assert streams == ["assets", "work_orders", "pm_schedules"]
    auth = None
    for stream in streams:
        synced = sync(spec, stream, simulator.base_url, upkeep_engine, secrets, page_size=20, auth=auth)
        auth = synced.auth  # one session for the whole run, as one Dagster step's client has
        assert synced.report.mode == "full"
        assert_exact(upkeep_engine, simulator, stream)
    stats = simulator.stats()
    assert stats["not_found"] >= 1 and sum(stats["faults"].values()) >= 1  # the empty page after the last full one is a 404

    changed = simulator.change("work_orders", count=3)
    simulator.expire_sessions()  # the session dies between syncs: the next call is answered 401, then a new login
    synced = sync(spec, "work_orders", simulator.base_url, upkeep_engine, secrets, page_size=20, auth=auth)
    assert synced.report.mode == "incremental" and synced.report.rows < len(simulator.truth("work_orders"))
    assert synced.report.rows >= len(changed)
    assert_exact(upkeep_engine, simulator, "work_orders")

    gone = simulator.delete("assets", count=1)
    synced = sync(spec, "assets", simulator.base_url, upkeep_engine, secrets, page_size=20, full=True, auth=auth)
    assert synced.report.deleted == len(gone) == 1
    assert_exact(upkeep_engine, simulator, "assets")


def _defs(db_url: str, base_url: str) -> Definitions:
    spec = upkeep_spec()
    resource = CmmsApiResource(source="upkeep", connector=spec.connector_name, base_url=base_url,
                               secret_env=dict(spec.secrets), initial_rate_per_s=50.0, timeout_s=5.0, max_attempts=3)
    return Definitions.merge(collection_definitions(spec, resource),
                             Definitions(resources={"warehouse": WarehouseResource(database_url=db_url)}))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_dagster_run_syncs_every_stream_and_keeps_the_password_out(db_url, simulator, monkeypatch):
    monkeypatch.setenv("UPKEEP_EMAIL", EMAIL)
    monkeypatch.setenv("UPKEEP_PASSWORD", PASSWORD)
    defs = _defs(db_url, simulator.base_url)
    with instance_for_test() as instance:
        result = defs.resolve_job_def("sync_upkeep").execute_in_process(instance=instance)
        assert result.success
        materialized = {e.asset_key.path[1]: e.materialization.metadata for e in result.get_asset_materialization_events()}
        for stream, collection in COLLECTIONS.items():
            assert materialized[stream]["rows written"].value == len(simulator.truth(collection))
        checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert checks["work_orders_references_exist"].passed and checks["pm_schedules_references_exist"].passed
        for stream, table in (("assets", "cmms_asset"), ("work_orders", "cmms_work_order"),
                              ("pm_schedules", "cmms_maintenance_schedule")):  # every record in the unified model
            assert checks[f"{stream}_maps_to_unified"].passed
            assert materialized[stream][f"rows written to {table}"].value == len(simulator.truth(COLLECTIONS[stream]))
        run = instance.get_run_by_id(result.run_id)
        everything = [str(record) for record in instance.all_logs(result.run_id)]
        assert PASSWORD not in json.dumps(run.run_config) + json.dumps(run.tags)
        assert not [line for line in everything if PASSWORD in line]
        assert not [m for m in materialized.values() if PASSWORD in str(m)]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_wrong_password_fails_the_run_without_retries_and_without_the_password(db_url, simulator, monkeypatch):
    monkeypatch.setenv("UPKEEP_EMAIL", EMAIL)
    monkeypatch.setenv("UPKEEP_PASSWORD", "wrong-" + PASSWORD)
    defs = _defs(db_url, simulator.base_url)
    with instance_for_test() as instance:
        result = defs.resolve_job_def("sync_upkeep").execute_in_process(
            instance=instance, asset_selection=[AssetKey(["upkeep", "assets"])], raise_on_error=False)
        assert not result.success
        failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
        assert "the login at" in failure.description and "refused (HTTP 400)" in failure.description
        assert PASSWORD not in failure.description
        everything = [str(record) for record in instance.all_logs(result.run_id)]
        assert not [line for line in everything if PASSWORD in line]
        assert len(result.get_step_failure_events()) == 1  # not retried: the credentials cannot start working
