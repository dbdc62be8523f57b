"""``defs/sap_pm/defs.yaml`` - SAP PM's OData V2 services declared in YAML only - against the SAP PM simulator: basic
auth, server-driven pages of uneven size followed by ``d.__next``, ``d.__count`` as the total, per plant, incremental
by ``$filter`` on ``LastChangeDateTime`` (``/Date(ms+0000)/`` values carrying the mark); full, incremental, full with
a deleted record, exact on SQLite and PostgreSQL, with faults; a refused password stops the stream as a credentials
failure."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, MetaData, Table, select

from ic3_pipeline.components.catalog import configured
from ic3_pipeline.components.collection_source import CollectionSourceSpec
from ic3_pipeline.sandbox.sap_pm_simulator import SapPmSimConfig, SapPmSimulator
from ic3_pipeline.sync.collection_sync import StreamFailed
from ic3_pipeline.warehouse import ensure_schema, make_engine
from ic3_pipeline.warehouse.stream_tables import column_name
from ic3_pipeline_tests.declarative.conftest import sync

PASSWORD = "sap-pw-3b7d1f-not-a-real-one"
SECRETS = {"user": "IC3_READER", "password": PASSWORD}
TRUTH = {"equipment": "assets", "maintenance_orders": "work_orders", "maintenance_plans": "schedules"}
KEYS = {"equipment": ("Equipment", "ValidityEndDate"), "maintenance_orders": ("MaintenanceOrder",),
        "maintenance_plans": ("MaintenancePlan",)}
PLANTS = ("1010", "1020")  # the simulator's two sites


def sap_spec() -> CollectionSourceSpec:
    return next(spec for spec in configured()[1] if spec.source == "sap_pm")


@pytest.fixture
def simulator() -> Iterator[SapPmSimulator]:
    sim = SapPmSimulator(SapPmSimConfig(user="IC3_READER", password=PASSWORD, assets_per_site=60, seed=9,
                                        default_page_size=25))
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def sap_engine(db_url) -> Iterator[Engine]:
    engine = make_engine(db_url)
    ensure_schema(engine)
    yield engine
    engine.dispose()


def assert_exact(engine: Engine, simulator: SapPmSimulator, stream: str) -> None:
    key = KEYS[stream]
    truth = {tuple(str(record[k]) for k in key): record for record in simulator.truth(TRUTH[stream])}
    table = Table(f"sap_pm_{stream}", MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        rows = {tuple(row[column_name(k)] for k in key): dict(row) for row in conn.execute(select(table)).mappings()}
    assert {k for k, row in rows.items() if row["_deleted_at"] is None} == set(truth), stream
    for k, record in truth.items():
        for name in ("EquipmentName", "MaintenanceOrderDesc", "MaintOrderSystemStatus", "Equipment", "CycleUnit"):
            if name in record:
                assert rows[k][column_name(name)] == record[name], (stream, k, name)


def test_full_incremental_and_full_with_a_delete_are_exact(sap_engine, simulator):
    spec = sap_spec()
    simulator.configure(fault_rate=0.1, fault_kinds=("503", "500", "truncated"))
    names = [stream.name for stream in spec.ordered_streams]
    assert names == ["equipment", "maintenance_orders", "maintenance_plans"]
    for name in names:
        for plant in PLANTS:
            synced = sync(spec, name, simulator.base_url, sap_engine, SECRETS, partition=plant)
            assert synced.report.mode == "full" and synced.report.passes == 1
        assert_exact(sap_engine, simulator, name)
    assert sum(simulator.stats()["faults"].values()) >= 1

    simulator.change("work_orders", count=3)
    reports = [sync(spec, "maintenance_orders", simulator.base_url, sap_engine, SECRETS, partition=plant).report
               for plant in PLANTS]
    assert {r.mode for r in reports} == {"incremental"}  # the mark came from /Date(ms+0000)/ values
    assert 3 <= sum(r.rows for r in reports) < len(simulator.truth("work_orders"))
    assert_exact(sap_engine, simulator, "maintenance_orders")

    gone = simulator.delete("assets", count=1)
    deleted = sum(sync(spec, "equipment", simulator.base_url, sap_engine, SECRETS, partition=plant,
                       full=True).report.deleted for plant in PLANTS)
    assert deleted == len(gone) == 1
    assert_exact(sap_engine, simulator, "equipment")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_refused_password_is_a_credentials_failure(sap_engine, simulator):
    with pytest.raises(StreamFailed) as failed:
        sync(sap_spec(), "equipment", simulator.base_url, sap_engine, {**SECRETS, "password": "wrong-" + PASSWORD},
             partition=PLANTS[0])
    assert failed.value.auth and "SAP PM refused the request (HTTP 401)" in str(failed.value)
    assert PASSWORD not in str(failed.value)
